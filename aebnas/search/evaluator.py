"""Evaluators: what answers "how good is this architecture?" during a search.

- :class:`TrainingEvaluator` (real searches): full-fidelity training, threshold tuning on the
  validation split, a final test-split evaluation at the tuned thresholds and a checkpoint of
  the network (``checkpoints/<hash>.safetensors``, its name first appended to
  ``checkpoints/written.txt``: pruning deletes only files listed there); records are labelled
  ``fidelity_name="full"``. With ``search.workers`` > 1 a round's candidates are trained side by
  side in worker processes (each with the thread policy of :mod:`aebnas.train.threads`, so the
  records equal those of one worker); they are returned in proposal order.
- :class:`BenchmarkEvaluator` (``--benchmark ARCHIVE``): the answer is the archive's row for the
  architecture (no training); the domain is the archive's rows. Records keep the row's
  fidelity label and are marked ``source="benchmark"``; the bulky saved outcomes and package
  versions of the row are left out.

Both return JSON-ready result records (see :mod:`aebnas.evaluate`); a candidate-level failure
(diverged training, a shape error) is a record with ``status="failed"``, never an exception.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from aebnas.archive import read_archive
from aebnas.archive.records import candidate_record
from aebnas.config import Config
from aebnas.data import Dataset, dataset_info, load_dataset
from aebnas.errors import UserError
from aebnas.evaluate import evaluate_architecture
from aebnas.space import Architecture, SearchSpace, get_space, parse_architecture
from aebnas.train import resolve_device
from aebnas.train.workers import init_training_worker

FULL = "full"
#: Row fields a benchmark record does not copy (large, or about the machine that trained it).
BENCHMARK_DROP = ("outcomes", "packages", "threads", "finished")
#: The checkpoint files a run wrote, one name a line, in its checkpoints folder.
CHECKPOINT_LIST = "written.txt"


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
    """Turns an architecture into a result record."""

    fidelity_name: str

    def evaluate(self, arch: Architecture) -> dict[str, Any]: ...

    def evaluate_many(self, archs: Sequence[Architecture]) -> Iterator[dict[str, Any]]:
        """The records of ``archs``, in their order, each as soon as it and those before are
        done."""
        ...


def json_ready(record: dict[str, Any]) -> dict[str, Any]:
    """The record as it reads back from the archive (tuples -> lists, numpy -> float)."""
    return json.loads(json.dumps(record, default=float))


class TrainingEvaluator:
    """Full-fidelity training + tuning + test + checkpoint (see the module docstring).

    Args:
        config: Data, full-fidelity training and threshold settings, seed, device.
        space: The search space.
        checkpoints: Folder of the network checkpoints.
        dataset: An already loaded dataset (loaded from ``config.data`` on first use if None).
    """

    fidelity_name = FULL

    def __init__(
        self,
        config: Config,
        space: SearchSpace,
        checkpoints: Path,
        dataset: Dataset | None = None,
    ) -> None:
        self.config = config
        self.space = space
        self.checkpoints = checkpoints
        self._dataset = dataset

    @property
    def dataset(self) -> Dataset:
        if self._dataset is None:
            data = self.config.data
            self._dataset = load_dataset(
                data.dataset, data.root, data.val_size, seed=self.config.seed
            )
        return self._dataset

    def evaluate(self, arch: Architecture) -> dict[str, Any]:
        """Train, tune, test and checkpoint ``arch``; a JSON-ready record."""
        config = self.config
        checkpoint = self.checkpoints / f"{arch.hash}.safetensors"
        note_checkpoint(self.checkpoints, checkpoint.name)
        record = candidate_record(
            lambda: evaluate_architecture(
                arch,
                self.space,
                self.dataset,
                config.full_fidelity,
                config.thresholds,
                seed=config.seed,
                device=resolve_device(config.device),
                test=True,
                checkpoint=checkpoint,
                force=True,  # a checkpoint without an archived record is a killed attempt's
                keep_outcomes=True,
            ),
            arch,
            config.seed,
            FULL,
        )
        if record["status"] == "ok":
            record["checkpoint"] = str(Path("checkpoints") / checkpoint.name)
        return json_ready(record)

    def evaluate_many(self, archs: Sequence[Architecture]) -> Iterator[dict[str, Any]]:
        """:meth:`evaluate` of each, in ``search.workers`` processes when that is > 1."""
        workers = min(self.config.search.workers, len(archs))
        if workers <= 1:
            yield from map(self.evaluate, archs)
            return
        context = mp.get_context("spawn")
        initargs = (self.config, self.checkpoints)
        with context.Pool(workers, initializer=_init_worker, initargs=initargs) as pool:
            yield from pool.imap(_evaluate_in_worker, [a.canonical for a in archs])


_WORKER: dict[str, TrainingEvaluator] = {}


def _init_worker(config: Config, checkpoints: Path) -> None:
    init_training_worker(config.search.threads)
    space = get_space(config.space, dataset_info(config.data.dataset).resolutions)
    _WORKER["evaluator"] = TrainingEvaluator(config, space, checkpoints)


def _evaluate_in_worker(arch: str) -> dict[str, Any]:
    evaluator = _WORKER["evaluator"]
    return evaluator.evaluate(parse_architecture(arch, evaluator.space))


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

    def evaluate_many(self, archs: Sequence[Architecture]) -> Iterator[dict[str, Any]]:
        return map(self.evaluate, archs)

    def evaluate(self, arch: Architecture) -> dict[str, Any]:
        row = self.rows.get(arch.canonical)
        if row is None:
            raise ValueError(f"{arch.canonical} is not a row of {self.path}")
        record = {k: v for k, v in row.items() if k not in BENCHMARK_DROP}
        record.update(source="benchmark", benchmark_archive=str(self.path))
        record.setdefault("fidelity_name", self.fidelity_name)
        return json_ready(record)
