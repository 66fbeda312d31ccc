"""Reuse across datasets from the command line: another dataset's archive or saved predictors
are a transfer prior (real digits training; Fashion-MNIST's committed archive and predictors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aebnas.archive import read_archive
from aebnas.bo_search import main
from aebnas.errors import run_cli

ROOT = Path(__file__).resolve().parents[2]
FASHION_ARCHIVE = ROOT / "data/surrogates/fashion-mnist-aebnas-plus-low.jsonl"
FASHION_PREDICTORS = ROOT / "predictors/fashion-mnist-aebnas-plus-low"

#: A Fashion-MNIST config (its prior archive included), run with --dataset digits.
CONFIG = f"""
version: 1
seed: 0
space: aebnas-plus
data:
  dataset: fashion-mnist
full_fidelity:
  epochs: 1
  batch_size: 64
  train_size: 128
search:
  strategy: bo
  budget: 2
  batch_size: 2
  archive: {FASHION_ARCHIVE}
"""


def _run(tmp_path: Path, *flags: str) -> tuple[Path, str]:
    config = tmp_path / "fashion.yaml"
    config.write_text(CONFIG)
    run = tmp_path / "run"
    argv = ["--config", str(config), "--dataset", "digits", "--out", str(run), "--threads", "1"]
    assert run_cli(main, [*argv, *flags, "--json"]) == 0
    return run, (run / "report.md").read_text()


@pytest.mark.slow
def test_another_datasets_archive_is_a_transfer_prior(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, report = _run(tmp_path)
    assert "transfer prior: predictors fit on fashion-mnist" in capsys.readouterr().err
    meta, records = read_archive(run / "archive.jsonl")
    assert meta["dataset"] == "digits" and meta["prior_dataset"] == "fashion-mnist"
    assert len(records) == 2 and all(r["dataset"] == "digits" for r in records)
    assert all(r["proposal"]["origin"] != "initial" for r in records)  # the prior proposed them
    assert "transfer from fashion-mnist" in report


@pytest.mark.slow
def test_another_datasets_saved_predictors_are_a_transfer_prior(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, report = _run(tmp_path, "--predictors", str(FASHION_PREDICTORS))
    assert "transfer prior: predictors fit on fashion-mnist" in capsys.readouterr().err
    assert "fit on fashion-mnist: a transfer prior" in report
