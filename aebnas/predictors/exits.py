"""Average-MACs predictor built on the exact per-exit costs: it predicts how the exits are used.

Average MACs at a tuned operating point are an exact function of the static per-exit costs
(features ``x{p}.backbone_mmacs``, ``x{p}.branch_mmacs``, ``final.*``) and of the exit usage
(:mod:`aebnas.predictors.usage`). Learning the average directly makes a regressor rediscover
that arithmetic from ~100 rows; this predictor learns only the usage and computes the rest.
Per intermediate exit slot ``j`` (rows whose architecture has that exit) it fits

- ``on_j``: the probability that the tuner keeps the exit on (XGBoost, logistic loss);
- ``leave_j``: of the samples reaching the exit, the fraction leaving there (XGBoost,
  logistic loss on the ``[0, 1]`` target; rows where the exit is on);

and predicts ``avg_macs`` by :func:`aebnas.predictors.usage.expected_avg_macs` of the usage
``util_j = arrive_j * on_j * leave_j``. The mean comes from models fit on all rows; the
uncertainty from a seeded bootstrap ensemble whose spread is inflated until its 90% interval
holds 90% of cross-fitted errors (:func:`coverage_factor`), centred on that mean (a bootstrap
sample holds only about 63% of the rows, so the members' mean is the worse estimate; the
predictor's measured MAPE and coverage: ``benchmarks/results/predictors.md``).

Training needs the records' per-exit utilisation (``fit(X, y, usage=...)``; see
:func:`aebnas.predictors.base.fit_predictor`). Saved as ``model.json`` (settings, constants of
slots with too few rows to fit) + one XGBoost JSON file per member, slot and part.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import xgboost as xgb

from aebnas.errors import UserError
from aebnas.predictors.base import (
    Z90,
    check_xy,
    inflate,
    register_predictor,
)
from aebnas.predictors.ensemble import BootstrapEnsemble
from aebnas.predictors.metrics import kfold_splits
from aebnas.predictors.usage import ExitUsage, cost_columns, expected_avg_macs, split_costs

PARTS = ("on", "leave")
#: Folds of the cross-fit that calibrates the spread (:func:`coverage_factor`).
CALIBRATION_FOLDS = 5
#: Least rows to fit a part's booster (fewer: a constant, the mean of the rows).
MIN_FIT_ROWS = 3
#: A part is a fitted booster or a constant probability.
PartModel = xgb.Booster | float
_ACTIVE = re.compile(r"^x(\d+)\.active$")


@dataclass(frozen=True)
class ExitsSettings:
    """Ensemble and booster settings.

    Args:
        members: Bootstrap members (for the spread; the mean is fit on all rows).
        seed: Seed of the bootstrap samples and the boosters.
        rounds: Boosting rounds per part.
        max_depth: Tree depth.
        learning_rate: Shrinkage.
        subsample: Fraction of rows per tree.
        colsample_bytree: Fraction of features per tree.
        threads: XGBoost threads.
        cost_columns: Feature indices of the per-slot costs (:func:`~aebnas.predictors.usage.
            cost_columns`); set from feature names by :func:`exit_cost_columns`.
        derived: Append :func:`derived_inputs` (log costs and cost ratios) to the features.
    """

    members: int = 8
    seed: int = 0
    rounds: int = 300
    max_depth: int = 3
    learning_rate: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.6
    threads: int = 1
    cost_columns: tuple[int, ...] | None = None
    derived: bool = True

    def params(self, objective: str, member: int, slot: int) -> dict[str, Any]:
        return {
            "objective": objective,
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "nthread": self.threads,
            "seed": (self.seed * 1000 + member) * 10 + slot,
            "verbosity": 0,
        }


def exit_cost_columns(names: Sequence[str]) -> tuple[int, ...]:
    """Cost-column indices for features called ``names`` (exit positions read from the
    ``x{p}.active`` names)."""
    positions = [int(m[1]) for name in names if (m := _ACTIVE.match(name))]
    return cost_columns(names, positions)


def coverage_factor(error: np.ndarray, spread: np.ndarray) -> float:
    """Factor on the members' spread that makes the central 90% interval hold 90% of the
    held-out errors.

    Average-MACs errors are heavy-tailed (a wrongly predicted on/off exit moves a row far), so
    matching the mean variance (:func:`aebnas.predictors.base.spread_calibration`) leaves the
    90% interval short, and the out-of-bag errors of bootstrap members (63% of the rows each)
    overstate the all-rows model's (coverage: ``benchmarks/results/predictors.md``); this
    matches the 90% quantile of ``|error| / spread`` of cross-fitted all-rows models.

    Args:
        error: Held-out errors of the training rows, shape ``(n,)``.
        spread: The bootstrap members' standard deviation at those rows, shape ``(n,)``.

    Returns:
        The factor, clipped to ``[1, 100]``.
    """
    ratio = np.abs(error) / np.maximum(spread, 1e-12)
    return float(np.clip(np.quantile(ratio, 0.9) / Z90, 1.0, 100.0))


class _UsageTargets:
    """What the parts learn, per row and slot: ``present``, ``on``, ``leave``, ``reached``
    (each ``(n, S)``)."""

    def __init__(self, present: np.ndarray, usage: ExitUsage) -> None:
        self.present = present
        self.on = usage.on
        self.leave = usage.leave_fraction()
        self.reached = usage.survival()[:, :-1] > 1e-9


def derived_inputs(X: np.ndarray, columns: Sequence[int]) -> np.ndarray:
    """Cost summaries the usage depends on: per slot the log cost of leaving there (every
    present exit on) and its log ratio to the final exit's cost, shape ``(n, 2 * (S + 1))``
    (0 for absent exits)."""
    present, backbone, branch = split_costs(X, columns)
    paid = np.cumsum(np.where(np.hstack([present, np.ones((len(X), 1), bool)]), branch, 0), axis=1)
    leave_cost = backbone + paid
    log_cost = np.log(np.maximum(leave_cost, 1e-6))
    ratio = log_cost - log_cost[:, -1:]
    mask = np.hstack([present, np.ones((len(X), 1), bool)])
    return np.hstack([np.where(mask, log_cost, 0.0), np.where(mask, ratio, 0.0)])


@register_predictor("exits")
class ExitsPredictor(BootstrapEnsemble):
    """Average MACs from predicted exit usage and exact costs (see the module docstring).

    Args:
        **settings: Fields of :class:`ExitsSettings` (``cost_columns`` is required).
    """

    name = "exits"
    settings_type = ExitsSettings
    settings: ExitsSettings
    #: What it predicts (see :func:`aebnas.predictors.base.predicts_target`).
    targets = ("avg_macs",)
    #: :func:`aebnas.predictors.base.fit_predictor` passes the records' exit usage.
    uses_exit_usage = True

    def __init__(self, **settings: Any) -> None:
        if settings.get("cost_columns") is not None:
            settings["cost_columns"] = tuple(int(i) for i in settings["cost_columns"])
        super().__init__(**settings)
        if self.settings.cost_columns is None:
            raise UserError(
                "the exits predictor needs the feature names of the per-exit costs; build it "
                "with aebnas.predictors.build_predictor('exits', feature_names(space))"
            )
        self.parts: list[list[dict[str, PartModel]]] = []

    @property
    def fitted(self) -> bool:
        return bool(self.parts)

    @property
    def columns(self) -> tuple[int, ...]:
        assert self.settings.cost_columns is not None
        return self.settings.cost_columns

    def fit(self, X: np.ndarray, y: np.ndarray, usage: ExitUsage | None = None) -> Self:
        """Fit the usage models on ``X (n, d)`` and ``usage`` (``n`` rows); ``y (n,)``, the
        measured average MACs, calibrates the ensemble spread."""
        check_xy(X, y, min_rows=2)
        if usage is None:
            raise UserError(
                "the exits predictor learns from the records' per-exit utilisation, which these "
                "training rows lack; use the gp or xgb predictor for average MACs instead"
            )
        if len(usage) != len(y):
            raise ValueError(f"{len(y)} rows but usage of {len(usage)}")
        targets = _UsageTargets(split_costs(X, self.columns)[0], usage)
        return self.fit_ensemble(X, y, targets=targets, inputs=self._inputs(X))

    def fit_members(
        self, X: np.ndarray, y: np.ndarray, samples: list[np.ndarray], **context: Any
    ) -> None:
        """The all-rows member (the mean), then one member per bootstrap sample (the spread);
        ``context``: ``targets`` and ``inputs`` of :meth:`fit`."""
        inputs, targets = context["inputs"], context["targets"]
        self.parts = [
            self._fit_member(inputs, targets, idx, k)
            for k, idx in enumerate([np.arange(len(y)), *samples])
        ]

    def calibrated_spread(
        self, X: np.ndarray, y: np.ndarray, samples: list[np.ndarray], **context: Any
    ) -> float:
        """:func:`coverage_factor` of the cross-fitted errors against the bootstrap spread."""
        spread = self.raw_members(X)[1:].std(axis=0, ddof=1)
        held_out = self._cross_fitted(X, context["inputs"], context["targets"])
        return coverage_factor(y - held_out, spread)

    def _fit_member(
        self, inputs: np.ndarray, targets: _UsageTargets, idx: np.ndarray, member: int
    ) -> list[dict[str, PartModel]]:
        """The parts of every slot fit on rows ``idx`` (with repeats) of ``inputs``."""
        parts = []
        for j in range(targets.present.shape[1]):
            rows = idx[targets.present[idx, j]]
            kept = rows[(targets.on[rows, j] >= 0.5) & targets.reached[rows, j]]
            parts.append(
                {
                    "on": self._fit_part(inputs[rows], targets.on[rows, j], member, j),
                    "leave": self._fit_part(inputs[kept], targets.leave[kept, j], member, j),
                }
            )
        return parts

    def _cross_fitted(
        self, X: np.ndarray, inputs: np.ndarray, targets: _UsageTargets
    ) -> np.ndarray:
        """Held-out predictions of all-rows-style models, :data:`CALIBRATION_FOLDS`-fold, ``(n,)``
        (rows of a fold too small to leave out keep the in-sample prediction)."""
        n = len(X)
        prediction = self.raw_members(X)[0]
        if n < 2 * CALIBRATION_FOLDS:
            return prediction
        _, backbone, branch = split_costs(X, self.columns)
        for train, test in kfold_splits(n, CALIBRATION_FOLDS, self.settings.seed):
            member = self._fit_member(inputs, targets, train, 0)
            usage = self._member_usage(member, X[test])
            prediction[test] = expected_avg_macs(usage, backbone[test], branch[test])
        return prediction

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        """Booster inputs: the features, then (``derived``) :func:`derived_inputs`."""
        if not self.settings.derived:
            return X
        return np.hstack([X, derived_inputs(X, self.columns)])

    def _fit_part(self, X: np.ndarray, target: np.ndarray, member: int, slot: int) -> PartModel:
        if len(target) < MIN_FIT_ROWS or np.ptp(target) < 1e-9:
            return float(target.mean()) if len(target) else 0.0
        params = self.settings.params("reg:logistic", member, slot)
        data = xgb.DMatrix(X, label=np.clip(target, 0.0, 1.0))
        return xgb.train(params, data, num_boost_round=self.settings.rounds)

    @staticmethod
    def _part_value(part: PartModel, data: xgb.DMatrix, rows: int) -> np.ndarray:
        if isinstance(part, float):
            return np.full(rows, part)
        return np.clip(part.predict(data).astype(np.float64), 0.0, 1.0)

    def _member_usage(
        self, member: list[dict[str, PartModel]], X: np.ndarray, on: np.ndarray | None = None
    ) -> ExitUsage:
        present = split_costs(X, self.columns)[0]
        data = xgb.DMatrix(self._inputs(X))
        predicted_on = np.zeros(present.shape)
        leave = np.zeros(present.shape)
        for j, parts in enumerate(member):
            value = self._part_value(parts["on"], data, len(X))
            predicted_on[:, j] = np.where(present[:, j], value, 0.0)
            leave[:, j] = self._part_value(parts["leave"], data, len(X))
        return ExitUsage.from_fractions(predicted_on if on is None else on, leave)

    def raw_members(self, X: np.ndarray) -> np.ndarray:
        """The all-rows model's prediction, then each bootstrap member's, ``(1 + members, m)``."""
        if not self.parts:
            raise RuntimeError("the predictor is not fitted")
        X = np.asarray(X, dtype=np.float64)
        _, backbone, branch = split_costs(X, self.columns)
        return np.stack(
            [expected_avg_macs(self._member_usage(m, X), backbone, branch) for m in self.parts]
        )

    def predict_usage(self, X: np.ndarray, on: np.ndarray | None = None) -> ExitUsage:
        """Predicted usage at ``X (m, d)`` (the all-rows models): ``util (m, S + 1)``,
        ``on (m, S)``; with ``on (m, S)`` given (e.g. measured), only the leave fractions are
        predicted (what is left to predict once the tuner's on/off choice is known)."""
        check_xy(X)
        if not self.parts:
            raise RuntimeError("the predictor is not fitted")
        return self._member_usage(self.parts[0], np.asarray(X, dtype=np.float64), on)

    def members(self, X: np.ndarray) -> np.ndarray:
        """Calibrated members at ``X (m, d)``: the all-rows prediction plus each bootstrap
        member's inflated deviation from the bootstrap mean, shape ``(members, m)``."""
        raw = self.raw_members(X)
        return raw[0] + inflate(raw[1:], self.spread) - raw[1:].mean(axis=0)

    def save_members(self, directory: Path) -> dict[str, Any]:
        """``m<k>_s<j>_<part>.json`` (XGBoost JSON); ``model.json`` gets the layout, with the
        constants of parts too small to fit."""
        layout: list[list[dict[str, float | str]]] = []
        for k, member in enumerate(self.parts):
            row: list[dict[str, float | str]] = []
            for j, parts in enumerate(member):
                entry: dict[str, float | str] = {}
                for part in PARTS:
                    model = parts[part]
                    if isinstance(model, float):
                        entry[part] = model
                    else:
                        name = f"m{k}_s{j}_{part}.json"
                        model.save_model(str(directory / name))
                        entry[part] = name
                row.append(entry)
            layout.append(row)
        return {"parts": layout}

    def load_members(self, directory: Path, config: dict[str, Any]) -> None:
        for row in config["parts"]:
            member = []
            for entry in row:
                parts: dict[str, PartModel] = {}
                for part in PARTS:
                    value = entry[part]
                    if isinstance(value, int | float):
                        parts[part] = float(value)
                    else:
                        parts[part] = _booster(directory, value)
                member.append(parts)
            self.parts.append(member)


def _booster(directory: Path, name: str) -> xgb.Booster:
    """A saved booster; only plain file names inside ``directory`` are read."""
    path = directory / str(name)
    if Path(str(name)).name != str(name) or not path.is_file():
        raise UserError(f"predictor {directory}: model file {name!r} is missing; refit it")
    booster = xgb.Booster()
    booster.load_model(str(path))
    return booster
