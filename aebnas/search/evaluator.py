"""Evaluators: what answers "how good is this architecture?" during a search.

- :class:`TrainingEvaluator` (real searches): full-fidelity training, threshold tuning on the
  validation split, a final test-split evaluation at the tuned thresholds and a checkpoint of
  the network; records are labelled ``fidelity_name="full"``. The trainings are jobs of an
  executor (:mod:`aebnas.execution`: ``local`` processes or ``ray`` tasks, ``search.workers``
  at once, each with the thread policy of :mod:`aebnas.train.threads`, so the records equal
  those of one worker). Checkpoints come back to this process (bytes, or a file in the shared
  ``execution.storage``), which writes them as ``checkpoints/<hash>.safetensors``, each name
  first appended to ``checkpoints/written.txt`` (pruning deletes only files listed there).
- :class:`BenchmarkEvaluator` (``--benchmark ARCHIVE``): the answer is the archive's row for the
  architecture (no training); the domain is the archive's rows. Records keep the row's
  fidelity label and are marked ``source="benchmark"``; the bulky saved outcomes and package
  versions of the row are left out.

Both return JSON-ready result records (see :mod:`aebnas.evaluation`); a candidate-level failure
(diverged training, a shape error) is a record with ``status="failed"``, never an exception.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from aebnas.archive import read_archive
from aebnas.config import Config
from aebnas.errors import UserError
from aebnas.execution import Executor, ExecutorSettings, Job, JobResult, make_executor
from aebnas.execution.jobs import remember_dataset, task_dataset, task_from_config
from aebnas.execution.local import LocalExecutor
from aebnas.space import Architecture, SearchSpace, parse_architecture

FULL = "full"
#: Row fields a benchmark record does not copy (large, or about the machine that trained it).
BENCHMARK_DROP = ("outcomes", "packages", "threads", "finished")
#: The checkpoint files a run wrote, one name a line, in its checkpoints folder.
CHECKPOINT_LIST = "written.txt"
#: The run folder's checkpoint folder (records name their checkpoint relative to the run).
CHECKPOINTS_FOLDER = "checkpoints"


def note_checkpoint(folder: Path, name: str) -> None:
    """Append ``name`` to ``folder``'s :data:`CHECKPOINT_LIST` (durably, before the file is
    written, so a kill never leaves a file of the run unlisted)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / CHECKPOINT_LIST, "a", encoding="utf-8") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())


def written_checkpoints(folder: Path) -> list[Path]:
    """The checkpoint files listed in ``folder``'s :data:`CHECKPOINT_LIST` (plain names only)."""
    listing = folder / CHECKPOINT_LIST
    if not listing.is_file():
        return []
    names = dict.fromkeys(line.strip() for line in listing.read_text(encoding="utf-8").splitlines())
    return [folder / n for n in names if n and Path(n).name == n and n.endswith(".safetensors")]


class Evaluator(Protocol):
    """Turns architectures into result records."""

    fidelity_name: str

    def evaluate_many(self, archs: Sequence[Architecture]) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(position in archs, record)`` of each, as soon as it is done (completion order)."""
        ...

    def check(self) -> None:
        """Refuse (one line) what would stop the evaluations, before the run writes files."""
        ...

    def close(self) -> None:
        """Free the workers."""
        ...


def json_ready(record: dict[str, Any]) -> dict[str, Any]:
    """The record as it reads back from the archive (tuples -> lists, numpy -> float)."""
    return json.loads(json.dumps(record, default=float))


def write_atomic_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (fsync'ed)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class TrainingEvaluator:
    """Full-fidelity training + tuning + test + checkpoint through an executor (see the module
    docstring).

    Args:
        config: Data, full-fidelity training and threshold settings, seed, device, the
            ``execution`` section and ``search.workers`` / ``search.threads``.
        space: The search space.
        checkpoints: Folder of the network checkpoints (written by this process only).
    """

    fidelity_name = FULL

    def __init__(self, config: Config, space: SearchSpace, checkpoints: Path) -> None:
        self.config = config
        self.space = space
        self.checkpoints = checkpoints
        self.task = task_from_config(
            config, FULL, config.full_fidelity, config.search.threads, test=True, checkpoint=True
        )
        self._executor: Executor | None = None

    @property
    def executor(self) -> Executor:
        """The run's executor, started on first use (its workers keep their data loaded)."""
        if self._executor is None:
            search = self.config.search
            settings = ExecutorSettings(search.workers, self.config.execution, search.threads)
            self._executor = make_executor(settings)
            if isinstance(self._executor, LocalExecutor) and self._executor.workers <= 1:
                # in this process: missing data files are one line now, and the data is reused
                remember_dataset(self.task, task_dataset(self.task))
        return self._executor

    def check(self) -> None:
        """Start the executor (Ray reachable and able to give the resources; data loads when
        the candidates train in this process)."""
        self.executor  # noqa: B018

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()
            self._executor = None

    def evaluate_many(self, archs: Sequence[Architecture]) -> Iterator[tuple[int, dict[str, Any]]]:
        """Train, tune, test and checkpoint each of ``archs`` (JSON-ready records)."""
        positions = {a.canonical: i for i, a in enumerate(archs)}
        jobs = [Job(self.task, a.canonical, self.config.seed) for a in archs]
        for result in self.executor.run(jobs):
            yield positions[result.job.arch], json_ready(self._keep_checkpoint(result))

    def _keep_checkpoint(self, result: JobResult) -> dict[str, Any]:
        """Write the result's checkpoint into the run folder; the record names it."""
        record = result.record
        if record["status"] != "ok" or (result.checkpoint is None and not result.checkpoint_path):
            return record
        name = f"{record['hash']}.safetensors"
        note_checkpoint(self.checkpoints, name)
        target = self.checkpoints / name
        if result.checkpoint is not None:
            write_atomic_bytes(target, result.checkpoint)
        else:
            assert result.checkpoint_path is not None
            shutil.move(result.checkpoint_path, target)
        record["checkpoint"] = str(Path(CHECKPOINTS_FOLDER) / name)
        return record


class BenchmarkEvaluator:
    """Answers from an archive's rows (see the module docstring).

    Args:
        path: The archive (``.jsonl``).
        space: Its search space (rows are parsed and validated).
        limit: Use only the first ``limit`` rows (a growing archive read at a fixed size).
    """

    def __init__(self, path: str | Path, space: SearchSpace, limit: int | None = None) -> None:
        self.path = Path(path)
        meta, records = read_archive(self.path)
        if meta.get("space") not in (None, space.name):
            raise UserError(
                f"benchmark archive {self.path} holds space {meta.get('space')!r}, the search "
                f"uses {space.name!r}; pass --space {meta.get('space')}"
            )
        self.meta = meta
        self.records = records[:limit] if limit is not None else records
        self.rows: dict[str, dict[str, Any]] = {}
        for record in self.records:
            self.rows.setdefault(parse_architecture(record["arch"], space).canonical, record)
        if not self.rows:
            raise UserError(f"benchmark archive {self.path} has no rows")
        self.fidelity_name = str(
            meta.get("fidelity_name") or next(iter(self.rows.values())).get("fidelity_name", "")
        )

    @property
    def archs(self) -> list[Architecture]:
        return [Architecture.parse(a) for a in self.rows]

    @property
    def row_records(self) -> Sequence[dict[str, Any]]:
        """One record per architecture (the first row of each)."""
        return list(self.rows.values())

    def evaluate_many(self, archs: Sequence[Architecture]) -> Iterator[tuple[int, dict[str, Any]]]:
        return enumerate(map(self.evaluate, archs))

    def check(self) -> None:
        """Nothing to check: the rows were read on construction."""

    def close(self) -> None:
        """Nothing to free."""

    def evaluate(self, arch: Architecture) -> dict[str, Any]:
        row = self.rows.get(arch.canonical)
        if row is None:
            raise ValueError(f"{arch.canonical} is not a row of {self.path}")
        record = {k: v for k, v in row.items() if k not in BENCHMARK_DROP}
        record.update(source="benchmark", benchmark_archive=str(self.path))
        record.setdefault("fidelity_name", self.fidelity_name)
        return json_ready(record)
