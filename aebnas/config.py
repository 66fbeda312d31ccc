"""One typed configuration: defaults here, then a YAML file, then CLI overrides; dumped per run.

Every default lives in these dataclasses and nowhere else. ``load_config`` and
``apply_overrides`` reject unknown keys, wrongly typed values and values out of range with a
one-line :class:`~aebnas.errors.UserError`. Ranges are declared per field
(``field(metadata=at_least(1))``, see :class:`Constraint`), so YAML values and CLI flags
(which are applied as overrides) share one check.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from aebnas.errors import UserError

CONFIG_VERSION = 1
CONSTRAINT_KEY = "constraint"
#: Largest seed (seeds reach NumPy's legacy seeding, which takes 32-bit values).
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Constraint:
    """What values a config field admits beyond its type (``None`` is governed by the type).

    Args:
        low: Smallest allowed value (``None``: no lower bound).
        high: Largest allowed value (``None``: no upper bound).
        low_open: The value must be greater than ``low``, not equal.
        high_open: The value must be less than ``high``, not equal.
        choices: The allowed strings (empty: any).
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed (``None`` if it is)."""
        if value is None:
            return None
        if isinstance(value, str):
            if self.choices and value not in self.choices:
                return f"must be one of {', '.join(self.choices)}"
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            if self.low == 0 and self.low_open:
                return "must be positive"
            return f"must be {'>' if self.low_open else '>='} {_number(self.low)}"
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return f"must be {'<' if self.high_open else '<='} {_number(self.high)}"
        return None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def constrained(**kwargs: Any) -> dict[str, Constraint]:
    """Field metadata holding a :class:`Constraint` (``field(metadata=constrained(...))``)."""
    return {CONSTRAINT_KEY: Constraint(**kwargs)}


def at_least(low: float) -> dict[str, Constraint]:
    return constrained(low=low)


def positive() -> dict[str, Constraint]:
    return constrained(low=0, low_open=True)


def one_of(*choices: str) -> dict[str, Constraint]:
    return constrained(choices=choices)


#: A finite float; every float field has at least this constraint.
FINITE = Constraint()


@dataclass
class DataConfig:
    """Which data, where, and how the validation split is carved.

    Args:
        dataset: A name registered in :data:`aebnas.data.DATASETS` (default ``fashion-mnist``,
            offline) or ``folder:PATH``.
        root: Folder holding the files (``None``: ``$AEBNAS_DATA`` or ``<repo>/datasets``).
        val_size: Validation images carved from the training set (``None``: dataset default).
    """

    dataset: str = "fashion-mnist"
    root: str | None = None
    val_size: int | None = field(default=None, metadata=at_least(1))


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
        supernet: A trained supernet file: candidates inherit its weights (batch-norm
            recalibrated on ``calibration_size`` training images) and are then fine-tuned for
            ``epochs`` epochs (0: evaluated as inherited, in seconds).
        calibration_size: Training images (a seeded subset) that re-estimate batch-norm
            statistics of an inherited network.
    """

    epochs: int = field(default=1, metadata=at_least(0))
    batch_size: int = field(default=64, metadata=at_least(1))
    train_size: int | None = field(default=5000, metadata=at_least(1))
    lr: float | None = field(default=0.1, metadata=positive())
    momentum: float = field(default=0.9, metadata=constrained(low=0, high=1, high_open=True))
    weight_decay: float = field(default=4e-5, metadata=at_least(0))
    grad_clip: float = field(default=1.0, metadata=positive())
    exit_weights: float = field(default=1.0, metadata=at_least(0))
    augment: bool = False
    supernet: str | None = None
    calibration_size: int = field(default=2000, metadata=at_least(1))

    def cross_check(self) -> str | None:
        """A problem between fields (one line), or ``None``."""
        if self.epochs == 0 and self.supernet is None:
            return "epochs 0 needs a supernet to inherit from (set supernet: PATH or epochs >= 1)"
        return None


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

    tuner: str = field(default="optimal", metadata=one_of("optimal", "grid"))
    confidence: str = field(default="margin", metadata=one_of("margin", "max-softmax", "entropy"))
    target_macs: float | None = field(default=None, metadata=positive())
    max_macs: float | None = field(default=None, metadata=positive())
    accuracy_tolerance: float = field(
        default=0.005, metadata=constrained(low=0, high=1, high_open=True)
    )


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
        workers: Candidates of a round trained at the same time (real runs), by the executor
            of the ``execution`` section; the records are those of one worker, appended as
            they finish.
        objective: The cost the search minimises: ``macs`` (average MMACs, default) or
            ``latency`` (average batch-1 latency in ms from ``latency_profile``: thresholds are
            re-tuned from each record's validation outcomes at the latency objective).
        latency_profile: Latency profile of this host (``python -m aebnas.costs.latency_cli
            profile``); needed with ``objective: latency``, extended with pieces it lacks.
        max_latency: Budget mode of the latency objective: average ms <= this.
        target_latency: Target mode of the latency objective: minimise the deviation from this
            (ms). Neither set: no latency limit. ``hv_ref_macs`` is then in ms.
    """

    strategy: str = "bo"
    budget: int = field(default=8, metadata=at_least(1))
    batch_size: int = field(default=4, metadata=at_least(1))
    surrogate: str = "gp"
    acquisition: str = "qlognehvi"
    pool_size: int = field(default=400, metadata=at_least(1))
    initial: int = field(default=8, metadata=at_least(0))
    archive: str | None = None
    predictors: str | None = None
    benchmark: str | None = None
    hv_ref_accuracy: float | None = field(default=None, metadata=constrained(low=0, high=1))
    hv_ref_macs: float | None = field(default=None, metadata=positive())
    threads: int | None = field(default=None, metadata=at_least(1))
    workers: int = field(default=1, metadata=at_least(1))
    objective: str = field(default="macs", metadata=one_of("macs", "latency"))
    latency_profile: str | None = None
    max_latency: float | None = field(default=None, metadata=positive())
    target_latency: float | None = field(default=None, metadata=positive())

    def cross_check(self) -> str | None:
        """A problem between fields (one line), or ``None``."""
        if self.objective == "latency" and not self.latency_profile:
            return (
                "objective latency needs a latency profile: pass --latency-profile PATH "
                "(measure one with python -m aebnas.costs.latency_cli profile --out PATH)"
            )
        if self.objective == "macs" and (self.max_latency or self.target_latency):
            return "--max-latency/--target-latency need --objective latency"
        return None


@dataclass
class ExecutionConfig:
    """Where candidates are evaluated (``surrogate_data``, ``bo_search``; see
    :mod:`aebnas.execution`). The worker count is the command's (``--workers``,
    ``search.workers``).

    Args:
        executor: ``local`` (worker processes on this machine) or ``ray`` (Ray tasks on a local
            or running Ray cluster; needs ``pip install 'aebnas[ray]'``).
        ray_address: Address of a running Ray cluster (``host:6379`` or ``ray://host:10001``);
            ``None``: ``$RAY_ADDRESS`` if set, else a local Ray instance is started.
        num_cpus: CPUs Ray reserves for each candidate (its torch threads are ``threads``).
        num_gpus: GPUs Ray reserves for each candidate (1 on a GPU cluster: one GPU each).
        max_retries: Times a candidate whose worker process died (killed, out of memory) is
            started again before it is recorded as failed; a candidate that fails by itself
            (NaN loss, a shape error) is recorded at once, never retried.
        storage: A folder the workers and this machine both see: workers write checkpoints
            there and the driver moves them into the run folder (``None``: checkpoints come
            back as bytes).
    """

    executor: str = "local"
    ray_address: str | None = None
    num_cpus: float = field(default=1.0, metadata=positive())
    num_gpus: float = field(default=0.0, metadata=at_least(0))
    max_retries: int = field(default=2, metadata=at_least(0))
    storage: str | None = None


@dataclass
class SupernetConfig:
    """Training of the early-exit supernet (``python -m aebnas.supernet train``).

    Args:
        epochs: Passes over the training images.
        batch_size: Images per step (every sub-network of the step sees the same images).
        train_size: Training images used (a seeded subset); ``None`` for all.
        lr: Peak SGD learning rate (after ``warmup_steps`` linear warm-up, then cosine).
        momentum: Nesterov momentum.
        weight_decay: L2 weight decay.
        grad_clip: Gradient-norm clip of the summed step gradient.
        warmup_steps: Linear learning-rate warm-up steps.
        random_subnets: Random sub-networks per step besides the largest and the smallest.
        exit_probability: Chance that an exit position is on in a training sub-network.
        distill_weight: Weight of the distillation loss (KL to the largest network's final
            exit) against the cross-entropy, for every exit except the teacher's own.
        flip: Random horizontal flips.
        checkpoint_every: Steps between training-state checkpoints.
        threads: Torch CPU threads (``None``: the policy of :mod:`aebnas.train.threads`).
    """

    epochs: int = field(default=2, metadata=at_least(1))
    batch_size: int = field(default=64, metadata=at_least(1))
    train_size: int | None = field(default=None, metadata=at_least(1))
    lr: float = field(default=0.1, metadata=positive())
    momentum: float = field(default=0.9, metadata=constrained(low=0, high=1, high_open=True))
    weight_decay: float = field(default=4e-5, metadata=at_least(0))
    grad_clip: float = field(default=1.0, metadata=positive())
    warmup_steps: int = field(default=100, metadata=at_least(0))
    random_subnets: int = field(default=2, metadata=at_least(0))
    exit_probability: float = field(default=1.0, metadata=constrained(low=0, high=1, low_open=True))
    distill_weight: float = field(default=0.5, metadata=constrained(low=0, high=1))
    flip: bool = True
    checkpoint_every: int = field(default=50, metadata=at_least(1))
    threads: int | None = field(default=None, metadata=at_least(1))

    def cross_check(self) -> str | None:
        """A problem between fields (one line), or ``None``."""
        if self.train_size is not None and self.train_size < self.batch_size:
            return f"train_size ({self.train_size}) must be at least batch_size ({self.batch_size})"
        return None


@dataclass
class Config:
    """The whole configuration of a run."""

    version: int = CONFIG_VERSION
    seed: int = field(default=0, metadata=constrained(low=0, high=MAX_SEED))
    space: str = "aebnas-plus"
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    low_fidelity: FidelityConfig = field(default_factory=FidelityConfig)
    full_fidelity: FidelityConfig = field(
        default_factory=lambda: FidelityConfig(epochs=1, train_size=20000)
    )
    thresholds: ThresholdConfig = field(default_factory=ThresholdConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)


#: FidelityConfig keys that only exist for inherited candidates (left out of from-scratch
#: records, so archives written before the supernet existed keep their headers).
SUPERNET_FIDELITY_KEYS = ("supernet", "calibration_size")


def fidelity_dict(fidelity: FidelityConfig) -> dict[str, Any]:
    """The fidelity as recorded in archives and results."""
    data = dataclasses.asdict(fidelity)
    if fidelity.supernet is None:
        for key in SUPERNET_FIDELITY_KEYS:
            data.pop(key)
    return data


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
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    names = set(fields)
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
            values[name] = _check_range(
                _check_scalar(value, hint, path), fields[name].metadata, path
            )
    result = cls(**values)
    cross_check = getattr(result, "cross_check", None)
    problem = cross_check() if cross_check is not None else None
    if problem is not None:
        raise UserError(f"config section {where.rstrip('.') or '<top>'}: {problem}")
    return result


def _check_range(value: Any, metadata: Mapping[str, Any], where: str) -> Any:
    problem = metadata.get(CONSTRAINT_KEY, FINITE).problem(value)
    if problem is not None:
        raise UserError(
            f"config value {where} {problem}, got {value!r}; fix it in the --config file or "
            "the flag that sets it"
        )
    return value


def load_config(path: str | Path | None = None) -> Config:
    """Defaults, updated by the YAML file at ``path`` (if any)."""
    if path is None:
        return Config()
    path = Path(path)
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise UserError(f"config file {path} {what}; pass one of configs/*.yaml")
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
