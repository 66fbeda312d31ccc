"""Predictors of a candidate's accuracy and average MACs from its architecture (with uncertainty).

- :mod:`~aebnas.predictors.features`: encoding + exact static per-exit MACs, archive loading;
- :data:`PREDICTORS` (``xgb``, ``gp``, ``mlp``, ``exits``, ``usage-gp``) behind one
  :class:`Predictor` interface (``fit``, ``predict -> (mean, std)``, ``to_botorch``,
  ``save``/``load``); ``exits`` predicts average MACs from predicted per-exit usage and the exact
  costs (:mod:`~aebnas.predictors.usage`); ``usage-gp`` predicts accuracy from the features plus
  where the samples are predicted to leave (:mod:`~aebnas.predictors.usage_gp`);
- :mod:`~aebnas.predictors.store`: saved predictors with ``metadata.json`` and checked loading;
- :mod:`~aebnas.predictors.metrics`: Kendall tau, Spearman, RMSE, MAPE, 90% coverage,
  precision at the top 10%, cross-validation, learning curves, the seed-noise ceiling;
- :mod:`~aebnas.predictors.prior`: reuse of a predictor across datasets.

Command line: ``python -m aebnas.predictors fit|evaluate|noise-ceiling`` (see ``--help``).
"""

from aebnas.predictors import exits, gp, mlp, prior, usage_gp, xgb  # noqa: F401  (register the kinds)
from aebnas.predictors.base import PREDICTORS, Predictor, fit_predictor, make_predictor
from aebnas.predictors.factory import build_predictor, build_prior_predictor
from aebnas.predictors.features import (
    FEATURES_VERSION,
    TARGETS,
    TrainingData,
    feature_names,
    features,
    load_training_data,
)
from aebnas.predictors.folders import load_model
from aebnas.predictors.metrics import cross_validate, learning_curve, noise_ceiling, score
from aebnas.predictors.prior import PriorPredictor
from aebnas.predictors.store import LoadedPredictor, load_predictor, save_predictor
from aebnas.predictors.usage import ExitUsage, expected_avg_macs

__all__ = [
    "FEATURES_VERSION",
    "PREDICTORS",
    "TARGETS",
    "ExitUsage",
    "LoadedPredictor",
    "Predictor",
    "PriorPredictor",
    "TrainingData",
    "build_predictor",
    "build_prior_predictor",
    "cross_validate",
    "expected_avg_macs",
    "feature_names",
    "features",
    "fit_predictor",
    "learning_curve",
    "load_model",
    "load_predictor",
    "load_training_data",
    "make_predictor",
    "noise_ceiling",
    "save_predictor",
    "score",
]
