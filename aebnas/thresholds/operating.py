"""The one rule that picks a candidate's operating point from its tuned points.

The best point is the one the objective scores highest (:meth:`Objective.score`: the most
accurate within the budget, ties to fewer MACs; or the reference's penalised score around a
target). The operating point is the cheapest point whose accuracy is at most ``tolerance``
(fraction) below the best's and that meets the budget (:meth:`Objective.allows`; a target sets
no limit). ``tolerance <= 0`` keeps the best point. Used by the evaluation of a candidate
(:mod:`aebnas.evaluation`), the search when it re-reads a stored curve at its own objective
(:mod:`aebnas.search.problem`), the latency objective (:mod:`aebnas.search.latency`) and
``train_final``.
"""

from __future__ import annotations

import numpy as np

from aebnas.thresholds.outcomes import Objective, OperatingPoint, TuningResult


def operating_index(
    accuracy: np.ndarray,
    avg_macs: np.ndarray,
    objective: Objective,
    tolerance: float,
    best: int | None = None,
) -> int:
    """Index of the operating point among ``M`` points.

    Args:
        accuracy: Fraction correct, shape ``(M,)``, ``M >= 1``.
        avg_macs: Average MMACs (or another cost in the objective's unit), shape ``(M,)``.
        objective: Budget or target.
        tolerance: Accuracy tolerance, fraction.
        best: Index of the best point when it is known (a tuner's choice); ``None``: the point
            with the highest :meth:`Objective.score`, or, when no point meets the budget, the
            cheapest point (returned as it is).

    Returns:
        An index into the points.
    """
    acc = np.asarray(accuracy, dtype=np.float64)
    avg = np.asarray(avg_macs, dtype=np.float64)
    if best is None:
        score = objective.score(acc, avg)
        if not np.isfinite(score).any():
            return int(np.argmin(avg))
        best = int(np.argmax(score))
    if tolerance <= 0:
        return best
    eligible = objective.allows(avg) & (acc >= acc[best] - tolerance)
    if not eligible.any():
        return best
    return int(np.flatnonzero(eligible)[np.argmin(avg[eligible])])


def operating_point(tuned: TuningResult, objective: Objective, tolerance: float) -> OperatingPoint:
    """The operating point of a tuner's result: its best point and its curve are the
    candidates, the best point is the tuner's (see :func:`operating_index`)."""
    points = (*tuned.curve, tuned.best)
    k = operating_index(
        np.array([p.accuracy for p in points]),
        np.array([p.avg_macs for p in points]),
        objective,
        tolerance,
        best=len(points) - 1,
    )
    return points[k]
