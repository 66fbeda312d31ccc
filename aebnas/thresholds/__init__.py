"""Per-exit threshold tuning (the confidence measures live in :mod:`aebnas.confidence`)."""

from aebnas.thresholds.operating import operating_index, operating_point
from aebnas.thresholds.tuners import (
    TUNERS,
    ExitOutcomes,
    GridComparison,
    Objective,
    OperatingPoint,
    TuningResult,
    compare_on_outcomes,
    evaluate_thresholds,
    grid_thresholds,
    tune,
)

__all__ = [
    "TUNERS",
    "ExitOutcomes",
    "GridComparison",
    "Objective",
    "OperatingPoint",
    "TuningResult",
    "compare_on_outcomes",
    "evaluate_thresholds",
    "grid_thresholds",
    "operating_index",
    "operating_point",
    "tune",
]
