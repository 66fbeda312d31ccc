"""Per-exit confidence-threshold tuning on saved validation outcomes: the tuner registry.

Tuning works on the outcomes of one forward pass over the validation split and on the static
per-exit MACs of the architecture; no network is ever re-run. The pieces live in:

- :mod:`aebnas.thresholds.outcomes`: value objects (:class:`ExitOutcomes`, :class:`Objective`,
  :class:`OperatingPoint`, :class:`TuningResult`);
- :mod:`aebnas.thresholds.evaluation`: the exit policy and its exact, vectorised evaluation
  (:func:`evaluate_thresholds`);
- :mod:`aebnas.thresholds.grid`: the reference grid tuner;
- :mod:`aebnas.thresholds.optimal`: the coordinate-ascent tuner and its curve.

Two tuners are registered in :data:`TUNERS`:

- ``"grid"``: the reference procedure, every combination of ``{0.1, 0.2, 1}`` per exit
  (1 = off), evaluated at once with numpy;
- ``"optimal"`` (default): continuous thresholds by exact coordinate ascent started from the
  best grid point, so it is never worse than ``"grid"`` on the objective, plus a whole
  accuracy-vs-MACs curve.

A budget below the cheapest operating point (every sample leaving at the cheapest exit, the only
one on), or a budget/target that is not positive, is a one-line
:class:`~aebnas.errors.UserError`; a target below the cheapest point is not (the penalised score
still has a maximum).

Every public name of the modules above is re-exported here, so ``from
aebnas.thresholds.tuners import X`` keeps working.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aebnas.registry import Registry
from aebnas.thresholds.evaluation import CURVE_POINTS, EvaluationTables, evaluate_thresholds
from aebnas.thresholds.grid import GRID_VALUES, grid_thresholds, grid_tuner
from aebnas.thresholds.optimal import (
    CACHE_BYTES,
    CURVE_BUDGETS,
    CURVE_SWEEPS,
    LINE_POINTS,
    MAX_SWEEPS,
    TRADEOFF_RANGE,
    TRADEOFF_SWEEPS,
    TRADEOFFS,
    ThresholdAscent,
    optimal_tuner,
)
from aebnas.thresholds.outcomes import (
    BUDGET_TOLERANCE,
    OBJECTIVE_MODES,
    TIE_BREAK,
    ExitOutcomes,
    Objective,
    OperatingPoint,
    TuningResult,
)

if TYPE_CHECKING:
    from aebnas.costs.macs import ExitCosts

__all__ = [
    "BUDGET_TOLERANCE",
    "CACHE_BYTES",
    "CURVE_BUDGETS",
    "CURVE_POINTS",
    "CURVE_SWEEPS",
    "GRID_VALUES",
    "LINE_POINTS",
    "MAX_SWEEPS",
    "OBJECTIVE_MODES",
    "TIE_BREAK",
    "TRADEOFFS",
    "TRADEOFF_RANGE",
    "TRADEOFF_SWEEPS",
    "TUNERS",
    "EvaluationTables",
    "ExitOutcomes",
    "GridComparison",
    "Objective",
    "OperatingPoint",
    "ThresholdAscent",
    "Tuner",
    "TuningResult",
    "compare_on_outcomes",
    "evaluate_thresholds",
    "grid_thresholds",
    "grid_tuner",
    "optimal_tuner",
    "tune",
]

Tuner = Callable[[ExitOutcomes, "ExitCosts", Objective], TuningResult]
TUNERS: Registry[Tuner] = Registry("threshold tuner")
TUNERS.add("grid", grid_tuner)
TUNERS.add("optimal", optimal_tuner)


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
