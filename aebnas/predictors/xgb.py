"""XGBoost predictor: a seeded bootstrap ensemble of gradient-boosted trees.

Each member is fit on a bootstrap sample of the training rows (standardised target); the
members' spread is inflated by one factor fit on out-of-bag errors
(:func:`aebnas.predictors.base.spread_calibration`) so that the predictive interval also covers
the target's noise. Trees are invariant to monotone input transforms, so inputs are not
standardised. Saved with XGBoost's own JSON model format, one file per member.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from botorch.models.model import Model

from aebnas.predictors.base import (
    Standardizer,
    bootstrap_indices,
    check_xy,
    ensemble_summary,
    in_bag_mask,
    inflate,
    read_arrays,
    read_model_config,
    register_predictor,
    spread_calibration,
    write_arrays,
    write_model_config,
)
from aebnas.predictors.botorch_models import MembersModel, numpy_members


@dataclass(frozen=True)
class XGBSettings:
    """Ensemble and booster settings (defaults tuned for a few hundred records).

    Args:
        members: Bootstrap members.
        seed: Seed of the bootstrap samples and the boosters.
        rounds: Boosting rounds per member.
        max_depth: Tree depth.
        learning_rate: Shrinkage.
        colsample_bytree: Fraction of features per tree.
        min_child_weight: Least hessian weight in a leaf.
        reg_lambda: L2 leaf regularisation.
        threads: XGBoost threads (1: the machine is shared).
    """

    members: int = 10
    seed: int = 0
    rounds: int = 300
    max_depth: int = 4
    learning_rate: float = 0.05
    colsample_bytree: float = 0.5
    min_child_weight: float = 1.0
    reg_lambda: float = 1.0
    threads: int = 1

    def params(self, member: int) -> dict[str, Any]:
        return {
            "objective": "reg:squarederror",
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "lambda": self.reg_lambda,
            "nthread": self.threads,
            "seed": self.seed * 1000 + member,
            "verbosity": 0,
        }


@register_predictor("xgb")
class XGBPredictor:
    """Bootstrap ensemble of XGBoost regressors (see the module docstring).

    Args:
        **settings: Fields of :class:`XGBSettings`.
    """

    name = "xgb"

    def __init__(self, **settings: Any) -> None:
        self.settings = XGBSettings(**settings)
        self.boosters: list[xgb.Booster] = []
        self.y_scaler: Standardizer | None = None
        self.spread = 1.0
        self.num_features = 0

    def fit(self, X: np.ndarray, y: np.ndarray) -> XGBPredictor:
        """Fit the members on bootstrap samples of ``X (n, d)``, ``y (n,)``."""
        check_xy(X, y, min_rows=2)
        self.num_features = X.shape[1]
        self.y_scaler = Standardizer.fit(y)
        z = self.y_scaler.transform(y)
        samples = bootstrap_indices(len(y), self.settings.members, self.settings.seed)
        self.boosters = [self._fit_member(X[idx], z[idx], k) for k, idx in enumerate(samples)]
        in_bag = in_bag_mask(samples, len(y))
        self.spread = 1.0
        self.spread = spread_calibration(y, self._raw_members(X), in_bag)
        return self

    def _fit_member(self, X: np.ndarray, z: np.ndarray, member: int) -> xgb.Booster:
        data = xgb.DMatrix(X, label=z)
        return xgb.train(self.settings.params(member), data, num_boost_round=self.settings.rounds)

    def _raw_members(self, X: np.ndarray) -> np.ndarray:
        if not self.boosters or self.y_scaler is None:
            raise RuntimeError("the predictor is not fitted")
        data = xgb.DMatrix(np.asarray(X, dtype=np.float64))
        return self.y_scaler.inverse(
            np.stack([b.predict(data) for b in self.boosters]).astype(float)
        )

    def members(self, X: np.ndarray) -> np.ndarray:
        """Calibrated member predictions at ``X (m, d)``, shape ``(members, m)``."""
        return inflate(self._raw_members(X), self.spread)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std over the calibrated members at ``X (m, d)``, each ``(m,)``."""
        check_xy(X)
        return ensemble_summary(self.members(X))

    def to_botorch(self) -> Model:
        """The calibrated members as a BoTorch ``EnsembleModel`` (no gradients through trees)."""
        return MembersModel(numpy_members(self.members), self.num_features)

    def save(self, directory: Path) -> None:
        """``model.json`` + ``member_<k>.json`` (XGBoost JSON) + ``scaling.safetensors``."""
        if self.y_scaler is None:
            raise RuntimeError("the predictor is not fitted")
        directory.mkdir(parents=True, exist_ok=True)
        for k, booster in enumerate(self.boosters):
            booster.save_model(str(directory / f"member_{k}.json"))
        write_arrays(directory / "scaling.safetensors", self.y_scaler.arrays("y"))
        write_model_config(
            directory,
            self.name,
            asdict(self.settings),
            spread=self.spread,
            num_features=self.num_features,
            members=len(self.boosters),
        )

    @classmethod
    def load(cls, directory: Path) -> XGBPredictor:
        """Rebuild from :meth:`save`'s files (XGBoost JSON, safetensors, JSON; no code)."""
        config = read_model_config(directory, cls.name)
        predictor = cls(**config["settings"])
        predictor.spread = float(config["spread"])
        predictor.num_features = int(config["num_features"])
        predictor.y_scaler = Standardizer.from_arrays(
            read_arrays(directory / "scaling.safetensors"), "y", scalar=True
        )
        predictor.boosters = []
        for k in range(int(config["members"])):
            booster = xgb.Booster()
            booster.load_model(str(directory / f"member_{k}.json"))
            booster.set_param({"nthread": predictor.settings.threads})
            predictor.boosters.append(booster)
        return predictor
