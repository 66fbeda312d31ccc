"""`python -m aebnas.bo_search` in benchmark mode on archives of other tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aebnas.bo_search import main
from aebnas.errors import run_cli

REPO = Path(__file__).resolve().parents[1]
DIGITS_ARCHIVE = REPO / "data" / "surrogates" / "digits-aebnas-plus-low.jsonl"


def _archive_without_exit_accuracy(path: Path, records: int = 12) -> Path:
    """The first records of the digits archive with every per-exit ``accuracy`` null (an
    external archive that logs no per-exit accuracy)."""
    with open(DIGITS_ARCHIVE, encoding="utf-8") as f:
        lines = [next(f) for _ in range(records + 1)]
    out = [lines[0]]
    for line in lines[1:]:
        record = json.loads(line)
        for exit_row in record.get("exits", []):
            exit_row["accuracy"] = None
        out.append(json.dumps(record) + "\n")
    path.write_text("".join(out))
    return path


def test_null_per_exit_accuracy_gives_n_a_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _archive_without_exit_accuracy(tmp_path / "external.jsonl")
    run_dir = tmp_path / "run"
    argv = ["--benchmark", str(archive), "--strategy", "random", "--budget", "4"]
    status = run_cli(main, [*argv, "--batch-size", "2", "--out", str(run_dir), "--json"])
    out = capsys.readouterr().out
    assert status == 0
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["evaluations"] == 4 and summary["pareto_size"] >= 1
    report = (run_dir / "report.md").read_text()
    assert "| n/a |" in report and "## Per-exit tables of the front" in report


def test_evaluate_summary_prints_n_a(capsys: pytest.CaptureFixture[str]) -> None:
    from aebnas.evaluate import print_summary

    with open(DIGITS_ARCHIVE, encoding="utf-8") as f:
        next(f)
        record = json.loads(next(f))
    for exit_row in record["exits"]:
        exit_row["accuracy"] = None
    record["final_accuracy"] = None
    print_summary(record)
    out = capsys.readouterr().out
    assert out.count("n/a") == len(record["exits"]) + 1
