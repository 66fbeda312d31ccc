"""Build predictors that know their feature names (kind-specific settings from the names)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aebnas.predictors.base import Predictor, make_predictor
from aebnas.predictors.prior import PRIOR_FEATURE, PriorPredictor


def build_predictor(name: str, names: Sequence[str], seed: int = 0, **settings: Any) -> Predictor:
    """A new predictor of kind ``name`` for features called ``names``.

    Args:
        name: Registered kind (``xgb``, ``gp``, ``mlp``, ``exits``, ``usage-gp``).
        names: Feature names (the GP's ``matern+costs`` kernel picks its summary columns, the
            ``exits`` predictor its per-exit cost columns, ``usage-gp`` keeps them all).
        seed: Seed of the predictor.
        **settings: Further settings of that kind.
    """
    if name == "gp" and "summary_columns" not in settings:
        from aebnas.predictors.gp import summary_columns

        settings["summary_columns"] = summary_columns(names)
    if name == "exits" and "cost_columns" not in settings:
        from aebnas.predictors.exits import exit_cost_columns

        settings["cost_columns"] = exit_cost_columns(names)
    if name == "usage-gp" and "feature_names" not in settings:
        settings["feature_names"] = tuple(names)
    return make_predictor(name, seed=seed, **settings)


def build_prior_predictor(
    source: Predictor,
    name: str,
    names: Sequence[str],
    seed: int = 0,
    source_dir: Path | None = None,
    **settings: Any,
) -> PriorPredictor:
    """A :class:`PriorPredictor` around ``source`` with a new residual model of kind ``name``."""
    base = build_predictor(name, [*names, PRIOR_FEATURE], seed=seed, **settings)
    return PriorPredictor(source, base, source_dir=source_dir)
