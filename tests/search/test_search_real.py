"""One real search round: full-fidelity training (tiny), tuning, test split, checkpoint, report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from aebnas.archive import read_archive
from aebnas.bo_search import main
from aebnas.errors import run_cli
from aebnas.models import load_checkpoint

CONFIG = """
version: 1
seed: 0
space: aebnas-plus
data:
  dataset: fashion-mnist
  val_size: 500
full_fidelity:
  epochs: 1
  batch_size: 64
  train_size: 256
search:
  strategy: bo
  budget: 1
  batch_size: 1
  initial: 1
"""


@pytest.mark.slow
def test_one_real_round_trains_tunes_tests_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG)
    run = tmp_path / "run"
    assert run_cli(main, ["--config", str(config), "--out", str(run), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out and f"report: {run / 'report.md'}" in out

    meta, records = read_archive(run / "archive.jsonl")
    assert meta["kind"] == "aebnas.search" and len(records) == 1
    record = records[0]
    assert record["status"] == "ok" and record["fidelity_name"] == "full"
    assert record["fidelity"]["train_size"] == 256
    assert 0.0 <= record["test"]["accuracy"] <= 1.0 and record["test"]["avg_macs"] > 0
    assert record["proposal"]["origin"] == "initial"

    front = json.loads((run / "pareto.json").read_text())["front"]
    assert [row["arch"] for row in front] == [record["arch"]]
    row = front[0]
    assert row["test_accuracy"] == record["test"]["accuracy"] and row["exits"]
    checkpoint = run / row["checkpoint"]
    network, metadata = load_checkpoint(checkpoint)
    assert metadata.arch == record["arch"] == network.arch.canonical
    assert list(metadata.thresholds) == [e["threshold"] for e in record["exits"][:-1]]
    with open(run / "pareto.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["arch"] == record["arch"] and json.loads(rows[0]["thresholds"]) is not None
    for name in ("config.yaml", "pareto.png", "hypervolume.png", "report.md", "summary.json"):
        assert (run / name).is_file(), name
    assert record["arch"] in (run / "report.md").read_text()


PARALLEL_CONFIG = """
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
  strategy: random
  budget: 2
  batch_size: 2
  initial: 2
"""
#: Record fields that measure time, not the result.
TIMING_FIELDS = ("train_seconds", "images_per_second", "eval_seconds", "finished")


def _round_records(tmp_path: Path, workers: int) -> list[dict[str, object]]:
    config, run = tmp_path / "parallel.yaml", tmp_path / f"run-{workers}"
    config.write_text(PARALLEL_CONFIG)
    argv = ["--config", str(config), "--out", str(run), "--workers", str(workers), "--json"]
    assert run_cli(main, argv) == 0
    _, records = read_archive(run / "archive.jsonl")
    for row in json.loads((run / "pareto.json").read_text())["front"]:
        assert (run / row["checkpoint"]).is_file()  # written by the worker that trained it
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]


@pytest.mark.slow
def test_a_round_trained_by_two_workers_gives_the_records_of_one(tmp_path: Path) -> None:
    one = _round_records(tmp_path, workers=1)
    two = _round_records(tmp_path, workers=2)
    assert len(one) == 2 and all(r["status"] == "ok" for r in one)
    # same fields, same numbers; appended as they finish, so compared in proposal order
    assert sorted(two, key=_index) == sorted(one, key=_index)


def _index(record: dict[str, object]) -> tuple[object, ...]:
    return record["round"], record["index"]
