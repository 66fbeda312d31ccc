"""What the search optimises: objectives, the MAC constraint, operating points and hypervolume.

Every evaluated candidate is summarised by one operating point (validation accuracy, average
MACs) chosen on its tuned accuracy-vs-MACs curve:

- ``budget`` mode (``thresholds.max_macs`` = cap): maximise accuracy, minimise average MACs,
  subject to average MACs <= cap (an outcome constraint; points above it are infeasible);
- ``target`` mode (``thresholds.target_macs`` = T, the reference's mode): maximise accuracy,
  minimise the MAC deviation ``MAPE = 100 * |MACs - T| / T``;
- ``open`` mode (neither set): maximise accuracy, minimise average MACs, no constraint.

A record tuned for another objective (the low-fidelity archive is tuned without a cap, a
benchmark archive for whatever it was built with) is re-read at our objective from its stored
curve by the one operating-point rule (:func:`aebnas.thresholds.operating_index`): the most
accurate curve point meeting the cap (or the best target score), then the cheapest point within
``accuracy_tolerance`` of it; when no point meets the cap, the cheapest (infeasible) point.
The stored curve is thinned to at most 64 points, so a re-read point can be slightly worse than
re-tuning from the saved outcomes would give.

Latency objective (``search.objective: latency``): the cost is the average batch-1 latency in
ms (sum of util_i * latency_i, per-exit latency from the host's profile,
:mod:`aebnas.costs.latency`), with the same three modes (``search.max_latency`` /
``target_latency``). The record's thresholds were tuned for MACs, so its operating point is
re-tuned from its saved validation outcomes with the latency costs
(:class:`aebnas.search.latency.RecordLatency`); ``macs`` and every ``avg_macs`` field then hold
milliseconds.

Hypervolume: of the feasible points in (accuracy up, cost down) with the fixed reference point
``(ref_accuracy, ref_cost)`` (``botorch.utils.multi_objective.hypervolume.Hypervolume``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.pareto import is_non_dominated

from aebnas.config import Config
from aebnas.errors import UserError
from aebnas.thresholds.operating import operating_index
from aebnas.thresholds.outcomes import Objective

MODES = ("budget", "target", "open")
#: What the cost is: average MMACs or average batch-1 latency (ms).
OBJECTIVES = ("macs", "latency")
#: The reference's MAC-deviation weight in its target score (accuracy% - 0.1 * MAPE).
TARGET_PENALTY = 0.1
#: Cost reference of target mode: 100% deviation (0 MACs or twice the target).
TARGET_REF_MAPE = 100.0


@dataclass(frozen=True)
class Outcome:
    """A candidate's operating point at the search's objective.

    Args:
        accuracy: Validation accuracy (fraction).
        avg_macs: Average MMACs per sample at that point.
        thresholds: Per intermediate exit (``None`` = off), or ``None`` when unknown.
        feasible: Whether it meets the MAC cap (always true without a cap).
    """

    accuracy: float
    avg_macs: float
    thresholds: list[float | None] | None
    feasible: bool


class RecordCost(Protocol):
    """Re-reads a record's operating point at another cost than MACs (see the module doc)."""

    def outcome(
        self, record: dict[str, Any], mode: str, value: float | None, tolerance: float
    ) -> tuple[float, float, list[float | None] | None]:
        """``(accuracy, average cost, thresholds)`` of ``record`` at ``mode`` / ``value``."""
        ...


@dataclass(frozen=True)
class SearchProblem:
    """Objectives, constraint and hypervolume reference of one search.

    Args:
        mode: One of :data:`MODES`.
        macs: The cap (budget mode) or the target (target mode), MMACs; ``None`` in open mode.
        tolerance: Accuracy tolerance of the operating-point choice (fraction).
        ref_accuracy: Hypervolume reference accuracy (fraction).
        ref_cost: Hypervolume reference cost (MMACs, or MAPE % in target mode).
        objective: :data:`OBJECTIVES`: ``latency`` makes ``macs``, ``ref_cost`` and every
            average cost milliseconds.
        record_cost: Re-reads records at the latency objective (needed with ``latency``;
            not saved with the problem).
    """

    mode: str
    macs: float | None
    tolerance: float
    ref_accuracy: float
    ref_cost: float
    objective: str = "macs"
    record_cost: RecordCost | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UserError(f"unknown search mode {self.mode!r}; choose one of {MODES}")
        if self.objective not in OBJECTIVES:
            raise UserError(f"unknown objective {self.objective!r}; choose one of {OBJECTIVES}")
        if self.mode != "open" and (self.macs is None or self.macs <= 0):
            kind = "latency" if self.objective == "latency" else "macs"
            flag = f"--max-{kind}" if self.mode == "budget" else f"--target-{kind}"
            raise UserError(f"{flag} must be a positive number of {self.unit}, got {self.macs}")
        if not self.ref_cost > 0:
            raise UserError(f"the hypervolume reference cost must be positive, got {self.ref_cost}")

    def to_meta(self) -> dict[str, Any]:
        """The saved fields (everything but :attr:`record_cost`)."""
        return {k: v for k, v in asdict(self).items() if k != "record_cost"}

    # ---------------------------------------------------------------- objectives
    @property
    def unit(self) -> str:
        return "ms" if self.objective == "latency" else "MMACs"

    @property
    def cap(self) -> float | None:
        """The MAC cap (budget mode) or ``None``."""
        return self.macs if self.mode == "budget" else None

    @property
    def cost_name(self) -> str:
        if self.objective == "latency":
            return "latency deviation (%)" if self.mode == "target" else "average latency (ms)"
        return "MAC deviation (%)" if self.mode == "target" else "average MMACs"

    def cost(self, avg_macs: Any) -> Any:
        """The minimised cost of average MACs (numpy array, tensor or float): the MACs
        themselves, or the MAPE to the target in target mode."""
        if self.mode == "target":
            assert self.macs is not None
            return 100.0 * abs(avg_macs - self.macs) / self.macs
        return avg_macs

    def feasible(self, avg_macs: float) -> bool:
        """Whether an average cost meets the cap (with the tuner's float tolerance)."""
        cap = self.cap
        return cap is None or bool(Objective("budget", cap).allows(avg_macs))

    def target_macs(self, fallback: float) -> float:
        """The MAC value the reference loop aims at: the target, else the cap, else
        ``fallback`` (the dataset's default target)."""
        return self.macs if self.macs is not None else fallback

    # ---------------------------------------------------------------- operating points
    def record_objective(self, record: dict[str, Any]) -> tuple[str, float]:
        """The tuner objective ``(mode, MMACs)`` this search implies for ``record``'s network
        (as :func:`aebnas.evaluation.objective_for`: open mode = budget of its final cost)."""
        if self.mode == "open":
            return "budget", float(record["static_macs"]["final"])
        assert self.macs is not None
        return self.mode, float(self.macs)

    def outcome(self, record: dict[str, Any]) -> Outcome | None:
        """The record's operating point at this objective; ``None`` for a failed record."""
        if record.get("status") != "ok" or not _finite(record.get("accuracy")):
            return None
        if self.objective == "latency":
            return self._latency_outcome(record)
        mode, macs = self.record_objective(record)
        stored = record.get("objective") or {}
        same = (
            stored.get("mode") == mode
            and _close(stored.get("macs"), macs)
            and _close(stored.get("accuracy_tolerance"), self.tolerance)
        )
        if same or not record.get("curve"):
            thresholds = [e["threshold"] for e in record.get("exits", [])[:-1]] or None
            acc, avg = float(record["accuracy"]), float(record["avg_macs"])
            return Outcome(acc, avg, thresholds, self.feasible(avg))
        return self._repick(record["curve"], mode, macs)

    def _latency_outcome(self, record: dict[str, Any]) -> Outcome:
        if self.record_cost is None:
            raise UserError(
                "the latency objective needs the host's latency profile (search.latency_profile)"
            )
        acc, avg, thresholds = self.record_cost.outcome(
            record, self.mode, self.macs, self.tolerance
        )
        return Outcome(acc, avg, thresholds, self.feasible(avg))

    def _repick(self, curve: Sequence[dict[str, Any]], mode: str, macs: float) -> Outcome:
        """The stored curve's operating point at ``(mode, macs)`` (:func:`operating_index`)."""
        acc = np.array([p["accuracy"] for p in curve], dtype=np.float64)
        avg = np.array([p["avg_macs"] for p in curve], dtype=np.float64)
        objective = Objective(mode, macs, penalty=TARGET_PENALTY)
        k = operating_index(acc, avg, objective, self.tolerance)
        return Outcome(float(acc[k]), float(avg[k]), curve[k]["thresholds"], self.feasible(avg[k]))

    # ---------------------------------------------------------------- fronts and volumes
    def objective_matrix(self, outcomes: Sequence[Outcome]) -> np.ndarray:
        """Maximised objectives ``[accuracy, -cost]`` per outcome, shape ``(n, 2)``."""
        if not outcomes:
            return np.zeros((0, 2))
        acc = np.array([o.accuracy for o in outcomes], dtype=np.float64)
        cost = self.cost(np.array([o.avg_macs for o in outcomes], dtype=np.float64))
        return np.stack([acc, -cost], axis=1)

    @property
    def ref_point(self) -> np.ndarray:
        """The hypervolume reference in maximised objectives, shape ``(2,)``."""
        return np.array([self.ref_accuracy, -self.ref_cost], dtype=np.float64)

    def pareto_mask(self, outcomes: Sequence[Outcome | None]) -> np.ndarray:
        """Which outcomes are feasible and non-dominated (duplicates: the first kept).

        Returns:
            Boolean array, shape ``(len(outcomes),)``.
        """
        mask = np.zeros(len(outcomes), dtype=bool)
        index = [i for i, o in enumerate(outcomes) if o is not None and o.feasible]
        if not index:
            return mask
        Y = torch.as_tensor(self.objective_matrix([outcomes[i] for i in index]))  # type: ignore[misc]
        mask[np.asarray(index)[is_non_dominated(Y, deduplicate=True).numpy()]] = True
        return mask

    def hypervolume(self, outcomes: Sequence[Outcome | None]) -> float:
        """Hypervolume of the feasible outcomes w.r.t. :attr:`ref_point` (0 when none)."""
        feasible = [o for o in outcomes if o is not None and o.feasible]
        Y = torch.as_tensor(self.objective_matrix(feasible))
        ref = torch.as_tensor(self.ref_point)
        Y = Y[(ref < Y).all(dim=-1)]
        if len(Y) == 0:
            return 0.0
        return float(Hypervolume(ref).compute(Y[is_non_dominated(Y)]))

    def hypervolume_curve(self, outcomes: Sequence[Outcome | None]) -> list[float]:
        """Hypervolume after each of the first ``1..n`` outcomes (evaluation order)."""
        return [self.hypervolume(outcomes[: i + 1]) for i in range(len(outcomes))]

    def describe(self) -> str:
        """One line for logs and reports."""
        if self.objective == "latency":
            return self._describe_latency()
        if self.mode == "budget":
            what = f"maximise accuracy, minimise average MACs, subject to MACs <= {self.macs:g}"
        elif self.mode == "target":
            what = f"maximise accuracy, minimise |MACs - {self.macs:g}| / {self.macs:g}"
        else:
            what = "maximise accuracy, minimise average MACs (no cap)"
        return (
            f"{what}; hypervolume reference (accuracy {self.ref_accuracy:.4g}, "
            f"{self.cost_name} {self.ref_cost:.4g})"
        )

    def _describe_latency(self) -> str:
        if self.mode == "budget":
            what = f"maximise accuracy, minimise average latency, subject to <= {self.macs:g} ms"
        elif self.mode == "target":
            what = f"maximise accuracy, minimise |latency - {self.macs:g}| / {self.macs:g} ms"
        else:
            what = "maximise accuracy, minimise average batch-1 latency (ms, no cap)"
        return (
            f"{what}; hypervolume reference (accuracy {self.ref_accuracy:.4g}, "
            f"{self.cost_name} {self.ref_cost:.4g})"
        )


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _close(a: Any, b: float) -> bool:
    return _finite(a) and abs(float(a) - b) <= 1e-9 * max(1.0, abs(b))


def problem_from_config(
    config: Config,
    reference: Sequence[dict[str, Any]] = (),
    default_ref_macs: float = 0.0,
    record_cost: RecordCost | None = None,
) -> SearchProblem:
    """The search problem of a config.

    Args:
        config: ``thresholds.max_macs`` / ``target_macs`` choose the mode (the cap wins);
            ``search.hv_ref_accuracy`` / ``hv_ref_macs`` override the reference point.
        reference: Records that fix the automatic reference point (a benchmark archive or the
            prior archive): accuracy = the lowest accuracy on their Pareto front minus 0.01
            (so every front point adds volume); cost (open mode) = their largest average MACs.
        default_ref_macs: Cost reference in open mode without reference records.
        record_cost: With ``search.objective: latency``: re-reads records at latency (the
            caps are then ``search.max_latency`` / ``target_latency``, in ms).
    """
    th = config.thresholds
    objective = config.search.objective
    cap, target = (
        (config.search.max_latency, config.search.target_latency)
        if objective == "latency"
        else (th.max_macs, th.target_macs)
    )
    mode, macs = (
        ("budget", cap)
        if cap is not None
        else ("target", target)
        if target is not None
        else ("open", None)
    )

    def make(ref_accuracy: float, ref_cost: float) -> SearchProblem:
        return SearchProblem(
            mode, macs, th.accuracy_tolerance, ref_accuracy, ref_cost, objective, record_cost
        )

    draft = make(0.0, _ref_cost(mode, macs, 1.0))
    outcomes = [o for o in (draft.outcome(r) for r in reference) if o is not None]
    ref_cost = config.search.hv_ref_macs
    if ref_cost is None:
        fallback = max((o.avg_macs for o in outcomes), default=default_ref_macs)
        ref_cost = _ref_cost(mode, macs, fallback)
    elif mode == "target":
        ref_cost = float(draft.cost(ref_cost))
    ref_acc = config.search.hv_ref_accuracy
    if ref_acc is None:
        draft = make(0.0, ref_cost)
        front = [o for o, on in zip(outcomes, draft.pareto_mask(outcomes), strict=True) if on]
        ref_acc = max(0.0, min(o.accuracy for o in front) - 0.01) if front else 0.0
    if ref_cost <= 0:
        raise UserError(
            "no hypervolume reference cost: set search.hv_ref_macs (in the objective's unit), "
            "a cap (--max-macs / --max-latency) or give an archive"
        )
    return make(ref_acc, ref_cost)


def _ref_cost(mode: str, macs: float | None, fallback: float) -> float:
    if mode == "budget":
        assert macs is not None
        return float(macs)
    if mode == "target":
        return TARGET_REF_MAPE
    return float(fallback)
