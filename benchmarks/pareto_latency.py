"""Accuracy vs measured latency of a search run's Pareto members (export + early-exit runtime).

    python benchmarks/pareto_latency.py RUN_DIR [--limit N] [--threads 1] \\
        [--plot docs/pareto-latency.png] [--out benchmarks/results/pareto_latency.md]

Every member of ``RUN_DIR/pareto.json`` is exported to ONNX from its checkpoint (the export's
own check against PyTorch included) and benchmarked by the early-exit runtime on the test split
(:func:`aebnas.runtime.bench.run_bench`: batch 1, warm-up excluded, the exit and no-exit modes
alternating image by image so both see the same load). Printed and written: test accuracy (%),
average MMACs, p50 / mean batch-1 latency (ms) with exits and without, measured vs predicted
speed-up; the plot shows test accuracy against p50 latency, both modes. Test-split figures are
reports only: nothing here feeds a search decision.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

if not __package__:  # run as a script from a checkout: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from aebnas.export.exporter import export_checkpoint
from aebnas.runtime import open_runtime
from aebnas.runtime.bench import bench_data, run_bench
from aebnas.runtime.engine import EarlyExitRuntime


def bench_member(checkpoint: Path, folder: Path, limit: int | None, threads: int) -> dict[str, Any]:
    """Export ``checkpoint`` into ``folder`` and bench it on (the first ``limit`` of) the test
    split with ONNX Runtime."""
    export_checkpoint(checkpoint, folder)
    runtime: EarlyExitRuntime = open_runtime(folder, "onnx", None, threads)
    data = bench_data(runtime.card, runtime.card.dataset, "test", None, limit)
    return run_bench(runtime, data, threads=threads)


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| member | test acc % | avg MMACs | p50 ms | mean ms | p50 ms, no exits | "
        "mean ms, no exits | measured speed-up (mean) | predicted (MACs) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k, r in enumerate(results):
        lines.append(
            f"| {k} | {100 * r['accuracy']:.2f} | {r['avg_macs']:.3f} | {r['latency_ms_p50']:.3f} "
            f"| {r['latency_ms_mean']:.3f} | {r['latency_ms_p50_no_exits']:.3f} "
            f"| {r['latency_ms_mean_no_exits']:.3f} | {r['measured_speedup']:.2f}x "
            f"| {r['predicted_speedup']:.2f}x |"
        )
    return lines


def plot(results: list[dict[str, Any]], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    acc = [100 * r["accuracy"] for r in results]
    ax.plot([r["latency_ms_p50"] for r in results], acc, "D", color="tab:red", label="early exits")
    ax.plot(
        [r["latency_ms_p50_no_exits"] for r in results],
        [100 * r["accuracy_no_exits"] for r in results],
        "o",
        color="tab:gray",
        label="same network, exits off",
    )
    for k, r in enumerate(results):
        ax.annotate(
            str(k),
            (r["latency_ms_p50"], 100 * r["accuracy"]),
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.set_xlabel("p50 latency per image at batch 1 (ms, ONNX Runtime, 1 thread)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--limit", type=int, help="first N test images (default: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plot", type=Path, default=Path("docs/pareto-latency.png"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/pareto_latency.md"))
    args = parser.parse_args()
    front = json.loads((args.run_dir / "pareto.json").read_text())["front"]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, member in enumerate(front):
            result = bench_member(
                args.run_dir / member["checkpoint"], Path(tmp) / f"m{k}", args.limit, args.threads
            )
            results.append(result)
            print(json.dumps({k: result[k] for k in result if k != "segments"}), flush=True)
    lines = [
        "# Accuracy vs measured latency of the Pareto members",
        "",
        f"Run `{args.run_dir}`; command `python benchmarks/pareto_latency.py "
        + " ".join(sys.argv[1:])
        + f"`; {results[0]['images']} test images, ONNX Runtime CPU provider, "
        f"{args.threads} thread(s), batch 1.",
        "",
        *table(results),
        "",
        *(f"- member {k}: `{r['arch']}`" for k, r in enumerate(results)),
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    plot(results, args.plot, f"Pareto members of {args.run_dir.name}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
