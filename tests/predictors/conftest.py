"""Fixtures of the predictor tests (helpers in ``predictor_fixtures``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from predictor_fixtures import ARCHIVE, MIN_REAL, synthetic_records, write_archive

from aebnas.archive import read_archive
from aebnas.predictors.features import ok_records


@pytest.fixture(scope="session")
def synthetic_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive of 80 synthetic records (plus one failed record)."""
    records = synthetic_records(80, seed=0)
    records.append(
        {
            "arch": records[0]["arch"],
            "hash": "x",
            "seed": 7,
            "status": "failed",
            "reason": "RuntimeError: test",
        }
    )
    return write_archive(tmp_path_factory.mktemp("archive") / "synthetic.jsonl", records)


@pytest.fixture(scope="session")
def real_records() -> list[dict[str, Any]]:
    """Ok records of the committed Fashion-MNIST archive (skips when it holds < 30)."""
    if not ARCHIVE.is_file():
        pytest.skip(f"{ARCHIVE} is missing")
    _, records = read_archive(ARCHIVE)
    ok = ok_records(records, "accuracy")
    if len(ok) < MIN_REAL:
        pytest.skip(f"{ARCHIVE} holds {len(ok)} ok records; real-data tests need {MIN_REAL}")
    return ok


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Any:
    """Predictor fits on one thread (faster on small data and a shared machine); restored after
    each module so other test folders keep their setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
