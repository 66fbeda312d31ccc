"""The ``local`` executor with real training: worker processes killed mid-candidate are
retried (bounded) and the job recorded once (a killed driver with 2 workers:
tests/test_surrogate_data.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aebnas.execution import ExecutorSettings, make_executor
from aebnas.execution.local import LocalExecutor
from tests.execution.execution_fixtures import (
    Killer,
    by_hash,
    comparable,
    digits_config,
    digits_jobs,
)


@pytest.fixture(scope="module")
def baseline() -> dict[str, dict[str, Any]]:
    """Records of 3 tiny digits candidates evaluated in this process (1 worker)."""
    with make_executor(ExecutorSettings(1)) as executor:
        return by_hash([r.record for r in executor.run(digits_jobs(3))])


@pytest.fixture(scope="module")
def pool() -> Iterator[LocalExecutor]:
    """Two worker processes shared by the kill tests (started once: imports take seconds)."""
    with LocalExecutor(ExecutorSettings(2)) as executor:
        yield executor


def _kill_a_worker_during(executor: LocalExecutor) -> tuple[list[Any], int]:
    killer = Killer(lambda: list(executor.running()), delay=0.3)
    killer.start()
    results = list(executor.run(digits_jobs(3)))
    killer.join()
    assert killer.killed is not None, "no worker was killed"
    return results, killer.killed


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_its_job_retried(
    pool: LocalExecutor, baseline: dict[str, Any]
) -> None:
    pool.max_retries = 1
    results, killed = _kill_a_worker_during(pool)
    assert killed not in pool.running() and len(pool.worker_pids()) == 2  # replaced
    assert sorted(r.attempts for r in results) == [1, 1, 2]  # the killed job ran twice
    assert by_hash([r.record for r in results]) == baseline  # recorded once, same numbers


@pytest.mark.slow
def test_a_worker_killed_beyond_max_retries_is_a_failed_record(
    pool: LocalExecutor, baseline: dict[str, Any]
) -> None:
    pool.max_retries = 0
    results, _ = _kill_a_worker_during(pool)
    failed = [r.record for r in results if r.record["status"] == "failed"]
    assert len(results) == 3 and len(failed) == 1  # one record per job, the run went on
    assert "worker process died in each of 1 attempts" in failed[0]["reason"]
    ok = {r.record["hash"]: comparable(r.record) for r in results if r.record["status"] == "ok"}
    assert len(ok) == 2 and ok == {h: baseline[h] for h in ok}


@pytest.mark.slow
def test_a_candidate_that_fails_by_itself_is_recorded_at_once(pool: LocalExecutor) -> None:
    pool.max_retries = 2
    diverging = digits_config(**{"low_fidelity.lr": 1e30})  # the loss becomes non-finite
    results = list(pool.run(digits_jobs(2, diverging)))
    assert [r.record["status"] for r in results] == ["failed", "failed"]
    assert all("non-finite loss" in r.record["reason"] for r in results)
    assert [r.attempts for r in results] == [1, 1]  # not retried
