"""The executor interface and its registry: a batch of jobs in, finished results out.

An executor evaluates :class:`~aebnas.execution.jobs.Job` objects somewhere (this process,
worker processes, Ray tasks) and yields each :class:`~aebnas.execution.jobs.JobResult` as soon
as it is done, in completion order. Every job of a batch yields exactly one result: a job whose
worker died is started again up to ``max_retries`` times, then yields a failed record; a
candidate that fails by itself comes back as a failed record at once. Bad input discovered by a
worker (a missing data file) is raised in the driver as a one-line
:class:`~aebnas.errors.UserError`.

Executors are made by :func:`make_executor` from :class:`ExecutorSettings` and registered in
:data:`EXECUTORS` (``local``, ``ray``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Self

from aebnas.config import ExecutionConfig
from aebnas.errors import UserError
from aebnas.execution.jobs import Job, JobResult
from aebnas.registry import Registry


class Executor(Protocol):
    """Evaluates batches of jobs (use as a context manager; ``close`` frees its workers)."""

    name: str
    workers: int

    def run(self, jobs: Sequence[Job]) -> Iterator[JobResult]:
        """One result per job, each as soon as it is done (completion order)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


@dataclass(frozen=True)
class ExecutorSettings:
    """How many workers, and the ``execution`` config section.

    Args:
        workers: Jobs evaluated at the same time (at least 1).
        execution: Executor name, Ray address, per-job resources, retries, storage.
        threads: Torch threads per worker (``None``: the policy's 1).
    """

    workers: int
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    threads: int | None = None


ExecutorFactory = Callable[[ExecutorSettings], Executor]
EXECUTORS: Registry[ExecutorFactory] = Registry("executor")


def make_executor(settings: ExecutorSettings) -> Executor:
    """The executor named by ``settings.execution.executor`` (unknown: one-line UserError)."""
    if settings.workers < 1:
        raise UserError(f"--workers must be at least 1, got {settings.workers}")
    return EXECUTORS.get(settings.execution.executor)(settings)


def check_execution(execution: ExecutionConfig) -> None:
    """One-line errors for an ``execution`` section no executor can use (before any file)."""
    EXECUTORS.get(execution.executor)
    if execution.storage is not None and not Path(execution.storage).is_dir():
        raise UserError(
            f"execution.storage {execution.storage} is not a folder; create it where the "
            "workers and this machine both see it, or drop --storage"
        )


class ExecutorBase:
    """Context-manager plumbing shared by the executors."""

    def close(self) -> None:
        """Stop the workers (idempotent)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
