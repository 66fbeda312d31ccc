"""Resume: a run killed with SIGKILL (or cut mid-round) and resumed equals an uninterrupted one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from aebnas.bo_search import main
from aebnas.errors import run_cli
from tests.search.synthetic import write_archive

REPO = Path(__file__).resolve().parents[2]
BUDGET = 16


def args(bench: Path) -> list[str]:
    return [
        "--benchmark", str(bench), "--strategy", "bo", "--budget", str(BUDGET),
        "--batch-size", "4", "--initial", "4", "--seed", "2", "--threads", "1", "--json",
    ]  # fmt: skip


def lines(run: Path) -> list[dict[str, Any]]:
    path = run / "archive.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines()[1:] if x.endswith("}")]


def trajectory(run: Path) -> list[tuple[Any, ...]]:
    return [(r["arch"], r["round"], r["index"], json.dumps(r["proposal"])) for r in lines(run)]


def summary(run: Path) -> dict[str, Any]:
    data = json.loads((run / "summary.json").read_text())
    return {k: data[k] for k in ("evaluations", "hypervolume", "pareto_size", "hypervolume_curve")}


def kill_mid_way(bench: Path, run: Path, after: int, timeout: float = 600) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "aebnas.bo_search", *args(bench), "--out", str(run)]
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + timeout
    try:
        while len(lines(run)) < after and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The benchmark archive and an uninterrupted run on it."""
    root = tmp_path_factory.mktemp("resume")
    bench = write_archive(root / "bench.jsonl", 60)
    assert run_cli(main, [*args(bench), "--out", str(root / "full")]) == 0
    return bench, root / "full"


def test_sigkill_then_resume_matches_an_uninterrupted_run(
    uninterrupted: tuple[Path, Path], tmp_path: Path
) -> None:
    bench, full = uninterrupted
    killed = tmp_path / "killed"
    kill_mid_way(bench, killed, after=9)
    done = len(lines(killed))
    assert 9 <= done < BUDGET, "the run must be killed mid-way"
    assert run_cli(main, ["--resume", str(killed), "--json"]) == 0
    assert trajectory(killed) == trajectory(full)
    assert summary(killed) == summary(full)


def test_resume_mid_round_with_a_torn_line(
    uninterrupted: tuple[Path, Path], tmp_path: Path
) -> None:
    _, full = uninterrupted
    cut = tmp_path / "cut"
    shutil.copytree(full, cut)
    text = (cut / "archive.jsonl").read_text().splitlines(keepends=True)
    kept = text[: 1 + 10]  # header + 10 records: round 2 is half evaluated
    torn = text[11][: len(text[11]) // 2]  # an interrupted write
    (cut / "archive.jsonl").write_text("".join(kept) + torn)
    for later in sorted((cut / "rounds").glob("round-*.json"))[3:]:
        later.unlink()  # rounds never proposed before the "kill"
    for name in ("summary.json", "pareto.json", "report.md"):
        (cut / name).unlink()
    assert run_cli(main, ["--resume", str(cut), "--json"]) == 0
    assert (cut / "archive.jsonl.torn").is_file()
    assert trajectory(cut) == trajectory(full)
    assert summary(cut) == summary(full)
    assert run_cli(main, ["--resume", str(cut), "--budget", "20", "--json"]) == 0
    assert len(lines(cut)) == 20
