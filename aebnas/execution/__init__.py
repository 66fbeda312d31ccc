"""Where candidates are evaluated: serialisable jobs, and executors that run batches of them.

Layers (one job each): :mod:`~aebnas.execution.jobs` (the :class:`Job` and what a worker does
with it), :mod:`~aebnas.execution.executors` (the interface, :data:`EXECUTORS`,
:func:`make_executor`), :mod:`~aebnas.execution.local` (worker processes on this machine),
:mod:`~aebnas.execution.ray_executor` (Ray tasks; Ray is imported only when used),
:mod:`~aebnas.execution.cli` (the flags both CLIs share). ``surrogate_data`` and ``bo_search``
both evaluate through this seam.
"""

from aebnas.execution import local, ray_executor  # noqa: F401  (register the executors)
from aebnas.execution.executors import EXECUTORS, Executor, ExecutorSettings, make_executor
from aebnas.execution.jobs import Job, JobResult, Task, run_job

__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorSettings",
    "Job",
    "JobResult",
    "Task",
    "make_executor",
    "run_job",
]
