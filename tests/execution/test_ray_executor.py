"""The ``ray`` executor on a real local Ray instance (2 CPUs, started once for this module):
surrogate data and a real-training search through Ray equal local runs, a Ray worker killed
mid-candidate is retried (bounded) and recorded once, bad input is one line."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aebnas.archive import read_archive
from aebnas.bo_search import main as search_main
from aebnas.config import ExecutionConfig
from aebnas.errors import UserError, run_cli
from aebnas.execution import ExecutorSettings, make_executor
from aebnas.execution.ray_executor import RayExecutor, check_reachable, runtime_env
from aebnas.surrogate_data import main as surrogate_main
from tests.execution.execution_fixtures import (
    TINY_DIGITS,
    Killer,
    by_hash,
    comparable,
    digits_config,
    digits_jobs,
    process_titles,
)

ray = pytest.importorskip("ray")
REPO = Path(__file__).resolve().parents[2]
RAY = ExecutionConfig(executor="ray")

SEARCH = """
version: 1
seed: 0
space: aebnas-plus
data:
  dataset: digits
  val_size: 300
full_fidelity:
  epochs: 1
  batch_size: 64
  train_size: 128
search:
  strategy: bo
  budget: 4
  batch_size: 2
  initial: 2
  pool_size: 40
execution:
  executor: ray
"""


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """One local Ray instance for the module (start-up takes seconds); executors reuse it."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.WARNING,
        runtime_env=runtime_env(remote=False),
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def baseline() -> dict[str, dict[str, Any]]:
    """Records of 3 tiny digits candidates evaluated in this process (1 local worker)."""
    with make_executor(ExecutorSettings(1)) as executor:
        return by_hash([r.record for r in executor.run(digits_jobs(3))])


def test_unreachable_address_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:1"):
        check_reachable("127.0.0.1:1")
    out = tmp_path / "a.jsonl"
    command = [
        sys.executable, "-m", "aebnas.surrogate_data", "--dataset", "digits", "-n", "1",
        "--executor", "ray", "--ray-address", "127.0.0.1:1", "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: cannot reach the Ray cluster")
    assert not out.exists()


def test_missing_ray_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` does when not installed
    with pytest.raises(UserError, match=r"pip install 'aebnas\[ray\]'"):
        RayExecutor(ExecutorSettings(2, RAY))


def test_resources_the_cluster_lacks_are_one_line(ray_session: None, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"execution\.num_gpus 1 but no node .* more than 0 GPU"):
        RayExecutor(ExecutorSettings(2, ExecutionConfig(executor="ray", num_gpus=1)))
    config, out = tmp_path / "gpu.yaml", tmp_path / "a.jsonl"
    config.write_text(TINY_DIGITS + "execution:\n  executor: ray\n  num_gpus: 1\n")
    argv = ["--config", str(config), "-n", "1", "--out", str(out)]
    assert run_cli(surrogate_main, argv) == 2
    assert not out.exists()  # refused before the archive was created


@pytest.mark.slow
def test_surrogate_data_on_ray_equals_one_local_worker(ray_session: None, tmp_path: Path) -> None:
    config = tmp_path / "digits.yaml"
    config.write_text(TINY_DIGITS)
    records = {}
    for name, flags in (
        ("local", ["--workers", "1"]),
        ("ray", ["--workers", "2", "--executor", "ray"]),
    ):
        out = tmp_path / f"{name}.jsonl"
        assert (
            run_cli(surrogate_main, ["--config", str(config), "-n", "3", "--out", str(out), *flags])
            == 0
        )
        records[name] = read_archive(out)[1]
    assert len(records["ray"]) == 3 and all(r["status"] == "ok" for r in records["ray"])
    assert by_hash(records["ray"]) == by_hash(records["local"])


def _kill_a_ray_worker_during(max_retries: int) -> list[Any]:
    def busy() -> list[int]:
        return [p for p, t in process_titles().items() if t.startswith("ray::execute_job")]

    killer = Killer(busy, delay=0.3)
    killer.start()
    with RayExecutor(
        ExecutorSettings(2, ExecutionConfig(executor="ray", max_retries=max_retries))
    ) as ex:
        results = list(ex.run(digits_jobs(3)))
    killer.join()
    assert killer.killed is not None, "no Ray worker was killed"
    return results


@pytest.mark.slow
def test_a_killed_ray_worker_is_retried_and_recorded_once(
    ray_session: None, baseline: dict[str, Any]
) -> None:
    results = _kill_a_ray_worker_during(max_retries=1)
    assert by_hash([r.record for r in results]) == baseline  # 3 records, the same numbers


@pytest.mark.slow
def test_a_ray_worker_killed_beyond_max_retries_is_a_failed_record(
    ray_session: None, baseline: dict[str, Any]
) -> None:
    results = _kill_a_ray_worker_during(max_retries=0)
    failed = [r.record for r in results if r.record["status"] == "failed"]
    assert len(results) == 3 and len(failed) == 1  # one record per job, the run went on
    assert "the Ray worker died in each of 1 attempts" in failed[0]["reason"]
    ok = {r.record["hash"]: comparable(r.record) for r in results if r.record["status"] == "ok"}
    assert len(ok) == 2 and ok == {h: baseline[h] for h in ok}


@pytest.mark.slow
def test_a_candidate_that_fails_by_itself_is_recorded_at_once_on_ray(ray_session: None) -> None:
    diverging = digits_config(**{"low_fidelity.lr": 1e30})  # the loss becomes non-finite
    with RayExecutor(ExecutorSettings(2, ExecutionConfig(executor="ray"))) as executor:
        results = list(executor.run(digits_jobs(2, diverging)))
    assert [r.record["status"] for r in results] == ["failed", "failed"]
    assert all("non-finite loss" in r.record["reason"] for r in results)


def _in_proposal_order(run: Path) -> list[dict[str, Any]]:
    records = read_archive(run / "archive.jsonl")[1]
    return [comparable(r) for r in sorted(records, key=lambda r: (r["round"], r["index"]))]


def _summary(run: Path) -> dict[str, Any]:
    data = json.loads((run / "summary.json").read_text())
    return {k: data[k] for k in ("evaluations", "hypervolume", "pareto_size", "hypervolume_curve")}


@pytest.mark.slow
def test_real_search_on_ray_resumed_mid_round_equals_the_uninterrupted_run(
    ray_session: None, tmp_path: Path
) -> None:
    config, full = tmp_path / "search.yaml", tmp_path / "full"
    config.write_text(SEARCH)
    shared = tmp_path / "shared"  # --storage: workers write checkpoints, the driver moves them
    shared.mkdir()
    argv = ["--config", str(config), "--out", str(full), "--workers", "2", "--json"]
    assert run_cli(search_main, [*argv, "--storage", str(shared)]) == 0
    records = _in_proposal_order(full)
    assert len(records) == 4 and all(r["status"] == "ok" for r in records)
    assert list(shared.iterdir()) == []
    for row in json.loads((full / "pareto.json").read_text())["front"]:
        assert (full / row["checkpoint"]).is_file()  # trained by Ray, in the run folder

    # The driver "died" with round 1 half evaluated, or before round 1 was proposed (its
    # proposals then come again from round 0's records, read back in arrival order).
    for kept, unproposed in ((3, ()), (2, ("round-0001.json",))):
        cut = tmp_path / f"cut-{kept}"
        shutil.copytree(full, cut)
        lines = (cut / "archive.jsonl").read_text().splitlines(keepends=True)
        (cut / "archive.jsonl").write_text("".join(lines[: 1 + kept]))
        for name in ("summary.json", "pareto.json", "report.md"):
            (cut / name).unlink()
        for name in unproposed:
            (cut / "rounds" / name).unlink()
        assert run_cli(search_main, ["--resume", str(cut), "--workers", "2", "--json"]) == 0
        assert _in_proposal_order(cut) == records
        assert _summary(cut) == _summary(full)
