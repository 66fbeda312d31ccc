"""The order in which an executor hands out a batch: longest job first.

With ``W`` workers a batch ends when its last job does. Handing the jobs out in the order they
were sampled lets a long candidate start last and run alone while the other workers idle;
longest-processing-time-first (the classic list-scheduling rule) starts the long ones first and
fills the gaps with the short ones. A job's length is estimated by its static MACs with every
exit on (what one training or evaluation step runs), which is known in microseconds from the
memoised MAC table. Only the submission order changes: every job still yields exactly one
result, and a record does not depend on when or where it was computed.
"""

from __future__ import annotations

from collections.abc import Sequence

from aebnas.costs import exit_costs
from aebnas.data import dataset_info
from aebnas.execution.jobs import Job, task_space
from aebnas.space import parse_architecture

#: Class count assumed for ``folder`` datasets (unknown to the driver): it only sizes the
#: classifiers, a small part of the cost, and the order is all that is used.
ASSUMED_CLASSES = 10


def expected_cost(job: Job) -> float:
    """Relative cost of ``job``: MMACs per image of its network with every exit on.

    The jobs of one batch share their task (fidelity, dataset), so the images they train on
    are the same and only the network tells them apart.

    Args:
        job: The job (its architecture must parse in its task's space).
    """
    task = job.task
    info = dataset_info(task.data.dataset)
    space = task_space(task)
    arch = parse_architecture(job.arch, space)
    return exit_costs(arch, space, info.channels, info.num_classes or ASSUMED_CLASSES).final


def longest_first(jobs: Sequence[Job]) -> list[Job]:
    """``jobs`` by decreasing :func:`expected_cost` (ties keep their order)."""
    costs = [expected_cost(job) for job in jobs]
    order = sorted(range(len(jobs)), key=lambda i: -costs[i])
    return [jobs[i] for i in order]
