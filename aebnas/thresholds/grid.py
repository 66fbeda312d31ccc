"""The reference grid tuner: every combination of ``{0.1, 0.2, 1}`` per exit (1 = off).

All combinations but the all-off one are evaluated at once with numpy
(:meth:`~aebnas.thresholds.evaluation.EvaluationTables.evaluate`). Registered as ``"grid"`` in
:data:`aebnas.thresholds.tuners.TUNERS`.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import numpy as np

from aebnas.errors import UserError
from aebnas.thresholds.evaluation import EvaluationTables, check_tunable, tuned_curve
from aebnas.thresholds.outcomes import ExitOutcomes, Objective, TuningResult

if TYPE_CHECKING:
    from aebnas.costs.macs import ExitCosts

GRID_VALUES: tuple[float, ...] = (0.1, 0.2, 1.0)
"""The reference's per-exit threshold grid; 1 switches the exit off."""


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
    tables = EvaluationTables(outcomes, costs)
    check_tunable(objective, tables)
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
    return TuningResult(best=best, curve=tuned_curve(tables, grid, n_correct, avg), tuner="grid")
