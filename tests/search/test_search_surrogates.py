"""Surrogates: training rows, the low-fidelity prior (saved predictors), per-fidelity offset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from aebnas.archive import read_archive
from aebnas.errors import UserError
from aebnas.predictors.cli import main as predictors_main
from aebnas.predictors.store import METADATA_FILE
from aebnas.search.problem import SearchProblem
from aebnas.search.surrogates import (
    OffsetPredictor,
    fit_surrogates,
    load_prior,
    training_set,
)
from tests.search.synthetic import DATASET, FormulaCosts, space, write_archive

PROBLEM = SearchProblem("open", None, 0.005, 0.0, 20.0)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("prior")
    bench = write_archive(root / "low.jsonl", 40, failed=0)
    for target in ("accuracy", "avg_macs"):
        argv = ["fit", "--data", str(bench), "--model", "xgb", "--target", target]
        argv += ["--out", str(root / "predictors" / f"low-xgb-{target}"), "--cv-folds", "0"]
        assert predictors_main(argv) == 0
    return root / "predictors", read_archive(bench)[1]


def full_fidelity(records: list[dict], shift: float) -> list[dict]:
    """The same candidates "trained longer": accuracy higher by ``shift``."""
    out = []
    for r in records:
        r = dict(r, fidelity_name="full", accuracy=r["accuracy"] + shift, curve=None)
        out.append(r)
    return out


def test_training_rows_average_seeds_and_skip_failures(tmp_path: Path) -> None:
    _, records = read_archive(write_archive(tmp_path / "rows.jsonl", 6, failed=1))
    again = dict(records[0], seed=1, curve=None, accuracy=records[0]["accuracy"] + 0.02)
    data = training_set([*records, again], PROBLEM, FormulaCosts())
    assert len(data) == 5 and data.X.shape[0] == 5 and data.Y.shape == (5, 2)
    first = PROBLEM.outcome(records[0])
    assert data.Y[0, 0] == pytest.approx((first.accuracy + again["accuracy"]) / 2)


def test_saved_predictors_are_a_prior_with_a_per_fidelity_offset(saved: tuple[Path, list]) -> None:
    directory, low = saved
    loaded = load_prior(directory, space(), "fashion-mnist", kind="xgb")
    assert loaded.transferred_from is None
    prior = loaded.predictors
    costs = FormulaCosts()
    high = full_fidelity(low[:6], shift=0.05)
    X_all = training_set(low, PROBLEM, costs).X
    base, _ = prior["accuracy"].predict(X_all)
    none = fit_surrogates("gp", training_set([], PROBLEM, costs), prior, space(), 0)
    assert isinstance(none.accuracy, OffsetPredictor) and none.accuracy.shift == 0.0
    two = fit_surrogates("gp", training_set(high[:2], PROBLEM, costs), prior, space(), 0)
    assert isinstance(two.accuracy, OffsetPredictor)
    assert two.accuracy.shift == pytest.approx(0.05, abs=0.02)  # the fidelity offset
    six = fit_surrogates("gp", training_set(high, PROBLEM, costs), prior, space(), 0)
    assert "residual on 6 rows" in six.how
    means, stds = six.predict(X_all)
    assert np.isfinite(means).all() and (stds >= 0).all()
    assert np.mean(means[:, 0] - base) == pytest.approx(0.05, abs=0.02)
    model = six.model()
    assert model.num_outputs == 2


def test_load_prior_needs_one_predictor_per_target(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="exactly one saved accuracy predictor"):
        load_prior(tmp_path, space(), "fashion-mnist")


def test_another_datasets_predictors_are_a_transfer_prior(saved: tuple[Path, list]) -> None:
    directory, _ = saved
    loaded = load_prior(directory, space(), "digits", kind="xgb")
    assert loaded.transferred_from == DATASET
    assert set(loaded.predictors) == {"accuracy", "avg_macs"}


def test_own_datasets_predictors_win_over_another_datasets(
    saved: tuple[Path, list], tmp_path: Path
) -> None:
    directory, _ = saved
    mixed = tmp_path / "mixed"
    for target in ("accuracy", "avg_macs"):
        shutil.copytree(directory / f"low-xgb-{target}", mixed / f"own-{target}")
        other = mixed / f"other-{target}"
        shutil.copytree(directory / f"low-xgb-{target}", other)
        meta = json.loads((other / METADATA_FILE).read_text())
        (other / METADATA_FILE).write_text(json.dumps({**meta, "dataset": "digits"}))
    loaded = load_prior(mixed, space(), DATASET)
    assert loaded.transferred_from is None
