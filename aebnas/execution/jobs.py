"""Evaluation jobs: what one candidate's evaluation needs, and how a worker runs it.

A :class:`Job` is plain data (strings, numbers and config dataclasses; picklable, no open files,
no tensors, no closures), so any executor can ship it to a process or a Ray worker. The worker
turns it into a :class:`JobResult` with :func:`run_job`: it loads the job's dataset (once per
worker process, cached) and its search space, evaluates the architecture with
:func:`aebnas.evaluation.evaluate_architecture` and returns the archive record. A checkpoint,
when asked for, comes back with the result (bytes) or is left in a shared ``storage`` folder;
the worker never writes into the run folder, so the driver stays the only writer of a run.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aebnas.archive.records import candidate_record, failure_record
from aebnas.config import Config, DataConfig, FidelityConfig, ThresholdConfig
from aebnas.data import Dataset, dataset_info, default_data_root, load_dataset
from aebnas.evaluation import evaluate_architecture
from aebnas.space import Architecture, SearchSpace, get_space, parse_architecture
from aebnas.train import configure_threads, resolve_device

#: Suffix of the checkpoint files a worker writes.
CHECKPOINT_SUFFIX = ".safetensors"


@dataclass(frozen=True)
class Task:
    """What every job of one run shares.

    Args:
        space: Search-space name (built with the dataset's resolutions in the worker).
        data: Dataset name, root (must exist on the worker's machine) and validation size.
        data_seed: Seed of the validation split (the run's seed).
        fidelity_name: The records' fidelity label (``low``, ``full``, ``supernet``).
        fidelity: Training settings (a ``supernet`` file must exist on the worker's machine).
        thresholds: Threshold tuning settings.
        device: ``auto``, ``cpu`` or ``cuda[:N]`` (resolved in the worker).
        threads: Torch intra-op threads of the worker (``None``: the policy's 1).
        test: Also evaluate the test split at the tuned thresholds (final reports only).
        checkpoint: Return the trained network (:mod:`aebnas.models.checkpoint` file).
        storage: Shared folder the worker writes checkpoints to (``None``: bytes are returned).
    """

    space: str
    data: DataConfig
    data_seed: int
    fidelity_name: str
    fidelity: FidelityConfig
    thresholds: ThresholdConfig
    device: str = "auto"
    threads: int | None = None
    test: bool = False
    checkpoint: bool = False
    storage: str | None = None


@dataclass(frozen=True)
class Job:
    """One candidate to evaluate.

    Args:
        task: The run's shared settings.
        arch: Canonical architecture string.
        seed: Training seed (weights, data order, subset).
    """

    task: Task
    arch: str
    seed: int

    @property
    def architecture(self) -> Architecture:
        return Architecture.parse(self.arch)


@dataclass
class JobResult:
    """A finished job.

    Args:
        job: The job.
        record: Its archive record (``status`` ``ok`` or ``failed``; JSON-ready after packing).
        checkpoint: The checkpoint file's bytes (``task.checkpoint`` without ``storage``).
        checkpoint_path: The checkpoint's path in ``task.storage``.
        attempts: How many times the job was started (more than 1 after worker deaths).
    """

    job: Job
    record: dict[str, Any]
    checkpoint: bytes | None = None
    checkpoint_path: str | None = None
    attempts: int = 1


def lost_result(job: Job, attempts: int, reason: str) -> JobResult:
    """The failed result of a job whose worker died ``attempts`` times (no more retries)."""
    record = failure_record(job.architecture, job.seed, job.task.fidelity_name, reason)
    return JobResult(job, record, attempts=attempts)


# ------------------------------------------------------------------------------ worker side
_DATASETS: dict[tuple[Any, ...], Dataset] = {}


def _data_key(task: Task) -> tuple[Any, ...]:
    return (task.data.dataset, task.data.root, task.data.val_size, task.data_seed)


def remember_dataset(task: Task, dataset: Dataset) -> None:
    """Let jobs of ``task`` run in this process use the already loaded ``dataset``."""
    _DATASETS.clear()
    _DATASETS[_data_key(task)] = dataset


def task_dataset(task: Task) -> Dataset:
    """The task's dataset, loaded once per process (a missing file: one-line UserError)."""
    key = _data_key(task)
    if key not in _DATASETS:
        _DATASETS.clear()  # one dataset in memory per worker
        data = task.data
        _DATASETS[key] = load_dataset(data.dataset, data.root, data.val_size, seed=task.data_seed)
    return _DATASETS[key]


def task_space(task: Task) -> SearchSpace:
    return get_space(task.space, dataset_info(task.data.dataset).resolutions)


def run_job(job: Job) -> JobResult:
    """Evaluate ``job`` in this process (a candidate-level failure is a failed record).

    Sets torch's threads to ``job.task.threads`` first (the thread count decides the numbers).
    """
    task = job.task
    configure_threads(task.threads)
    space = task_space(task)
    arch = parse_architecture(job.arch, space)
    dataset = task_dataset(task)
    folder = Path(task.storage) if task.storage else Path(tempfile.mkdtemp(prefix="aebnas-job-"))
    path = folder / f"{arch.hash}.{uuid.uuid4().hex[:8]}{CHECKPOINT_SUFFIX}"
    try:
        record = candidate_record(
            lambda: evaluate_architecture(
                arch,
                space,
                dataset,
                task.fidelity,
                task.thresholds,
                seed=job.seed,
                device=resolve_device(task.device),
                test=task.test,
                checkpoint=path if task.checkpoint else None,
                keep_outcomes=True,
            ),
            arch,
            job.seed,
            task.fidelity_name,
        )
        result = JobResult(job, record)
        if path.is_file() and record["status"] == "ok":
            if task.storage:
                result.checkpoint_path = str(path)
            else:
                result.checkpoint = path.read_bytes()
        elif path.is_file():
            path.unlink()
        return result
    finally:
        if not task.storage:
            shutil.rmtree(folder, ignore_errors=True)


def task_from_config(
    config: Config,
    fidelity_name: str,
    fidelity: FidelityConfig,
    threads: int | None,
    *,
    test: bool = False,
    checkpoint: bool = False,
) -> Task:
    """The :class:`Task` of a run of ``config`` at ``fidelity``.

    The data root becomes an absolute path (``None``: :func:`aebnas.data.default_data_root`)
    and so does ``execution.storage``: workers may run in another working directory.
    """
    data = config.data
    root = Path(data.root).expanduser() if data.root is not None else default_data_root()
    storage = config.execution.storage
    return Task(
        space=config.space,
        data=DataConfig(data.dataset, str(root.resolve()), data.val_size),
        data_seed=config.seed,
        fidelity_name=fidelity_name,
        fidelity=fidelity,
        thresholds=config.thresholds,
        device=config.device,
        threads=threads,
        test=test,
        checkpoint=checkpoint,
        storage=str(Path(storage).expanduser().resolve()) if storage else None,
    )
