"""Batch-1 latency of the early-exit runtime's call layouts, measured against each other in one run.

    python benchmarks/runtime_layout.py RUN_DIR [--limit 2000] [--threads 1] \\
        [--out benchmarks/results/runtime_layout.md]

Every Pareto member of ``RUN_DIR/pareto.json`` is exported (:mod:`aebnas.export`) and its test
images are classified one at a time by five runtimes over the same ONNX graphs, the five taking
turns image by image (so that load from other processes hits all alike):

- ``fused``: what the runtime does: an exit that is on runs in one call with its trunk;
- ``segments``: every segment its own call (the segment graphs alone, two calls per exit, the
  confidence computed in torch);
- ``segments, tensors``: the same, with tensors converted to and from arrays at every call (the
  runtime before the fused graphs);
- ``network``: every exit off, the whole network in one call (the runtime's no-exit mode);
- ``segment chain``: every exit off, the trunks and the final segment one call each.

Printed and written: mean and p50 ms per image of each, the ratios to ``fused`` and of
``segment chain / network``, and the measured speed-up of the early exits against both no-exit
layouts next to the MAC prediction. Test-split figures are reports only.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

if not __package__:  # run as a script from a checkout: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from aebnas.cli import ArgumentParser
from aebnas.errors import UserError, run_cli
from aebnas.export.exporter import export_checkpoint
from aebnas.runtime import open_runtime
from aebnas.runtime.bench import batch1_pass, bench_data
from aebnas.runtime.engine import EarlyExitRuntime

LAYOUTS = ("fused", "segments", "segments, tensors", "network", "segment chain")


def layouts(runtime: EarlyExitRuntime) -> dict[str, EarlyExitRuntime]:
    """The runtimes of the module docstring over ``runtime``'s graphs."""
    plain = EarlyExitRuntime(runtime.segments, runtime.card, runtime.backend, runtime.settings)
    tensors = [replace(s, arrays=None) for s in runtime.segments]
    return {
        "fused": runtime,
        "segments": plain,
        "segments, tensors": EarlyExitRuntime(tensors, runtime.card, runtime.backend),
        "network": runtime.without_exits(),
        "segment chain": plain.without_exits(),
    }


def measure_member(
    checkpoint: Path, folder: Path, limit: int | None, threads: int, warmup: int
) -> dict[str, Any]:
    """Export ``checkpoint`` to ``folder`` and time its layouts on the first ``limit`` test
    images at batch 1 (ms per image; every layout must give the same answers)."""
    export_checkpoint(checkpoint, folder)
    torch.set_num_threads(threads)
    runtime = open_runtime(folder, "onnx", None, threads)
    data = bench_data(runtime.card, runtime.card.dataset, "test", None, limit)
    passes = batch1_pass(layouts(runtime), data.images, warmup)
    for early, plain in (("fused", "segments"), ("fused", "segments, tensors"),
                         ("network", "segment chain")):
        if not torch.equal(passes[early]["pred"], passes[plain]["pred"]):
            raise AssertionError(f"{early} and {plain} disagree on {checkpoint}")
    ms = {name: 1e3 * np.asarray(p["seconds"]) for name, p in passes.items()}
    counts = torch.bincount(passes["fused"]["exit"], minlength=runtime.card.num_exits).tolist()
    return {
        "arch": runtime.card.arch,
        "images": len(data.images),
        "mean_ms": {name: float(v.mean()) for name, v in ms.items()},
        "p50_ms": {name: float(np.median(v)) for name, v in ms.items()},
        "predicted_speedup": runtime.card.macs_no_exits / runtime.card.average_macs(counts),
        "exit_counts": counts,
    }


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| member | " + " | ".join(f"{name} mean / p50 ms" for name in LAYOUTS)
        + " | segments / fused | tensors / fused | chain / network | speed-up vs network "
        "| tensors vs chain | predicted |",
        "|---:|" + "---:|" * (len(LAYOUTS) + 6),
    ]
    for k, r in enumerate(results):
        mean, p50 = r["mean_ms"], r["p50_ms"]
        cells = [f"{mean[n]:.3f} / {p50[n]:.3f}" for n in LAYOUTS]
        lines.append(
            f"| {k} | " + " | ".join(cells)
            + f" | {mean['segments'] / mean['fused']:.3f} "
            f"| {mean['segments, tensors'] / mean['fused']:.3f} "
            f"| {mean['segment chain'] / mean['network']:.3f} "
            f"| {mean['network'] / mean['fused']:.2f}x "
            f"| {mean['segment chain'] / mean['segments, tensors']:.2f}x "
            f"| {r['predicted_speedup']:.2f}x |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--limit", type=int, default=2000, help="first N test images")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/runtime_layout.md"))
    args = parser.parse_args(argv)
    pareto = args.run_dir / "pareto.json"
    if not pareto.is_file():
        raise UserError(f"{pareto} does not exist; pass a search run folder")
    front = json.loads(pareto.read_text())["front"]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, member in enumerate(front):
            checkpoint = args.run_dir / member["checkpoint"]
            result = measure_member(checkpoint, Path(tmp) / f"m{k}", args.limit, args.threads,
                                    args.warmup)
            results.append(result)
            print(json.dumps(result), flush=True)
    lines = [
        "# Runtime call layouts at batch 1",
        "",
        f"Run `{args.run_dir}`; command `python benchmarks/runtime_layout.py "
        + " ".join(sys.argv[1:] if argv is None else list(argv))
        + f"`; {results[0]['images']} test images per member, ONNX Runtime CPU provider, "
        f"{args.threads} thread(s), the five layouts taking turns image by image. Speed-up = "
        "mean ms of a no-exit layout / mean ms of the early-exit one (fused vs network; "
        "segments, tensors vs chain: the runtime before the fused graphs); predicted = MACs "
        "without exits / average MACs.",
        "",
        *table(results),
        "",
        *(f"- member {k}: `{r['arch']}`, exits taken {r['exit_counts']}"
          for k, r in enumerate(results)),
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
