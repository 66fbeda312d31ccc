"""Saved predictors: metadata and the compatibility checks of load_predictor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from predictor_fixtures import fmnist_space

from aebnas.errors import UserError
from aebnas.predictors import build_predictor, load_predictor, load_training_data, save_predictor
from aebnas.predictors.features import FEATURES_VERSION, feature_names
from aebnas.predictors.store import METADATA_FILE, build_metadata
from aebnas.space import ENCODING_VERSION, get_space


@pytest.fixture(scope="module")
def saved(synthetic_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = load_training_data(synthetic_archive, "accuracy")
    space = fmnist_space()
    predictor = build_predictor("xgb", feature_names(space), members=3, rounds=50)
    predictor.fit(data.X, data.y)
    meta = build_metadata("xgb", "accuracy", space, data.meta, None, seed=0)
    out = tmp_path_factory.mktemp("saved") / "xgb"
    save_predictor(predictor, out, meta)
    return out


def _edited_copy(saved: Path, tmp_path: Path, **changes: object) -> Path:
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in saved.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    meta = json.loads((copy / METADATA_FILE).read_text())
    meta.update(changes)
    (copy / METADATA_FILE).write_text(json.dumps(meta))
    return copy


def test_metadata_records_versions_and_data(saved: Path) -> None:
    meta = json.loads((saved / METADATA_FILE).read_text())
    assert meta["format"] == "aebnas.predictor" and meta["version"] == 1
    assert meta["model"] == "xgb" and meta["target"] == "accuracy"
    assert meta["space"] == "aebnas-plus" and meta["dataset"] == "fashion-mnist"
    assert meta["encoding_version"] == ENCODING_VERSION
    assert meta["features_version"] == FEATURES_VERSION
    assert meta["n_records"] == 80 and meta["fidelity_name"] == "low"
    assert meta["packages"]["xgboost"] != "not installed"


def test_load_with_matching_space_and_target(saved: Path, synthetic_archive: Path) -> None:
    loaded = load_predictor(saved, space=fmnist_space(), expect_target="accuracy")
    data = load_training_data(synthetic_archive, "accuracy")
    mean, std = loaded.predictor.predict(data.X[:5])
    assert loaded.target == "accuracy" and mean.shape == (5,) and np.isfinite(std).all()
    assert load_predictor(saved, space="aebnas-plus").meta["model"] == "xgb"


def test_mismatched_space_or_target_is_one_line_user_error(saved: Path) -> None:
    with pytest.raises(UserError, match="search space 'aebnas-plus'") as err:
        load_predictor(saved, space=get_space("aebnas"))
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="target 'accuracy', this use needs 'avg_macs'"):
        load_predictor(saved, expect_target="avg_macs")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("features_version", FEATURES_VERSION + 1, "features version"),
        ("encoding_version", ENCODING_VERSION + 1, "encoding version"),
        ("format", "something.else", "not an aebnas.predictor"),
        ("feature_names", ["resolution"], "other feature columns"),
    ],
)
def test_mismatched_versions_are_user_errors(
    saved: Path, tmp_path: Path, field: str, value: object, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        load_predictor(_edited_copy(saved, tmp_path, **{field: value}), space=fmnist_space())


def test_missing_directory_or_files(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        load_predictor(tmp_path / "nothing")
    broken = _edited_copy(saved, tmp_path)
    (broken / "scaling.safetensors").unlink()
    with pytest.raises(UserError, match=r"scaling\.safetensors is missing"):
        load_predictor(broken)
