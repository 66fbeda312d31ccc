"""Per-exit confidence-threshold tuning on saved validation outcomes.

Everything here works on numpy arrays computed once from one forward pass over the validation
split (:class:`ExitOutcomes`) and on the static per-exit MACs of the architecture
(:class:`~aebnas.costs.macs.ExitCosts`); no network is ever re-run.

Exit policy: a sample leaves at the first *active* intermediate exit whose confidence is
``>=`` its threshold, else at the final head. A threshold of ``math.inf`` switches the exit off:
its branch is not computed, so later exits do not pay for it
(``ExitCosts.cumulative(active)``). At least one intermediate exit stays on, as in the reference
grid (the all-off combination is skipped). Average MACs are ``sum_i util_i * cost_i`` (MMACs),
accuracy is the fraction of correct samples (0..1).

Two tuners are registered in :data:`TUNERS`:

- ``"grid"``: the reference procedure, every combination of ``{0.1, 0.2, 1}`` per exit
  (1 = off), evaluated at once with numpy;
- ``"optimal"`` (default): continuous thresholds by exact coordinate ascent started from the
  best grid point, so it is never worse than ``"grid"`` on the objective, plus a whole
  accuracy-vs-MACs curve.

Objectives (:class:`Objective`): ``"budget"`` maximises accuracy with average MACs within a
budget; ``"target"`` maximises the reference's ``accuracy% - 0.1 * 100 * |MACs - target| /
target``. A budget below the cheapest operating point (every sample leaving at the cheapest
exit, the only one on), or a budget/target that is not positive, is a one-line
:class:`~aebnas.errors.UserError`; a target below the cheapest point is not (the penalised score
still has a maximum). Budget feasibility uses a relative tolerance of ``1e-9``
(``avg <= macs * (1 + 1e-9)``) so that float rounding of an average never flips a point that
costs exactly the budget.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from aebnas.errors import UserError
from aebnas.registry import Registry

if TYPE_CHECKING:
    import torch

    from aebnas.costs.macs import ExitCosts

GRID_VALUES: tuple[float, ...] = (0.1, 0.2, 1.0)
"""The reference's per-exit threshold grid; 1 switches the exit off."""
OBJECTIVE_MODES = ("budget", "target")
BUDGET_TOLERANCE = 1e-9  # relative slack of a budget, against float rounding only
TIE_BREAK = 1e-9  # budget mode: weight of avg/budget, breaks accuracy ties toward fewer MACs
CURVE_POINTS = 64  # at most this many points on a returned curve
MAX_SWEEPS = 50  # coordinate-ascent sweeps of the objective's own problem (stops earlier)
# Filling in the optimal tuner's curve (tuned for quality per run time; see _explore):
TRADEOFFS = 12  # accuracy - lam * MACs problems ...
TRADEOFF_RANGE = (0.15, 4.0)  # ... lam spread over these multiples of the mean slope
TRADEOFF_SWEEPS = 2  # sweeps of each of them
CURVE_BUDGETS = 16  # budget problems spread between the cheapest and most accurate points
CURVE_SWEEPS = 1  # sweeps of each of them
LINE_POINTS = 128  # candidates per coordinate step offered to the curve
CACHE_BYTES = 32_000_000  # rough memory cap of each of the ascent's memo tables
_EVAL_CHUNK = 2_000_000  # comparisons per batch of the vectorised evaluator


# --------------------------------------------------------------------------------------------
# Value objects
# --------------------------------------------------------------------------------------------


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
            confidence: Name in :data:`aebnas.thresholds.confidence.CONFIDENCES`
                (``"margin"``, ``"max-softmax"``, ``"entropy"``).

        Returns:
            The outcomes of the ``K`` exits on the ``N`` samples.
        """
        import torch

        from aebnas.thresholds.confidence import CONFIDENCES

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
            feasible = avg <= self.macs * (1.0 + BUDGET_TOLERANCE)
            value = np.where(feasible, acc - TIE_BREAK * avg / self.macs, -np.inf)
        return float(value) if value.ndim == 0 else value


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
            thresholds=_as_thresholds(data["thresholds"]),
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
            at most :data:`CURVE_POINTS` points (the cheapest and the most accurate kept).
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


Tuner = Callable[[ExitOutcomes, "ExitCosts", Objective], TuningResult]
TUNERS: Registry[Tuner] = Registry("threshold tuner")


# --------------------------------------------------------------------------------------------
# Exact, vectorised evaluation
# --------------------------------------------------------------------------------------------


def _as_thresholds(values: Sequence[float | None]) -> tuple[float, ...]:
    out = tuple(math.inf if v is None else float(v) for v in values)
    if any(math.isnan(v) for v in out):
        raise UserError("a threshold is NaN; use a number, or inf/None to switch an exit off")
    return out


class _Tables:
    """Arrays shared by every evaluation of one (outcomes, costs) pair.

    Args:
        outcomes: Validation outcomes, ``N`` samples, ``K`` exits.
        costs: Per-exit MMACs of the same ``K`` exits.
    """

    def __init__(self, outcomes: ExitOutcomes, costs: ExitCosts) -> None:
        if costs.num_exits != outcomes.num_exits:
            raise UserError(
                f"exit costs describe {costs.num_exits} exits but the outcomes have "
                f"{outcomes.num_exits}; pass the costs of the same architecture"
            )
        self.n = outcomes.num_samples
        self.e = outcomes.num_exits - 1
        self.conf_t = np.ascontiguousarray(outcomes.confidence.T)  # (E, N)
        self.correct_t = np.ascontiguousarray(outcomes.correct.T)  # (K, N)
        self.backbone = np.asarray(costs.backbone, dtype=np.float64)  # (K,)
        self.branch = np.asarray(costs.branch, dtype=np.float64)  # (K,)
        if (np.diff(self.backbone) < 0).any() or (self.branch < 0).any():
            raise UserError(
                f"exit costs must grow with depth (backbone {costs.backbone}, branch "
                f"{costs.branch}); pass per-exit MMACs from aebnas.costs.exit_costs"
            )
        self._pack: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def cost_table(self, active: np.ndarray) -> np.ndarray:
        """Cost of leaving at each exit for several active sets (as ``ExitCosts.cumulative``).

        Args:
            active: Which exits are on, shape ``(M, K)`` (final column True).

        Returns:
            MMACs, shape ``(M, K)``.
        """
        paid = np.cumsum(np.where(active, self.branch, 0.0), axis=1)
        paid_before = np.concatenate([np.zeros((len(active), 1)), paid[:, :-1]], axis=1)
        return self.backbone + self.branch + paid_before

    def cheapest(self) -> tuple[int, float]:
        """The cheapest operating point: every sample leaves at one exit, the only one on.

        Returns:
            The exit's index and its cost in MMACs.
        """
        alone = self.backbone[:-1] + self.branch[:-1]
        j = int(np.argmin(alone))
        return j, float(alone[j])

    def all_leave_threshold(self, j: int) -> float:
        """A threshold at which every sample leaves at exit ``j``."""
        return min(0.0, float(self.conf_t[j].min()))

    def evaluate(self, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Evaluate many threshold vectors at once (exactly, on bit-packed sample masks).

        Args:
            thresholds: Shape ``(M, K-1)``, inf = off.

        Returns:
            Correct counts ``(M,)`` int, exit counts ``(M, K)`` int, average MMACs ``(M,)``.
        """
        thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1, self.e)
        rows = max(1, _EVAL_CHUNK // (self.n * self.e))
        parts = [
            self._evaluate_chunk(thresholds[s : s + rows]) for s in range(0, len(thresholds), rows)
        ]
        if not parts:
            return np.zeros(0, np.int64), np.zeros((0, self.e + 1), np.int64), np.zeros(0)
        n_correct, counts, avg = (np.concatenate(p) for p in zip(*parts, strict=True))
        return n_correct, counts, avg

    def _packed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Confidences padded to whole 64-sample words ``(E, N64)`` (padding ``-inf``, never
        leaves), and bit-packed correctness ``(K, W)`` and sample masks ``(W,)`` as uint64."""
        if self._pack is None:
            pad = -self.n % 64
            conf = np.pad(self.conf_t, ((0, 0), (0, pad)), constant_values=-np.inf)
            correct = np.packbits(np.pad(self.correct_t, ((0, 0), (0, pad))), axis=1)
            valid = np.packbits(np.pad(np.ones(self.n, bool), (0, pad)))
            self._pack = (conf, correct.view(np.uint64), valid.view(np.uint64))
        return self._pack

    def _evaluate_chunk(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        conf, correct, valid = self._packed()
        m = len(t)
        counts = np.zeros((m, self.e + 1), dtype=np.int64)
        n_correct = np.zeros(m, dtype=np.int64)
        remaining = np.repeat(valid[None, :], m, axis=0)  # (m, W) samples not left yet
        for j in range(self.e):
            if not np.isfinite(t[:, j]).any():
                continue
            leave = np.packbits(conf[j][None, :] >= t[:, j, None], axis=1).view(np.uint64)
            leave &= remaining
            remaining &= ~leave
            counts[:, j] = np.bitwise_count(leave).sum(axis=1, dtype=np.int64)
            n_correct += np.bitwise_count(leave & correct[j]).sum(axis=1, dtype=np.int64)
        counts[:, self.e] = np.bitwise_count(remaining).sum(axis=1, dtype=np.int64)
        n_correct += np.bitwise_count(remaining & correct[self.e]).sum(axis=1, dtype=np.int64)
        active = np.concatenate([np.isfinite(t), np.ones((m, 1), bool)], axis=1)
        return n_correct, counts, self.average(counts, self.cost_table(active))

    def average(self, counts: np.ndarray, table: np.ndarray) -> np.ndarray:
        """Average MMACs from exit counts ``(M, K)`` and cost tables ``(M, K)``; shape ``(M,)``."""
        total = counts[:, 0] * table[:, 0]
        for j in range(1, counts.shape[1]):
            total = total + counts[:, j] * table[:, j]
        return total / self.n

    def points(self, thresholds: np.ndarray) -> list[OperatingPoint]:
        """Exact :class:`OperatingPoint` for each row of ``thresholds`` ``(M, K-1)``."""
        n_correct, counts, avg = self.evaluate(thresholds)
        return [
            OperatingPoint(
                thresholds=tuple(float(v) for v in row),
                accuracy=float(c) / self.n,
                avg_macs=float(a),
                util=tuple(float(u) / self.n for u in cnt),
            )
            for row, c, cnt, a in zip(thresholds, n_correct, counts, avg, strict=True)
        ]


def evaluate_thresholds(
    outcomes: ExitOutcomes, costs: ExitCosts, thresholds: Sequence[float | None]
) -> OperatingPoint:
    """Accuracy, average MACs and exit utilisation of one threshold vector, exactly.

    Args:
        outcomes: Validation outcomes, ``N`` samples, ``K`` exits.
        costs: Per-exit MMACs of the same exits.
        thresholds: ``K-1`` thresholds; ``math.inf`` or ``None`` switches an exit off.

    Returns:
        The operating point (off exits reported as ``math.inf``).
    """
    t = _as_thresholds(thresholds)
    if len(t) != outcomes.num_exits - 1:
        raise UserError(
            f"got {len(t)} thresholds for {outcomes.num_exits - 1} intermediate exits; "
            "pass one per intermediate exit"
        )
    return _Tables(outcomes, costs).points(np.asarray([t], dtype=np.float64))[0]


# --------------------------------------------------------------------------------------------
# Helpers shared by the tuners
# --------------------------------------------------------------------------------------------


def _check_objective(objective: Objective, tables: _Tables) -> None:
    """Raise a one-line :class:`UserError` when no operating point can serve ``objective``."""
    _, cheapest = tables.cheapest()
    too_low = objective.mode == "budget" and objective.macs < cheapest * (1.0 - BUDGET_TOLERANCE)
    if not (math.isfinite(objective.macs) and objective.macs > 0) or too_low:
        kind, flag = (
            ("budget", "--max-macs") if objective.mode == "budget" else ("target", "--target-macs")
        )
        raise UserError(
            f"MAC {kind} of {objective.macs:g} MMACs is impossible: the cheapest operating point "
            f"costs {cheapest:.4g} MMACs; raise {flag}"
        )


def grid_thresholds(num_intermediate: int) -> np.ndarray:
    """Every reference grid combination, in ``itertools.product`` order, all-off skipped.

    Args:
        num_intermediate: ``K-1``.

    Returns:
        Thresholds, shape ``(3^(K-1) - 1, K-1)``, the grid's 1 mapped to ``math.inf``.
    """
    rows = [
        [math.inf if v == 1.0 else v for v in combo]
        for combo in itertools.product(GRID_VALUES, repeat=num_intermediate)
        if any(v != 1.0 for v in combo)
    ]
    return np.asarray(rows, dtype=np.float64)


def _pareto(n_correct: np.ndarray, avg: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated points, sorted by cost (ties: most accurate first).

    Args:
        n_correct: Correct counts (or accuracies), shape ``(M,)``.
        avg: Average MMACs, shape ``(M,)``.

    Returns:
        Indices, shape ``(F,)``, with strictly increasing cost and accuracy.
    """
    order = np.lexsort((-n_correct, avg))
    acc = n_correct[order]
    best_before = np.concatenate([[-np.inf], np.maximum.accumulate(acc)[:-1]])
    return order[acc > best_before]


@functools.cache
def _spread(count: int) -> np.ndarray:
    """``count`` evenly spaced fractions from 0 to 1 (read-only, cached)."""
    fractions = np.linspace(0.0, 1.0, count)
    fractions.flags.writeable = False
    return fractions


def _thin(avg: np.ndarray, limit: int = CURVE_POINTS) -> np.ndarray:
    """Pick at most ``limit`` of a frontier's points, evenly spread in MACs, ends kept.

    Args:
        avg: Costs of a frontier, ascending, shape ``(F,)``.
        limit: Maximum number of points.

    Returns:
        Indices into ``avg`` (for each of ``limit`` budgets, the dearest point within it).
    """
    if len(avg) <= limit:
        return np.arange(len(avg))
    levels = avg[0] + (avg[-1] - avg[0]) * _spread(limit)
    levels[-1] = avg[-1]
    pick = np.searchsorted(avg, levels, side="right") - 1
    keep = np.ones(len(pick), dtype=bool)
    np.not_equal(pick[1:], pick[:-1], out=keep[1:])
    return pick[keep]


def _curve(
    tables: _Tables, thresholds: np.ndarray, n_correct: np.ndarray, avg: np.ndarray
) -> tuple[OperatingPoint, ...]:
    """Exact, non-dominated, thinned curve from candidates.

    Args:
        tables: Shared arrays.
        thresholds: Candidate thresholds, shape ``(M, K-1)``.
        n_correct: Their correct counts, shape ``(M,)``.
        avg: Their average MMACs, shape ``(M,)`` (may carry float rounding: every kept point
            is re-evaluated exactly and filtered again).

    Returns:
        At most :data:`CURVE_POINTS` exact non-dominated points sorted by MACs.
    """
    front = _pareto(n_correct, avg)
    front = front[_thin(avg[front])]
    points = tables.points(thresholds[front])
    keep = _pareto(np.array([p.accuracy for p in points]), np.array([p.avg_macs for p in points]))
    return tuple(points[i] for i in keep)


# --------------------------------------------------------------------------------------------
# The reference grid
# --------------------------------------------------------------------------------------------


@TUNERS.register("grid")
def grid_tuner(outcomes: ExitOutcomes, costs: ExitCosts, objective: Objective) -> TuningResult:
    """The reference procedure: best of every ``{0.1, 0.2, 1}`` combination (1 = off).

    Args:
        outcomes: Validation outcomes, ``N`` samples, ``K`` exits.
        costs: Per-exit MMACs of the same exits.
        objective: ``target``: the reference's penalised score; ``budget``: max accuracy
            among the feasible combinations.

    Returns:
        The best combination and the grid's non-dominated combinations.
    """
    tables = _Tables(outcomes, costs)
    _check_objective(objective, tables)
    grid = grid_thresholds(tables.e)
    n_correct, _, avg = tables.evaluate(grid)
    scores = objective.score(n_correct / tables.n, avg)
    b = int(np.argmax(scores))
    if not np.isfinite(scores[b]):
        raise UserError(
            f"no {{0.1, 0.2, 1}} threshold combination meets the MAC budget of {objective.macs:g} "
            f"MMACs: the cheapest grid point costs {avg.min():.4g} MMACs; raise --max-macs or "
            "use the 'optimal' tuner"
        )
    best = tables.points(grid[b : b + 1])[0]
    return TuningResult(best=best, curve=_curve(tables, grid, n_correct, avg), tuner="grid")


# --------------------------------------------------------------------------------------------
# Exact coordinate ascent
# --------------------------------------------------------------------------------------------


class _Frontier:
    """Growing set of non-dominated candidates (correct count up, MACs down).

    Candidates are first filtered against the merged frontier, then buffered; :meth:`merge`
    folds the buffer in.

    Args:
        num_intermediate: ``K-1`` (width of a threshold row).
    """

    def __init__(self, num_intermediate: int) -> None:
        self.cost = np.zeros(0)
        self.correct = np.zeros(0, dtype=np.int64)
        self.thresholds = np.zeros((0, num_intermediate))
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._beaten = np.array([-1], dtype=np.int64)  # [-1, *correct]: lookup with a sentinel

    def offer(
        self, cost: np.ndarray, correct: np.ndarray, thresholds: Callable[[np.ndarray], np.ndarray]
    ) -> None:
        """Add the candidates not dominated by the current frontier.

        Args:
            cost: Average MMACs, shape ``(S,)``.
            correct: Correct counts, shape ``(S,)``.
            thresholds: Builds the threshold rows ``(s, K-1)`` of the selected indices ``(s,)``.
        """
        beaten = self._beaten[self.cost.searchsorted(cost, side="right")]
        keep = np.flatnonzero(correct > beaten)
        if len(keep):
            self._pending.append((cost[keep], correct[keep], thresholds(keep)))

    def merge(self) -> None:
        """Fold the buffered candidates into the frontier."""
        if not self._pending:
            return
        cost = np.concatenate([self.cost, *(p[0] for p in self._pending)])
        correct = np.concatenate([self.correct, *(p[1] for p in self._pending)])
        thresholds = np.concatenate([self.thresholds, *(p[2] for p in self._pending)])
        self._pending.clear()
        front = _pareto(correct, cost)
        self.cost, self.correct, self.thresholds = cost[front], correct[front], thresholds[front]
        self._beaten = np.concatenate([[-1], self.correct])


@dataclass(frozen=True)
class _Line:
    """Every candidate threshold of one exit with the other thresholds fixed.

    Candidate ``g`` is the ``g``-th tie group of the exit's sorted confidences (most confident
    first): the samples reaching the exit up to that group leave there.

    Args:
        base_correct: Correct count when nobody leaves at the exit (it still being on).
        base_cost: Total cost then, in units of ``1 / scale`` MMACs.
        cum_gain: Correct count gained by candidate ``g``, shape ``(G,)``.
        cum_saving: Cost change (<= 0) of candidate ``g``, same units, shape ``(G,)``.
        per_sample: ``scale * N``: divides a total cost into an average in MMACs.
        off: ``(average MMACs, correct count)`` with the exit switched off, or None when it is
            the only exit on.
        front: Candidates not beaten by a cheaper one, cost ascending, shape ``(F,)``; every
            objective but ``target`` has its best candidate among them.
        front_correct: Their correct counts, shape ``(F,)``.
        front_cost: Their average MMACs, shape ``(F,)``.
    """

    base_correct: int
    base_cost: int
    cum_gain: np.ndarray
    cum_saving: np.ndarray
    per_sample: float
    off: tuple[float, int] | None
    front: np.ndarray
    front_correct: np.ndarray
    front_cost: np.ndarray

    def correct(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Correct counts of the candidates ``idx`` (all if None)."""
        gain = self.cum_gain if idx is None else self.cum_gain[idx]
        return self.base_correct + gain

    def cost(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Average MMACs of the candidates ``idx`` (all if None)."""
        saving = self.cum_saving if idx is None else self.cum_saving[idx]
        return (self.base_cost + saving) / self.per_sample


@dataclass(frozen=True)
class _Tradeoff:
    """Internal objective ``accuracy - lam * avg_macs`` (no constraint), for the curve.

    Args:
        lam: Accuracy (fraction) worth one MMAC.
    """

    lam: float
    mode: str = "tradeoff"

    def score(self, accuracy: float | np.ndarray, avg_macs: float | np.ndarray) -> Any:
        """Like :meth:`Objective.score`."""
        value = np.asarray(accuracy, dtype=np.float64) - self.lam * np.asarray(avg_macs)
        return float(value) if value.ndim == 0 else value


_Scorer = Objective | _Tradeoff


class _Ascent:
    """Exact coordinate ascent over the per-exit thresholds.

    For exit ``i`` with the others fixed, the samples reaching ``i`` either leave there
    (confidence ``>=`` threshold) or get the outcome of the later exits ("rest"). With the
    samples pre-sorted by exit ``i``'s confidence, cumulative sums give accuracy and average MACs
    of every candidate threshold in ``O(N)``; the candidates sit at the midpoints between
    consecutive distinct confidences, plus "off" (branch ``i`` not paid). Costs are summed as
    integers (MMACs scaled by a power of two, ~1e-13 MMAC resolution): exact and fast.

    Args:
        tables: Shared arrays of the outcomes and costs.
    """

    def __init__(self, tables: _Tables) -> None:
        self.tab = tables
        self.frontier = _Frontier(tables.e)
        self.conf_s: list[np.ndarray] = []  # per exit i: (E, N) confidences in i's order
        self.corr_s: list[np.ndarray] = []  # per exit i: (K, N) correctness in i's order
        self.ends: list[np.ndarray | None] = []  # per exit i: last position of each tie group
        self.cand: list[np.ndarray] = []  # per exit i: the threshold of each tie group
        for i in range(tables.e):
            order = (-tables.conf_t[i]).argsort()  # ties: a whole group leaves or none
            conf = tables.conf_t.take(order, axis=1)
            col = conf[i]
            ends = np.flatnonzero(np.append(col[:-1] > col[1:], True))
            upper = col[ends]
            lower = np.append(col[ends[:-1] + 1], min(0.0, col[-1]))
            mid = 0.5 * (upper + lower)
            mid = np.where((mid > lower) & (mid <= upper), mid, upper)  # adjacent floats
            mid[-1] = lower[-1]
            self.conf_s.append(conf)
            self.corr_s.append(tables.correct_t.take(order, axis=1))
            self.ends.append(None if len(ends) == tables.n else ends)
            self.cand.append(mid)
        most = float(tables.cost_table(np.ones((1, tables.e + 1), bool)).max())
        self.scale = 2.0 ** math.floor(math.log2(2.0**60 / (tables.n * max(most, 1e-300))))
        self._backbone_q = np.round(tables.backbone * self.scale).astype(np.int64)
        self._branch_q = np.round(tables.branch * self.scale).astype(np.int64)
        self._tables: dict[bytes, np.ndarray] = {}
        self._lines: dict[tuple[int, bytes], _Line] = {}
        self._befores: dict[tuple[int, bytes], tuple[np.ndarray, int, int]] = {}
        self._rests: dict[tuple[int, bytes], tuple[np.ndarray, np.ndarray]] = {}
        self._cache_size = max(16, CACHE_BYTES // (16 * tables.n))  # entries per memo

    def _quantised(self, on: np.ndarray) -> np.ndarray:
        """Per-exit cost for the active set ``on`` ``(K,)`` as int64 multiples of ``1/scale``.

        Built from separately rounded backbone and branch parts, so a cost difference between
        two exits does not depend on which earlier exits are on: a configuration gets the same
        integer cost from every coordinate step.
        """
        key = on.tobytes()
        if key not in self._tables:
            paid = np.where(on, self._branch_q, 0)
            paid_before = np.cumsum(paid) - paid
            self._tables[key] = self._backbone_q + self._branch_q + paid_before
        return self._tables[key]

    def _active(self, t: np.ndarray) -> np.ndarray:
        """Which exits are on, shape ``(K,)`` (a fresh array; the final is always on)."""
        on = np.ones(self.tab.e + 1, dtype=bool)
        np.isfinite(t, out=on[:-1])
        return on

    def _memo(self, cache: dict[Any, Any], key: Any, compute: Callable[[], Any]) -> Any:
        if key not in cache:
            if len(cache) >= self._cache_size:
                cache.clear()
            cache[key] = compute()
        return cache[key]

    def line(self, i: int, t: np.ndarray) -> _Line:
        """All candidates of exit ``i`` given the other thresholds (memoised).

        Args:
            i: Intermediate exit index.
            t: Current thresholds, shape ``(K-1,)``; ``t[i]`` is ignored.

        Returns:
            The candidates' correct counts and costs, and the "off" option.
        """
        others = t.copy()
        others[i] = 0.0
        return self._memo(self._lines, (i, others.tobytes()), lambda: self._compute_line(i, t))

    def _before(self, i: int, t: np.ndarray) -> tuple[np.ndarray, int, int]:
        """Samples leaving before exit ``i`` (depends on ``t[:i]`` only, memoised).

        Returns:
            Which samples reach exit ``i`` (in exit ``i``'s sorted order, shape ``(N,)``), and
            the correct count and total quantised cost of those that left earlier.
        """

        def compute() -> tuple[np.ndarray, int, int]:
            conf, corr = self.conf_s[i], self.corr_s[i]
            q = self._quantised(self._active(t))
            reached = np.ones(self.tab.n, dtype=bool)
            correct, cost = 0, 0
            for j in range(i):
                if math.isfinite(t[j]):
                    leave = conf[j] >= t[j]
                    leave &= reached
                    correct += int(np.count_nonzero(leave & corr[j]))
                    cost += int(np.count_nonzero(leave)) * int(q[j])
                    reached &= ~leave
            return reached, correct, cost

        return self._memo(self._befores, (i, t[:i].tobytes()), compute)

    def _rest(self, i: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What happens after exit ``i`` to a sample not leaving there (``t[i+1:]`` only).

        Returns:
            Per sample in exit ``i``'s sorted order, shape ``(N,)``: whether the first later
            active exit taking it (else the final) is right, and the quantised cost that
            leaving at ``i`` instead saves (<= 0), exit ``i`` being on.
        """

        def compute() -> tuple[np.ndarray, np.ndarray]:
            e = self.tab.e
            conf, corr = self.conf_s[i], self.corr_s[i]
            on = self._active(t)
            on[i] = True
            q = self._quantised(on)
            rest = np.full(self.tab.n, e, dtype=np.int8)
            correct = corr[e]
            for j in range(e - 1, i, -1):
                if on[j]:
                    leave = conf[j] >= t[j]
                    correct = (leave & corr[j]) | (correct & ~leave)
                    np.putmask(rest, leave, j)
            return correct, (q[i] - q).take(rest)

        return self._memo(self._rests, (i, t[i + 1 :].tobytes()), compute)

    def _compute_line(self, i: int, t: np.ndarray) -> _Line:
        n, corr = self.tab.n, self.corr_s[i]
        reached, base_correct, base_cost = self._before(i, t)
        rest_correct, saving = self._rest(i, t)
        active = self._active(t)
        others_on = int(active[:-1].sum()) - int(active[i]) > 0
        active[i] = True
        q_i = int(self._quantised(active)[i])

        rest_correct = rest_correct & reached
        saving = saving * reached
        n_reached = int(np.count_nonzero(reached))
        base_correct += int(np.count_nonzero(rest_correct))
        base_cost += n_reached * q_i - int(saving.sum())
        gain = (corr[i] & reached).view(np.int8) - rest_correct.view(np.int8)

        ends = self.ends[i]
        cum_gain = gain.cumsum(dtype=np.int64)
        cum_saving = saving.cumsum()
        if ends is not None:
            cum_gain, cum_saving = cum_gain[ends], cum_saving[ends]
        off = None
        if others_on:
            cost_off = (base_cost - n_reached * int(self._branch_q[i])) / (self.scale * n)
            off = (float(cost_off), base_correct)
        # More samples leaving never costs more: keep the candidates beating every cheaper one.
        rev = cum_gain[::-1]
        best_before = np.empty_like(rev)
        best_before[0] = np.iinfo(np.int64).min
        np.maximum.accumulate(rev[:-1], out=best_before[1:])
        front = len(rev) - 1 - np.flatnonzero(rev > best_before)
        per_sample = self.scale * n
        line = _Line(
            base_correct=base_correct,
            base_cost=base_cost,
            cum_gain=cum_gain,
            cum_saving=cum_saving,
            per_sample=per_sample,
            off=off,
            front=front,
            front_correct=base_correct + cum_gain[front],
            front_cost=(base_cost + cum_saving[front]) / per_sample,
        )
        self._offer(i, t, line)
        return line

    def _offer(self, i: int, t: np.ndarray, line: _Line) -> None:
        """Hand the line's non-dominated candidates (thinned evenly in MACs) to the frontier."""
        cost, correct, idx = line.front_cost, line.front_correct, line.front
        if len(idx) > LINE_POINTS:
            pick = _thin(cost, LINE_POINTS)
            cost, correct, idx = cost[pick], correct[pick], idx[pick]
        values = self.cand[i][idx]
        if line.off is not None:
            cost = np.concatenate([cost, [line.off[0]]])
            correct = np.concatenate([correct, [line.off[1]]])
            values = np.concatenate([values, [math.inf]])

        def rows(keep: np.ndarray) -> np.ndarray:
            out = np.repeat(t[None, :], len(keep), axis=0)
            out[:, i] = values[keep]
            return out

        self.frontier.offer(cost, correct, rows)

    def step(self, i: int, t: np.ndarray, objective: _Scorer) -> tuple[float, float]:
        """Best threshold for exit ``i`` with the others fixed.

        Args:
            i: Intermediate exit index.
            t: Current thresholds, shape ``(K-1,)`` (not modified).
            objective: What to maximise.

        Returns:
            The best candidate's objective score and threshold (``math.inf`` = off).
        """
        line = self.line(i, t)
        if objective.mode == "target":  # not monotone in MACs: every candidate counts
            scores = objective.score(line.correct() / self.tab.n, line.cost())
            b = int(np.argmax(scores))
            best_score = float(scores[b])
        else:
            scores = objective.score(line.front_correct / self.tab.n, line.front_cost)
            k = int(np.argmax(scores))
            b, best_score = int(line.front[k]), float(scores[k])
        best_t = float(self.cand[i][b])
        if line.off is not None:
            score_off = float(objective.score(line.off[1] / self.tab.n, line.off[0]))
            if score_off > best_score:
                best_score, best_t = score_off, math.inf
        return best_score, best_t

    def run(
        self, t: np.ndarray, score: float, objective: _Scorer, max_sweeps: int = MAX_SWEEPS
    ) -> tuple[np.ndarray, float]:
        """Sweep the exits until a full sweep improves nothing (or ``max_sweeps`` sweeps).

        Args:
            t: Start thresholds, shape ``(K-1,)``.
            score: The start's objective score.
            objective: What to maximise.
            max_sweeps: Upper bound on the number of sweeps.

        Returns:
            The final thresholds ``(K-1,)`` and their score.
        """
        t = t.copy()
        # Costs are integer sums, so one configuration always gets the same score: the
        # tolerance only has to sit below the smallest real improvement.
        tol = {"target": 1e-10, "budget": 1e-15}.get(objective.mode, 1e-13)
        for _ in range(max_sweeps):
            improved = False
            for i in range(self.tab.e):
                s, value = self.step(i, t, objective)
                if s > score + tol:
                    t[i], score, improved = value, s, True
            if not improved:
                break
        return t, score


def _start_points(tables: _Tables) -> np.ndarray:
    """The grid's combinations followed by the "everyone leaves at exit j alone" points.

    Returns:
        Thresholds, shape ``(3^(K-1) - 1 + K-1, K-1)``.
    """
    alone = np.full((tables.e, tables.e), math.inf)
    for j in range(tables.e):
        alone[j, j] = tables.all_leave_threshold(j)
    return np.concatenate([grid_thresholds(tables.e), alone])


@TUNERS.register("optimal")
def optimal_tuner(outcomes: ExitOutcomes, costs: ExitCosts, objective: Objective) -> TuningResult:
    """Continuous per-exit thresholds by exact coordinate ascent, and the accuracy-MACs curve.

    Starts from the best grid combination (or the cheapest point if no grid combination meets a
    budget), so its objective score is never below the grid's, and sweeps the exits until no
    threshold change improves the objective. The curve gathers the non-dominated candidates of
    every coordinate step, including those of extra trade-off and budget problems spread over
    the MAC range (:func:`_explore`); the best curve point for the objective is polished too.
    Everything is exact on the validation outcomes: the returned points are re-evaluated.

    Args:
        outcomes: Validation outcomes, ``N`` samples, ``K`` exits.
        costs: Per-exit MMACs of the same exits.
        objective: What ``best`` maximises.

    Returns:
        The best point and the curve.
    """
    tables = _Tables(outcomes, costs)
    _check_objective(objective, tables)
    ascent = _Ascent(tables)

    starts = _start_points(tables)
    n_correct, _, avg = tables.evaluate(starts)
    front = _pareto(n_correct, avg)
    ascent.frontier.offer(avg[front], n_correct[front], lambda keep: starts[front[keep]])
    start_scores = objective.score(n_correct / tables.n, avg)
    s0 = int(np.argmax(start_scores))
    t_best, score = ascent.run(starts[s0], float(start_scores[s0]), objective)

    _explore(ascent)
    # A curve point may beat the main ascent's result: polish the best one too.
    t_polished, polished = _run_from_frontier(ascent, objective)
    if polished > score:
        t_best = t_polished
    frontier = ascent.frontier
    frontier.merge()

    start, best = tables.points(np.stack([starts[s0], t_best]))
    if objective.score(best.accuracy, best.avg_macs) < objective.score(
        start.accuracy, start.avg_macs
    ):
        best = start  # float rounding guard: never return less than the start (grid) point
    curve = _curve(tables, frontier.thresholds, frontier.correct, frontier.cost)
    return TuningResult(best=best, curve=curve, tuner="optimal")


def _explore(ascent: _Ascent) -> None:
    """Fill in the curve: trade-off problems, then budget problems, over the MAC range.

    Maximising ``accuracy - lam * avg_macs`` for :data:`TRADEOFFS` values of ``lam`` (around
    the frontier's mean accuracy-per-MMAC slope) reaches the convex hull of the achievable
    points without stalling at a budget boundary, as a budget-constrained coordinate ascent
    does. :data:`CURVE_BUDGETS` budget problems spread between the cheapest and the most
    accurate point found then polish the curve between the hull's corners. Every problem starts
    from the frontier point scoring best on it.
    """
    frontier = ascent.frontier
    frontier.merge()
    low, high = float(frontier.cost[0]), float(frontier.cost[-1])
    if not high > low:
        return
    slope = (frontier.correct[-1] - frontier.correct[0]) / ascent.tab.n / (high - low)
    for lam in slope * np.geomspace(TRADEOFF_RANGE[0], TRADEOFF_RANGE[1], TRADEOFFS):
        _run_from_frontier(ascent, _Tradeoff(float(lam)), TRADEOFF_SWEEPS)
    frontier.merge()
    low, high = float(frontier.cost[0]), float(frontier.cost[-1])
    for budget in np.linspace(low, high, CURVE_BUDGETS + 2)[1:-1]:
        _run_from_frontier(ascent, Objective("budget", float(budget)), CURVE_SWEEPS)


def _run_from_frontier(
    ascent: _Ascent, objective: _Scorer, max_sweeps: int = MAX_SWEEPS
) -> tuple[np.ndarray, float]:
    """Coordinate ascent started from the frontier point that scores best on ``objective``."""
    frontier = ascent.frontier
    frontier.merge()
    scores = objective.score(frontier.correct / ascent.tab.n, frontier.cost)
    k = int(np.argmax(scores))
    return ascent.run(frontier.thresholds[k], float(scores[k]), objective, max_sweeps)


def tune(
    outcomes: ExitOutcomes, costs: ExitCosts, objective: Objective, tuner: str = "optimal"
) -> TuningResult:
    """Tune the exit thresholds of one trained candidate on its validation outcomes.

    Args:
        outcomes: Validation outcomes, ``N`` samples, ``K`` exits.
        costs: Per-exit MMACs of the same exits.
        objective: What to maximise.
        tuner: A name in :data:`TUNERS` (``"optimal"`` or ``"grid"``).

    Returns:
        The best point and the accuracy-vs-MACs curve.
    """
    return TUNERS.get(tuner)(outcomes, costs, objective)


@dataclass(frozen=True)
class GridComparison:
    """Grid vs optimal at matched MACs on one candidate.

    Args:
        grid: The grid tuner's choice for the objective.
        optimal: The optimal tuner's choice with the budget set to ``grid.avg_macs``.
    """

    grid: OperatingPoint
    optimal: OperatingPoint

    @property
    def accuracy_gain(self) -> float:
        """Optimal minus grid accuracy, fraction."""
        return self.optimal.accuracy - self.grid.accuracy


def compare_on_outcomes(
    outcomes: ExitOutcomes, costs: ExitCosts, objective: Objective
) -> GridComparison:
    """Grid vs optimal accuracy at matched MACs: optimal gets the grid point's MACs as budget.

    Args:
        outcomes: Validation outcomes, ``N`` samples, ``K`` exits.
        costs: Per-exit MMACs of the same exits.
        objective: The grid tuner's objective (usually the reference's ``target``).

    Returns:
        Both operating points.
    """
    grid = grid_tuner(outcomes, costs, objective).best
    optimal = optimal_tuner(outcomes, costs, Objective("budget", grid.avg_macs)).best
    return GridComparison(grid=grid, optimal=optimal)
