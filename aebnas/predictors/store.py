"""Saved predictors: a directory with the model files and ``metadata.json``.

``metadata.json`` (format ``aebnas.predictor`` version 1) records what the predictor was fit on
and for: model kind, target, search space, encoding and features versions, feature names,
dataset (with image channels and classes, needed to compute features of new architectures),
fidelity, number of records, cross-validated metrics and package versions. :func:`load_predictor`
refuses a predictor whose space, encoding, features or target do not match with a one-line
:class:`UserError`. Model files are JSON, safetensors and XGBoost JSON only: loading runs no code
from the directory, and reads only inside it (:func:`check_contained`: no symlinked folders, no
symlinked file that leads outside, :mod:`aebnas.predictors.folders`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aebnas.errors import UserError
from aebnas.predictors.base import Predictor, read_json, write_json
from aebnas.predictors.features import FEATURES_VERSION, feature_names, features
from aebnas.predictors.folders import check_contained, load_model
from aebnas.space import ENCODING_VERSION, Architecture, SearchSpace
from aebnas.versions import package_versions as installed_versions

PREDICTOR_FORMAT = "aebnas.predictor"
PREDICTOR_VERSION = 1
METADATA_FILE = "metadata.json"
PACKAGES = ("aebnas", "numpy", "torch", "botorch", "gpytorch", "xgboost", "scikit-learn", "scipy")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages this format depends on."""
    return installed_versions(PACKAGES)


def build_metadata(
    model: str,
    target: str,
    space: SearchSpace,
    data_meta: dict[str, Any],
    cv: dict[str, float] | None,
    *,
    seed: int,
    prior: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``metadata.json`` content of a predictor fit on an archive.

    Args:
        model: Predictor kind.
        target: ``accuracy`` or ``avg_macs``.
        space: The search space the features belong to.
        data_meta: ``meta`` of :func:`aebnas.predictors.features.load_training_data`.
        cv: Cross-validated metrics (``None`` when not computed).
        seed: Seed of the fit.
        prior: Summary of the source predictor's metadata when fit with ``--prior``.
    """
    return {
        "format": PREDICTOR_FORMAT,
        "version": PREDICTOR_VERSION,
        "model": model,
        "target": target,
        "space": space.name,
        "encoding_version": ENCODING_VERSION,
        "features_version": FEATURES_VERSION,
        "feature_names": list(feature_names(space)),
        "dataset": data_meta.get("dataset"),
        "in_channels": data_meta.get("in_channels"),
        "num_classes": data_meta.get("num_classes"),
        "fidelity_name": data_meta.get("fidelity_name"),
        "fidelity": data_meta.get("fidelity"),
        "archive": data_meta.get("archive"),
        "n_records": data_meta.get("n_records"),
        "n_archs": data_meta.get("n_archs"),
        "seed": seed,
        "cv": cv,
        "prior": prior,
        "packages": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def save_predictor(predictor: Predictor, directory: Path, meta: dict[str, Any]) -> None:
    """Write ``predictor``'s model files and ``meta`` (see :func:`build_metadata`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    predictor.save(directory)
    write_json(directory / METADATA_FILE, meta)


def _space_name(space: SearchSpace | str) -> str:
    return space if isinstance(space, str) else space.name


def check_metadata(
    meta: dict[str, Any],
    directory: Path,
    space: SearchSpace | str | None = None,
    expect_target: str | None = None,
) -> None:
    """Raise a one-line :class:`UserError` if the saved predictor does not fit this use.

    Args:
        meta: Parsed ``metadata.json``.
        directory: For messages.
        space: The search space it will be used in (``None``: not checked).
        expect_target: The target it must predict (``None``: not checked).
    """
    where = f"predictor {directory}"
    if meta.get("format") != PREDICTOR_FORMAT or meta.get("version") != PREDICTOR_VERSION:
        raise UserError(
            f"{where} is not an {PREDICTOR_FORMAT} version {PREDICTOR_VERSION} directory "
            f"(metadata says {meta.get('format')!r} version {meta.get('version')!r}); refit it"
        )
    checks = [
        ("search space", meta.get("space"), None if space is None else _space_name(space)),
        ("encoding version", meta.get("encoding_version"), ENCODING_VERSION),
        ("features version", meta.get("features_version"), FEATURES_VERSION),
        ("target", meta.get("target"), expect_target),
    ]
    for what, saved, wanted in checks:
        if wanted is not None and saved != wanted:
            raise UserError(
                f"{where} was fit for {what} {saved!r}, this use needs {wanted!r}; refit it with "
                "`python -m aebnas.predictors fit`"
            )
    if isinstance(space, SearchSpace) and meta.get("feature_names") != list(feature_names(space)):
        raise UserError(
            f"{where} has other feature columns than space {space.name!r} (its choices changed); "
            "refit it with `python -m aebnas.predictors fit`"
        )


@dataclass
class LoadedPredictor:
    """A predictor loaded with its metadata.

    Args:
        predictor: The fitted model.
        meta: Its ``metadata.json``.
        directory: Where it was loaded from.
    """

    predictor: Predictor
    meta: dict[str, Any]
    directory: Path

    @property
    def target(self) -> str:
        return str(self.meta["target"])

    def features(
        self,
        archs: Sequence[Architecture],
        space: SearchSpace,
        in_channels: int | None = None,
        num_classes: int | None = None,
    ) -> np.ndarray:
        """Features of ``archs`` for this predictor (dataset channels/classes from metadata).

        Returns:
            Shape ``(len(archs), d)``.
        """
        channels = in_channels if in_channels is not None else self.meta.get("in_channels")
        classes = num_classes if num_classes is not None else self.meta.get("num_classes")
        if channels is None or classes is None:
            raise UserError(
                f"predictor {self.directory} does not record its dataset's channels/classes; "
                "pass in_channels and num_classes"
            )
        return features(archs, space, int(channels), int(classes))

    def predict_archs(
        self, archs: Sequence[Architecture], space: SearchSpace
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of the target for ``archs``, each shape ``(len(archs),)``."""
        return self.predictor.predict(self.features(archs, space))


def load_predictor(
    directory: str | Path,
    space: SearchSpace | str | None = None,
    expect_target: str | None = None,
) -> LoadedPredictor:
    """Load a predictor saved by ``fit`` after checking it fits this use.

    Args:
        directory: The predictor directory (``metadata.json`` + model files).
        space: The search space it will be used in (name or object; an object also checks the
            feature names).
        expect_target: ``accuracy`` or ``avg_macs`` if the caller needs that target.

    Raises:
        UserError: Missing files, other format, or a mismatched space, encoding version,
            features version or target.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(
            f"predictor directory {directory} does not exist; fit one with "
            "`python -m aebnas.predictors fit`"
        )
    check_contained(directory)
    meta = read_json(directory / METADATA_FILE)
    check_metadata(meta, directory, space, expect_target)
    return LoadedPredictor(load_model(directory), meta, directory)
