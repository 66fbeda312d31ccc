"""Benchmark of the early-exit runtime against the same network with every exit off.

One run measures, on a dataset split, both modes:

- batch 1: accuracy, exit histogram, latency per image (mean / p50 / p90 ms; the first
  ``warmup`` images of each mode are excluded; the two modes alternate image by image so that
  load from other processes hits both alike);
- batch ``batch_size``: throughput (images per second, one pass over the images);
- per call at batch 1 (a segment, or a trunk and its exit fused in one graph): mean latency next
  to its MMACs (what explains a gap between the measured and the predicted speed-up: per-call
  overhead weighs most on small segments).

Measured speed-up = mean batch-1 latency without exits / with exits; predicted speed-up = MMACs
without exits / average MMACs with exits (the histogram measured here, exit costs of
:mod:`aebnas.costs`). Threads: a fixed intra-op count for the backend and for torch (inter-op 1);
the CLI's ``--cpus`` also pins the process to given CPUs; both are reported.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aebnas.data import BatchLoader, load_dataset
from aebnas.errors import UserError
from aebnas.models.segments import FINAL, FUSED, TRUNK
from aebnas.runtime.engine import EarlyExitRuntime, ModelCard


@dataclass(frozen=True)
class BenchData:
    """Normalised images ``(N, C, R, R)`` and labels ``(N,)`` of one split."""

    images: torch.Tensor
    labels: torch.Tensor
    dataset: str
    split: str


def bench_data(
    card: ModelCard,
    dataset: str | None = None,
    split: str = "test",
    data_root: str | Path | None = None,
    limit: int | None = None,
) -> BenchData:
    """The split resized to the model's resolution and normalised with its statistics.

    Args:
        card: The model (resolution, channels, normalisation).
        dataset: Dataset name (default: the one the model was trained on).
        split: ``train``, ``val`` or ``test``.
        data_root: Folder with the dataset files.
        limit: Use the first ``limit`` images only.

    Raises:
        UserError: Unknown dataset/split, or images that do not fit the model.
    """
    name = dataset or card.dataset
    if split not in ("train", "val", "test"):
        raise UserError(f"unknown split {split!r}; choose train, val or test")
    data = load_dataset(name, data_root)
    if data.channels != card.in_channels or data.num_classes != len(card.class_names):
        raise UserError(
            f"dataset {name} has {data.channels}-channel images and {data.num_classes} classes; "
            f"the model takes {card.in_channels} channels and {len(card.class_names)} classes"
        )
    resized = data.resized(split, card.resolution)
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit must be positive, got {limit}")
        resized = resized.take(torch.arange(min(limit, len(resized))))
    x, y = next(iter(BatchLoader(resized, card.mean, card.std, len(resized))))
    return BenchData(x.contiguous(), y, name, split)


def _stats_ms(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {
        "mean": float(ms.mean()),
        "p50": float(np.percentile(ms, 50)),
        "p90": float(np.percentile(ms, 90)),
    }


def batch1_pass(
    modes: dict[str, EarlyExitRuntime], images: torch.Tensor, warmup: int
) -> dict[str, dict[str, Any]]:
    """Per mode: predictions, exits and per-image latencies (warm-up excluded) at batch 1."""
    n = len(images)
    out: dict[str, dict[str, Any]] = {
        name: {"pred": torch.empty(n, dtype=torch.long), "exit": torch.empty(n, dtype=torch.long),
               "seconds": []}
        for name in modes
    }
    names = list(modes)
    for i in range(-warmup, n):
        x = images[i % n : i % n + 1]
        for name in names if i % 2 == 0 else reversed(names):
            start = time.perf_counter()
            pred, exit_index = modes[name].predict(x)
            elapsed = time.perf_counter() - start
            if i >= 0:
                out[name]["pred"][i], out[name]["exit"][i] = pred[0], exit_index[0]
                out[name]["seconds"].append(elapsed)
    return out


def throughput(runtime: EarlyExitRuntime, images: torch.Tensor, batch_size: int) -> float:
    """Images per second over one batched pass (after one warm-up batch)."""
    runtime.predict(images[:batch_size])
    start = time.perf_counter()
    for i in range(0, len(images), batch_size):
        runtime.predict(images[i : i + batch_size])
    return len(images) / (time.perf_counter() - start)


def segment_profile(
    runtime: EarlyExitRuntime, images: torch.Tensor, count: int = 200
) -> list[dict[str, Any]]:
    """Mean batch-1 latency (ms) and MMACs of every call the runtime makes with every exit on
    (its :attr:`~EarlyExitRuntime.plan`; each call runs whatever the input, none leaves)."""
    every_exit_on = runtime.with_thresholds([1.0] * (runtime.card.num_exits - 1))
    plan, on_arrays = every_exit_on.plan, every_exit_on.on_arrays  # as predict at batch 1
    costs = runtime.card.costs
    seconds = [0.0] * len(plan)
    count = min(count, len(images))
    for i in range(-5, count):
        features: Any = images[i % count : i % count + 1]
        if on_arrays:
            features = np.ascontiguousarray(features.numpy(), dtype=np.float32)
        for j, step in enumerate(plan):
            run = step.segment.arrays if on_arrays else step.run
            assert run is not None
            start = time.perf_counter()
            out = run(features)
            if i >= 0:
                seconds[j] += time.perf_counter() - start
            if step.role == FUSED or (step.role == TRUNK and on_arrays):
                features = out[0]
            elif step.role == TRUNK:
                features = out
    rows = []
    trunk = 0  # backbone stages run so far end at exit ``trunk - 1``
    for step, total in zip(plan, seconds, strict=True):
        macs = 0.0
        if step.role in (TRUNK, FUSED, FINAL):
            macs += costs.backbone[trunk] - (costs.backbone[trunk - 1] if trunk else 0.0)
            trunk += 1
        if step.role != TRUNK:
            macs += costs.branch[step.exit_index]
        rows.append({"segment": step.name, "ms": 1e3 * total / count, "macs": macs})
    return rows


def run_bench(
    runtime: EarlyExitRuntime,
    data: BenchData,
    *,
    warmup: int = 20,
    batch_size: int = 64,
    threads: int = 1,
) -> dict[str, Any]:
    """Measure ``runtime`` and its all-exits-off twin on ``data`` (see the module docstring).

    Returns:
        A JSON-ready result (accuracy as fractions, latency in ms, MACs in millions).
    """
    torch.set_num_threads(threads)
    modes = {"exits": runtime, "no_exits": runtime.without_exits()}
    passes = batch1_pass(modes, data.images, warmup)
    card = runtime.card
    counts = torch.bincount(passes["exits"]["exit"], minlength=card.num_exits).tolist()
    latency = {name: _stats_ms(p["seconds"]) for name, p in passes.items()}
    rate = {name: throughput(rt, data.images, batch_size) for name, rt in modes.items()}
    avg_macs = card.average_macs(counts)
    accuracy = {
        name: float((p["pred"] == data.labels).float().mean()) for name, p in passes.items()
    }
    return {
        "arch": card.arch,
        "dataset": data.dataset,
        "split": data.split,
        "images": len(data.images),
        "warmup": warmup,
        "backend": runtime.backend,
        "settings": runtime.settings,
        "threads": threads,
        "cpus": sorted(os.sched_getaffinity(0)),
        "thresholds": list(card.thresholds),
        "accuracy": accuracy["exits"],
        "accuracy_no_exits": accuracy["no_exits"],
        "exit_counts": counts,
        "exit_macs": [float(m) for m in card.exit_macs()],
        "avg_macs": avg_macs,
        "macs_no_exits": card.macs_no_exits,
        "latency_ms_mean": latency["exits"]["mean"],
        "latency_ms_p50": latency["exits"]["p50"],
        "latency_ms_p90": latency["exits"]["p90"],
        "latency_ms_mean_no_exits": latency["no_exits"]["mean"],
        "latency_ms_p50_no_exits": latency["no_exits"]["p50"],
        "latency_ms_p90_no_exits": latency["no_exits"]["p90"],
        "throughput_ips": rate["exits"],
        "throughput_ips_no_exits": rate["no_exits"],
        "batch_size": batch_size,
        "measured_speedup": latency["no_exits"]["mean"] / latency["exits"]["mean"],
        "measured_speedup_p50": latency["no_exits"]["p50"] / latency["exits"]["p50"],
        "throughput_speedup": rate["exits"] / rate["no_exits"],
        "predicted_speedup": card.macs_no_exits / avg_macs,
        "segments": segment_profile(runtime, data.images),
    }


def print_report(result: dict[str, Any]) -> None:
    """A readable report of :func:`run_bench`'s result."""
    r = result
    print(f"arch      {r['arch']}")
    print(
        f"bench     {r['images']} {r['dataset']} {r['split']} images, backend {r['backend']} "
        f"{r['settings']}, threads {r['threads']} (intra-op; inter-op 1), CPUs {r['cpus']}, "
        f"warm-up {r['warmup']} images per mode excluded"
    )
    total = sum(r["exit_counts"])
    print(f"{'exit':>6} {'MMACs':>8} {'images':>7} {'share %':>8}")
    for k, (count, macs) in enumerate(zip(r["exit_counts"], r["exit_macs"], strict=True)):
        print(f"{k:>6} {macs:>8.3f} {count:>7} {100 * count / total:>8.1f}")
    print(f"{'mode':>9} {'acc %':>7} {'MMACs':>8} {'mean ms':>8} {'p50 ms':>7} {'p90 ms':>7} "
          f"{'img/s @' + str(r['batch_size']):>10}")
    for mode, suffix, macs in (
        ("exits", "", r["avg_macs"]),
        ("no exits", "_no_exits", r["macs_no_exits"]),
    ):
        print(
            f"{mode:>9} {100 * r['accuracy' + suffix]:>7.2f} {macs:>8.3f} "
            f"{r['latency_ms_mean' + suffix]:>8.3f} {r['latency_ms_p50' + suffix]:>7.3f} "
            f"{r['latency_ms_p90' + suffix]:>7.3f} {r['throughput_ips' + suffix]:>10.0f}"
        )
    print(f"{'call':>12} {'ms @1':>7} {'MMACs':>8} {'us/MMAC':>8}")
    for row in r["segments"]:
        per = 1e3 * row["ms"] / row["macs"] if row["macs"] else float("nan")
        print(f"{row['segment']:>12} {row['ms']:>7.3f} {row['macs']:>8.3f} {per:>8.1f}")
    gap = r["measured_speedup"] / r["predicted_speedup"] - 1
    print(
        f"speed-up  measured {r['measured_speedup']:.3f}x at batch 1 (mean latency; p50 "
        f"{r['measured_speedup_p50']:.3f}x, batch {r['batch_size']} throughput "
        f"{r['throughput_speedup']:.3f}x) vs predicted {r['predicted_speedup']:.3f}x from MACs "
        f"({100 * gap:+.1f}%)"
    )
