"""Reuse a predictor fit on one dataset (the source) as a prior for another (the target).

With few target records a predictor fit on them alone ranks poorly; the source predictor already
knows which genes matter. :class:`PriorPredictor` combines both:

- prior mean: ``a + b * source_mean(x)``, fit on the target records (the two datasets'
  accuracies differ in level and spread but mostly agree in order); the slope ``b >= 0`` is
  shrunk towards 1 by a normal prior (:func:`linear_prior`), so that a few noisy target records
  cannot flip or erase the source's ranking;
- residual model: a base predictor (any registered kind) fit on the target residuals
  ``y - prior``, with ``source_mean(x)`` appended to its input features (column ``prior.mean``),
  so it can also learn a non-linear correction of the source's prediction.

Prediction: prior mean + residual mean; variance: the residual model's, plus, with fewer than
:data:`CALIBRATION_ROWS` target records, the square of :func:`small_sample_std` (the spread
of the target residuals ``y - prior``, widened to a Student-t prediction interval): a GP's
hyper-parameters fit on 3-5 residuals make it far too sure (the 90% intervals' coverage with
and without the extra variance: ``benchmarks/surrogate_calibration.py``, results in
``benchmarks/results/surrogate_calibration.md``). The extra variance enters the BoTorch
posterior of a GP residual model too (an ensemble's posterior keeps its members' spread). With
no informative target data the residual model shrinks to 0 and the prediction ranks like the
source predictor.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import scipy.stats
import torch
from botorch.models.model import Model
from torch import Tensor

from aebnas.predictors.base import (
    Predictor,
    check_xy,
    read_model_config,
    register_predictor,
    write_model_config,
)
from aebnas.predictors.botorch_models import ShiftedModel
from aebnas.predictors.folders import copy_predictor_dir, load_model

PRIOR_FEATURE = "prior.mean"
#: Below this many target records :func:`small_sample_std` is added in quadrature to the std.
CALIBRATION_ROWS = 8
SOURCE_DIR = "source"
BASE_DIR = "base"


def linear_prior(
    source_mean: np.ndarray, y: np.ndarray, prior_slope: float = 1.0, prior_sd: float = 0.5
) -> tuple[float, float]:
    """``(a, b)`` of ``y ~ a + b * source_mean``: Bayesian slope, ``b >= 0``.

    The slope has a normal prior ``N(prior_slope, prior_sd^2)`` (the source predicts the same
    quantity on a similar scale); its posterior mean weighs the least-squares slope by the data's
    precision ``sum((m - mean m)^2) / noise variance``, so with few or noisy target records the
    source's ranking is kept instead of a noisy (possibly negative) fitted slope.

    Args:
        source_mean: The source predictor's mean at the target records, shape ``(n,)``.
        y: Target values, shape ``(n,)``.
        prior_slope: Prior mean of ``b``.
        prior_sd: Prior standard deviation of ``b``.
    """
    m_centered = source_mean - source_mean.mean()
    sxx = float(m_centered @ m_centered)
    if len(y) < 3 or sxx < 1e-18:
        return float(np.mean(y - prior_slope * source_mean)), prior_slope
    y_centered = y - y.mean()
    slope = float(m_centered @ y_centered) / sxx
    noise = float(np.sum((y_centered - slope * m_centered) ** 2)) / (len(y) - 2)
    data_precision = sxx / max(noise, 1e-18)
    prior_precision = 1.0 / prior_sd**2
    b = (data_precision * slope + prior_precision * prior_slope) / (
        data_precision + prior_precision
    )
    b = max(b, 0.0)
    return float(y.mean() - b * source_mean.mean()), float(b)


def small_sample_std(residuals: np.ndarray) -> float:
    """The extra predictive std of a prior predictor fit on these target residuals
    ``y - prior``, shape ``(n,)``, below :data:`CALIBRATION_ROWS` rows (else 0).

    It is the std of a normal whose 90% interval matches the Student-t prediction interval of a
    new residual from these ``n`` (``s * sqrt(1 + 1/n) * t(0.95, n - 1)``): with 3 residuals
    their sample RMS alone is itself a very uncertain guess.
    """
    n = len(residuals)
    if n >= CALIBRATION_ROWS or n < 2:
        return 0.0
    rms = float(np.sqrt(np.sum(residuals**2) / (n - 1)))
    widening = float(scipy.stats.t.ppf(0.95, n - 1) / scipy.stats.norm.ppf(0.95))
    return rms * float(np.sqrt(1 + 1 / n)) * widening


@register_predictor("prior", standalone=False)
class PriorPredictor:
    """A base predictor of target residuals around a scaled source prediction.

    Args:
        source: A fitted predictor of the same target, space and features (another dataset).
        base: An unfitted predictor for the residuals; its inputs are the features plus one
            ``prior.mean`` column (build it knowing ``d + 1`` features).
        source_dir: Where the source was loaded from (copied into the saved directory).
    """

    name = "prior"

    def __init__(self, source: Predictor, base: Predictor, source_dir: Path | None = None) -> None:
        self.source = source
        self.base = base
        self.source_dir = source_dir
        self.a, self.b = 0.0, 1.0
        self.extra_std = 0.0

    def _augment(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        source_mean, _ = self.source.predict(X)
        return np.hstack([X, source_mean[:, None]]), self.a + self.b * source_mean

    def fit(self, X: np.ndarray, y: np.ndarray) -> PriorPredictor:
        """Fit ``a``, ``b`` and the residual model on target ``X (n, d)``, ``y (n,)``."""
        check_xy(X, y, min_rows=2)
        source_mean, _ = self.source.predict(X)
        self.a, self.b = linear_prior(source_mean, y)
        augmented, shift = self._augment(X)
        self.base.fit(augmented, y - shift)
        self.extra_std = small_sample_std(y - shift)
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Prior plus residual mean, residual std, at ``X (m, d)``; each ``(m,)``."""
        check_xy(X)
        augmented, shift = self._augment(X)
        mean, std = self.base.predict(augmented)
        return shift + mean, np.sqrt(std**2 + self.extra_std**2)

    def to_botorch(self) -> Model:
        """The residual model's BoTorch model over augmented inputs, its mean shifted."""

        def augment(X: Tensor) -> tuple[Tensor, Tensor]:
            augmented, shift = self._augment(X.detach().cpu().numpy().astype(np.float64))
            return torch.as_tensor(augmented).to(X), torch.as_tensor(shift).to(X)

        return ShiftedModel(self.base.to_botorch(), augment, extra_variance=self.extra_std**2)

    def save(self, directory: Path) -> None:
        """``model.json`` (a, b) + ``source/`` (the source directory) + ``base/``."""
        directory.mkdir(parents=True, exist_ok=True)
        source_out = directory / SOURCE_DIR
        if self.source_dir is not None and self.source_dir.resolve() != source_out.resolve():
            if source_out.exists():
                shutil.rmtree(source_out)
            copy_predictor_dir(self.source_dir, source_out)
        elif self.source_dir is None:
            self.source.save(source_out)
        self.base.save(directory / BASE_DIR)
        write_model_config(directory, self.name, {}, a=self.a, b=self.b, extra_std=self.extra_std)

    @classmethod
    def load(cls, directory: Path) -> PriorPredictor:
        """Rebuild source, residual model and prior coefficients from :meth:`save`'s files."""
        config = read_model_config(directory, cls.name)
        predictor = cls(
            load_model(directory / SOURCE_DIR),
            load_model(directory / BASE_DIR),
            source_dir=directory / SOURCE_DIR,
        )
        predictor.a, predictor.b = float(config["a"]), float(config["b"])
        predictor.extra_std = float(config.get("extra_std", 0.0))
        return predictor
