"""What the supernet buys: speed, repeatability and quality of evaluation by inheritance.

    .venv/bin/python benchmarks/supernet.py \
        [--supernet supernets/fashion-mnist-aebnas-plus/supernet.safetensors] \
        [--config configs/fashion-mnist.yaml] [--speed 5] [--repeat 50] \
        [--full data/surrogates/fashion-mnist-aebnas-plus-full.jsonl] [--quality 40] \
        [--calibration-size 2000] [--out benchmarks/results/supernet.md]

Measured in one run, on validation data only (``--speed 0``, ``--repeat 0`` or ``--quality 0``
skips that section; ``--calibration-size`` replaces the config's batch-norm recalibration size):

- **speed**: seconds per candidate of the inherited evaluation (extract, batch-norm
  recalibration, validation pass, threshold tuning) against the config's low fidelity trained
  from scratch, on the same ``--speed`` architectures, alternating, same threads; the ratio of
  the medians;
- **repeatability**: a stratified sample of ``--repeat`` architectures (seed 0) evaluated twice
  with calibration seeds 0 and 1; Kendall tau of the
  tuned accuracy and of the average MACs between the two;
- **quality**: the architectures of the from-scratch full-fidelity archive ``--full`` (at most
  ``--quality``): inherited accuracy and fine-tuned accuracy (``--finetune-epochs`` over
  ``--finetune-size`` images at ``--finetune-lr``, from the inherited weights) against the
  archive's; the share of architectures where inheritance is more accurate, and Kendall tau;
- **training cost**: ``--train-seconds`` (the supernet's measured training wall time) in
  seconds and in from-scratch full-fidelity candidates (the archive's median training time).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if not __package__:  # run as a script from a checkout: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from scipy import stats

from aebnas.archive import read_archive
from aebnas.config import Config, FidelityConfig, load_config
from aebnas.data import Dataset, dataset_info, load_dataset
from aebnas.errors import UserError, run_cli
from aebnas.evaluation import evaluate_architecture
from aebnas.space import Architecture, SearchSpace, get_space, parse_architecture
from aebnas.space.sampling import sample_stratified


@dataclasses.dataclass
class Bench:
    """What every measurement shares."""

    config: Config
    space: SearchSpace
    dataset: Dataset
    device: torch.device

    def evaluate(self, arch: Architecture, fidelity: FidelityConfig, seed: int) -> dict[str, Any]:
        start = time.perf_counter()
        record = evaluate_architecture(arch, self.space, self.dataset, fidelity,
                                       self.config.thresholds, seed=seed, device=self.device)
        record["wall_seconds"] = time.perf_counter() - start
        if record["status"] != "ok":
            raise RuntimeError(f"{arch} failed: {record['reason']}")
        return record


def inherited(config: Config, supernet: str, **changes: Any) -> FidelityConfig:
    """The config's low fidelity, inherited from ``supernet`` without fine-tuning (the
    calibration size of the config's ``low_fidelity`` unless ``changes`` set another)."""
    return dataclasses.replace(config.low_fidelity, supernet=supernet, epochs=0, **changes)


def speed(bench: Bench, archs: Sequence[Architecture], supernet: str) -> dict[str, Any]:
    scratch_fidelity = dataclasses.replace(bench.config.low_fidelity, supernet=None)
    bench.evaluate(archs[0], inherited(bench.config, supernet), seed=0)  # load, warm caches
    scratch, inherit = [], []
    for arch in archs:
        scratch.append(bench.evaluate(arch, scratch_fidelity, seed=0)["wall_seconds"])
        inherit.append(bench.evaluate(arch, inherited(bench.config, supernet), 0)["wall_seconds"])
    return {
        "candidates": len(archs),
        "scratch_seconds": statistics.median(scratch),
        "inherited_seconds": statistics.median(inherit),
        "ratio": statistics.median(scratch) / statistics.median(inherit),
    }


def tau(a: Sequence[float], b: Sequence[float]) -> float:
    return float(stats.kendalltau(a, b).statistic)


def repeatability(
    bench: Bench, archs: Sequence[Architecture], supernet: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    fidelity = inherited(bench.config, supernet)
    first = [bench.evaluate(a, fidelity, seed=0) for a in archs]
    second = [bench.evaluate(a, fidelity, seed=1) for a in archs]
    summary = {
        "candidates": len(archs),
        "accuracy_tau": tau([r["accuracy"] for r in first], [r["accuracy"] for r in second]),
        "avg_macs_tau": tau([r["avg_macs"] for r in first], [r["avg_macs"] for r in second]),
        "accuracy_rms_diff": statistics.fmean(
            (a["accuracy"] - b["accuracy"]) ** 2 for a, b in zip(first, second, strict=True)
        ) ** 0.5,
    }
    return summary, {r["arch"]: r for r in first}


def quality(
    bench: Bench, full: Sequence[dict[str, Any]], supernet: str, args: Any,
    known: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    finetune = dataclasses.replace(
        bench.config.low_fidelity, supernet=supernet, epochs=args.finetune_epochs,
        train_size=args.finetune_size, lr=args.finetune_lr,
    )
    rows = []
    for record in full:
        arch = parse_architecture(record["arch"], bench.space)
        inherit = known.get(arch.canonical) or bench.evaluate(
            arch, inherited(bench.config, supernet), seed=0)
        tuned = bench.evaluate(arch, finetune, seed=0)
        rows.append((record["accuracy"], inherit["accuracy"], tuned["accuracy"],
                     tuned["train_seconds"]))
    scratch, inherit_acc, tuned_acc, seconds = (list(col) for col in zip(*rows, strict=True))
    return {
        "candidates": len(rows),
        "inherited_above_scratch": sum(i > s for s, i in zip(scratch, inherit_acc, strict=True))
        / len(rows),
        "finetuned_above_scratch": sum(t > s for s, t in zip(scratch, tuned_acc, strict=True))
        / len(rows),
        "tau_inherited_scratch": tau(inherit_acc, scratch),
        "tau_finetuned_scratch": tau(tuned_acc, scratch),
        "mean_scratch": statistics.fmean(scratch),
        "mean_inherited": statistics.fmean(inherit_acc),
        "mean_finetuned": statistics.fmean(tuned_acc),
        "finetune_seconds": statistics.median(seconds),
    }


def speed_lines(s: dict[str, Any]) -> list[str]:
    return [
        f"| seconds per candidate, 1-epoch from scratch (median of {s['candidates']}) | "
        f"{s['scratch_seconds']:.1f} | |",
        f"| seconds per candidate, inherited | {s['inherited_seconds']:.1f} | |",
        f"| speed-up (ratio of medians) | {s['ratio']:.1f}x | >= 5x (stretch 10x) |",
    ]


def repeatability_lines(r: dict[str, Any]) -> list[str]:
    return [
        f"| accuracy Kendall tau, calibration seed 0 vs 1 ({r['candidates']} archs) | "
        f"{r['accuracy_tau']:.3f} | >= 0.9 |",
        f"| average-MACs Kendall tau, seed 0 vs 1 | {r['avg_macs_tau']:.3f} | |",
        f"| RMS accuracy difference between seeds | {r['accuracy_rms_diff']:.4f} | |",
    ]


def quality_lines(q: dict[str, Any], args: Any) -> list[str]:
    return [
        f"| inherited above from-scratch full fidelity ({q['candidates']} archs) | "
        f"{100 * q['inherited_above_scratch']:.0f}% | >= 80% |",
        f"| fine-tuned above from-scratch full fidelity | "
        f"{100 * q['finetuned_above_scratch']:.0f}% | |",
        f"| Kendall tau inherited vs from-scratch full | {q['tau_inherited_scratch']:.3f} | "
        ">= 0.6 |",
        f"| Kendall tau fine-tuned vs from-scratch full | {q['tau_finetuned_scratch']:.3f} | |",
        f"| mean accuracy: from scratch / inherited / fine-tuned | {q['mean_scratch']:.4f} / "
        f"{q['mean_inherited']:.4f} / {q['mean_finetuned']:.4f} | |",
        f"| fine-tune seconds per candidate ({args.finetune_epochs} epoch(s) over "
        f"{args.finetune_size} images, lr {args.finetune_lr}) | {q['finetune_seconds']:.1f} | |",
    ]


def markdown(results: dict[str, Any], args: Any) -> str:
    """The measured sections as one markdown table (a section skipped by a 0 is left out)."""
    lines = [
        f"Supernet benchmark ({args.supernet}, {torch.get_num_threads()} torch thread(s), "
        f"batch-norm recalibration on {results['calibration_size']} training images, one run; "
        "accuracies are tuned validation accuracies as fractions).",
        "",
        "| measurement | value | goal |",
        "|---|---:|---|",
    ]
    if results.get("speed"):
        lines += speed_lines(results["speed"])
    if results.get("repeatability"):
        lines += repeatability_lines(results["repeatability"])
    if results.get("quality"):
        lines += quality_lines(results["quality"], args)
    c = results.get("cost")
    if c is not None:
        lines.append(
            f"| supernet training | {c['seconds']:.0f} s = {c['candidates']:.0f} full-fidelity "
            "candidates | <= ~2 h |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--supernet",
                        default="supernets/fashion-mnist-aebnas-plus/supernet.safetensors")
    parser.add_argument("--config", default="configs/fashion-mnist.yaml")
    parser.add_argument("--full", default="data/surrogates/fashion-mnist-aebnas-plus-full.jsonl")
    parser.add_argument("--speed", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--quality", type=int, default=40)
    parser.add_argument("--finetune-epochs", type=int, default=1)
    parser.add_argument("--finetune-size", type=int, default=5000)
    parser.add_argument("--finetune-lr", type=float, default=0.01)
    parser.add_argument("--train-seconds", type=float, help="the supernet's training wall time")
    parser.add_argument("--calibration-size", type=int,
                        help="batch-norm recalibration images (default: the config's)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the policy: 1)")
    parser.add_argument("--out", help="also write the markdown here")
    parser.add_argument("--json", action="store_true", help="print the results as JSON last")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    space = get_space(config.space, dataset_info(config.data.dataset).resolutions)
    dataset = load_dataset(config.data.dataset, config.data.root, config.data.val_size,
                           seed=config.seed)
    if args.calibration_size is not None:
        if args.calibration_size < 1:
            raise UserError(f"--calibration-size must be positive, got {args.calibration_size}")
        low = dataclasses.replace(config.low_fidelity, calibration_size=args.calibration_size)
        config = dataclasses.replace(config, low_fidelity=low)
    bench = Bench(config, space, dataset, torch.device("cpu"))
    full = [r for r in read_archive(args.full)[1] if r.get("status") == "ok"][: args.quality]
    if args.quality and len(full) < 3:
        raise UserError(f"{args.full} has {len(full)} ok rows; train some at full fidelity")
    sample = sample_stratified(space, max(args.repeat, args.speed), config.seed)
    results: dict[str, Any] = {"calibration_size": config.low_fidelity.calibration_size}
    known: dict[str, dict[str, Any]] = {}
    if args.speed:
        results["speed"] = speed(bench, sample[: args.speed], args.supernet)
        print(json.dumps({"speed": results["speed"]}), flush=True)
    if args.repeat:
        results["repeatability"], known = repeatability(
            bench, sample[: args.repeat], args.supernet)
        print(json.dumps({"repeatability": results["repeatability"]}), flush=True)
    if args.quality:
        results["quality"] = quality(bench, full, args.supernet, args, known)
    full_seconds = statistics.median(r["train_seconds"] for r in full) if full else None
    results["cost"] = None if args.train_seconds is None or full_seconds is None else {
        "seconds": args.train_seconds, "candidates": args.train_seconds / full_seconds}
    text = markdown(results, args)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
