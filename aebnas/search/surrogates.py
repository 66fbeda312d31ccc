"""Accuracy and average-MAC surrogates of the search, fit on the archive.

Training rows: one per architecture (records of several seeds averaged), features from
:func:`aebnas.predictors.features.features` (encoding + exact static MACs), targets = the
operating point of :meth:`aebnas.search.problem.SearchProblem.outcome` (accuracy, average MACs).

Fidelities are never mixed in one training set. The search's *target fidelity* is the one it
evaluates at (``full`` for real runs; the archive's for benchmark runs). Records of any other
fidelity (the low-fidelity surrogate archive) only enter through a *prior*: a predictor per
target fit on them (or loaded from ``--predictors``). The target-fidelity surrogate is then

- ``>= PRIOR_MIN_ROWS`` target-fidelity rows: a :class:`~aebnas.predictors.prior.PriorPredictor`
  ``a + b * prior(x) + residual(x, prior(x))``: the per-fidelity offset ``a`` and scale ``b`` are
  fit by least squares on the target-fidelity rows and the residual model (GP by default) learns
  what the prior gets wrong;
- fewer rows: the prior shifted by the mean target-fidelity residual (``b = 1``, ``a`` = mean of
  ``y - prior(x)``, 0 with no rows): it ranks like the prior and sits at the right level.

Without a prior the surrogate is a predictor of kind ``gp`` / ``xgb`` / ``mlp`` fit on the
target-fidelity rows alone.

GP surrogates (:class:`BoundedGPPredictor`, a :class:`~aebnas.predictors.gp.GPPredictor`):

- hyper-parameters fit with at most :data:`GP_MAXITER` L-BFGS iterations, on at most
  :data:`GP_HYPER_ROWS` rows (a seeded subset; the posterior conditions on every row): an
  unbounded fit on every row takes many times longer for no better held-out ranking (the
  proposal time it buys: ``benchmarks/results/proposal_time.md``);
- the average-MAC GP sees only the summary columns (:data:`SUMMARY_TARGETS`).

The two surrogates are independent single-output models; as BoTorch model they form a
``ModelListGP`` (both GPs: qLogNEHVI caches the baseline's Cholesky root) or a ``ModelList``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from botorch.models import ModelList, ModelListGP, SingleTaskGP
from botorch.models.gpytorch import GPyTorchModel
from botorch.models.model import Model
from botorch.models.transforms.input import ChainedInputTransform, FilterFeatures, Normalize
from botorch.models.transforms.outcome import Standardize
from torch import Tensor

from aebnas.errors import UserError
from aebnas.predictors.base import Predictor, read_json
from aebnas.predictors.botorch_models import ShiftedModel
from aebnas.predictors.factory import build_predictor
from aebnas.predictors.features import feature_names, features
from aebnas.predictors.folders import check_contained
from aebnas.predictors.gp import GPPredictor, build_gp, gp_kernel, summary_columns
from aebnas.predictors.prior import PRIOR_FEATURE, PriorPredictor
from aebnas.predictors.store import METADATA_FILE, load_predictor
from aebnas.search.pool import CostTable
from aebnas.search.problem import SearchProblem
from aebnas.space import Architecture, SearchSpace, parse_architecture

TARGETS = ("accuracy", "avg_macs")
#: Target-fidelity rows needed before the prior's offset/scale and a residual model are fit.
PRIOR_MIN_ROWS = 3
#: Rows needed to fit a surrogate without a prior.
MIN_ROWS = 4
#: L-BFGS iterations of a GP hyper-parameter fit.
GP_MAXITER = 75
#: Rows of a GP hyper-parameter fit: at 1,000 supernet-archive records a 500-row subset ranks
#: held-out rows like a fit on all of them (Kendall tau 0.638 / 0.646 / 0.623 against 0.642 /
#: 0.647 / 0.622 on three training windows), a 300-row one does not (0.602 / 0.586 / 0.595);
#: benchmarks/proposal_time.py measures both.
GP_HYPER_ROWS = 500


@dataclass(frozen=True)
class TrainingSet:
    """Surrogate training rows.

    Args:
        archs: One architecture per row.
        X: Features, shape ``(n, d)``.
        Y: Targets ``[accuracy, avg_macs]``, shape ``(n, 2)``.
    """

    archs: list[Architecture]
    X: np.ndarray
    Y: np.ndarray

    def __len__(self) -> int:
        return len(self.archs)


def featurize(archs: Sequence[Architecture], costs: CostTable) -> np.ndarray:
    """Predictor features of ``archs``, shape ``(n, d)`` (static MACs from ``costs``)."""
    return features(
        list(archs), costs.space, costs.in_channels, costs.num_classes, costs=costs.many(archs)
    )


def training_set(
    records: Sequence[dict[str, Any]], problem: SearchProblem, costs: CostTable
) -> TrainingSet:
    """Rows of the ok records (outcomes at ``problem``'s objective, seeds averaged)."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for record in records:
        outcome = problem.outcome(record)
        if outcome is not None:
            groups.setdefault(record["arch"], []).append((outcome.accuracy, outcome.avg_macs))
    costs.add_records(records)
    archs = [parse_architecture(a, costs.space) for a in groups]
    Y = np.array([np.mean(v, axis=0) for v in groups.values()]).reshape(-1, 2)
    return TrainingSet(archs, featurize(archs, costs), Y)


class OffsetPredictor:
    """A fitted prior predictor shifted by a constant (prediction-only).

    Args:
        source: The fitted prior predictor.
        shift: Added to its mean.
    """

    name = "offset"

    def __init__(self, source: Predictor, shift: float) -> None:
        self.source = source
        self.shift = shift

    def fit(self, X: np.ndarray, y: np.ndarray) -> OffsetPredictor:
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self.source.predict(X)
        return mean + self.shift, std

    def to_botorch(self) -> Model:
        def augment(X: Tensor) -> tuple[Tensor, Tensor]:
            return X, torch.full(X.shape[:-1], self.shift, dtype=X.dtype, device=X.device)

        return ShiftedModel(self.source.to_botorch(), augment)

    def save(self, directory: Path) -> None:
        raise NotImplementedError("an offset prior is rebuilt each round, not saved")

    @classmethod
    def load(cls, directory: Path) -> OffsetPredictor:
        raise NotImplementedError("an offset prior is rebuilt each round, not saved")


@dataclass
class Surrogates:
    """The two fitted surrogates.

    Args:
        accuracy: Predictor of validation accuracy (fraction).
        avg_macs: Predictor of average MMACs.
        how: One line on how they were built (for logs and the report).
    """

    accuracy: Predictor
    avg_macs: Predictor
    how: str

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Means and standard deviations at ``X (m, d)``, each shape ``(m, 2)``
        (columns accuracy, avg_macs)."""
        if len(X) == 0:
            return np.zeros((0, 2)), np.zeros((0, 2))
        with (
            torch.no_grad(),  # GPPredictor.predict reads the lazy variance outside its no_grad
            warnings.catch_warnings(),
            np.errstate(invalid="ignore", divide="ignore"),
        ):
            warnings.simplefilter("ignore", RuntimeWarning)  # std of a one-member ensemble
            (ma, sa), (mm, sm) = self.accuracy.predict(X), self.avg_macs.predict(X)
        return np.stack([ma, mm], axis=1), np.stack([sa, sm], axis=1)

    def model(self) -> Model:
        """A two-output BoTorch model (outputs accuracy, avg_macs) over float64 features."""
        accuracy, avg_macs = self.accuracy.to_botorch(), self.avg_macs.to_botorch()
        if isinstance(accuracy, GPyTorchModel) and isinstance(avg_macs, GPyTorchModel):
            return ModelListGP(accuracy, avg_macs)  # qLogNEHVI can cache the baseline's root
        return ModelList(accuracy, avg_macs)


class BoundedGPPredictor(GPPredictor):
    """:class:`~aebnas.predictors.gp.GPPredictor` with a bounded hyper-parameter fit (at most
    ``maxiter`` L-BFGS iterations on at most ``hyper_rows`` rows), optionally on a subset of the
    feature columns.

    Args:
        maxiter: L-BFGS iterations of the hyper-parameter fit.
        columns: Feature columns the GP sees (a ``FilterFeatures`` input transform before
            ``Normalize``, so the BoTorch model still takes every feature); ``None``: all.
        hyper_rows: Rows of the hyper-parameter fit (a seeded random subset when there are
            more); ``None``: all rows.
        **settings: Other :class:`~aebnas.predictors.gp.GPSettings` fields.
    """

    def __init__(
        self,
        maxiter: int = GP_MAXITER,
        columns: Sequence[int] | None = None,
        hyper_rows: int | None = GP_HYPER_ROWS,
        **settings: Any,
    ) -> None:
        super().__init__(maxiter=maxiter, hyper_rows=hyper_rows, **settings)
        self.columns = None if columns is None else tuple(int(c) for c in columns)

    def build(
        self, train_X: torch.Tensor, train_Y: torch.Tensor, bounds: torch.Tensor
    ) -> SingleTaskGP:
        """The unfitted model; with ``columns``, the GP sees only those feature columns."""
        if self.columns is None:
            return build_gp(train_X, train_Y, bounds, self.settings)
        index = torch.as_tensor(self.columns)
        d = len(self.columns)
        transform = ChainedInputTransform(
            select=FilterFeatures(index),
            normalize=Normalize(d=d, bounds=bounds[:, index]),
        )
        return SingleTaskGP(
            train_X,
            train_Y,
            covar_module=gp_kernel(self.settings, d),
            input_transform=transform,
            outcome_transform=Standardize(m=1),
        )

    def save(self, directory: Path) -> None:
        raise NotImplementedError("search surrogates are refit every round, not saved")


#: Targets whose GP sees only the summary columns (resolution, depths, exit activity, static
#: MACs): average MACs follow the static costs and the exit structure, which a GP on all columns
#: ranks less well from the few rows a search has.
SUMMARY_TARGETS = ("avg_macs",)
#: GP kernel (:data:`aebnas.predictors.gp.KERNELS`) of the other targets.
GP_KERNELS: dict[str, str] = {"accuracy": "matern+costs"}


def make_surrogate(
    kind: str, names: Sequence[str], seed: int, target: str = "", **settings: Any
) -> Predictor:
    """An unfitted predictor of ``kind`` for features ``names`` (``gp``: bounded fit, summary
    columns only for :data:`SUMMARY_TARGETS`)."""
    if kind == "gp":
        summary = summary_columns(names)
        settings = {"hyper_rows": GP_HYPER_ROWS, **settings}
        if target in SUMMARY_TARGETS:
            return BoundedGPPredictor(seed=seed, columns=summary, kernel="matern", **settings)
        settings = {"kernel": GP_KERNELS.get(target, "matern+costs"), **settings}
        return BoundedGPPredictor(seed=seed, summary_columns=summary, **settings)
    return build_predictor(kind, names, seed=seed, **settings)


def _fit_one(
    kind: str,
    target: str,
    names: Sequence[str],
    X: np.ndarray,
    y: np.ndarray,
    seed: int,
    settings: dict[str, Any],
) -> Predictor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_surrogate(kind, names, seed, target, **settings).fit(X, y)


def fit_prior(
    kind: str,
    records: Sequence[dict[str, Any]],
    problem: SearchProblem,
    costs: CostTable,
    seed: int,
) -> dict[str, Predictor] | None:
    """Prior predictors (one per target) fit on other-fidelity ``records``; ``None`` if too few."""
    data = training_set(records, problem, costs)
    if len(data) < MIN_ROWS:
        return None
    names = feature_names(costs.space)
    return {
        t: _fit_one(kind, t, names, data.X, data.Y[:, i], seed, {}) for i, t in enumerate(TARGETS)
    }


def _predictor_dirs(root: Path, target: str) -> dict[str | None, list[Path]]:
    """Saved predictors for ``target`` among ``root``'s sub-folders, by the dataset they were
    fit on (``None``: not recorded)."""
    found: dict[str | None, list[Path]] = {}
    for meta_path in sorted(root.glob(f"*/{METADATA_FILE}")):
        meta = read_json(meta_path)
        if meta.get("target") == target:
            found.setdefault(meta.get("dataset"), []).append(meta_path.parent)
    return found


@dataclass
class LoadedPrior:
    """Saved prior predictors and where they come from.

    Args:
        predictors: One fitted predictor per target.
        transferred_from: The dataset they were fit on when it is not the search's (a transfer
            prior, shifted and rescaled on the search's results by
            :class:`~aebnas.predictors.prior.PriorPredictor`), else ``None``.
    """

    predictors: dict[str, Predictor]
    transferred_from: str | None = None


def _choose_dirs(root: Path, dataset: str, target: str) -> list[Path]:
    """The saved ``target`` predictors to use: ``root/target``, else those fit on ``dataset``
    (or on an unrecorded one), else those of exactly one other dataset (transfer)."""
    if (root / target).is_dir():
        return [root / target]
    by_dataset = _predictor_dirs(root, target)
    own = by_dataset.pop(dataset, []) + by_dataset.pop(None, [])
    if own:
        return own
    return [d for dirs in by_dataset.values() for d in dirs]


def load_prior(
    directory: str | Path, space: SearchSpace, dataset: str, kind: str | None = None
) -> LoadedPrior:
    """Saved prior predictors (written by ``python -m aebnas.predictors fit``), checked against
    the space and target.

    Predictors fit on another dataset are accepted as a transfer prior when the folder holds none
    of the search's dataset.

    Args:
        directory: Either holds ``accuracy/`` and ``avg_macs/``, or predictor folders whose
            ``metadata.json`` names the target and dataset (one per target; when several fit,
            the one of model kind ``kind`` is taken).
        space: The search space.
        dataset: The search's dataset.
        kind: Preferred model kind.
    """
    root, chosen, sources = Path(directory), {}, set()
    if not root.is_dir():
        raise UserError(f"--predictors {root} is not a folder; pass a folder of saved predictors")
    check_contained(root)
    for target in TARGETS:
        found = _choose_dirs(root, dataset, target)
        if len(found) > 1:
            found = [d for d in found if read_json(d / METADATA_FILE).get("model") == kind] or found
        if len(found) != 1:
            names = ", ".join(str(d) for d in found) or "none"
            raise UserError(
                f"--predictors {root}: need exactly one saved {target} predictor "
                f"(found: {names}); put them in {root}/accuracy and {root}/avg_macs"
            )
        loaded = load_predictor(found[0], space=space, expect_target=target)
        chosen[target] = loaded.predictor
        sources.add(read_json(found[0] / METADATA_FILE).get("dataset") or dataset)
    source = ", ".join(sorted(sources - {dataset})) or None
    return LoadedPrior(chosen, source)


def fit_surrogates(
    kind: str,
    data: TrainingSet,
    prior: dict[str, Predictor] | None,
    space: SearchSpace,
    seed: int,
    settings: dict[str, Any] | None = None,
) -> Surrogates | None:
    """Fit the accuracy and MAC surrogates (see the module docstring).

    Args:
        kind: Predictor kind (``gp``, ``xgb``, ``mlp``).
        data: Target-fidelity rows.
        prior: Prior predictors per target (other fidelity), or ``None``.
        space: The search space (feature names).
        seed: Seed of the fits.
        settings: Predictor settings (e.g. ``{"members": 1}`` for the reference MLP).

    Returns:
        The surrogates, or ``None`` when there is neither a prior nor :data:`MIN_ROWS` rows.
    """
    names = feature_names(space)
    settings = settings or {}
    n = len(data)
    if prior is None and n < MIN_ROWS:
        return None
    fitted: list[Predictor] = []
    for i, target in enumerate(TARGETS):
        y = data.Y[:, i]
        if prior is None:
            fitted.append(_fit_one(kind, target, names, data.X, y, seed, settings))
        elif n >= PRIOR_MIN_ROWS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                base = make_surrogate(kind, [*names, PRIOR_FEATURE], seed, target, **settings)
                fitted.append(PriorPredictor(prior[target], base).fit(data.X, y))
        else:
            shift = float(np.mean(y - prior[target].predict(data.X)[0])) if n else 0.0
            fitted.append(OffsetPredictor(prior[target], shift))
    how = (
        f"{kind} on {n} rows"
        if prior is None
        else f"prior + {kind} residual on {n} rows"
        if n >= PRIOR_MIN_ROWS
        else f"prior shifted by the mean residual of {n} rows"
    )
    return Surrogates(fitted[0], fitted[1], how)
