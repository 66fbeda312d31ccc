"""Metrics, splits and the seed-noise ceiling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from aebnas.predictors.metrics import (
    average,
    kfold_splits,
    noise_ceiling,
    precision_at_top,
    score,
    subset_splits,
)


def test_score_of_a_perfect_and_a_reversed_prediction() -> None:
    y = np.linspace(0.5, 0.9, 20)
    perfect = score(y, y, np.full(20, 0.01))
    assert perfect["kendall_tau"] == pytest.approx(1.0)
    assert perfect["spearman"] == pytest.approx(1.0)
    assert perfect["rmse"] == 0 and perfect["mape"] == 0
    assert perfect["coverage90"] == 1.0 and perfect["precision_top10"] == 1.0
    reversed_ = score(y, y[::-1], np.full(20, 1e-6))
    assert reversed_["kendall_tau"] == pytest.approx(-1.0)
    assert reversed_["precision_top10"] == 0.0
    assert reversed_["coverage90"] == pytest.approx(0.0)


def test_mape_coverage_and_constant_prediction() -> None:
    y = np.array([1.0, 2.0, 4.0])
    metrics = score(y, y * 1.1, np.array([0.05, 1.0, 1.0]))
    assert metrics["mape"] == pytest.approx(10.0)
    assert metrics["coverage90"] == pytest.approx(2 / 3)
    assert math.isnan(score(y, np.ones(3), np.ones(3))["kendall_tau"])


def test_precision_at_top_respects_direction() -> None:
    y = np.arange(20.0)
    assert precision_at_top(y, y, 0.1, higher_is_better=True) == 1.0
    assert precision_at_top(y, -y, 0.1, higher_is_better=False) == 0.0
    assert precision_at_top(y, y, 0.1, higher_is_better=False) == 1.0


def test_splits_partition_and_are_seeded() -> None:
    splits = kfold_splits(23, 5, seed=1)
    tests = np.concatenate([test for _, test in splits])
    assert sorted(tests.tolist()) == list(range(23))
    for train, test in splits:
        assert not set(train) & set(test) and len(train) + len(test) == 23
    a, b = subset_splits(50, 10, 3, seed=2), subset_splits(50, 10, 3, seed=2)
    assert all((x[0] == y[0]).all() for x, y in zip(a, b, strict=True))
    assert all(len(tr) == 10 and len(te) == 40 for tr, te in a)


def test_average_ignores_nan_and_reports_spread() -> None:
    rows = [
        dict.fromkeys(
            ("kendall_tau", "spearman", "rmse", "mape", "coverage90", "precision_top10"), v
        )
        for v in (0.5, 0.7, math.nan)
    ]
    out = average(rows)
    assert out["kendall_tau"] == pytest.approx(0.6) and out["splits"] == 3
    assert out["kendall_tau_sd"] == pytest.approx(np.std([0.5, 0.7], ddof=1))


def _record(arch: str, seed: int, accuracy: float) -> dict[str, object]:
    return {"arch": arch, "seed": seed, "status": "ok", "accuracy": accuracy}


def test_noise_ceiling_within_one_archive_and_across_two() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.6, 0.9, 30)
    first = [_record(f"a{i}", 0, v) for i, v in enumerate(base)]
    second = [_record(f"a{i}", 1, v + rng.normal(0, 0.01)) for i, v in enumerate(base)]
    single = noise_ceiling(first + second + [_record("lonely", 0, 0.5)])
    assert single.pairs == 30 and 0.7 < single.kendall_tau <= 1.0
    assert single.spearman > single.kendall_tau and single.rmse == pytest.approx(0.01, rel=0.5)
    split = noise_ceiling(first, second)
    assert split.to_json() == single.to_json()
    assert noise_ceiling(first).pairs == 0


def test_perfect_predictor_beats_the_seed_to_seed_tau() -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(0.8, 0.01, 4000)
    first, second = (truth + rng.normal(0, 0.01, truth.size) for _ in range(2))
    ceiling = noise_ceiling(
        [_record(f"a{i}", 0, v) for i, v in enumerate(first)],
        [_record(f"a{i}", 1, v) for i, v in enumerate(second)],
    )
    measured = stats.kendalltau(truth, first)[0]
    assert ceiling.predictor_tau == pytest.approx(measured, abs=0.02)
    assert ceiling.predictor_tau > ceiling.kendall_tau + 0.1
    assert ceiling.mape == pytest.approx(100 * np.mean(np.abs(first - second) / first))
