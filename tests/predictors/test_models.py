"""The xgb, gp and mlp predictors: learning, uncertainty, save/load, BoTorch view, prior reuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from predictor_fixtures import fmnist_space, synthetic_records, write_archive
from scipy import stats

from aebnas.errors import UserError
from aebnas.predictors import (
    PREDICTORS,
    TrainingData,
    build_predictor,
    build_prior_predictor,
    load_model,
    load_training_data,
    make_predictor,
)
from aebnas.predictors.base import Predictor
from aebnas.predictors.features import feature_names, records_to_data
from aebnas.predictors.metrics import score

#: Smaller-than-default settings so the suite stays fast.
FAST: dict[str, dict[str, Any]] = {
    "xgb": {"members": 6, "rounds": 150},
    "gp": {},
    "mlp": {},
}
KINDS = sorted(FAST)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> TrainingData:
    path = write_archive(tmp_path_factory.mktemp("m") / "a.jsonl", synthetic_records(120, seed=2))
    return load_training_data(path, "accuracy")


@pytest.fixture(scope="module")
def fitted(data: TrainingData) -> dict[str, Predictor]:
    names = feature_names(fmnist_space())
    return {
        kind: build_predictor(kind, names, seed=0, **FAST[kind]).fit(data.X[:90], data.y[:90])
        for kind in KINDS
    }


def test_registry_and_unknown_kind() -> None:
    assert PREDICTORS.names() == ["exits", "gp", "mlp", "usage-gp", "xgb"]
    assert make_predictor("xgb").name == "xgb"
    with pytest.raises(UserError, match="unknown predictor 'forest'"):
        make_predictor("forest")


@pytest.mark.parametrize("kind", KINDS)
def test_learns_known_function_with_sane_uncertainty(
    kind: str, data: TrainingData, fitted: dict[str, Predictor]
) -> None:
    mean, std = fitted[kind].predict(data.X[90:])
    assert mean.shape == std.shape == (30,)
    metrics = score(data.y[90:], mean, std)
    assert metrics["kendall_tau"] > 0.6, metrics
    assert (std > 0).all()
    assert 0.5 <= metrics["coverage90"] <= 1.0, metrics


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip_is_exact(
    kind: str, data: TrainingData, fitted: dict[str, Predictor], tmp_path: Path
) -> None:
    fitted[kind].save(tmp_path)
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.pt"))
    loaded = load_model(tmp_path)
    assert type(loaded) is type(fitted[kind])
    before, after = fitted[kind].predict(data.X[90:]), loaded.predict(data.X[90:])
    np.testing.assert_allclose(after[0], before[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(after[1], before[1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_botorch_posterior_matches_predict(
    kind: str, data: TrainingData, fitted: dict[str, Predictor]
) -> None:
    mean, std = fitted[kind].predict(data.X[90:100])
    model = fitted[kind].to_botorch()
    X = torch.as_tensor(data.X[90:100]).unsqueeze(-2)  # 10 batches of q=1
    with torch.no_grad():
        post = model.posterior(X)
        noisy = model.posterior(X, observation_noise=True) if kind == "gp" else post
    np.testing.assert_allclose(post.mean.reshape(-1).numpy(), mean, atol=1e-9)
    np.testing.assert_allclose(noisy.variance.reshape(-1).numpy(), std**2, rtol=1e-6, atol=1e-12)
    joint = model.posterior(torch.as_tensor(data.X[90:100]))  # one batch of q=10
    assert joint.mean.shape == (10, 1)


def _source_and_target(n: int, n_source: int, seed: int) -> tuple[TrainingData, TrainingData]:
    """Accuracy data of ``n`` synthetic records split into a source and a target part."""
    records = synthetic_records(n, seed=seed)
    meta = {"in_channels": 1, "num_classes": 10}
    return (
        records_to_data(records[:n_source], "accuracy", fmnist_space(), meta),
        records_to_data(records[n_source:], "accuracy", fmnist_space(), meta),
    )


def test_prior_from_another_half_ranks_better_with_few_records(tmp_path: Path) -> None:
    """Source = one half of the synthetic archive, target = 10 records of the other half."""
    source_data, target_data = _source_and_target(140, 70, seed=4)
    names = feature_names(fmnist_space())
    source = build_predictor("xgb", names, **FAST["xgb"]).fit(source_data.X, source_data.y)
    train, test = np.arange(10), np.arange(10, 70)
    X, y = target_data.X, target_data.y
    alone = build_predictor("xgb", names, **FAST["xgb"]).fit(X[train], y[train])
    prior = build_prior_predictor(source, "xgb", names, **FAST["xgb"]).fit(X[train], y[train])
    tau_alone = stats.kendalltau(y[test], alone.predict(X[test])[0]).statistic
    tau_prior = stats.kendalltau(y[test], prior.predict(X[test])[0]).statistic
    assert tau_prior > tau_alone + 0.05, (tau_prior, tau_alone)
    prior.save(tmp_path / "p")
    again = load_model(tmp_path / "p")
    np.testing.assert_allclose(again.predict(X[test])[0], prior.predict(X[test])[0], atol=1e-12)
    with torch.no_grad():
        post = prior.to_botorch().posterior(torch.as_tensor(X[test]).unsqueeze(-2))
    np.testing.assert_allclose(post.mean.reshape(-1).numpy(), prior.predict(X[test])[0], atol=1e-9)


def test_prior_with_few_records_widens_its_std_to_the_residual_spread(tmp_path: Path) -> None:
    """3 target records: std >= the residuals' Student-t spread, in predict and in BoTorch."""
    source_data, target = _source_and_target(80, 60, seed=5)
    names = feature_names(fmnist_space())
    source = build_predictor("gp", names).fit(source_data.X, source_data.y)
    few = build_prior_predictor(source, "gp", names).fit(target.X[:3], target.y[:3])
    residuals = target.y[:3] - few.a - few.b * source.predict(target.X[:3])[0]
    spread = np.sqrt(np.sum(residuals**2) / 2) * np.sqrt(4 / 3) * stats.t.ppf(0.95, 2) / 1.645
    assert few.extra_std == pytest.approx(spread, rel=1e-3)
    _, std = few.predict(target.X[3:])
    assert np.all(std >= few.extra_std)
    with torch.no_grad():
        x = torch.as_tensor(target.X[3:]).unsqueeze(-2)
        post = few.to_botorch().posterior(x, observation_noise=True)
    np.testing.assert_allclose(post.variance.reshape(-1).numpy(), std**2, rtol=1e-5)
    few.save(tmp_path / "few")
    assert load_model(tmp_path / "few").extra_std == few.extra_std
    many = build_prior_predictor(source, "gp", names).fit(target.X[:12], target.y[:12])
    assert many.extra_std == 0.0


def test_real_records_are_learnt(real_records: list[dict[str, Any]]) -> None:
    """On the committed archive: finite predictions, positive std, avg MACs within 30%."""
    space = fmnist_space()
    data = records_to_data(real_records, "avg_macs", space, {"in_channels": 1, "num_classes": 10})
    rows = np.arange(len(data))
    train, test = rows[rows % 3 != 0], rows[rows % 3 == 0]
    predictor = build_predictor("xgb", feature_names(space), **FAST["xgb"])
    mean, std = predictor.fit(data.X[train], data.y[train]).predict(data.X[test])
    assert np.isfinite(mean).all() and (std > 0).all()
    assert score(data.y[test], mean, std, higher_is_better=False)["mape"] < 30


def test_botorch_models_drive_qlognehvi(data: TrainingData, fitted: dict[str, Predictor]) -> None:
    """GP and ensemble views mix in one ModelList under qLogNEHVI (as in the search)."""
    from botorch.acquisition.multi_objective.logei import (
        qLogNoisyExpectedHypervolumeImprovement,
    )
    from botorch.models.model import ModelList

    X = torch.as_tensor(data.X)
    for first, second in (("gp", "xgb"), ("mlp", "gp")):
        model = ModelList(fitted[first].to_botorch(), fitted[second].to_botorch())
        acqf = qLogNoisyExpectedHypervolumeImprovement(
            model=model,
            ref_point=torch.tensor([0.5, 0.5], dtype=torch.float64),
            X_baseline=X[:20],
            prune_baseline=False,
        )
        values = acqf(X[90:100].reshape(5, 2, -1))
        assert values.shape == (5,) and torch.isfinite(values).all()


def test_gp_hyper_subset_fits_on_few_rows_and_conditions_on_all(data: TrainingData) -> None:
    names = feature_names(fmnist_space())
    full = build_predictor("gp", names, seed=0, hyper_rows=None).fit(data.X[:90], data.y[:90])
    subset = build_predictor("gp", names, seed=0, hyper_rows=40).fit(data.X[:90], data.y[:90])
    assert subset.to_botorch().train_inputs[0].shape[0] == 90
    hyper = {k: v for k, v in subset.to_botorch().state_dict().items() if "raw_lengthscale" in k}
    same = {k: v for k, v in full.to_botorch().state_dict().items() if "raw_lengthscale" in k}
    assert any(not torch.equal(hyper[k], same[k]) for k in hyper)
    mean, _ = subset.predict(data.X[90:])
    assert score(data.y[90:], mean, np.ones_like(mean))["kendall_tau"] > 0.6
