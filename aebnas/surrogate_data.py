"""Build a surrogate-training archive: sample, train at low fidelity, tune, append (resumable).

``python -m aebnas.surrogate_data --dataset fashion-mnist --space aebnas-plus -n 300``
(or ``make surrogate-data``) writes ``data/surrogates/<dataset>-<space>-<fidelity>.jsonl``.
Killed at any moment, the same command continues where it stopped: finished records are kept,
no candidate is trained or written twice, a torn last line is reported and set aside.

Candidates train ``--workers`` at a time through :mod:`aebnas.execution`: local processes
(default) or ``--executor ray`` (a local Ray, or a cluster with ``--ray-address``); records are
appended as they finish, a worker that dies mid-candidate is replaced and its candidate retried
(``--max-retries``).

Other uses of the same loop:
- ``--seed-offset 1000 --limit 20``: retrain the first 20 candidates with other seeds (noise);
- ``--fidelity full --from-archive A --limit 15``: retrain candidates of archive A at the
  config's full fidelity (the low-vs-full fidelity check).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from aebnas.archive import Archive, read_archive, record_key
from aebnas.cli import ArgumentParser
from aebnas.config import (
    MAX_SEED,
    Config,
    FidelityConfig,
    apply_overrides,
    fidelity_dict,
    load_config,
)
from aebnas.data import dataset_info
from aebnas.errors import UserError, run_cli
from aebnas.execution import Executor, ExecutorSettings, Job, Task, make_executor
from aebnas.execution.cli import add_execution_arguments, execution_overrides
from aebnas.execution.executors import check_execution
from aebnas.execution.jobs import remember_dataset, task_dataset, task_from_config
from aebnas.execution.local import LocalExecutor
from aebnas.outputs import check_output_file
from aebnas.space import ENCODING_VERSION, SearchSpace, get_space, parse_architecture
from aebnas.space.sampling import sample_stratified
from aebnas.supernet.checkpoint import read_info
from aebnas.train import configure_threads


def default_archive_path(dataset: str, space: str, fidelity: str) -> Path:
    safe = dataset.replace(":", "_").replace("/", "_")
    return Path("data/surrogates") / f"{safe}-{space}-{fidelity}.jsonl"


def fidelity_label(which: str, fidelity: FidelityConfig) -> str:
    """The records' fidelity name: ``low``, ``full``, or ``supernet`` for a low fidelity that
    inherits from a supernet (a full fidelity with a supernet fine-tunes and stays ``full``)."""
    return "supernet" if which == "low" and fidelity.supernet is not None else which


def supernet_identity(path: str, dataset: str) -> str:
    """SHA-256 of a supernet file after checking it was trained on ``dataset`` (an archive
    never mixes candidates of two supernets: its header carries this hash)."""
    info = read_info(path)
    if info.dataset != dataset:
        raise UserError(
            f"supernet {path} was trained on {info.dataset}, this run evaluates on {dataset}; "
            f"train one on {dataset} with `python -m aebnas.supernet train --dataset {dataset}`"
        )
    return info.sha256


def plan_jobs(args: Any, space: SearchSpace, config: Config, task: Task) -> list[Job]:
    """The candidates of this run, in a fixed order (so a resumed run plans the same jobs)."""
    if args.from_archive:
        _, records = read_archive(args.from_archive)
        archs = list(dict.fromkeys(r["arch"] for r in records if r.get("status") == "ok"))
        archs = [parse_architecture(a, space).canonical for a in archs]
    else:
        archs = [a.canonical for a in sample_stratified(space, args.n, config.seed)]
    if args.limit is not None:
        archs = archs[: args.limit]
    return [Job(task, arch, config.seed + args.seed_offset) for arch in archs]


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]surrogate data[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeRemainingColumn(),
        disable=not sys.stderr.isatty(),
    )


def run(args: Any, config: Config) -> Path:
    info = dataset_info(config.data.dataset)
    space = get_space(config.space, info.resolutions)
    fidelity = config.full_fidelity if args.fidelity == "full" else config.low_fidelity
    fidelity_name = fidelity_label(args.fidelity, fidelity)
    out = (
        Path(args.out)
        if args.out
        else default_archive_path(config.data.dataset, space.name, fidelity_name)
    )
    meta = {
        "dataset": config.data.dataset,
        "space": space.name,
        "fidelity_name": fidelity_name,
        "fidelity": fidelity_dict(fidelity),
        "thresholds": dataclasses.asdict(config.thresholds),
        "encoding_version": ENCODING_VERSION,
    }
    if fidelity.supernet is not None:
        meta["supernet_sha256"] = supernet_identity(fidelity.supernet, config.data.dataset)
    check_output_file(out)
    task = task_from_config(config, fidelity_name, fidelity, args.threads)
    jobs = plan_jobs(args, space, config, task)
    archive = Archive(out, meta)
    archive.check()  # a bad --out is refused before data is loaded or any file is touched
    with make_executor(ExecutorSettings(args.workers, config.execution, args.threads)) as executor:
        if in_process(executor):
            # Missing data files: one line before the archive opens; the jobs reuse the data.
            remember_dataset(task, task_dataset(task))
        with archive:
            _run_jobs(archive, jobs, executor, out)
    return out


def in_process(executor: Executor) -> bool:
    """Whether ``executor`` runs the jobs in this process (the local one with 1 worker)."""
    return isinstance(executor, LocalExecutor) and executor.workers <= 1


def _run_jobs(archive: Archive, jobs: list[Job], executor: Executor, out: Path) -> None:
    """Evaluate the jobs ``archive`` does not hold yet, appending each record as it arrives."""
    done = archive.keys()
    todo = [j for j in jobs if job_key(j) not in done]
    print(
        f"{out}: {len(jobs) - len(todo)} of {len(jobs)} candidates already done, "
        f"{len(todo)} to train ({executor.workers} worker(s), executor {executor.name})",
        file=sys.stderr,
    )
    start, failed = time.perf_counter(), 0
    with _progress() as bar:
        progress = bar.add_task("run", total=len(jobs), completed=len(jobs) - len(todo), last="")
        for result in executor.run(todo):
            record = result.record
            archive.append(record)
            failed += record["status"] != "ok"
            last = f"{100 * record.get('accuracy', 0):.1f}% {record.get('avg_macs', 0):.2f} MMACs"
            bar.update(progress, advance=1, last=last if record["status"] == "ok" else "failed")
    if todo:
        per = (time.perf_counter() - start) / len(todo)
        print(
            f"{len(todo)} trained in {time.perf_counter() - start:.0f} s ({per:.1f} s per "
            f"candidate wall, {failed} failed); archive holds {len(archive)} records",
            file=sys.stderr,
        )


def job_key(job: Job) -> str:
    """The archive key the record of ``job`` will have (see :func:`record_key`)."""
    fields = {"hash": job.architecture.hash, "seed": job.seed}
    return record_key({**fields, "fidelity_name": job.task.fidelity_name})


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m aebnas.surrogate_data", description=__doc__)
    parser.add_argument("--config", default=None, help="YAML config (fidelity, thresholds, ...)")
    parser.add_argument("--dataset")
    parser.add_argument("--data-root")
    parser.add_argument("--space")
    parser.add_argument("-n", "--n", type=int, default=300, help="candidates to sample")
    parser.add_argument("--seed", type=int, help="sampling and training seed")
    parser.add_argument(
        "--seed-offset", type=int, default=0, help="train with seed + offset (noise runs)"
    )
    parser.add_argument("--fidelity", choices=["low", "full"], default="low")
    parser.add_argument(
        "--supernet",
        help="low fidelity by inheritance from this supernet file (no training; records "
        "are labelled 'supernet')",
    )
    parser.add_argument(
        "--from-archive", help="retrain this archive's candidates instead of sampling"
    )
    parser.add_argument("--limit", type=int, help="only the first N planned candidates")
    parser.add_argument(
        "--workers", type=int, default=2, help="candidates trained at once (1 thread each)"
    )
    parser.add_argument(
        "--threads", type=int, help="torch threads per worker (default 1: aebnas/train/threads.py)"
    )
    parser.add_argument(
        "--out", help="archive path (default data/surrogates/<dataset>-<space>-<fidelity>.jsonl)"
    )
    add_execution_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    counts = (("-n", args.n), ("--workers", args.workers), ("--threads", args.threads))
    for flag, value in (*counts, ("--limit", args.limit)):
        if value is not None and value < 1:
            raise UserError(f"{flag} must be at least 1, got {value}; pass a positive integer")
    config = apply_overrides(
        load_config(args.config),
        {
            "data.dataset": args.dataset,
            "data.root": args.data_root,
            "space": args.space,
            "seed": args.seed,
            "low_fidelity.supernet": args.supernet,
            "low_fidelity.epochs": 0 if args.supernet else None,
            **execution_overrides(args),
        },
    )
    seed = config.seed + args.seed_offset
    if not 0 <= seed <= MAX_SEED:
        raise UserError(
            f"the seed plus --seed-offset is {seed}, outside 0..{MAX_SEED}; pass another offset"
        )
    check_execution(config.execution)
    configure_threads(args.threads)  # the policy of the workers, checked before any file
    run(args, config)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
