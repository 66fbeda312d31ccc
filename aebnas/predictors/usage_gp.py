"""Accuracy GP that also sees where the samples are expected to leave (kind ``usage-gp``).

The accuracy at a tuned operating point is mostly the accuracy of the exit(s) the tuner relies
on (:mod:`aebnas.predictors.exit_features`). This predictor

1. fits an ``exits`` usage model (:class:`aebnas.predictors.exits.ExitsPredictor`) on the
   training records' measured per-exit utilisation;
2. fits the ``gp`` predictor (``matern+costs`` kernel) on the features plus the
   :func:`~aebnas.predictors.exit_features.usage_weighted` slot description, computed from the
   *measured* utilisation of the training records (the summary kernel includes those columns);
3. predicts from the features plus that description under the *predicted* utilisation.

Its ranking against the plain ``gp`` (100 training rows, 5 splits): on the reference CIFAR-10
archive ``benchmarks/results/predictors_cifar10_reference_usage_gp.md``; on the first 1,000 rows
of the Fashion-MNIST supernet archive ``benchmarks/results/predictors_usage_gp_fashion_mnist.md``
(there it does not rank better than ``gp`` or ``xgb``). The search's surrogates are fit on
features alone (no usage), so it is not a search surrogate yet. Training needs the records'
per-exit utilisation (``fit(X, y, usage=...)``). Saved as ``model.json`` (settings) + ``exits/``
and ``gp/`` (the two fitted models' folders).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from botorch.models.model import Model
from torch import Tensor

from aebnas.errors import UserError
from aebnas.predictors.base import (
    check_xy,
    read_model_config,
    register_predictor,
    write_model_config,
)
from aebnas.predictors.botorch_models import ShiftedModel
from aebnas.predictors.exit_features import (
    SlotPlan,
    slot_plan,
    usage_feature_names,
    usage_weighted,
)
from aebnas.predictors.exits import ExitsPredictor, exit_cost_columns
from aebnas.predictors.folders import load_model
from aebnas.predictors.gp import GPPredictor, summary_columns
from aebnas.predictors.usage import ExitUsage, expected_avg_macs, split_costs

EXITS_DIR = "exits"
GP_DIR = "gp"


@dataclass(frozen=True)
class UsageGPSettings:
    """Settings.

    Args:
        feature_names: Names of the feature columns (read for the slot plan and cost columns;
            set by :func:`aebnas.predictors.factory.build_predictor`).
        seed: Seed of both models.
        exits: Settings of the usage model (fields of
            :class:`aebnas.predictors.exits.ExitsSettings` except ``seed`` and ``cost_columns``).
        gp: Settings of the GP (fields of :class:`aebnas.predictors.gp.GPSettings` except
            ``seed`` and ``summary_columns``).
    """

    feature_names: tuple[str, ...] = ()
    seed: int = 0
    exits: dict[str, Any] = field(default_factory=dict)
    gp: dict[str, Any] = field(default_factory=dict)


@register_predictor("usage-gp")
class UsageGPPredictor:
    """GP on the features plus the usage-weighted exit description (see the module docstring).

    Args:
        **settings: Fields of :class:`UsageGPSettings` (``feature_names`` is required).
    """

    name = "usage-gp"
    #: What it predicts (see :func:`aebnas.predictors.base.predicts_target`).
    targets = ("accuracy",)
    #: :func:`aebnas.predictors.base.fit_predictor` passes the records' exit usage.
    uses_exit_usage = True

    def __init__(self, **settings: Any) -> None:
        settings["feature_names"] = tuple(str(n) for n in settings.get("feature_names", ()))
        self.settings = UsageGPSettings(**settings)
        if not self.settings.feature_names:
            raise UserError(
                "the usage-gp predictor needs the feature names; build it with "
                "aebnas.predictors.build_predictor('usage-gp', feature_names(space))"
            )
        self.plan: SlotPlan = slot_plan(self.settings.feature_names)
        self.exits: ExitsPredictor | None = None
        self.gp: GPPredictor | None = None

    @property
    def plan_names(self) -> tuple[str, ...]:
        """The feature names the predictor was built for."""
        return self.settings.feature_names

    def _augment(self, X: np.ndarray, util: np.ndarray) -> np.ndarray:
        return np.hstack([X, usage_weighted(X, util, self.plan)])

    def _new_models(self) -> tuple[ExitsPredictor, GPPredictor]:
        names: Sequence[str] = self.settings.feature_names
        exits = ExitsPredictor(
            **{**self.settings.exits, "seed": self.settings.seed},
            cost_columns=exit_cost_columns(names),
        )
        extra = len(usage_feature_names(self.plan))
        summary = (*summary_columns(names), *range(len(names), len(names) + extra))
        gp = GPPredictor(
            **{**self.settings.gp, "seed": self.settings.seed}, summary_columns=summary
        )
        return exits, gp

    def fit(self, X: np.ndarray, y: np.ndarray, usage: ExitUsage | None = None) -> UsageGPPredictor:
        """Fit the usage model and the GP on ``X (n, d)``, ``y (n,)`` and ``usage`` (``n``
        rows, measured)."""
        check_xy(X, y, min_rows=2)
        if usage is None:
            raise UserError(
                "the usage-gp predictor learns from the records' per-exit utilisation, which "
                "these training rows lack; use the gp or xgb predictor instead"
            )
        if len(usage) != len(y):
            raise ValueError(f"{len(y)} rows but usage of {len(usage)}")
        if X.shape[1] != len(self.settings.feature_names):
            raise ValueError(f"X has {X.shape[1]} columns but {len(self.plan_names)} names")
        exits, gp = self._new_models()
        _, backbone, branch = split_costs(X, exits.columns)
        exits.fit(X, expected_avg_macs(usage, backbone, branch), usage)
        gp.fit(self._augment(X, usage.util), y)
        self.exits, self.gp = exits, gp
        return self

    def _fitted(self) -> tuple[ExitsPredictor, GPPredictor]:
        if self.exits is None or self.gp is None:
            raise RuntimeError("the predictor is not fitted")
        return self.exits, self.gp

    def augmented(self, X: np.ndarray) -> np.ndarray:
        """The GP's inputs at ``X (m, d)``: features plus the description under the predicted
        usage, shape ``(m, d + width)``."""
        exits, _ = self._fitted()
        return self._augment(X, exits.predict_usage(X).util)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """GP mean and std (noise included) at ``X (m, d)``, each ``(m,)``."""
        check_xy(X)
        _, gp = self._fitted()
        return gp.predict(self.augmented(X))

    def to_botorch(self) -> Model:
        """The GP's BoTorch model over the augmented inputs (no gradient through the usage)."""
        _, gp = self._fitted()

        def augment(X: Tensor) -> tuple[Tensor, Tensor]:
            values = self.augmented(X.detach().cpu().numpy().astype(np.float64))
            return torch.as_tensor(values).to(X), torch.zeros(X.shape[0]).to(X)

        return ShiftedModel(gp.to_botorch(), augment)

    def save(self, directory: Path) -> None:
        """``model.json`` (settings) + ``exits/`` + ``gp/``."""
        exits, gp = self._fitted()
        directory.mkdir(parents=True, exist_ok=True)
        exits.save(directory / EXITS_DIR)
        gp.save(directory / GP_DIR)
        settings = asdict(self.settings)
        settings["feature_names"] = list(self.settings.feature_names)
        write_model_config(
            directory, self.name, settings, num_features=len(self.settings.feature_names)
        )

    @classmethod
    def load(cls, directory: Path) -> UsageGPPredictor:
        """Rebuild from :meth:`save`'s files (both nested models loaded by kind)."""
        config = read_model_config(directory, cls.name)
        predictor = cls(**config["settings"])
        exits, gp = load_model(directory / EXITS_DIR), load_model(directory / GP_DIR)
        if not isinstance(exits, ExitsPredictor) or not isinstance(gp, GPPredictor):
            raise UserError(
                f"predictor {directory}: {EXITS_DIR}/ must hold an exits and {GP_DIR}/ a gp "
                "model; refit it with python -m aebnas.predictors fit --model usage-gp"
            )
        predictor.exits, predictor.gp = exits, gp
        return predictor
