"""The ``local`` executor with real training: worker processes killed mid-candidate are
retried (bounded) and the job recorded once; a killed driver resumes (2 workers) to the
archive of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from execution_fixtures import TINY_DIGITS, Killer, by_hash, comparable, digits_config, digits_jobs

from aebnas.archive import read_archive
from aebnas.config import ExecutionConfig
from aebnas.execution import ExecutorSettings, make_executor
from aebnas.execution.local import LocalExecutor

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def baseline() -> dict[str, dict[str, Any]]:
    """Records of 3 tiny digits candidates evaluated in this process (1 worker)."""
    with make_executor(ExecutorSettings(1)) as executor:
        return by_hash([r.record for r in executor.run(digits_jobs(3))])


def _kill_a_worker_during(executor: LocalExecutor, max_retries: int) -> tuple[list[Any], int]:
    killer = Killer(lambda: list(executor.running()), delay=0.5)
    killer.start()
    results = list(executor.run(digits_jobs(3)))
    killer.join()
    assert killer.killed is not None, "no worker was killed"
    return results, killer.killed


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_its_job_retried(baseline: dict[str, Any]) -> None:
    with LocalExecutor(ExecutorSettings(2, ExecutionConfig(max_retries=1))) as executor:
        results, killed = _kill_a_worker_during(executor, max_retries=1)
        assert killed not in {w.process.pid for w in executor._pool}  # noqa: SLF001
    assert sorted(r.attempts for r in results) == [1, 1, 2]  # the killed job ran twice
    assert by_hash([r.record for r in results]) == baseline  # recorded once, same numbers


@pytest.mark.slow
def test_a_worker_killed_beyond_max_retries_is_a_failed_record(baseline: dict[str, Any]) -> None:
    with LocalExecutor(ExecutorSettings(2, ExecutionConfig(max_retries=0))) as executor:
        results, _ = _kill_a_worker_during(executor, max_retries=0)
    failed = [r.record for r in results if r.record["status"] == "failed"]
    assert len(results) == 3 and len(failed) == 1  # one record per job, the run went on
    assert "worker process died in each of 1 attempts" in failed[0]["reason"]
    ok = {r.record["hash"]: comparable(r.record) for r in results if r.record["status"] == "ok"}
    assert ok == {h: baseline[h] for h in ok}


def _surrogate_command(config: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "aebnas.surrogate_data", "--config", str(config), "-n", "4",
        "--workers", "2", "--out", str(out),
    ]  # fmt: skip


def _records(out: Path) -> int:
    return max(0, out.read_bytes().count(b"\n") - 1) if out.exists() else 0


@pytest.mark.slow
def test_killed_driver_with_two_workers_resumes_to_the_uninterrupted_archive(
    tmp_path: Path,
) -> None:
    config = tmp_path / "digits.yaml"
    config.write_text(TINY_DIGITS)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    full, killed = tmp_path / "full.jsonl", tmp_path / "killed.jsonl"
    done = subprocess.run(_surrogate_command(config, full), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    proc = subprocess.Popen(
        _surrogate_command(config, killed), env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while _records(killed) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers die with it
    proc.wait()
    first = _records(killed)
    assert 1 <= first < 4, "the driver must be killed mid-way"

    resumed = subprocess.run(_surrogate_command(config, killed), env=env, capture_output=True,
                             text=True)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"{first} of 4 candidates already done, {4 - first} to train" in resumed.stderr
    assert by_hash(read_archive(killed)[1]) == by_hash(read_archive(full)[1])
    assert len(read_archive(killed)[1]) == 4
