"""Features: encoding + static MACs, and archive loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from predictor_fixtures import fake_costs, fmnist_space, synthetic_records, write_archive

from aebnas.errors import UserError
from aebnas.predictors.features import (
    FEATURES_VERSION,
    cost_feature_names,
    costs_from_record,
    feature_names,
    features,
    load_training_data,
)
from aebnas.space import Architecture, encode_many
from aebnas.space import feature_names as encoding_names
from aebnas.space.sampling import sample_stratified


def test_feature_names_are_encoding_then_costs() -> None:
    space = fmnist_space()
    names = feature_names(space)
    assert FEATURES_VERSION == 1
    assert names == encoding_names(space) + cost_feature_names(space)
    assert len(set(names)) == len(names)
    assert "x4.cumulative_mmacs" in names and "final.cumulative_mmacs" in names


def test_cost_columns_follow_exit_costs_and_zero_inactive_slots() -> None:
    space = fmnist_space()
    archs = sample_stratified(space, 12, seed=3)
    costs = [fake_costs(a, space) for a in archs]
    X = features(archs, space, 1, 10, costs=costs)
    names = feature_names(space)
    assert X.shape == (12, len(names)) and X.dtype == np.float64
    np.testing.assert_array_equal(X[:, : len(encoding_names(space))], encode_many(archs, space))
    col = {n: i for i, n in enumerate(names)}
    for arch, c, row in zip(archs, costs, X, strict=True):
        cumulative = c.cumulative()
        for p in space.exit_positions:
            if p in arch.exit_positions:
                k = arch.exit_positions.index(p)
                assert row[col[f"x{p}.branch_mmacs"]] == c.branch[k]
                assert row[col[f"x{p}.cumulative_mmacs"]] == pytest.approx(cumulative[k])
            else:
                assert row[col[f"x{p}.backbone_mmacs"]] == row[col[f"x{p}.cumulative_mmacs"]] == 0
        assert row[col["final.cumulative_mmacs"]] == pytest.approx(c.final)
        assert row[col["first.cumulative_mmacs"]] == pytest.approx(cumulative[0])


def test_load_training_data_skips_failed_and_averages_seeds(tmp_path: Path) -> None:
    records = synthetic_records(20, seed=1)
    again = dict(records[0], seed=5, accuracy=records[0]["accuracy"] + 0.1)
    failed = {"arch": records[1]["arch"], "hash": "h", "seed": 9, "status": "failed"}
    path = write_archive(tmp_path / "a.jsonl", [*records, again, failed])
    archs, X, y, meta = load_training_data(path, "accuracy")
    assert len(archs) == 20 and X.shape == (20, len(feature_names(fmnist_space())))
    assert y[0] == pytest.approx(records[0]["accuracy"] + 0.05)
    assert meta["n_records"] == 21 and meta["n_failed"] == 1 and meta["n_archs"] == 20
    assert meta["in_channels"] == 1 and meta["num_classes"] == 10
    assert meta["space"] == "aebnas-plus" and meta["dataset"] == "fashion-mnist"
    _, _, macs, _ = load_training_data(path, "avg_macs")
    assert macs[3] == pytest.approx(records[3]["avg_macs"])


def test_unknown_target_is_a_user_error(synthetic_archive: Path) -> None:
    with pytest.raises(UserError, match="unknown target"):
        load_training_data(synthetic_archive, "latency")


def test_record_costs_equal_computed_costs(real_records: list[dict[str, Any]]) -> None:
    """The archived static MACs are what exit_costs computes now (one architecture)."""
    from aebnas.costs import exit_costs

    space = fmnist_space()
    record = real_records[0]
    arch = Architecture.parse(record["arch"])
    stored = features([arch], space, 1, 10, costs=[costs_from_record(record)])
    computed = features([arch], space, 1, 10)
    np.testing.assert_allclose(computed, stored, rtol=1e-9)
    assert exit_costs(arch, space, 1, 10).final == pytest.approx(record["static_macs"]["final"])
