"""Images/s of aebnas's training loop: against a bare PyTorch loop, and under load.

Default mode: both train the same architecture (same layout: channels_last) on the same
Fashion-MNIST images; ours includes the real data pipeline (BatchLoader), the joint loss,
gradient clipping, the cosine scheduler and the progress bookkeeping. Runs alternate (ours,
bare, ours, bare, ...) so background load hits both alike; the ratio of medians is printed.
Goal: ratio >= 0.95.

    .venv/bin/python benchmarks/train_throughput.py [--steps 30] [--repeats 3] [--threads 2]

``--load N`` mode: img/s of aebnas's training loop idle and beside N busy processes of the
script's own (Python spin loops, started before and stopped after every loaded measurement),
for torch's default threads (one process), for aebnas's thread policy in one process (as
``evaluate`` trains) and in ``--workers`` parallel processes (as ``surrogate_data --workers``
trains; their img/s are summed over the common wall time). Every setting runs in fresh spawned
processes that train the same network; idle and loaded measurements alternate per repeat so
drift hits both. Ratios are against torch's default idle in the same run. Goal: with one busy
process, the policy keeps >= 0.5x the idle img/s of torch's default.

    .venv/bin/python benchmarks/train_throughput.py --load 1 [--workers 2] [--arch A]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import signal
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.pool import Pool
from typing import Any

import torch

from aebnas.config import FidelityConfig
from aebnas.data import dataset_info, load_dataset
from aebnas.models import build_network
from aebnas.space import get_space, parse_architecture, sample_architectures
from aebnas.train import configure_threads, joint_loss, seed_everything, train_network


def _batches(arch, dataset, fidelity: FidelityConfig, steps: int):
    return dataset.batches(
        "train",
        arch.resolution,
        fidelity.batch_size,
        shuffle=True,
        channels_last=True,
        subset=steps * fidelity.batch_size,
        drop_last=True,
    )


def ours(arch, space, dataset, fidelity: FidelityConfig, steps: int) -> float:
    seed_everything(0)
    model = build_network(arch, space, dataset.channels, dataset.num_classes)
    batches = _batches(arch, dataset, fidelity, steps)
    result = train_network(model, batches, fidelity, 0.1, torch.device("cpu"))
    return result.images_per_second


def bare(arch, space, dataset, fidelity: FidelityConfig, steps: int) -> float:
    seed_everything(0)
    model = build_network(arch, space, dataset.channels, dataset.num_classes)
    model.to(memory_format=torch.channels_last).train()
    prepared = list(_batches(arch, dataset, fidelity, steps))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    start = time.perf_counter()
    for x, y in prepared:
        loss = joint_loss(model(x), y, 1.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return len(prepared) * fidelity.batch_size / (time.perf_counter() - start)


# ------------------------------------------------------------------------------ --load mode
def _spin() -> None:
    while True:
        pass


@contextmanager
def busy_processes(n: int) -> Iterator[None]:
    """``n`` spinning Python processes for the duration of the block."""
    context = mp.get_context("spawn")
    procs = [context.Process(target=_spin, daemon=True) for _ in range(n)]
    for proc in procs:
        proc.start()
    time.sleep(0.5)  # let them start spinning before the measurement does
    try:
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join()


@dataclass(frozen=True)
class Setting:
    """How the measured training runs: ``processes`` in parallel, each with torch's default
    threads or with aebnas's policy (:func:`aebnas.train.configure_threads` of ``threads``)."""

    name: str
    processes: int
    policy: bool
    threads: int | None = None


_TRAINER: dict[str, Any] = {}
#: Steps of each process's untimed first run (oneDNN primitives, allocator, resize cache: the
#: first steps of a fresh process take seconds each).
WARMUP_STEPS = 10


def _init_trainer(setting: Setting, arch: str, barrier: Any) -> None:
    if setting.policy:
        configure_threads(setting.threads)
    dataset = load_dataset("fashion-mnist")
    space = get_space("aebnas-plus", dataset.info.resolutions)
    _TRAINER.update(
        space=space, dataset=dataset, arch=parse_architecture(arch, space), barrier=barrier
    )


def _timed_training(steps: int) -> tuple[float, float, int, int]:
    """Wait for every process of the setting, train ``steps`` steps: (start, end, images,
    threads)."""
    fidelity = FidelityConfig(epochs=1, batch_size=64)
    _TRAINER["barrier"].wait()
    start = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
    ours(_TRAINER["arch"], _TRAINER["space"], _TRAINER["dataset"], fidelity, steps)
    end = time.perf_counter()
    return start, end, steps * fidelity.batch_size, torch.get_num_threads()


def measure(pool: Pool, setting: Setting, steps: int) -> tuple[float, int]:
    """Summed img/s of one synchronous run of every process of ``setting``, and their threads."""
    runs = pool.map(_timed_training, [steps] * setting.processes, chunksize=1)
    wall = max(r[1] for r in runs) - min(r[0] for r in runs)
    return sum(r[2] for r in runs) / wall, runs[0][3]


def load_mode(args: argparse.Namespace, arch: str) -> None:
    settings = [
        Setting("torch default", 1, policy=False),
        Setting("policy, 1 process", 1, policy=True, threads=args.threads),
        Setting(f"policy, {args.workers} workers", args.workers, True, args.threads),
    ]
    context = mp.get_context("spawn")
    pools, threads = {}, {}
    for s in settings:
        barrier = context.Barrier(s.processes)
        pools[s] = context.Pool(s.processes, _init_trainer, (s, arch, barrier))
        measure(pools[s], s, WARMUP_STEPS)
    idle: dict[Setting, list[float]] = {s: [] for s in settings}
    loaded: dict[Setting, list[float]] = {s: [] for s in settings}
    try:
        for r in range(args.repeats):
            for s in settings:
                value, threads[s] = measure(pools[s], s, args.steps)
                idle[s].append(value)
                print(f"repeat {r} {s.name}: idle {value:.1f} img/s", flush=True)
            with busy_processes(args.load):
                for s in settings:
                    loaded[s].append(measure(pools[s], s, args.steps)[0])
                    print(f"repeat {r} {s.name}: loaded {loaded[s][-1]:.1f} img/s", flush=True)
    finally:
        for pool in pools.values():
            pool.terminate()
    print(f"architecture {arch}")
    print(
        f"{args.steps} steps of batch 64 per process, {args.repeats} repeats (medians), "
        f"load: {args.load} busy process(es), {mp.cpu_count()} CPUs"
    )
    base = statistics.median(idle[settings[0]])
    print(
        f"{'setting':<22} {'procs x threads':>15} {'idle img/s':>10} {'loaded img/s':>12} "
        f"{'loaded/idle':>11} {'idle/default idle':>17} {'loaded/default idle':>19}"
    )
    for s in settings:
        i, lo = statistics.median(idle[s]), statistics.median(loaded[s])
        print(
            f"{s.name:<22} {f'{s.processes} x {threads[s]}':>15} {i:>10.1f} {lo:>12.1f} "
            f"{lo / i:>11.2f} {i / base:>17.2f} {lo / base:>19.2f}"
        )
    print(
        "runs (img/s): "
        + "; ".join(
            f"{s.name}: idle {', '.join(f'{v:.0f}' for v in idle[s])} loaded "
            f"{', '.join(f'{v:.0f}' for v in loaded[s])}"
            for s in settings
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, help="threads (default: torch's; --load: aebnas's policy)"
    )
    parser.add_argument("--arch-seed", type=int, default=1)
    parser.add_argument("--arch", help="architecture string (instead of --arch-seed)")
    parser.add_argument("--load", type=int, default=0, help="busy processes (0: ours vs bare)")
    parser.add_argument("--workers", type=int, default=2, help="--load: parallel processes")
    args = parser.parse_args()
    space = get_space("aebnas-plus", dataset_info("fashion-mnist").resolutions)
    if args.arch:
        arch = parse_architecture(args.arch, space)
    else:
        arch = sample_architectures(space, 1, args.arch_seed)[0]
    if args.load > 0:
        # a SIGTERM (timeout) unwinds like Ctrl-C, so the pools and busy processes are stopped
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        load_mode(args, arch.canonical)
        return
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    dataset = load_dataset("fashion-mnist")
    fidelity = FidelityConfig(epochs=1, batch_size=64)
    ours(arch, space, dataset, fidelity, 3)  # warm-up (resize cache, allocator, oneDNN kernels)
    bare(arch, space, dataset, fidelity, 3)
    measured: dict[str, list[float]] = {"aebnas": [], "bare": []}
    for _ in range(args.repeats):
        measured["aebnas"].append(ours(arch, space, dataset, fidelity, args.steps))
        measured["bare"].append(bare(arch, space, dataset, fidelity, args.steps))
    print(f"architecture {arch}")
    print(
        f"{args.steps} steps of batch {fidelity.batch_size}, {torch.get_num_threads()} "
        "thread(s), "
        f"{args.repeats} repeats"
    )
    for name, values in measured.items():
        print(
            f"{name:>7}: median {statistics.median(values):7.1f} img/s  (runs: "
            + ", ".join(f"{v:.1f}" for v in values)
            + ")"
        )
    ratio = statistics.median(measured["aebnas"]) / statistics.median(measured["bare"])
    print(f"ratio aebnas / bare = {ratio:.3f} (goal >= 0.95)")


if __name__ == "__main__":
    main()
