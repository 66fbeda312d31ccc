"""XGBoost predictor: a seeded bootstrap ensemble of gradient-boosted trees.

Each member is fit on a bootstrap sample of the training rows (standardised target); the
members' spread is inflated by one factor fit on out-of-bag errors
(:class:`aebnas.predictors.ensemble.BootstrapEnsemble`) so that the predictive interval also covers
the target's noise. Trees are invariant to monotone input transforms, so inputs are not
standardised. Saved with XGBoost's own JSON model format, one file per member.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from aebnas.predictors.base import (
    Standardizer,
    read_arrays,
    register_predictor,
    write_arrays,
)
from aebnas.predictors.ensemble import BootstrapEnsemble


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
class XGBPredictor(BootstrapEnsemble):
    """Bootstrap ensemble of XGBoost regressors (see the module docstring).

    Args:
        **settings: Fields of :class:`XGBSettings`.
    """

    name = "xgb"
    settings_type = XGBSettings
    settings: XGBSettings

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.boosters: list[xgb.Booster] = []
        self.y_scaler: Standardizer | None = None

    @property
    def fitted(self) -> bool:
        return bool(self.boosters) and self.y_scaler is not None

    def fit_members(
        self, X: np.ndarray, y: np.ndarray, samples: list[np.ndarray], **context: Any
    ) -> None:
        """One booster per bootstrap sample of ``X (n, d)``, on the standardised ``y (n,)``."""
        self.y_scaler = Standardizer.fit(y)
        z = self.y_scaler.transform(y)
        self.boosters = [self._fit_member(X[idx], z[idx], k) for k, idx in enumerate(samples)]

    def _fit_member(self, X: np.ndarray, z: np.ndarray, member: int) -> xgb.Booster:
        data = xgb.DMatrix(X, label=z)
        return xgb.train(self.settings.params(member), data, num_boost_round=self.settings.rounds)

    def raw_members(self, X: np.ndarray) -> np.ndarray:
        """Every booster's prediction at ``X (m, d)`` on the target's scale, ``(members, m)``."""
        if not self.boosters or self.y_scaler is None:
            raise RuntimeError("the predictor is not fitted")
        data = xgb.DMatrix(np.asarray(X, dtype=np.float64))
        return self.y_scaler.inverse(
            np.stack([b.predict(data) for b in self.boosters]).astype(float)
        )

    def save_members(self, directory: Path) -> dict[str, Any]:
        """``member_<k>.json`` (XGBoost JSON) + ``scaling.safetensors``."""
        assert self.y_scaler is not None
        for k, booster in enumerate(self.boosters):
            booster.save_model(str(directory / f"member_{k}.json"))
        write_arrays(directory / "scaling.safetensors", self.y_scaler.arrays("y"))
        return {"members": len(self.boosters)}

    def load_members(self, directory: Path, config: dict[str, Any]) -> None:
        self.y_scaler = Standardizer.from_arrays(
            read_arrays(directory / "scaling.safetensors"), "y", scalar=True
        )
        self.boosters = []
        for k in range(int(config["members"])):
            booster = xgb.Booster()
            booster.load_model(str(directory / f"member_{k}.json"))
            booster.set_param({"nthread": self.settings.threads})
            self.boosters.append(booster)
