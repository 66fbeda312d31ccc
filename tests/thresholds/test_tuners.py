"""Threshold tuning: exact evaluation, the reference grid, the optimal tuner and its curve.

Synthetic but realistic outcomes: numpy logits where deeper exits are more accurate and the
confidence tracks correctness, turned into :class:`ExitOutcomes` through ``from_logits``; exit
costs are a fixed :class:`ExitCosts` built by hand.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from aebnas.costs.macs import ExitCosts
from aebnas.errors import UserError
from aebnas.thresholds import (
    TUNERS,
    ExitOutcomes,
    Objective,
    OperatingPoint,
    compare_on_outcomes,
    evaluate_thresholds,
    tune,
)

COSTS = ExitCosts(
    positions=(1, 2, 3, 4, 5),
    backbone=(3.0, 6.0, 11.0, 16.0, 22.0),
    branch=(0.4, 0.5, 0.6, 0.7, 1.5),
)
CHEAPEST = 3.4  # everyone leaves at exit 0, the only exit on
GRID = (0.1, 0.2, 1.0)
SEEDS = (0, 1, 2, 3)


def make_logits(
    n: int, exits: int = 4, classes: int = 10, seed: int = 0
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Logits of ``exits`` intermediate exits and the final head, ``(n, classes)`` each.

    Every sample has a difficulty shared by all exits; the true class gets a boost growing with
    depth and shrinking with difficulty; each exit has its own calibration (logit scale).
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    difficulty = rng.normal(size=n)
    logits = []
    for k in range(exits + 1):
        z = rng.normal(size=(n, classes))
        z[np.arange(n), labels] += 1.0 + 3.0 * k / exits - 1.2 * difficulty
        z *= 0.7 + 0.8 * rng.random()
        logits.append(torch.from_numpy(z).float())
    return logits, torch.from_numpy(labels)


def make_outcomes(n: int = 2000, seed: int = 0, confidence: str = "margin") -> ExitOutcomes:
    logits, labels = make_logits(n, seed=seed)
    return ExitOutcomes.from_logits(logits, labels, confidence)


def brute_point(outcomes: ExitOutcomes, costs: ExitCosts, thresholds) -> tuple[float, float, list]:
    """The exit policy, one sample at a time: (accuracy, average MMACs, utilisation)."""
    n, k = outcomes.correct.shape
    active = [math.isfinite(t) for t in thresholds] + [True]
    table = costs.cumulative(active)
    right, total, counts = 0, 0.0, [0] * k
    for s in range(n):
        leave = k - 1
        for j, t in enumerate(thresholds):
            if outcomes.confidence[s, j] >= t:
                leave = j
                break
        counts[leave] += 1
        right += bool(outcomes.correct[s, leave])
        total += table[leave]
    return right / n, total / n, [c / n for c in counts]


def brute_grid(outcomes: ExitOutcomes, costs: ExitCosts, objective: Objective):
    """The reference procedure as a loop; returns (thresholds, accuracy, avg MMACs, points)."""
    best, best_key, points = None, None, []
    for combo in itertools.product(GRID, repeat=outcomes.num_exits - 1):
        if all(v == 1.0 for v in combo):
            continue
        thresholds = tuple(math.inf if v == 1.0 else v for v in combo)
        acc, avg, _ = brute_point(outcomes, costs, thresholds)
        points.append((acc, avg))
        if objective.mode == "target":
            key = (acc * 100 - 0.1 * 100 * abs(avg - objective.macs) / objective.macs,)
        elif avg <= objective.macs:
            key = (acc, -avg)
        else:
            continue
        if best_key is None or key > best_key:
            best, best_key = (thresholds, acc, avg), key
    assert best is not None
    return (*best, points)


def non_dominated(points: list[tuple[float, float]]) -> set[tuple[float, float]]:
    return {
        (a, c)
        for a, c in points
        if not any(a2 >= a and c2 <= c and (a2, c2) != (a, c) for a2, c2 in points)
    }


# --------------------------------------------------------------------------------------------


def test_synthetic_outcomes_are_realistic() -> None:
    outcomes = make_outcomes(4000)
    accuracy = outcomes.correct.mean(axis=0)
    assert np.all(np.diff(accuracy) > 0.02), accuracy  # deeper exits are more accurate
    for j in range(outcomes.num_exits - 1):
        conf, right = outcomes.confidence[:, j], outcomes.correct[:, j]
        assert conf[right].mean() > conf[~right].mean() + 0.1  # confidence tracks correctness


def test_evaluate_thresholds_matches_per_sample_loop() -> None:
    outcomes = make_outcomes(1500, seed=5)
    cases = [
        (0.3, 0.3, 0.3, 0.3),
        (0.1, 0.2, 0.1, 0.2),
        (math.inf, 0.25, math.inf, 0.1),  # off exits: their branches are not paid
        (0.9, math.inf, math.inf, math.inf),
        (-1.0, 0.5, 0.5, 0.5),  # everyone leaves at exit 0
        (2.0, 2.0, 2.0, 2.0),  # exits on, nobody leaves: every branch still paid
        (math.inf, math.inf, math.inf, math.inf),
    ]
    for thresholds in cases:
        point = evaluate_thresholds(outcomes, COSTS, thresholds)
        acc, avg, util = brute_point(outcomes, COSTS, thresholds)
        assert point.thresholds == thresholds
        assert point.accuracy == acc
        assert point.avg_macs == pytest.approx(avg, rel=1e-12)
        assert point.util == pytest.approx(util, abs=1e-15)
        assert sum(point.util) == pytest.approx(1.0)


def test_evaluate_thresholds_by_hand() -> None:
    # 4 samples, exits 0 and 2 of 4 active; exits 1 and 3 off and not paid.
    outcomes = ExitOutcomes(
        confidence=np.array(
            [[0.9, 0.0, 0.1, 0.0], [0.1, 0.9, 0.8, 0.0], [0.2, 0.0, 0.2, 0.9], [0.5, 0, 0, 0]]
        ),
        correct=np.array(
            [[1, 0, 0, 0, 0], [0, 0, 1, 0, 1], [0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], bool
        ),
    )
    point = evaluate_thresholds(outcomes, COSTS, (0.5, None, 0.5, math.inf))
    # Sample 0 and 3 leave at exit 0 (3.0 + 0.4), sample 1 at exit 2 (11 + 0.6 + 0.4),
    # sample 2 at the final (22 + 1.5 + 0.4 + 0.6); right: samples 0, 1, 2.
    assert point.util == (0.5, 0.0, 0.25, 0.0, 0.25)
    assert point.accuracy == 0.75
    assert point.avg_macs == pytest.approx((2 * 3.4 + 12.0 + 24.5) / 4)
    assert point.active == (True, False, True, False)
    assert point.to_json()["thresholds"] == [0.5, None, 0.5, None]
    assert OperatingPoint.from_json(point.to_json()) == point


@pytest.mark.parametrize("objective", [Objective("target", 12.0), Objective("budget", 12.0)])
def test_grid_is_the_reference_procedure(objective: Objective) -> None:
    outcomes = make_outcomes(800, seed=7)
    thresholds, acc, avg, points = brute_grid(outcomes, COSTS, objective)
    result = tune(outcomes, COSTS, objective, tuner="grid")
    assert result.tuner == "grid"
    assert result.best.thresholds == thresholds
    assert result.best.accuracy == acc
    assert result.best.avg_macs == pytest.approx(avg, rel=1e-12)
    curve = {(p.accuracy, round(p.avg_macs, 9)) for p in result.curve}
    assert curve == {(a, round(c, 9)) for a, c in non_dominated(points)}


def test_objective_scores() -> None:
    target = Objective("target", 10.0)
    assert target.score(0.9, 12.0) == pytest.approx(90.0 - 0.1 * 100 * 0.2)
    assert target.score(0.9, 8.0) == target.score(0.9, 12.0)
    scores = target.score(np.array([0.5, 0.9]), np.array([10.0, 10.0]))
    assert scores.tolist() == [50.0, 90.0]
    budget = Objective("budget", 10.0)
    assert budget.score(0.9, 10.5) == -math.inf
    assert budget.score(0.9, 9.0) > budget.score(0.9, 9.5) > budget.score(0.8999, 1.0)
    with pytest.raises(UserError, match="objective mode"):
        Objective("cheapest", 10.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_optimal_is_never_worse_than_grid(seed: int) -> None:
    outcomes = make_outcomes(2000, seed=seed)
    for objective in (
        Objective("target", 12.0),
        Objective("target", 17.0),
        Objective("budget", 9.0),
    ):
        grid = tune(outcomes, COSTS, objective, tuner="grid").best
        optimal = tune(outcomes, COSTS, objective).best
        assert objective.score(optimal.accuracy, optimal.avg_macs) >= objective.score(
            grid.accuracy, grid.avg_macs
        )
    # At the grid point's own MACs.
    grid = tune(outcomes, COSTS, Objective("target", 12.0), tuner="grid").best
    matched = tune(outcomes, COSTS, Objective("budget", grid.avg_macs))
    assert matched.best.accuracy >= grid.accuracy
    assert matched.best.avg_macs <= grid.avg_macs * (1 + 1e-9)
    assert any(
        p.avg_macs <= grid.avg_macs * (1 + 1e-9) and p.accuracy >= grid.accuracy
        for p in matched.curve
    )
    comparison = compare_on_outcomes(outcomes, COSTS, Objective("target", 12.0))
    assert comparison.grid == grid
    assert comparison.accuracy_gain >= 0.0


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_curve_is_non_dominated_and_reproducible(seed: int) -> None:
    outcomes = make_outcomes(2000, seed=seed)
    result = tune(outcomes, COSTS, Objective("target", 12.0))
    curve = result.curve
    assert 8 <= len(curve) <= 64
    assert curve[0].avg_macs == pytest.approx(CHEAPEST)  # the cheapest point is kept
    for a, b in itertools.pairwise(curve):  # sorted by MACs, accuracy strictly rising
        assert a.avg_macs < b.avg_macs and a.accuracy < b.accuracy
    for point in curve:
        assert evaluate_thresholds(outcomes, COSTS, point.thresholds) == point
        assert sum(point.util) == pytest.approx(1.0)
        assert any(map(math.isfinite, point.thresholds))  # never all exits off
    best = result.best
    assert evaluate_thresholds(outcomes, COSTS, best.thresholds) == best
    assert result.to_json()["best"] == best.to_json()


def test_thresholds_sit_between_validation_confidences() -> None:
    outcomes = make_outcomes(2000, seed=3)
    best = tune(outcomes, COSTS, Objective("target", 12.0)).best
    for j, t in enumerate(best.thresholds):
        if not math.isfinite(t):
            continue
        for nudged in (np.nextafter(t, -np.inf), np.nextafter(t, np.inf)):
            thresholds = list(best.thresholds)
            thresholds[j] = float(nudged)
            again = evaluate_thresholds(outcomes, COSTS, thresholds)
            assert (again.accuracy, again.util) == (best.accuracy, best.util)


@pytest.mark.parametrize("budget", [3.5, 6.0, 9.0, 12.0, 16.0, 30.0])
def test_budget_is_respected(budget: float) -> None:
    outcomes = make_outcomes(2000, seed=1)
    best = tune(outcomes, COSTS, Objective("budget", budget)).best
    assert best.avg_macs <= budget * (1 + 1e-9)
    if budget >= 12.0:
        grid = tune(outcomes, COSTS, Objective("budget", budget), tuner="grid").best
        assert best.accuracy >= grid.accuracy


def test_budget_at_the_cheapest_point_is_feasible() -> None:
    outcomes = make_outcomes(1000, seed=2)
    best = tune(outcomes, COSTS, Objective("budget", CHEAPEST)).best
    assert best.avg_macs == pytest.approx(CHEAPEST)
    assert best.util[0] == 1.0


@pytest.mark.parametrize("tuner", ["grid", "optimal"])
@pytest.mark.parametrize(
    "objective",
    [
        Objective("budget", 3.0),
        Objective("budget", 0.0),
        Objective("target", -1.0),
        Objective("target", math.nan),
    ],
)
def test_impossible_objective_is_a_one_line_user_error(tuner: str, objective: Objective) -> None:
    outcomes = make_outcomes(300)
    with pytest.raises(
        UserError, match=r"impossible: the cheapest operating point costs 3\.4 MMACs"
    ) as err:
        tune(outcomes, COSTS, objective, tuner=tuner)
    assert "\n" not in str(err.value)
    flag = "--max-macs" if objective.mode == "budget" else "--target-macs"
    assert flag in str(err.value)


def test_grid_without_a_feasible_combination() -> None:
    outcomes = make_outcomes(500)
    with pytest.raises(UserError, match="optimal"):
        tune(outcomes, COSTS, Objective("budget", 3.5), tuner="grid")
    assert tune(outcomes, COSTS, Objective("budget", 3.5)).best.avg_macs <= 3.5


@pytest.mark.parametrize("confidence", ["margin", "max-softmax", "entropy"])
def test_confidence_measures_work_through_from_logits(confidence: str) -> None:
    logits, labels = make_logits(1500, seed=4)
    outcomes = ExitOutcomes.from_logits(logits, labels, confidence)
    assert outcomes.confidence.shape == (1500, 4)
    assert outcomes.correct.shape == (1500, 5)
    assert outcomes.confidence.min() >= -1e-6 and outcomes.confidence.max() <= 1 + 1e-6
    expected = torch.stack([z.argmax(dim=1) == labels for z in logits], dim=1).numpy()
    np.testing.assert_array_equal(outcomes.correct, expected)
    objective = Objective("target", 12.0)
    grid = tune(outcomes, COSTS, objective, tuner="grid").best
    best = tune(outcomes, COSTS, objective).best
    assert objective.score(best.accuracy, best.avg_macs) >= objective.score(
        grid.accuracy, grid.avg_macs
    )
    assert (
        ExitOutcomes.from_json(outcomes.to_json()).confidence.tolist()
        == outcomes.confidence.tolist()
    )


def test_tied_confidences_and_a_single_exit() -> None:
    rounded = make_outcomes(2000, seed=6)
    rounded = ExitOutcomes(np.round(rounded.confidence, 1), rounded.correct)  # many ties
    result = tune(rounded, COSTS, Objective("target", 12.0))
    for point in (result.best, *result.curve):
        assert evaluate_thresholds(rounded, COSTS, point.thresholds) == point
    one = ExitOutcomes(rounded.confidence[:, 3:], rounded.correct[:, 3:])
    costs = ExitCosts(positions=(4, 5), backbone=(16.0, 22.0), branch=(0.7, 1.5))
    objective = Objective("target", 19.0)
    grid = tune(one, costs, objective, tuner="grid").best
    best = tune(one, costs, objective).best
    assert math.isfinite(best.thresholds[0])  # the only exit cannot be switched off
    assert objective.score(best.accuracy, best.avg_macs) >= objective.score(
        grid.accuracy, grid.avg_macs
    )


def test_bad_inputs_are_user_errors() -> None:
    outcomes = make_outcomes(200)
    with pytest.raises(UserError, match="exit costs describe"):
        tune(outcomes, ExitCosts((1, 5), (3.0, 22.0), (0.4, 1.5)), Objective("target", 12.0))
    with pytest.raises(UserError, match="thresholds for 4"):
        evaluate_thresholds(outcomes, COSTS, (0.1, 0.2))
    with pytest.raises(UserError, match="NaN"):
        evaluate_thresholds(outcomes, COSTS, (0.1, math.nan, 0.1, 0.1))
    with pytest.raises(UserError, match="do not fit"):
        ExitOutcomes(np.zeros((5, 2)), np.zeros((5, 2), bool))
    with pytest.raises(UserError, match="unknown threshold tuner"):
        tune(outcomes, COSTS, Objective("target", 12.0), tuner="bayes")
    with pytest.raises(UserError, match="unknown confidence"):
        make_outcomes(10, confidence="vibes")
    assert TUNERS.names() == ["grid", "optimal"]


def test_coordinate_lines_are_exact() -> None:
    from aebnas.thresholds.tuners import EvaluationTables, ThresholdAscent

    outcomes = make_outcomes(1000, seed=8)
    ascent = ThresholdAscent(EvaluationTables(outcomes, COSTS))
    rng = np.random.default_rng(0)
    for trial in range(6):
        t = rng.uniform(0.05, 0.6, 4)
        t[rng.random(4) < 0.3] = math.inf
        if trial == 0:
            t[:] = [math.inf, 0.3, math.inf, math.inf]  # exit 1 alone: it cannot go off
        for i in range(4):
            line = ascent.line(i, t)
            groups = len(ascent.cand[i])
            for g in {0, 1, groups // 2, groups - 1, *line.front[:: max(1, len(line.front) // 5)]}:
                probe = t.copy()
                probe[i] = ascent.cand[i][g]
                point = evaluate_thresholds(outcomes, COSTS, probe)
                assert line.correct(np.array([g]))[0] == round(point.accuracy * 1000)
                assert line.cost(np.array([g]))[0] == pytest.approx(point.avg_macs, rel=1e-12)
            others_on = bool(np.isfinite(np.delete(t, i)).any())
            assert (line.off is not None) == others_on
            if line.off is not None:
                probe = t.copy()
                probe[i] = math.inf
                point = evaluate_thresholds(outcomes, COSTS, probe)
                assert line.off[1] == round(point.accuracy * 1000)
                assert line.off[0] == pytest.approx(point.avg_macs, rel=1e-12)
