"""The optimal tuner: continuous per-exit thresholds by exact coordinate ascent, plus a curve.

Coordinate ascent starts from the best reference grid point, so the tuner is never worse than
``"grid"`` on the objective. Every coordinate step evaluates all candidate thresholds of one
exit exactly (:class:`ThresholdAscent`), and hands its non-dominated candidates to a growing
frontier (:class:`_Frontier`); extra trade-off and budget problems spread over the MAC range
fill in the accuracy-vs-MACs curve (:func:`_explore`). Registered as ``"optimal"`` (the default) in
:data:`aebnas.thresholds.tuners.TUNERS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from aebnas.thresholds.evaluation import (
    EvaluationTables,
    check_tunable,
    pareto_indices,
    thin_indices,
    tuned_curve,
)
from aebnas.thresholds.grid import grid_thresholds
from aebnas.thresholds.outcomes import ExitOutcomes, Objective, TuningResult

if TYPE_CHECKING:
    from aebnas.costs.macs import ExitCosts

MAX_SWEEPS = 50  # coordinate-ascent sweeps of the objective's own problem (stops earlier)
# Filling in the optimal tuner's curve (tuned for quality per run time; see _explore):
TRADEOFFS = 12  # accuracy - lam * MACs problems ...
TRADEOFF_RANGE = (0.15, 4.0)  # ... lam spread over these multiples of the mean slope
TRADEOFF_SWEEPS = 2  # sweeps of each of them
CURVE_BUDGETS = 16  # budget problems spread between the cheapest and most accurate points
CURVE_SWEEPS = 1  # sweeps of each of them
LINE_POINTS = 128  # candidates per coordinate step offered to the curve
CACHE_BYTES = 32_000_000  # rough memory cap of each of the ascent's memo tables


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
        front = pareto_indices(correct, cost)
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


class ThresholdAscent:
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

    def __init__(self, tables: EvaluationTables) -> None:
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
            lower = np.append(col[ends[:-1] + 1], tables.all_leave_threshold(i))
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
        self._cost_tables: dict[bytes, np.ndarray] = {}
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
        if key not in self._cost_tables:
            paid = np.where(on, self._branch_q, 0)
            paid_before = np.cumsum(paid) - paid
            self._cost_tables[key] = self._backbone_q + self._branch_q + paid_before
        return self._cost_tables[key]

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
        corr, per_sample = self.corr_s[i], self.scale * self.tab.n
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
            cost_off = (base_cost - n_reached * int(self._branch_q[i])) / per_sample
            off = (float(cost_off), base_correct)
        # More samples leaving never costs more: keep the candidates beating every cheaper one.
        rev = cum_gain[::-1]
        best_before = np.empty_like(rev)
        best_before[0] = np.iinfo(np.int64).min
        np.maximum.accumulate(rev[:-1], out=best_before[1:])
        front = len(rev) - 1 - np.flatnonzero(rev > best_before)
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
            pick = thin_indices(cost, LINE_POINTS)
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


def _start_points(tables: EvaluationTables) -> np.ndarray:
    """The grid's combinations followed by the "everyone leaves at exit j alone" points.

    Returns:
        Thresholds, shape ``(3^(K-1) - 1 + K-1, K-1)``.
    """
    alone = np.full((tables.e, tables.e), math.inf)
    for j in range(tables.e):
        alone[j, j] = tables.all_leave_threshold(j)
    return np.concatenate([grid_thresholds(tables.e), alone])


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
    tables = EvaluationTables(outcomes, costs)
    check_tunable(objective, tables)
    ascent = ThresholdAscent(tables)

    starts = _start_points(tables)
    n_correct, _, avg = tables.evaluate(starts)
    front = pareto_indices(n_correct, avg)
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
    curve = tuned_curve(tables, frontier.thresholds, frontier.correct, frontier.cost)
    return TuningResult(best=best, curve=curve, tuner="optimal")


def _explore(ascent: ThresholdAscent) -> None:
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
    ascent: ThresholdAscent, objective: _Scorer, max_sweeps: int = MAX_SWEEPS
) -> tuple[np.ndarray, float]:
    """Coordinate ascent started from the frontier point that scores best on ``objective``."""
    frontier = ascent.frontier
    frontier.merge()
    scores = objective.score(frontier.correct / ascent.tab.n, frontier.cost)
    k = int(np.argmax(scores))
    return ascent.run(frontier.thresholds[k], float(scores[k]), objective, max_sweeps)
