"""The bootstrap ensemble the ``mlp``, ``xgb`` and ``exits`` predictors share.

An ensemble is fit on seeded bootstrap samples of the rows (:func:`bootstrap_indices`); its
members' spread around their mean is inflated by one factor (``spread``) fit after the members
(by default on out-of-bag errors, :func:`spread_calibration`), so that the predictive interval
also covers the target's noise. Prediction is the mean and standard deviation of the calibrated
members; the BoTorch model is an ``EnsembleModel`` over the same members. A saved ensemble is
``model.json`` (kind, settings, ``spread``, ``num_features`` and what the kind adds) plus the
members' files, which each kind writes and reads (:meth:`BootstrapEnsemble.save_members`,
:meth:`BootstrapEnsemble.load_members`).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from botorch.models.model import Model

from aebnas.predictors.base import (
    bootstrap_indices,
    check_xy,
    ensemble_summary,
    in_bag_mask,
    inflate,
    read_model_config,
    spread_calibration,
    write_model_config,
)
from aebnas.predictors.botorch_models import MembersModel, numpy_members


class BootstrapEnsemble:
    """Fit, spread, predict, save and load of a bootstrap ensemble (see the module docstring).

    A kind sets :attr:`name` and :attr:`settings_type` (a frozen dataclass with at least
    ``members`` and ``seed``) and implements :meth:`fit_members`, :meth:`raw_members`,
    :attr:`fitted`, :meth:`save_members` and :meth:`load_members`.

    Args:
        **settings: Fields of :attr:`settings_type`.
    """

    name: str
    settings_type: ClassVar[type[Any]]

    def __init__(self, **settings: Any) -> None:
        self.settings = self.settings_type(**settings)
        self.spread = 1.0
        self.num_features = 0

    # ------------------------------------------------------------------ what a kind provides
    def fit_members(
        self, X: np.ndarray, y: np.ndarray, samples: list[np.ndarray], **context: Any
    ) -> None:
        """Fit the members, one per bootstrap sample (row indices into ``X (n, d)``)."""
        raise NotImplementedError

    def raw_members(self, X: np.ndarray) -> np.ndarray:
        """Uncalibrated member predictions at ``X (m, d)``, shape ``(s, m)``."""
        raise NotImplementedError

    @property
    def fitted(self) -> bool:
        raise NotImplementedError

    def save_members(self, directory: Path) -> dict[str, Any]:
        """Write the members' files into ``directory``; returns extra ``model.json`` fields."""
        raise NotImplementedError

    def load_members(self, directory: Path, config: dict[str, Any]) -> None:
        """Read the members written by :meth:`save_members` (``config``: ``model.json``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared
    def fit(self, X: np.ndarray, y: np.ndarray) -> Self:
        """Fit on ``X (n, d)``, ``y (n,)``; returns ``self``."""
        return self.fit_ensemble(X, y)

    def fit_ensemble(self, X: np.ndarray, y: np.ndarray, **context: Any) -> Self:
        """Draw the bootstrap samples, fit the members, then the spread factor; ``context``
        goes to :meth:`fit_members` and :meth:`calibrated_spread`."""
        check_xy(X, y, min_rows=2)
        self.num_features = X.shape[1]
        samples = bootstrap_indices(len(y), self.settings.members, self.settings.seed)
        self.fit_members(X, y, samples, **context)
        self.spread = 1.0
        self.spread = self.calibrated_spread(X, y, samples, **context)
        return self

    def calibrated_spread(
        self, X: np.ndarray, y: np.ndarray, samples: list[np.ndarray], **context: Any
    ) -> float:
        """The spread factor matching the out-of-bag errors (:func:`spread_calibration`)."""
        return spread_calibration(y, self.raw_members(X), in_bag_mask(samples, len(y)))

    def members(self, X: np.ndarray) -> np.ndarray:
        """Calibrated member predictions at ``X (m, d)``, shape ``(s, m)``."""
        return inflate(self.raw_members(X), self.spread)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std over the calibrated members at ``X (m, d)``, each ``(m,)``."""
        check_xy(X)
        return ensemble_summary(self.members(X))

    def to_botorch(self) -> Model:
        """The calibrated members as a BoTorch ``EnsembleModel``."""
        return MembersModel(numpy_members(self.members), self.num_features)

    def save(self, directory: Path) -> None:
        """``model.json`` (settings, spread, feature count, the kind's fields) + members."""
        if not self.fitted:
            raise RuntimeError("the predictor is not fitted")
        directory.mkdir(parents=True, exist_ok=True)
        extra = self.save_members(directory)
        write_model_config(
            directory,
            self.name,
            asdict(self.settings),
            spread=self.spread,
            num_features=self.num_features,
            **extra,
        )

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Rebuild from :meth:`save`'s files (JSON, safetensors, XGBoost JSON; no code)."""
        config = read_model_config(directory, cls.name)
        predictor = cls(**config["settings"])
        predictor.spread = float(config["spread"])
        predictor.num_features = int(config["num_features"])
        predictor.load_members(directory, config)
        return predictor
