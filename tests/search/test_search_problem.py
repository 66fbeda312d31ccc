"""Objectives, operating points, Pareto fronts and hypervolume of the search problem."""

from __future__ import annotations

import math

import pytest

from aebnas.config import Config, apply_overrides
from aebnas.errors import UserError
from aebnas.search.problem import Outcome, SearchProblem, problem_from_config

CURVE = [
    {"accuracy": 0.70, "avg_macs": 1.0, "thresholds": [0.0]},
    {"accuracy": 0.78, "avg_macs": 2.0, "thresholds": [0.2]},
    {"accuracy": 0.80, "avg_macs": 3.0, "thresholds": [0.5]},
    {"accuracy": 0.802, "avg_macs": 5.0, "thresholds": [None]},
]


def record(objective_macs: float = 1e9) -> dict:
    return {
        "arch": "a",
        "status": "ok",
        "accuracy": 0.80,
        "avg_macs": 3.0,
        "objective": {"mode": "budget", "macs": objective_macs, "accuracy_tolerance": 0.005},
        "static_macs": {"final": 5.0},
        "exits": [{"threshold": 0.5}, {"threshold": None}],
        "curve": CURVE,
    }


def test_budget_mode_repicks_the_best_point_under_the_cap() -> None:
    problem = SearchProblem("budget", 2.5, 0.005, 0.0, 2.5)
    outcome = problem.outcome(record())
    assert outcome == Outcome(0.78, 2.0, [0.2], True)


def test_tolerance_takes_the_cheapest_point_close_to_the_best() -> None:
    problem = SearchProblem("open", None, 0.005, 0.0, 10.0)
    outcome = problem.outcome(record(objective_macs=99.0))  # tuned for another budget
    assert (outcome.accuracy, outcome.avg_macs) == (0.80, 3.0)  # 0.802 is within 0.005


def test_a_record_tuned_for_this_objective_is_taken_as_stored() -> None:
    problem = SearchProblem("open", None, 0.005, 0.0, 10.0)
    outcome = problem.outcome(record(objective_macs=5.0))
    assert (outcome.accuracy, outcome.avg_macs, outcome.thresholds) == (0.80, 3.0, [0.5])


def test_nothing_under_the_cap_is_infeasible_and_failed_records_have_no_outcome() -> None:
    problem = SearchProblem("budget", 0.5, 0.005, 0.0, 0.5)
    assert not problem.outcome(record()).feasible
    assert problem.outcome({"status": "failed"}) is None


def test_target_mode_cost_is_the_mac_deviation() -> None:
    problem = SearchProblem("target", 4.0, 0.0, 0.0, 100.0)
    assert problem.cost(3.0) == pytest.approx(25.0)
    # best score acc% - 0.1 * MAPE: 80.2 - 2.5 beats 80 - 2.5
    assert problem.outcome(record()).avg_macs == 5.0


def test_hypervolume_and_front() -> None:
    problem = SearchProblem("budget", 10.0, 0.0, 0.5, 10.0)
    points = [
        Outcome(0.8, 5.0, None, True),
        Outcome(0.7, 2.0, None, True),
        Outcome(0.6, 6.0, None, True),  # dominated
        Outcome(0.9, 11.0, None, False),  # over the cap
        None,  # failed
    ]
    assert problem.hypervolume(points) == pytest.approx(0.3 * 5 + 0.2 * 3)
    assert problem.pareto_mask(points).tolist() == [True, True, False, False, False]
    curve = problem.hypervolume_curve(points)
    assert curve[0] == pytest.approx(1.5) and curve[-1] == pytest.approx(2.1)


def test_problem_from_config_modes_and_reference() -> None:
    config = apply_overrides(Config(), {"thresholds.max_macs": 4.0})
    problem = problem_from_config(config, [record()])
    assert (problem.mode, problem.cap, problem.ref_cost) == ("budget", 4.0, 4.0)
    assert problem.ref_accuracy == pytest.approx(0.79)  # front minimum 0.80 - 0.01
    open_problem = problem_from_config(Config(), [record()])
    assert open_problem.mode == "open" and math.isclose(open_problem.ref_cost, 3.0)
    with pytest.raises(UserError):
        SearchProblem("budget", -1.0, 0.0, 0.0, 1.0)
