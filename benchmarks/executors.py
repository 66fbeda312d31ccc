"""Wall time of real low-fidelity candidates: 1 worker, 2 local workers, 2 Ray workers.

The same ``--n`` candidates (sampled with seed 0) are trained at the config's low fidelity
three times in one run, through :mod:`aebnas.execution`:

- ``local x1``: in this process (``surrogate_data --workers 1``);
- ``local x2``: two spawned worker processes (``--workers 2``);
- ``ray x2``: two Ray tasks at a time on a local Ray instance (``--executor ray --workers 2``).

Each wall time counts from creating the executor (worker start-up, imports and data loading
included) to the last record; Ray's cluster start-up (``ray.init``) is measured apart. Printed:
the speed-up of each 2-worker setting over 1 worker, and the Ray overhead per candidate,
``(wall ray - wall local x2) * workers / n`` (the extra worker-seconds a candidate costs on
Ray), with and without the cluster start-up. The records of the three settings must agree
(same numbers: the thread policy); the script checks it. Goals: 2 workers >= 1.8x faster than
1 (local and Ray alike); Ray overhead <= 1 s per candidate.

    .venv/bin/python benchmarks/executors.py [--n 8] [--config configs/fashion-mnist.yaml]
        [--train-size N] [--out benchmarks/results/executors.md]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from aebnas.config import ExecutionConfig, apply_overrides, load_config
from aebnas.data import dataset_info
from aebnas.execution import ExecutorSettings, Job, make_executor
from aebnas.execution.jobs import task_from_config
from aebnas.execution.ray_executor import import_ray, runtime_env
from aebnas.execution.scheduling import longest_first
from aebnas.space import get_space, sample_architectures

TIMING_FIELDS = ("train_seconds", "images_per_second", "eval_seconds", "finished")


def plan(config_path: str, n: int, train_size: int | None) -> list[Job]:
    config = load_config(config_path)
    if train_size is not None:
        config = apply_overrides(config, {"low_fidelity.train_size": train_size})
    space = get_space(config.space, dataset_info(config.data.dataset).resolutions)
    task = task_from_config(config, "low", config.low_fidelity, None)
    return [Job(task, a.canonical, config.seed) for a in sample_architectures(space, n, seed=0)]


def timed(jobs: list[Job], workers: int, execution: ExecutionConfig) -> tuple[float, list[Any]]:
    """Wall seconds from creating the executor to its last result, and the records."""
    start = time.perf_counter()
    with make_executor(ExecutorSettings(workers, execution)) as executor:
        records = [r.record for r in executor.run(jobs)]
    return time.perf_counter() - start, records


def makespan(seconds: list[float], workers: int) -> float:
    """End of the last job when each job goes to the first free worker, in list order."""
    free = [0.0] * workers
    for s in seconds:
        free[free.index(min(free))] += s
    return max(free)


def schedule_lines(jobs: list[Job], records: list[dict[str, Any]], workers: int) -> list[str]:
    """The 1-worker seconds of each job replayed on ``workers`` in sampled vs longest-first
    order (a replay of measured times, not a measurement of its own)."""
    seconds = {r["hash"]: r["train_seconds"] + r.get("eval_seconds", 0.0) for r in records}

    def order_seconds(ordered: list[Job]) -> list[float]:
        return [seconds[j.architecture.hash] for j in ordered]

    sampled = makespan(order_seconds(jobs), workers)
    lpt = makespan(order_seconds(longest_first(jobs)), workers)
    ideal = sum(seconds.values()) / workers
    return [
        f"Replay of the 1-worker per-candidate seconds (training + evaluation) on {workers} "
        f"workers: sampled order ends at {sampled:.1f} s, longest first (static MACs, the "
        f"executors' order) at {lpt:.1f} s; a perfect split would end at {ideal:.1f} s.",
    ]


def comparable(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {r["hash"]: {k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="candidates")
    parser.add_argument("--config", default="configs/fashion-mnist.yaml")
    parser.add_argument("--train-size", type=int, help="low-fidelity training images")
    parser.add_argument("--out", help="write the Markdown table here")
    args = parser.parse_args()
    jobs = plan(args.config, args.n, args.train_size)
    fidelity = jobs[0].task.fidelity
    print(
        f"{args.n} candidates of {jobs[0].task.data.dataset}, {fidelity.epochs} epoch(s) over "
        f"{fidelity.train_size} images, batch {fidelity.batch_size}",
        file=sys.stderr,
    )

    one, records_one = timed(jobs, 1, ExecutionConfig())
    print(f"local x1: {one:.1f} s", file=sys.stderr)
    two, records_two = timed(jobs, 2, ExecutionConfig())
    print(f"local x2: {two:.1f} s", file=sys.stderr)
    ray = import_ray()
    start = time.perf_counter()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.WARNING,
        runtime_env=runtime_env(remote=False),
    )
    ray_start = time.perf_counter() - start
    ray_two, records_ray = timed(jobs, 2, ExecutionConfig(executor="ray"))
    ray.shutdown()
    print(f"ray x2: {ray_two:.1f} s (+ {ray_start:.1f} s ray.init)", file=sys.stderr)

    same = comparable(records_one) == comparable(records_two) == comparable(records_ray)
    failed = sum(r["status"] != "ok" for r in records_one)
    overhead = (ray_two - two) * 2 / args.n
    overhead_init = (ray_two + ray_start - two) * 2 / args.n
    rows = [
        ("local x1 (in-process)", one, 1.0),
        ("local x2 (processes)", two, one / two),
        ("ray x2 (tasks)", ray_two, one / ray_two),
        ("ray x2 incl. ray.init", ray_two + ray_start, one / (ray_two + ray_start)),
    ]
    table = ["| setting | wall s | speed-up vs 1 worker |", "|---|---:|---:|"]
    table += [f"| {name} | {wall:.1f} | {ratio:.2f}x |" for name, wall, ratio in rows]
    lines = [
        *table,
        "",
        f"Ray overhead per candidate: {overhead:+.2f} s ({overhead_init:+.2f} s with ray.init "
        f"{ray_start:.1f} s amortised over {args.n}).",
        f"Records of the three settings identical (timing fields aside): {same}; "
        f"{failed} of {args.n} candidates failed.",
        *schedule_lines(jobs, records_one, 2),
    ]
    print("\n".join(lines))
    if args.out:
        command = "python benchmarks/executors.py " + " ".join(sys.argv[1:])
        header = [
            "# Executors: 1 worker vs 2 local workers vs 2 Ray workers",
            "",
            f"`{command}` (finished {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"{os.cpu_count()} CPU cores, one run, ratios measured in that run).",
            "",
            f"{args.n} real candidates of {jobs[0].task.data.dataset} at low fidelity "
            f"({fidelity.epochs} epoch(s) over {fidelity.train_size} images, batch "
            f"{fidelity.batch_size}), 1 torch thread per worker. Wall time from creating the "
            "executor (worker start-up, imports, data loading) to the last record.",
            "",
        ]
        Path(args.out).write_text("\n".join([*header, *lines]) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
