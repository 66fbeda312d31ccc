"""Confidence measures and per-exit threshold tuning."""

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
    "tune",
]
