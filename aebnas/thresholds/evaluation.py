"""Exact, vectorised evaluation of exit thresholds on saved validation outcomes.

Everything here works on numpy arrays computed once from one forward pass over the validation
split (:class:`~aebnas.thresholds.outcomes.ExitOutcomes`) and on the static per-exit MACs of the
architecture (:class:`~aebnas.costs.macs.ExitCosts`); no network is ever re-run.

Exit policy: a sample leaves at the first *active* intermediate exit whose confidence is
``>=`` its threshold, else at the final head. A threshold of ``math.inf`` switches the exit off:
its branch is not computed, so later exits do not pay for it
(``ExitCosts.cumulative(active)``). At least one intermediate exit stays on, as in the reference
grid (the all-off combination is skipped). Average MACs are ``sum_i util_i * cost_i`` (MMACs),
accuracy is the fraction of correct samples (0..1).

Besides :func:`evaluate_thresholds`, this module holds the pieces both tuners share: the
evaluation tables :class:`EvaluationTables`, the objective check (:func:`check_tunable`), and the
Pareto-front and curve-thinning helpers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from aebnas.errors import UserError
from aebnas.thresholds.outcomes import (
    BUDGET_TOLERANCE,
    ExitOutcomes,
    Objective,
    OperatingPoint,
    as_thresholds,
)

if TYPE_CHECKING:
    from aebnas.costs.macs import ExitCosts

CURVE_POINTS = 64  # at most this many points on a returned curve
_EVAL_CHUNK = 2_000_000  # comparisons per batch of the vectorised evaluator


class EvaluationTables:
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

    def cheapest(self) -> float:
        """MMACs of the cheapest operating point: every sample leaves at one exit, the only
        one on."""
        return float((self.backbone[:-1] + self.branch[:-1]).min())

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
    t = as_thresholds(thresholds)
    if len(t) != outcomes.num_exits - 1:
        raise UserError(
            f"got {len(t)} thresholds for {outcomes.num_exits - 1} intermediate exits; "
            "pass one per intermediate exit"
        )
    return EvaluationTables(outcomes, costs).points(np.asarray([t], dtype=np.float64))[0]


def check_tunable(objective: Objective, tables: EvaluationTables) -> None:
    """Raise a one-line :class:`UserError` when no operating point can serve ``objective``."""
    cheapest = tables.cheapest()
    too_low = objective.mode == "budget" and objective.macs < cheapest * (1.0 - BUDGET_TOLERANCE)
    if not (math.isfinite(objective.macs) and objective.macs > 0) or too_low:
        kind, flag = (
            ("budget", "--max-macs") if objective.mode == "budget" else ("target", "--target-macs")
        )
        raise UserError(
            f"MAC {kind} of {objective.macs:g} MMACs is impossible: the cheapest operating point "
            f"costs {cheapest:.4g} MMACs; raise {flag}"
        )


def pareto_indices(n_correct: np.ndarray, avg: np.ndarray) -> np.ndarray:
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


def thin_indices(avg: np.ndarray, limit: int = CURVE_POINTS) -> np.ndarray:
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


def tuned_curve(
    tables: EvaluationTables, thresholds: np.ndarray, n_correct: np.ndarray, avg: np.ndarray
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
    front = pareto_indices(n_correct, avg)
    front = front[thin_indices(avg[front])]
    points = tables.points(thresholds[front])
    accuracy = np.array([p.accuracy for p in points])
    keep = pareto_indices(accuracy, np.array([p.avg_macs for p in points]))
    return tuple(points[i] for i in keep)
