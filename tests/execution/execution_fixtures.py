"""Shared pieces of the executor tests: a tiny digits run, record comparison, process hunting.

Digits (offline) at a tiny fidelity trains one candidate in about a second: 2 steps of 64
images, 300 validation images.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aebnas.config import Config, apply_overrides
from aebnas.data import dataset_info
from aebnas.execution import Job, Task
from aebnas.execution.jobs import task_from_config
from aebnas.space import get_space, sample_architectures

#: Low fidelity of the surrogate-data tests (tests/test_surrogate_data.py's TINY_DIGITS).
TINY_DIGITS = """version: 1
data:
  dataset: digits
  val_size: 300
low_fidelity:
  train_size: 128
  batch_size: 64
"""
#: Record fields that measure time, not the result.
TIMING_FIELDS = ("train_seconds", "images_per_second", "eval_seconds", "finished")


def digits_config(**overrides: Any) -> Config:
    return apply_overrides(
        Config(),
        {
            "data.dataset": "digits",
            "data.val_size": 300,
            "low_fidelity.train_size": 128,
            "low_fidelity.batch_size": 64,
            **overrides,
        },
    )


def digits_jobs(n: int, config: Config | None = None, sample_seed: int = 5) -> list[Job]:
    """``n`` sampled digits candidates at the tiny low fidelity."""
    config = config or digits_config()
    task: Task = task_from_config(config, "low", config.low_fidelity, None)
    space = get_space(config.space, dataset_info("digits").resolutions)
    archs = sample_architectures(space, n, seed=sample_seed)
    return [Job(task, a.canonical, 0) for a in archs]


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its timing fields."""
    return {k: v for k, v in record.items() if k not in TIMING_FIELDS}


def by_hash(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["hash"]: comparable(r) for r in records}


def process_titles() -> dict[int, str]:
    """Process id -> command line of every process of this user (``/proc``)."""
    titles = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            titles[int(entry.name)] = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return titles


class Killer(threading.Thread):
    """SIGKILLs the first process ``find`` returns, ``delay`` seconds after it appears.

    Args:
        find: Returns candidate process ids (polled every 50 ms).
        delay: Seconds between seeing the process and killing it (mid-candidate).
        timeout: Give up after this many seconds.
    """

    def __init__(self, find: Callable[[], list[int]], delay: float, timeout: float = 120) -> None:
        super().__init__(daemon=True)
        self.find, self.delay, self.timeout = find, delay, timeout
        self.killed: int | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            pids = self.find()
            if pids:
                time.sleep(self.delay)
                if pids[0] in self.find():
                    os.kill(pids[0], signal.SIGKILL)
                    self.killed = pids[0]
                    return
            time.sleep(0.05)
