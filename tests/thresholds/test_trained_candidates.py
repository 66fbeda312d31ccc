"""Optimal vs grid thresholds on really trained candidates (outcomes stored in the archive)."""

import json
from pathlib import Path

import pytest

from aebnas.archive import read_archive
from aebnas.archive.outcomes import unpack_outcomes
from aebnas.costs import ExitCosts
from aebnas.thresholds.tuners import Objective, evaluate_thresholds, tune

ARCHIVE = Path("data/surrogates/fashion-mnist-aebnas-plus-low.jsonl")


def _trained(limit: int = 12):
    if not ARCHIVE.exists():
        pytest.skip(f"{ARCHIVE} is not there")
    _, records = read_archive(ARCHIVE)
    ok = [r for r in records if r["status"] == "ok" and "outcomes" in r][:limit]
    if len(ok) < 3:
        pytest.skip(f"{ARCHIVE} holds fewer than 3 trained candidates")
    for record in ok:
        static = record["static_macs"]
        costs = ExitCosts(
            tuple(static["positions"]), tuple(static["backbone"]), tuple(static["branch"])
        )
        yield record, unpack_outcomes(record["outcomes"]), costs


@pytest.mark.parametrize("mode, fraction", [("target", 0.5), ("target", 0.8), ("budget", 0.6)])
def test_optimal_never_worse_than_grid_on_trained_candidates(mode, fraction):
    for record, outcomes, costs in _trained():
        objective = Objective(mode, fraction * costs.final)
        if mode == "budget" and objective.macs < costs.cumulative()[0]:
            continue
        grid = tune(outcomes, costs, objective, "grid").best
        optimal = tune(outcomes, costs, objective, "optimal").best
        assert (
            objective.score(optimal.accuracy, optimal.avg_macs)
            >= objective.score(grid.accuracy, grid.avg_macs) - 1e-9
        ), record["arch"]
        matched = tune(outcomes, costs, Objective("budget", grid.avg_macs), "optimal").best
        assert matched.avg_macs <= grid.avg_macs * (1 + 1e-6)
        assert matched.accuracy >= grid.accuracy, record["arch"]


def test_stored_curves_are_reproducible_from_stored_outcomes():
    for record, outcomes, costs in _trained(limit=5):
        for point in record["curve"][:: max(1, len(record["curve"]) // 5)]:
            thresholds = [float("inf") if t is None else t for t in point["thresholds"]]
            again = evaluate_thresholds(outcomes, costs, thresholds)
            # float16 storage of confidences may move a few samples across a threshold
            assert abs(again.accuracy - point["accuracy"]) <= 0.01
            assert abs(again.avg_macs - point["avg_macs"]) <= 0.02 * point["avg_macs"]
        json.dumps(record["curve"])
