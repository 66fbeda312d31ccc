"""Value objects of threshold tuning: validation outcomes, objectives, operating points, results.

Objectives (:class:`Objective`): ``"budget"`` maximises accuracy with average MACs within a
budget; ``"target"`` maximises the reference's ``accuracy% - 0.1 * 100 * |MACs - target| /
target``. Budget feasibility uses a relative tolerance of ``1e-9`` (``avg <= macs * (1 +
1e-9)``) so that float rounding of an average never flips a point that costs exactly the
budget. Accuracy is a fraction (0..1), MACs are MMACs; a threshold of ``math.inf`` switches an
exit off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from aebnas.errors import UserError

if TYPE_CHECKING:
    import torch

OBJECTIVE_MODES = ("budget", "target")
BUDGET_TOLERANCE = 1e-9  # relative slack of a budget, against float rounding only
TIE_BREAK = 1e-9  # budget mode: weight of avg/budget, breaks accuracy ties toward fewer MACs


@dataclass(frozen=True)
class ExitOutcomes:
    """What every exit did on every validation sample, from one forward pass.

    Args:
        confidence: Confidence of each intermediate exit, shape ``(N, K-1)``, exits in position
            order; stored as float64.
        correct: Whether each exit's prediction is right, shape ``(N, K)``, final head last;
            stored as bool.
    """

    confidence: np.ndarray
    correct: np.ndarray

    def __post_init__(self) -> None:
        conf = np.ascontiguousarray(self.confidence, dtype=np.float64)
        correct = np.ascontiguousarray(self.correct, dtype=bool)
        if conf.ndim != 2 or correct.ndim != 2:
            raise UserError(
                f"exit outcomes need 2-D arrays, got confidence {conf.shape} and correct "
                f"{correct.shape}; pass (N, K-1) confidences and (N, K) correctness"
            )
        n, e = conf.shape
        if e < 1 or correct.shape != (n, e + 1):
            raise UserError(
                f"exit outcomes do not fit: confidence {conf.shape}, correct {correct.shape}; "
                "expected (N, K-1) and (N, K) with at least one intermediate exit"
            )
        if n == 0:
            raise UserError("exit outcomes hold no samples; tune thresholds on a non-empty split")
        if not np.isfinite(conf).all():
            raise UserError("exit confidences contain NaN or inf; check the logits of the network")
        object.__setattr__(self, "confidence", conf)
        object.__setattr__(self, "correct", correct)

    @property
    def num_samples(self) -> int:
        """``N``."""
        return int(self.confidence.shape[0])

    @property
    def num_exits(self) -> int:
        """``K``: intermediate exits plus the final head."""
        return int(self.correct.shape[1])

    @classmethod
    def from_logits(
        cls, logits: Sequence[torch.Tensor], labels: torch.Tensor, confidence: str = "margin"
    ) -> ExitOutcomes:
        """Outcomes from the logits of every exit.

        Args:
            logits: ``K`` tensors of shape ``(N, C)``, intermediate exits in position order,
                final head last.
            labels: True classes, shape ``(N,)``.
            confidence: Name in :data:`aebnas.confidence.CONFIDENCES`
                (``"margin"``, ``"max-softmax"``, ``"entropy"``).

        Returns:
            The outcomes of the ``K`` exits on the ``N`` samples.
        """
        import torch

        from aebnas.confidence import CONFIDENCES

        measure = CONFIDENCES.get(confidence)
        if len(logits) < 2:
            raise UserError(
                f"threshold tuning needs at least one intermediate exit, got {len(logits)} "
                "logit tensor(s); pass the intermediate exits' logits and the final head's"
            )
        with torch.no_grad():
            conf = torch.stack([measure(x.detach()) for x in logits[:-1]], dim=1)
            correct = torch.stack([x.detach().argmax(dim=-1) == labels for x in logits], dim=1)
        return cls(conf.double().cpu().numpy(), correct.cpu().numpy())

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: ``confidence`` as nested lists, ``correct`` as 0/1 nested lists."""
        return {
            "confidence": self.confidence.tolist(),
            "correct": self.correct.astype(int).tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExitOutcomes:
        """Inverse of :meth:`to_json`."""
        return cls(np.asarray(data["confidence"], float), np.asarray(data["correct"], bool))


@dataclass(frozen=True)
class Objective:
    """What a tuner maximises.

    Args:
        mode: ``"budget"``: maximise accuracy with average MACs ``<= macs``; ``"target"``:
            maximise the reference's penalised score around ``macs``.
        macs: The budget or the target, MMACs.
        penalty: Weight of the relative MAC deviation in ``"target"`` mode (reference: 0.1).
    """

    mode: str
    macs: float
    penalty: float = 0.1

    def __post_init__(self) -> None:
        if self.mode not in OBJECTIVE_MODES:
            raise UserError(
                f"unknown objective mode {self.mode!r}; choose one of: {', '.join(OBJECTIVE_MODES)}"
            )

    def score(self, accuracy: float | np.ndarray, avg_macs: float | np.ndarray) -> Any:
        """Objective value of operating points (higher is better).

        ``target``: ``accuracy*100 - penalty*100*|avg - macs|/macs`` (the reference's score).
        ``budget``: ``accuracy - 1e-9 * avg/macs`` where ``avg <= macs`` (the tiny term breaks
        ties toward lower MACs), ``-inf`` where the budget is exceeded.

        Args:
            accuracy: Fraction correct, scalar or shape ``(M,)``.
            avg_macs: Average MMACs, same shape.

        Returns:
            A float for scalar inputs, else an array of shape ``(M,)``.
        """
        acc = np.asarray(accuracy, dtype=np.float64)
        avg = np.asarray(avg_macs, dtype=np.float64)
        if self.mode == "target":
            value = acc * 100.0 - self.penalty * 100.0 * np.abs(avg - self.macs) / self.macs
        else:
            value = np.where(self.allows(avg), acc - TIE_BREAK * avg / self.macs, -np.inf)
        return float(value) if value.ndim == 0 else value

    def allows(self, avg_macs: float | np.ndarray) -> np.ndarray:
        """Whether average MMACs meet the budget (``avg <= macs * (1 + BUDGET_TOLERANCE)``); a
        target allows any cost.

        Args:
            avg_macs: Scalar or shape ``(M,)``.

        Returns:
            Boolean array of the same shape.
        """
        avg = np.asarray(avg_macs, dtype=np.float64)
        if self.mode == "target":
            return np.ones(avg.shape, dtype=bool)
        return np.asarray(avg <= self.macs * (1.0 + BUDGET_TOLERANCE))


@dataclass(frozen=True)
class OperatingPoint:
    """Thresholds and what they give on the validation outcomes.

    Args:
        thresholds: One per intermediate exit (``K-1``), ``math.inf`` = exit off.
        accuracy: Fraction correct.
        avg_macs: Average MMACs per sample.
        util: Fraction of samples leaving at each exit (``K``, sums to 1).
    """

    thresholds: tuple[float, ...]
    accuracy: float
    avg_macs: float
    util: tuple[float, ...]

    @property
    def active(self) -> tuple[bool, ...]:
        """Which intermediate exits are on."""
        return tuple(math.isfinite(t) for t in self.thresholds)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict; off thresholds (inf) become ``None``."""
        return {
            "thresholds": [t if math.isfinite(t) else None for t in self.thresholds],
            "accuracy": self.accuracy,
            "avg_macs": self.avg_macs,
            "util": list(self.util),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OperatingPoint:
        """Inverse of :meth:`to_json`."""
        return cls(
            thresholds=as_thresholds(data["thresholds"]),
            accuracy=float(data["accuracy"]),
            avg_macs=float(data["avg_macs"]),
            util=tuple(float(u) for u in data["util"]),
        )


@dataclass(frozen=True)
class TuningResult:
    """Outcome of one tuner run.

    Args:
        best: The chosen point for the objective.
        curve: Non-dominated points (accuracy up, MACs down) sorted by ``avg_macs``, thinned to
            at most :data:`~aebnas.thresholds.evaluation.CURVE_POINTS` points (the cheapest
            and the most accurate kept).
        tuner: Name of the tuner that produced it.
    """

    best: OperatingPoint
    curve: tuple[OperatingPoint, ...]
    tuner: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "tuner": self.tuner,
            "best": self.best.to_json(),
            "curve": [p.to_json() for p in self.curve],
        }


def as_thresholds(values: Sequence[float | None]) -> tuple[float, ...]:
    """Thresholds as floats, ``None`` mapped to ``math.inf`` (off); NaN is a :class:`UserError`."""
    out = tuple(math.inf if v is None else float(v) for v in values)
    if any(math.isnan(v) for v in out):
        raise UserError("a threshold is NaN; use a number, or inf/None to switch an exit off")
    return out
