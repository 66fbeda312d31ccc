"""Per-exit slot features, their usage-weighted average, and the ``usage-gp`` predictor."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from predictor_fixtures import fmnist_space, synthetic_records, write_archive
from scipy import stats

from aebnas.errors import UserError
from aebnas.predictors import PREDICTORS, build_predictor, fit_predictor, load_model
from aebnas.predictors.base import predicts_target
from aebnas.predictors.exit_features import (
    slot_features,
    slot_plan,
    usage_feature_names,
    usage_weighted,
)
from aebnas.predictors.features import TrainingData, feature_names, load_training_data
from aebnas.predictors.usage_gp import UsageGPPredictor

#: Small settings: a GP fit on near-noiseless synthetic data runs long without an iteration cap.
GP_FAST = {"maxiter": 60}
FAST = {"exits": {"members": 2, "rounds": 120}, "gp": GP_FAST}
TRAIN = np.arange(100)
TEST = np.arange(100, 160)


def exit_accuracy_records(n: int, seed: int) -> list[dict[str, Any]]:
    """Synthetic records tuned like the reference CIFAR-10 archive: only the deepest exit at
    positions 1-3 is on and 85% of the samples leave there; the accuracy is the usage-weighted
    accuracy of the exits used, which grows with the log backbone MMACs up to each."""
    rng = np.random.default_rng(seed)
    records = synthetic_records(n, seed)
    for record in records:
        static = record["static_macs"]
        positions, backbone = static["positions"], static["backbone"]
        chosen = max((p for p in positions[:-1] if p <= 3), default=None)
        exits, arrive, accuracy = [], 1.0, 0.0
        for k, position in enumerate(positions):
            last = k == len(positions) - 1
            util = arrive if last else 0.85 * arrive * (position == chosen)
            accuracy += util * (0.55 + 0.06 * np.log1p(backbone[k]))
            threshold = 0.5 if position == chosen else None
            exits.append({"position": position, "util": util, "threshold": threshold})
            arrive -= util
        record["exits"], record["accuracy"] = exits, accuracy + rng.normal(0, 0.001)
    return records


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> TrainingData:
    path = tmp_path_factory.mktemp("g") / "a.jsonl"
    return load_training_data(write_archive(path, exit_accuracy_records(160, seed=6)), "accuracy")


@pytest.fixture(scope="module")
def fitted(data: TrainingData) -> UsageGPPredictor:
    names = feature_names(fmnist_space())
    predictor = build_predictor("usage-gp", names, seed=0, **FAST)
    assert isinstance(predictor, UsageGPPredictor) and data.usage is not None
    return predictor.fit(data.X[TRAIN], data.y[TRAIN], data.usage.subset(TRAIN))


def test_slot_features_describe_the_network_up_to_each_exit(data: TrainingData) -> None:
    names = list(feature_names(fmnist_space()))
    plan = slot_plan(names)
    per_slot = slot_features(data.X, plan)
    slots = len(plan.positions) + 1
    assert per_slot.shape == (len(data), slots, plan.width) == (len(data), 5, 16)
    np.testing.assert_array_equal(
        per_slot[:, :, :slots], np.broadcast_to(np.eye(slots), (len(data), 5, 5))
    )
    depth = np.cumsum([data.X[:, names.index(f"s{s}.depth")] for s in range(1, 6)], axis=0).T
    blocks = per_slot[:, :, slots + 2]
    np.testing.assert_array_equal(blocks, depth)  # exit p follows stage p, the final stage 5
    final_backbone = data.X[:, names.index("final.backbone_mmacs")]
    np.testing.assert_allclose(per_slot[:, 4, slots + 1], np.log1p(final_backbone))
    first_exit = np.zeros((len(data), slots))
    first_exit[:, 2] = 1.0
    np.testing.assert_allclose(usage_weighted(data.X, first_exit, plan), per_slot[:, 2])
    assert len(usage_feature_names(plan)) == plan.width
    with pytest.raises(ValueError, match=r"x2\.backbone_mmacs"):
        slot_plan([n for n in names if n != "x2.backbone_mmacs"])


def test_ranks_an_accuracy_set_by_the_exits_used_better_than_the_plain_gp(
    data: TrainingData, fitted: UsageGPPredictor
) -> None:
    names = feature_names(fmnist_space())
    plain = build_predictor("gp", names, seed=0, **GP_FAST).fit(data.X[TRAIN], data.y[TRAIN])
    y = data.y[TEST]
    tau_usage = stats.kendalltau(y, fitted.predict(data.X[TEST])[0]).statistic
    tau_plain = stats.kendalltau(y, plain.predict(data.X[TEST])[0]).statistic
    assert tau_usage > 0.82 and tau_usage > tau_plain + 0.03, (tau_usage, tau_plain)


def test_save_load_round_trip_and_botorch_view(
    data: TrainingData, fitted: UsageGPPredictor, tmp_path: Path
) -> None:
    fitted.save(tmp_path)
    loaded = load_model(tmp_path)
    assert isinstance(loaded, UsageGPPredictor)
    X = data.X[TEST]
    for before, after in zip(fitted.predict(X), loaded.predict(X), strict=True):
        np.testing.assert_allclose(after, before, rtol=0, atol=1e-9)
    mean, std = loaded.predict(X[:7])
    with torch.no_grad():
        posterior = loaded.to_botorch().posterior(
            torch.as_tensor(X[:7]).unsqueeze(-2), observation_noise=True
        )
    np.testing.assert_allclose(posterior.mean.reshape(-1).numpy(), mean, atol=1e-9)
    np.testing.assert_allclose(posterior.variance.reshape(-1).numpy(), std**2, rtol=1e-6)
    shutil.rmtree(tmp_path / "gp")
    shutil.copytree(tmp_path / "exits", tmp_path / "gp")
    with pytest.raises(UserError, match="must hold an exits and gp/ a gp model"):
        load_model(tmp_path)


def test_needs_usage_and_feature_names_and_predicts_only_accuracy(data: TrainingData) -> None:
    assert "usage-gp" in PREDICTORS.names()
    assert predicts_target("usage-gp", "accuracy") and not predicts_target("usage-gp", "avg_macs")
    predictor = build_predictor("usage-gp", feature_names(fmnist_space()), **FAST)
    with pytest.raises(UserError, match="per-exit utilisation"):
        fit_predictor(predictor, data.X, data.y, None)
    with pytest.raises(UserError, match="feature names"):
        UsageGPPredictor()
