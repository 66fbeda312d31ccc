"""Predictor quality: ranking and error metrics, cross-validation, learning curves, noise ceiling.

Metrics of one test set (``scipy.stats`` for the rank correlations):

- ``kendall_tau`` (tau-b) and ``spearman`` between true and predicted values;
- ``rmse``; ``mape`` in percent (``100 * mean(|y - mean| / |y|)``);
- ``coverage90``: fraction of true values inside the central 90% predictive interval
  ``mean +- 1.645 std``;
- ``precision_top10``: of the best 10% test records (highest accuracy, lowest MACs), the fraction
  the predictor also puts in its best 10% (at least one record).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from aebnas.predictors.base import Z90, Predictor, fit_predictor
from aebnas.predictors.usage import ExitUsage

METRICS = ("kendall_tau", "spearman", "rmse", "mape", "coverage90", "precision_top10")
#: Least held-out records for a train size to be evaluated.
MIN_TEST = 10

PredictorFactory = Callable[[int], Predictor]


def precision_at_top(
    y_true: np.ndarray, y_pred: np.ndarray, fraction: float = 0.1, higher_is_better: bool = True
) -> float:
    """Overlap of the true and predicted best ``fraction`` of records (fraction of ``k``).

    Args:
        y_true: Shape ``(m,)``.
        y_pred: Shape ``(m,)``.
        fraction: Share of records counted as "top" (``k = max(1, round(fraction * m))``).
        higher_is_better: Whether larger values are better.
    """
    k = max(1, round(fraction * len(y_true)))
    sign = -1.0 if higher_is_better else 1.0
    true_top = set(np.argsort(sign * y_true, kind="stable")[:k].tolist())
    pred_top = set(np.argsort(sign * y_pred, kind="stable")[:k].tolist())
    return len(true_top & pred_top) / k


def _rank_correlation(fn: Callable[..., Any], a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(fn(a, b).statistic)


def score(
    y_true: np.ndarray, mean: np.ndarray, std: np.ndarray, higher_is_better: bool = True
) -> dict[str, float]:
    """All :data:`METRICS` of one test set.

    Args:
        y_true: Measured values, shape ``(m,)``.
        mean: Predicted means, shape ``(m,)``.
        std: Predicted standard deviations, shape ``(m,)``.
        higher_is_better: Direction of "top" for ``precision_top10``.
    """
    error = y_true - mean
    with np.errstate(divide="ignore", invalid="ignore"):
        ape = np.abs(error) / np.abs(y_true)
    return {
        "kendall_tau": _rank_correlation(stats.kendalltau, y_true, mean),
        "spearman": _rank_correlation(stats.spearmanr, y_true, mean),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mape": float(100 * np.mean(ape[np.isfinite(ape)])) if np.isfinite(ape).any() else math.nan,
        "coverage90": float(np.mean(np.abs(error) <= Z90 * std)),
        "precision_top10": precision_at_top(y_true, mean, 0.1, higher_is_better),
    }


def average(scores: Iterable[dict[str, float]]) -> dict[str, float]:
    """Mean of every metric over splits (NaNs ignored) plus ``kendall_tau_sd`` and ``splits``."""
    rows = list(scores)
    out: dict[str, float] = {}
    for key in METRICS:
        values = np.asarray([r[key] for r in rows], dtype=float)
        out[key] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
    taus = np.asarray([r["kendall_tau"] for r in rows], dtype=float)
    taus = taus[np.isfinite(taus)]
    out["kendall_tau_sd"] = float(taus.std(ddof=1)) if len(taus) > 1 else math.nan
    out["splits"] = len(rows)
    return out


def fit_and_score(
    make: PredictorFactory,
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    seed: int,
    higher_is_better: bool = True,
    usage: ExitUsage | None = None,
) -> dict[str, float]:
    """Fit a new predictor on rows ``train`` and score it on rows ``test``.

    Args:
        make: Builds an unfitted predictor from a seed.
        X: Features, shape ``(n, d)``.
        y: Target, shape ``(n,)``.
        train: Training row indices.
        test: Test row indices.
        seed: Seed for the predictor.
        higher_is_better: Direction of the target.
        usage: Per-exit usage of all ``n`` rows (passed, for rows ``train``, to predictors
            that learn from it; see :func:`aebnas.predictors.base.fit_predictor`).
    """
    train_usage = None if usage is None else usage.subset(train)
    predictor = fit_predictor(make(seed), X[train], y[train], train_usage)
    mean, std = predictor.predict(X[test])
    return score(y[test], mean, std, higher_is_better)


def kfold_splits(n: int, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled ``folds``-fold splits of ``n`` rows as ``(train, test)`` index pairs."""
    if folds < 2 or n < folds:
        raise ValueError(f"{folds}-fold cross-validation needs at least {max(folds, 2)} records")
    order = np.random.default_rng(seed).permutation(n)
    parts = np.array_split(order, folds)
    return [(np.concatenate(parts[:k] + parts[k + 1 :]), parts[k]) for k in range(folds)]


def cross_validate(
    make: PredictorFactory,
    X: np.ndarray,
    y: np.ndarray,
    folds: int = 5,
    seed: int = 0,
    higher_is_better: bool = True,
    usage: ExitUsage | None = None,
) -> dict[str, float]:
    """Metrics of ``folds``-fold cross-validation, averaged over folds (see :func:`average`);
    ``usage`` as in :func:`fit_and_score`."""
    splits = kfold_splits(len(y), folds, seed)
    return average(
        fit_and_score(make, X, y, train, test, seed + k, higher_is_better, usage)
        for k, (train, test) in enumerate(splits)
    )


def subset_splits(
    n: int, train_size: int, repeats: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``repeats`` seeded random splits: ``train_size`` rows to train, the rest to test."""
    rng = np.random.default_rng([seed, train_size])
    splits = []
    for _ in range(repeats):
        order = rng.permutation(n)
        splits.append((order[:train_size], order[train_size:]))
    return splits


@dataclass(frozen=True)
class CurvePoint:
    """Averaged metrics of one model, target and train size."""

    model: str
    target: str
    train_size: int
    test_size: int
    metrics: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "target": self.target,
            "train_size": self.train_size,
            "test_size": self.test_size,
            **self.metrics,
        }


def learning_curve(
    makers: dict[str, PredictorFactory],
    X: np.ndarray,
    y: np.ndarray,
    target: str,
    train_sizes: Sequence[int],
    repeats: int = 5,
    seed: int = 0,
    higher_is_better: bool = True,
    progress: Callable[[str], None] | None = None,
    usage: ExitUsage | None = None,
) -> list[CurvePoint]:
    """Metrics per model and train size, each averaged over ``repeats`` random splits.

    All models see the same splits. Sizes leaving fewer than :data:`MIN_TEST` test records are
    skipped.

    Args:
        makers: Model name -> factory of unfitted predictors (from a seed).
        X: Features, shape ``(n, d)``.
        y: Target, shape ``(n,)``.
        target: Target name (for the rows).
        train_sizes: Training set sizes.
        repeats: Random splits per size.
        seed: Seed of the splits and the predictors.
        higher_is_better: Direction of the target.
        progress: Called with a short label before each fit.
        usage: Per-exit usage of the ``n`` rows (see :func:`fit_and_score`).
    """
    points = []
    for size in train_sizes:
        if size < 2 or len(y) - size < MIN_TEST:
            continue
        splits = subset_splits(len(y), size, repeats, seed)
        for name, make in makers.items():
            rows = []
            for r, (train, test) in enumerate(splits):
                if progress:
                    progress(f"{name} {target} n={size} split {r + 1}/{repeats}")
                rows.append(
                    fit_and_score(make, X, y, train, test, seed + r, higher_is_better, usage)
                )
            points.append(CurvePoint(name, target, size, len(y) - size, average(rows)))
    return points


@dataclass(frozen=True)
class NoiseCeiling:
    """Agreement between two training seeds of the same architectures.

    Args:
        pairs: Architectures measured under both seeds.
        kendall_tau: Kendall tau between the seeds' values.
        spearman: Spearman rho.
        rmse: Root mean squared difference.
        mape: Mean absolute difference in % of the first seed's value (the error a perfect
            predictor of one seed's value would still make on the other seed).
        predictor_tau: Kendall tau a perfect predictor of the seed-averaged value can reach
            against one seed's value: with Pearson ``r`` between seeds (the reliability of one
            measurement), the truth-vs-measurement correlation is ``sqrt(r)`` and, for
            Gaussian values, ``tau = 2 / pi * arcsin(sqrt(r))``.
    """

    pairs: int
    kendall_tau: float
    spearman: float
    rmse: float
    mape: float = math.nan
    predictor_tau: float = math.nan

    def to_json(self) -> dict[str, float]:
        return {
            "pairs": self.pairs,
            "kendall_tau": self.kendall_tau,
            "spearman": self.spearman,
            "rmse": self.rmse,
            "mape": self.mape,
            "predictor_tau": self.predictor_tau,
        }


def implied_predictor_tau(first: np.ndarray, second: np.ndarray) -> float:
    """``2 / pi * arcsin(sqrt(r))`` for the Pearson ``r`` of two seeds' values (see above)."""
    if len(first) < 3 or np.std(first) == 0 or np.std(second) == 0:
        return math.nan
    r = float(np.corrcoef(first, second)[0, 1])
    return float(2 / math.pi * math.asin(math.sqrt(max(r, 0.0))))


def _by_arch(records: Iterable[dict[str, Any]], target: str) -> dict[str, dict[int, float]]:
    values: dict[str, dict[int, float]] = {}
    for r in records:
        value = r.get(target)
        if r.get("status") == "ok" and isinstance(value, int | float) and math.isfinite(value):
            values.setdefault(r["arch"], {}).setdefault(int(r["seed"]), float(value))
    return values


def seed_pairs(
    records: Sequence[dict[str, Any]],
    other: Sequence[dict[str, Any]] | None = None,
    target: str = "accuracy",
) -> tuple[np.ndarray, np.ndarray]:
    """Values of the same architectures under two seeds.

    Args:
        records: Archive records; alone, architectures with two or more seeds are paired
            (lowest seed vs the next one).
        other: A second archive's records; then each architecture in both is paired (first
            archive's lowest seed vs the other's lowest seed different from it, if any).
        target: Record field to compare.

    Returns:
        ``(first, second)``, each shape ``(pairs,)``.
    """
    first, second = [], []
    ours = _by_arch(records, target)
    theirs = _by_arch(other, target) if other is not None else None
    for arch, seeds in ours.items():
        if theirs is None:
            if len(seeds) >= 2:
                a, b = sorted(seeds)[:2]
                first.append(seeds[a])
                second.append(seeds[b])
            continue
        mine = min(seeds)
        candidates = sorted(s for s in theirs.get(arch, {}) if s != mine)
        if candidates:
            first.append(seeds[mine])
            second.append(theirs[arch][candidates[0]])
    return np.asarray(first), np.asarray(second)


def noise_ceiling(
    records: Sequence[dict[str, Any]],
    other: Sequence[dict[str, Any]] | None = None,
    target: str = "accuracy",
) -> NoiseCeiling:
    """How well one training seed ranks another: the best tau a predictor can hope for.

    Args:
        records: Records of one archive (see :func:`seed_pairs`).
        other: Records of a second archive with the same architectures and other seeds.
        target: ``accuracy`` or ``avg_macs``.
    """
    a, b = seed_pairs(records, other, target)
    if len(a) == 0:
        return NoiseCeiling(0, math.nan, math.nan, math.nan)
    return NoiseCeiling(
        pairs=len(a),
        kendall_tau=_rank_correlation(stats.kendalltau, a, b),
        spearman=_rank_correlation(stats.spearmanr, a, b),
        rmse=float(np.sqrt(np.mean((a - b) ** 2))),
        mape=float(100 * np.mean(np.abs(a - b) / np.abs(a))),
        predictor_tau=implied_predictor_tau(a, b),
    )
