from __future__ import annotations

from aebnas.costs import exit_costs
from aebnas.data import dataset_info
from aebnas.execution.jobs import task_space
from aebnas.execution.scheduling import expected_cost, longest_first
from aebnas.space import parse_architecture
from tests.execution.execution_fixtures import digits_jobs


def test_expected_cost_is_the_whole_network_macs() -> None:
    job = digits_jobs(1)[0]
    space = task_space(job.task)
    info = dataset_info("digits")
    arch = parse_architecture(job.arch, space)
    expected = exit_costs(arch, space, info.channels, 10).final
    assert expected_cost(job) == expected > 0


def test_longest_first_orders_a_batch_by_decreasing_cost_and_keeps_every_job() -> None:
    jobs = digits_jobs(12)
    ordered = longest_first(jobs)
    costs = [expected_cost(job) for job in ordered]
    assert sorted(ordered, key=lambda j: j.arch) == sorted(jobs, key=lambda j: j.arch)
    assert costs == sorted(costs, reverse=True)
    assert costs[0] > costs[-1]


def test_longest_first_keeps_the_order_of_equal_jobs() -> None:
    job = digits_jobs(1)[0]
    twins = [job, type(job)(job.task, job.arch, seed=7)]
    assert longest_first(twins) == twins
