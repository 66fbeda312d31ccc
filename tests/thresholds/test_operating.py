"""The one operating-point rule: the cheapest point within the accuracy tolerance of the best,
under the budget (a target sets no limit)."""

from __future__ import annotations

import numpy as np
import pytest

from aebnas.search.problem import SearchProblem
from aebnas.thresholds import (
    Objective,
    OperatingPoint,
    TuningResult,
    operating_index,
    operating_point,
    tune,
)
from tests.thresholds.test_tuners import COSTS, make_outcomes


def point(acc: float, macs: float) -> OperatingPoint:
    return OperatingPoint((0.5,), acc, macs, (0.5, 0.5))


def test_takes_the_cheapest_point_close_to_the_best() -> None:
    curve = (point(0.70, 1.0), point(0.796, 2.0), point(0.80, 3.0))
    tuned = TuningResult(best=curve[-1], curve=curve, tuner="optimal")
    assert operating_point(tuned, Objective("budget", 3.0), 0.005).avg_macs == 2.0
    assert operating_point(tuned, Objective("budget", 3.0), 0.0).avg_macs == 3.0


def test_budget_best_is_the_most_accurate_point_under_the_cap() -> None:
    acc, avg = np.array([0.70, 0.78, 0.80, 0.802]), np.array([1.0, 2.0, 3.0, 5.0])
    assert operating_index(acc, avg, Objective("budget", 2.5), 0.0) == 1
    assert operating_index(acc, avg, Objective("budget", 10.0), 0.005) == 2  # 0.80 within 0.005


def test_a_point_at_the_cap_up_to_float_rounding_is_under_it() -> None:
    acc, avg = np.array([0.70, 0.80]), np.array([1.0, 2.0 * (1 + 1e-12)])
    assert operating_index(acc, avg, Objective("budget", 2.0), 0.005) == 1


def test_nothing_under_the_cap_gives_the_cheapest_point() -> None:
    acc, avg = np.array([0.70, 0.80]), np.array([3.0, 4.0])
    assert operating_index(acc, avg, Objective("budget", 2.0), 0.005) == 0


def test_target_mode_best_is_the_penalised_score_and_cost_has_no_limit() -> None:
    acc, avg = np.array([0.60, 0.795, 0.80, 0.85]), np.array([1.0, 3.0, 4.0, 8.0])
    objective = Objective("target", 4.0)
    # 0.85 at 8 MMACs loses 10 points of MAPE penalty: 0.80 at the target is best
    assert operating_index(acc, avg, objective, 0.0) == 2
    assert operating_index(acc, avg, objective, 0.01) == 1


def test_the_tuners_best_counts_when_the_curve_does_not_hold_it() -> None:
    """A best point thinned off the curve is still a candidate (and cheaper than the rest)."""
    curve = (point(0.70, 1.0), point(0.81, 3.0))
    best = point(0.80, 2.0)
    tuned = TuningResult(best=best, curve=curve, tuner="optimal")
    assert operating_point(tuned, Objective("budget", 2.5), 0.005) == best


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("macs", [6.0, 9.0, 14.0])
def test_the_search_rereads_a_stored_curve_with_the_same_rule(seed: int, macs: float) -> None:
    """A record tuned without a cap, re-read by the search at a cap, gives the point the rule
    picks on the same curve (the evaluation's pick when the tuner's best is on its curve)."""
    outcomes = make_outcomes(1500, seed=seed)
    open_tuned = tune(outcomes, COSTS, Objective("budget", COSTS.final))
    record = {
        "status": "ok",
        "accuracy": open_tuned.best.accuracy,
        "avg_macs": open_tuned.best.avg_macs,
        "objective": {"mode": "budget", "macs": COSTS.final, "accuracy_tolerance": 0.005},
        "static_macs": {"final": COSTS.final},
        "curve": [p.to_json() for p in open_tuned.curve],
    }
    outcome = SearchProblem("budget", macs, 0.005, 0.0, macs).outcome(record)
    assert outcome is not None
    objective = Objective("budget", macs)
    scores = [objective.score(p.accuracy, p.avg_macs) for p in open_tuned.curve]
    best = open_tuned.curve[int(np.argmax(scores))]
    on_curve = TuningResult(best=best, curve=open_tuned.curve, tuner="optimal")
    chosen = operating_point(on_curve, objective, 0.005)
    assert (outcome.accuracy, outcome.avg_macs) == (chosen.accuracy, chosen.avg_macs)
    assert outcome.feasible and outcome.avg_macs <= macs * (1 + 1e-9)
