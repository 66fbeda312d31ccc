"""Exit usage, the exact average-MACs identity, and the ``exits`` predictor built on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from predictor_fixtures import REPO, fmnist_space, synthetic_records, usage_records, write_archive

from aebnas.archive import read_archive
from aebnas.data import dataset_info
from aebnas.errors import UserError
from aebnas.predictors import (
    ExitUsage,
    build_predictor,
    build_prior_predictor,
    expected_avg_macs,
    fit_predictor,
    load_model,
    load_training_data,
)
from aebnas.predictors.base import predicts_target
from aebnas.predictors.cli import main as predictors_main
from aebnas.predictors.exits import ExitsPredictor, derived_inputs, exit_cost_columns
from aebnas.predictors.features import feature_names, ok_records, records_to_data
from aebnas.predictors.metrics import score
from aebnas.predictors.usage import split_costs
from aebnas.space import get_space

REFERENCE = REPO.parent / "shared/reference/cifar10-reference-archive/cifar10-aebnas-ref5ep.jsonl"
FAST = {"members": 4, "rounds": 120}


@pytest.fixture(scope="module")
def usage_data(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = write_archive(tmp_path_factory.mktemp("u") / "a.jsonl", usage_records(140, seed=3))
    return load_training_data(path, "avg_macs")


@pytest.fixture(scope="module")
def fitted(usage_data: Any) -> ExitsPredictor:
    names = feature_names(fmnist_space())
    predictor = build_predictor("exits", names, seed=0, **FAST)
    assert isinstance(predictor, ExitsPredictor)
    train = range(100)
    return predictor.fit(usage_data.X[:100], usage_data.y[:100], usage_data.usage.subset(train))


def check_identity(records: list[dict[str, Any]], space_name: str, dataset: str) -> None:
    space = get_space(space_name, dataset_info(dataset).resolutions)
    data = records_to_data(records, "avg_macs", space, {})
    assert data.usage is not None and len(data.usage) == len(data)
    columns = exit_cost_columns(feature_names(space))
    present, backbone, branch = split_costs(data.X, columns)
    assert present.shape == (len(data), len(space.exit_positions))
    np.testing.assert_allclose(expected_avg_macs(data.usage, backbone, branch), data.y, rtol=1e-9)
    derived = derived_inputs(data.X, columns)
    assert np.isfinite(derived).all() and (derived[:, len(space.exit_positions)] != 0).all()
    np.testing.assert_allclose(data.usage.util.sum(axis=1), 1.0, atol=1e-3)


def test_identity_reproduces_the_avg_macs_of_real_fashion_mnist_records(
    real_records: list[dict[str, Any]],
) -> None:
    check_identity(real_records, "aebnas-plus", "fashion-mnist")


def test_identity_reproduces_the_avg_macs_of_the_cifar10_reference_rows() -> None:
    if not REFERENCE.is_file():
        pytest.skip(f"{REFERENCE} is missing")
    _, records = read_archive(REFERENCE)
    check_identity(ok_records(records, "avg_macs"), "aebnas", "cifar10")


def test_fractions_round_trip_and_off_exits_cost_nothing() -> None:
    rng = np.random.default_rng(0)
    on = (rng.random((50, 4)) > 0.3).astype(float)
    leave = rng.random((50, 4))
    usage = ExitUsage.from_fractions(on, leave)
    np.testing.assert_allclose(usage.util.sum(axis=1), 1.0)
    again = ExitUsage.from_fractions(on, usage.leave_fraction())
    np.testing.assert_allclose(again.util, usage.util, atol=1e-12)
    backbone = np.tile([1.0, 2.0, 3.0, 4.0, 5.0], (50, 1))
    branch = np.tile([10.0, 10.0, 10.0, 10.0, 0.5], (50, 1))
    everyone_final = ExitUsage.from_fractions(np.zeros((50, 4)), leave)
    np.testing.assert_allclose(expected_avg_macs(everyone_final, backbone, branch), 5.5)


def test_given_constant_usage_the_predictor_reproduces_exact_macs(usage_data: Any) -> None:
    """Every row with the same usage rule: the fitted parts are that rule, the MACs exact."""
    present, backbone, branch = split_costs(
        usage_data.X, exit_cost_columns(feature_names(fmnist_space()))
    )
    on, leave = present.astype(float), np.full(present.shape, 0.4)
    usage = ExitUsage.from_fractions(on, leave)
    exact = expected_avg_macs(usage, backbone, branch)
    predictor = build_predictor("exits", feature_names(fmnist_space()), seed=1, **FAST)
    fit_predictor(predictor, usage_data.X[:80], exact[:80], usage.subset(range(80)))
    mean, std = predictor.predict(usage_data.X[80:])
    np.testing.assert_allclose(mean, exact[80:], rtol=1e-9)
    assert (std < 1e-6).all()


def test_learns_a_usage_rule_from_records(usage_data: Any, fitted: ExitsPredictor) -> None:
    mean, std = fitted.predict(usage_data.X[100:])
    metrics = score(usage_data.y[100:], mean, std, higher_is_better=False)
    assert metrics["mape"] < 3.0, metrics
    assert metrics["kendall_tau"] > 0.9, metrics
    predicted = fitted.predict_usage(usage_data.X[100:])
    off = predicted.on[:, 0][split_costs(usage_data.X[100:], fitted.columns)[0][:, 0]]
    assert off.size and (off < 0.05).all()  # exits after stage 1 are learnt to be off


def test_save_load_round_trip_and_botorch_view(
    fitted: ExitsPredictor, usage_data: Any, tmp_path: Path
) -> None:
    fitted.save(tmp_path)
    loaded = load_model(tmp_path)
    assert isinstance(loaded, ExitsPredictor)
    X = usage_data.X[100:]
    for before, after in zip(fitted.predict(X), loaded.predict(X), strict=True):
        np.testing.assert_allclose(after, before, rtol=0, atol=1e-9)
    posterior = loaded.to_botorch().posterior(torch.as_tensor(X[:7]))
    mean, std = loaded.predict(X[:7])
    np.testing.assert_allclose(posterior.mean.reshape(-1).numpy(), mean, rtol=1e-9)
    np.testing.assert_allclose(posterior.variance.sqrt().reshape(-1).numpy(), std, rtol=1e-6)
    config = json.loads((tmp_path / "model.json").read_text())
    name = next(v for row in config["parts"] for e in row for v in e.values() if isinstance(v, str))
    (tmp_path / name).unlink()
    with pytest.raises(UserError, match="missing; refit it"):
        load_model(tmp_path)


def test_needs_usage_and_predicts_only_average_macs(usage_data: Any, tmp_path: Path) -> None:
    predictor = build_predictor("exits", feature_names(fmnist_space()), **FAST)
    with pytest.raises(UserError, match="per-exit utilisation"):
        predictor.fit(usage_data.X, usage_data.y)
    assert predicts_target("exits", "avg_macs") and not predicts_target("exits", "accuracy")
    assert predicts_target("gp", "accuracy")
    archive = write_archive(tmp_path / "a.jsonl", usage_records(20, seed=4))
    with pytest.raises(UserError, match="does not predict accuracy"):
        predictors_main(
            ["fit", "--data", str(archive), "--model", "exits", "--target", "accuracy",
             "--out", str(tmp_path / "p")]
        )  # fmt: skip


def test_records_without_exits_have_no_usage(tmp_path: Path) -> None:
    path = write_archive(tmp_path / "a.jsonl", synthetic_records(12, seed=5))
    assert load_training_data(path, "avg_macs").usage is None


def test_a_fitted_exits_predictor_serves_as_a_transfer_prior(
    fitted: ExitsPredictor, usage_data: Any
) -> None:
    """The search's prior path needs only ``predict``: a residual GP refits on ``(X, y)``."""
    names = feature_names(fmnist_space())
    prior = build_prior_predictor(fitted, "gp", names, seed=0)
    prior.fit(usage_data.X[100:125], usage_data.y[100:125] * 1.1)
    mean, std = prior.predict(usage_data.X[125:])
    assert score(usage_data.y[125:] * 1.1, mean, std, higher_is_better=False)["mape"] < 5.0
    assert (std > 0).all()
