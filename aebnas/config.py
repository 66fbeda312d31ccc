"""One typed configuration: defaults here, then a YAML file, then CLI overrides; dumped per run.

Every default lives in these dataclasses and nowhere else. ``load_config`` rejects unknown keys
and wrongly typed values with a one-line :class:`~aebnas.errors.UserError`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from aebnas.errors import UserError

CONFIG_VERSION = 1


@dataclass
class DataConfig:
    """Which data, where, and how the validation split is carved.

    Args:
        dataset: ``fashion-mnist`` (default, offline), ``cifar10``, ``cifar100``, ``svhn``,
            ``digits``, or ``folder:PATH``.
        root: Folder holding the files (``None``: ``$AEBNAS_DATA`` or ``<repo>/datasets``).
        val_size: Validation images carved from the training set (``None``: dataset default).
    """

    dataset: str = "fashion-mnist"
    root: str | None = None
    val_size: int | None = None


@dataclass
class FidelityConfig:
    """How hard one candidate is trained (the fidelity knobs) and with which optimiser settings.

    Args:
        epochs: Training epochs.
        batch_size: Images per step.
        train_size: Training images used (a seeded subset); ``None`` for all.
        lr: Peak SGD learning rate (``None``: the dataset's reference default, 0.01 CIFAR,
            0.05 SVHN, for batch 256).
        momentum: Nesterov momentum.
        weight_decay: L2 weight decay.
        grad_clip: Gradient-norm clip.
        exit_weights: Loss weight of every intermediate exit (the final head has weight 1).
        augment: Random flips/translations (CIFAR/SVHN style).
    """

    epochs: int = 1
    batch_size: int = 64
    train_size: int | None = 5000
    lr: float | None = 0.1
    momentum: float = 0.9
    weight_decay: float = 4e-5
    grad_clip: float = 1.0
    exit_weights: float = 1.0
    augment: bool = False


@dataclass
class ThresholdConfig:
    """Threshold tuning on the validation split.

    Args:
        tuner: ``optimal`` (continuous, default) or ``grid`` (the reference's {0.1, 0.2, 1}).
        confidence: ``margin`` (top-1 minus top-2 softmax), ``max-softmax`` or ``entropy``.
        target_macs: Reference target mode: maximise accuracy% - 0.1 * MAPE to this (MMACs).
        max_macs: Budget mode: maximise accuracy with average MACs <= this (MMACs); wins over
            ``target_macs`` when both are set. Neither set: no MAC limit.
        accuracy_tolerance: Then take the cheapest operating point whose validation accuracy is
            within this (fraction) of the best one; 0.005 is about one standard error of
            accuracy on 5,000 validation images, so the choice does not chase noise.
    """

    tuner: str = "optimal"
    confidence: str = "margin"
    target_macs: float | None = None
    max_macs: float | None = None
    accuracy_tolerance: float = 0.005


@dataclass
class SearchConfig:
    """Search settings (see ``python -m aebnas.bo_search``).

    Args:
        strategy: ``bo`` (surrogates + BoTorch acquisition), ``nsga2`` (the reference loop)
            or ``random``.
        budget: Evaluations of the run (full-fidelity trainings; archive look-ups in
            benchmark mode).
        batch_size: Candidates proposed per round.
        surrogate: Predictor kind of ``bo``: ``gp`` or ``xgb`` (``mlp`` also works).
        acquisition: ``qlognehvi`` or ``qlognparego``.
        pool_size: Candidates generated per round before local search (real runs).
        initial: Random initial design size when there is no prior (low-fidelity) knowledge.
        archive: Low-fidelity archive used as prior knowledge of real runs.
        predictors: Folder with saved prior predictors ``accuracy/`` and ``avg_macs/`` (else
            they are fit on ``archive``).
        benchmark: Answer evaluations from this archive instead of training.
        hv_ref_accuracy: Hypervolume reference accuracy (``None``: the lowest accuracy on the
            reference archive's front minus 0.01; 0 without an archive).
        hv_ref_macs: Hypervolume reference MMACs (``None``: the cap, else the reference
            archive's largest average MACs).
        threads: Torch CPU threads of the search process and of each training worker
            (``None``: aebnas's policy, 1 thread; see :mod:`aebnas.train.threads`).
        workers: Processes that train a round's candidates side by side (real runs); the
            records are those of one worker, in proposal order.
    """

    strategy: str = "bo"
    budget: int = 8
    batch_size: int = 4
    surrogate: str = "gp"
    acquisition: str = "qlognehvi"
    pool_size: int = 400
    initial: int = 8
    archive: str | None = None
    predictors: str | None = None
    benchmark: str | None = None
    hv_ref_accuracy: float | None = None
    hv_ref_macs: float | None = None
    threads: int | None = None
    workers: int = 1


@dataclass
class Config:
    """The whole configuration of a run."""

    version: int = CONFIG_VERSION
    seed: int = 0
    space: str = "aebnas-plus"
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    low_fidelity: FidelityConfig = field(default_factory=FidelityConfig)
    full_fidelity: FidelityConfig = field(
        default_factory=lambda: FidelityConfig(epochs=1, train_size=20000)
    )
    thresholds: ThresholdConfig = field(default_factory=ThresholdConfig)
    search: SearchConfig = field(default_factory=SearchConfig)


T = TypeVar("T")


def _check_scalar(value: Any, hint: Any, where: str) -> Any:
    allowed = (
        typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
    )
    if value is None and type(None) in allowed:
        return None
    for kind in allowed:
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if kind in (int, str, bool) and type(value) is kind:
            return value
    names = " or ".join("null" if a is type(None) else a.__name__ for a in allowed)
    raise UserError(f"config key {where} must be {names}, got {value!r}")


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from a mapping; unknown keys or bad types raise UserError."""
    if not isinstance(data, Mapping):
        raise UserError(f"config section {where or '<top>'} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(
            f"unknown config key {where}{unknown[0]}; allowed keys here: {', '.join(sorted(names))}"
        )
    values = {}
    for name, value in data.items():
        hint, path = hints[name], f"{where}{name}"
        if dataclasses.is_dataclass(hint):
            values[name] = from_dict(hint, value, f"{path}.")  # type: ignore[arg-type]
        else:
            values[name] = _check_scalar(value, hint, path)
    return cls(**values)


def load_config(path: str | Path | None = None) -> Config:
    """Defaults, updated by the YAML file at ``path`` (if any)."""
    if path is None:
        return Config()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist; pass one of configs/*.yaml")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0]
        raise UserError(f"config file {path} is not valid YAML ({first}); fix the syntax") from None
    config = from_dict(Config, data)
    if config.version != CONFIG_VERSION:
        raise UserError(
            f"config file {path} has version {config.version}; this aebnas reads version "
            f"{CONFIG_VERSION}"
        )
    return config


def apply_overrides(config: Config, overrides: Mapping[str, Any]) -> Config:
    """Set dotted keys (``"data.dataset"``); ``None`` values are skipped (flag not given)."""
    data = dataclasses.asdict(config)
    for dotted, value in overrides.items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
    return from_dict(Config, data)


def dump_config(config: Config, path: str | Path) -> None:
    """Write the effective config as YAML (the run folder's record of what ran)."""
    Path(path).write_text(yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))
