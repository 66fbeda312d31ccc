"""What the validation sample alone allows a predictor: two disjoint halves of validation.

    .venv/bin/python benchmarks/validation_ceiling.py \
        [--config configs/fashion-mnist-supernet.yaml] \
        [--archive data/surrogates/fashion-mnist-aebnas-plus-supernet.jsonl] \
        [--noise data/surrogates/fashion-mnist-aebnas-plus-supernet-noise.jsonl] \
        [--n 100] [--out benchmarks/results/validation_ceiling.md]

An archive's accuracy is measured on one validation split (5,000 images for Fashion-MNIST). Two
networks of nearly equal accuracy are ordered by the images that happen to be in it, and no
predictor can learn that order from the architecture. This benchmark measures how much of the
archive's accuracy spread is such sampling noise:

1. the first ``--n`` architectures of ``--archive`` are evaluated again with the config's low
   fidelity (the same seed, so the full-split figures must equal the archive's: checked and
   printed), keeping every exit's outcome on every validation image;
2. the validation images are split into two seeded disjoint halves, and the thresholds are tuned
   on each half separately, exactly as the evaluator tunes them on the whole split;
3. printed: Kendall tau between the halves (tuned accuracy and final-exit accuracy), and the
   variance of the sampling noise this implies for the whole split (``var(A - B) / 4``: each half
   has twice the whole split's noise variance).

From the archive's accuracy variance ``var(M)`` over all its rows, the sampling noise of the
whole split ``s2`` and, with ``--noise``, the calibration-seed noise ``c2`` (``var(seed0 - seed1)
/ 2`` on the repeated architectures), the correlation a perfect predictor of the expected accuracy
reaches against the archive is ``r = sqrt((var(M) - s2 - c2) / var(M))``. Its Kendall tau for a
bivariate normal, ``2 / pi * asin(r)``, is the ceiling printed: no predictor of the architecture
can rank the archive's accuracy better, however many rows it sees. The same noise model predicts
the Kendall tau between the two halves (they share the calibration, so its noise counts as signal
there); that prediction is printed next to the measured one as a check of the model, and so
are the ceilings it projects for 2, 3 and 10 times the validation images.

``--reuse PATH`` takes the re-evaluation (``halves``) from the last JSON line of an earlier run's
``--json`` output instead of evaluating again (minutes per 100 architectures).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if not __package__:  # run as a script from a checkout: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from scipy import stats

from aebnas.archive import read_archive
from aebnas.config import Config, fidelity_dict, load_config
from aebnas.costs import ExitCosts, exit_costs
from aebnas.data import dataset_info, load_dataset
from aebnas.errors import UserError, run_cli
from aebnas.evaluation import evaluate_architecture, objective_for
from aebnas.space import get_space, parse_architecture
from aebnas.thresholds.operating import operating_point
from aebnas.thresholds.tuners import ExitOutcomes, Objective, tune

#: Multiples of the validation split the ceiling is projected for (same candidates).
LARGER_SPLITS = (2, 3, 10)


def tau(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    return float(stats.kendalltau(a, b).statistic)


def normal_tau(r: float) -> float:
    """Kendall tau of a bivariate normal with Pearson correlation ``r`` (Greiner's relation)."""
    return 2.0 / math.pi * math.asin(max(-1.0, min(1.0, r)))


def half_figures(
    outcomes: ExitOutcomes,
    half: np.ndarray,
    costs: ExitCosts,
    objective: Objective,
    config: Config,
) -> tuple[float, float]:
    """(tuned accuracy, final-exit accuracy), fractions, of the images ``half`` only."""
    part = ExitOutcomes(outcomes.confidence[half], outcomes.correct[half])
    tuned = tune(part, costs, objective, config.thresholds.tuner)
    chosen = operating_point(tuned, objective, config.thresholds.accuracy_tolerance)
    return float(chosen.accuracy), float(part.correct[:, -1].mean())


def split_halves(config: Config, archive: Path, n: int, seed: int) -> dict[str, Any]:
    """Re-evaluate the first ``n`` rows of ``archive``; figures on two validation halves."""
    space = get_space(config.space, dataset_info(config.data.dataset).resolutions)
    dataset = load_dataset(config.data.dataset, config.data.root, config.data.val_size,
                           seed=config.seed)
    meta, records = read_archive(archive)
    if meta.get("fidelity") != fidelity_dict(config.low_fidelity):
        raise UserError(
            f"the low fidelity of this config differs from the one {archive} was evaluated at; "
            "pass the config that built the archive (--config)"
        )
    rows = [r for r in records if r.get("status") == "ok"][:n]
    if len(rows) < 10:
        raise UserError(f"{archive} has {len(rows)} ok rows; this benchmark needs at least 10")
    order = np.random.default_rng(seed).permutation(len(dataset.val))
    halves = np.sort(order[: len(order) // 2]), np.sort(order[len(order) // 2:])
    figures: dict[str, list[float]] = {k: [] for k in ("a", "b", "final_a", "final_b")}
    matches, start = 0, time.perf_counter()
    for row in rows:
        arch = parse_architecture(row["arch"], space)
        record = evaluate_architecture(arch, space, dataset, config.low_fidelity,
                                       config.thresholds, seed=row["seed"], keep_outcomes=True)
        if record["status"] != "ok":
            raise RuntimeError(f"{row['arch']} failed: {record['reason']}")
        matches += record["accuracy"] == row["accuracy"]
        costs = exit_costs(arch, space, dataset.channels, dataset.num_classes)
        objective = objective_for(config.thresholds, costs)
        for key, half in zip(("a", "b"), halves, strict=True):
            tuned, final = half_figures(record["outcomes"], half, costs, objective, config)
            figures[key].append(tuned)
            figures["final_" + key].append(final)
    a, b = np.array(figures["a"]), np.array(figures["b"])
    fa, fb = np.array(figures["final_a"]), np.array(figures["final_b"])
    return {
        "candidates": len(rows),
        "validation_images": len(dataset.val),
        "seconds": round(time.perf_counter() - start, 1),
        "archive_matches": matches,
        "tau_tuned_halves": tau(a, b),
        "tau_final_halves": tau(fa, fb),
        "sampling_var_tuned": float(np.var(a - b, ddof=1) / 4),
        "sampling_var_final": float(np.var(fa - fb, ddof=1) / 4),
    }


def calibration_var(archive: Path, noise: Path) -> dict[str, Any]:
    """Noise variance of one accuracy from the calibration seed (``var(seed0 - seed1) / 2``),
    and the Kendall tau between the seeds of the tuned and of the final-exit accuracy."""
    first = {r["arch"]: r for r in read_archive(archive)[1] if r.get("status") == "ok"}
    pairs = [(first[r["arch"]], r) for r in read_archive(noise)[1]
             if r.get("status") == "ok" and r["arch"] in first]
    if len(pairs) < 10:
        raise UserError(f"{noise} repeats {len(pairs)} architectures of {archive}; need >= 10")
    diff = np.array([x["accuracy"] - y["accuracy"] for x, y in pairs])
    return {
        "repeated": len(pairs),
        "calibration_var": float(np.var(diff, ddof=1) / 2),
        "tau_tuned_seeds": tau([x["accuracy"] for x, _ in pairs],
                               [y["accuracy"] for _, y in pairs]),
        "tau_final_seeds": tau([x["final_accuracy"] for x, _ in pairs],
                               [y["final_accuracy"] for _, y in pairs]),
    }


def ceiling(total_var: float, noise_var: float) -> dict[str, float]:
    """Correlation and Kendall tau of a perfect predictor against measurements of variance
    ``total_var`` carrying independent noise of variance ``noise_var``."""
    r = math.sqrt(max(0.0, total_var - noise_var) / total_var)
    return {"pearson": r, "kendall_tau": normal_tau(r)}


def halves_tau(total_var: float, sampling_var: float) -> float:
    """Kendall tau the noise model predicts between two half-split measurements: each carries
    twice the whole split's sampling noise; both share the calibration, so its noise counts as
    signal."""
    shared = total_var - sampling_var
    return normal_tau(shared / (shared + 2 * sampling_var))


def larger_split_tau(total_var: float, sampling_var: float, calibration: float, k: float) -> float:
    """The ceiling Kendall tau with ``k`` times the validation images: the sampling variance
    shrinks to ``sampling_var / k``, in the noise and in the measured total alike."""
    total_k = total_var - sampling_var + sampling_var / k
    return ceiling(total_k, sampling_var / k + calibration)["kendall_tau"]


def reused_halves(path: Path) -> dict[str, Any]:
    """The ``halves`` section of the last JSON line of an earlier ``--json`` output."""
    try:
        last = [line for line in path.read_text().splitlines() if line.startswith("{")][-1]
        return dict(json.loads(last)["halves"])
    except (OSError, IndexError, KeyError, ValueError):
        raise UserError(
            f"{path} holds no earlier run's JSON line with 'halves'; run this benchmark with "
            "--json and pass its output"
        ) from None


def markdown(results: dict[str, Any], args: Any) -> str:
    halves, archive = results["halves"], results["archive"]
    lines = [
        "# What the validation sample allows: two disjoint halves",
        "",
        f"`python benchmarks/validation_ceiling.py --config {args.config} --archive "
        f"{args.archive} --n {args.n}" + (f" --noise {args.noise}`" if args.noise else "`"),
        "",
        f"- {halves['candidates']} architectures (the archive's first) re-evaluated in "
        f"{halves['seconds']} s; the whole-split tuned accuracy equals the archive's for "
        f"{halves['archive_matches']} of them.",
        f"- Validation split: {halves['validation_images']} images, two seeded halves of "
        f"{halves['validation_images'] // 2}.",
        "",
        "| figure | tuned accuracy | final-exit accuracy |",
        "|---|---:|---:|",
        f"| Kendall tau, half A vs half B | {halves['tau_tuned_halves']:.3f} | "
        f"{halves['tau_final_halves']:.3f} |",
        f"| sampling-noise sd of the whole split, points | "
        f"{100 * math.sqrt(halves['sampling_var_tuned']):.3f} | "
        f"{100 * math.sqrt(halves['sampling_var_final']):.3f} |",
        "",
        f"- Check of the noise model: it predicts Kendall tau {results['model_halves_tau']:.3f} "
        f"between the halves (tuned accuracy); measured {halves['tau_tuned_halves']:.3f}.",
        f"- The archive's accuracy over its {archive['rows']} rows: sd "
        f"{100 * math.sqrt(archive['var']):.3f} points.",
    ]
    if "calibration" in results:
        cal = results["calibration"]
        lines.append(f"- Calibration-seed noise sd ({cal['repeated']} repeated architectures): "
                     f"{100 * math.sqrt(cal['calibration_var']):.3f} points; Kendall tau "
                     f"between the seeds {cal['tau_tuned_seeds']:.3f} (tuned accuracy), "
                     f"{cal['tau_final_seeds']:.3f} (final-exit accuracy).")
    lines += ["", "| ceiling of any predictor of the architecture | Pearson r | Kendall tau |",
              "|---|---:|---:|"]
    for label, value in results["ceilings"].items():
        lines.append(f"| {label} | {value['pearson']:.3f} | {value['kendall_tau']:.3f} |")
    larger = results["larger_splits"]
    lines += [
        "",
        "The same noise model for k times the validation images (sampling variance / k, the "
        "same calibration noise):",
        "",
        "| k | " + " | ".join(larger) + " |",
        "|---|" + "---:|" * len(larger),
        "| ceiling Kendall tau | " + " | ".join(f"{v:.3f}" for v in larger.values()) + " |",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/fashion-mnist-supernet.yaml")
    parser.add_argument("--archive",
                        default="data/surrogates/fashion-mnist-aebnas-plus-supernet.jsonl")
    parser.add_argument("--noise", help="the archive's repeated architectures (other seed)")
    parser.add_argument("--n", type=int, default=100, help="architectures to re-evaluate")
    parser.add_argument("--seed", type=int, default=0, help="seed of the two halves")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reuse", help="an earlier --json output: reuse its re-evaluation")
    parser.add_argument("--out", help="also write the markdown here")
    parser.add_argument("--json", action="store_true", help="print the results as JSON last")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    archive = Path(args.archive)
    accuracies = [r["accuracy"] for r in read_archive(archive)[1] if r.get("status") == "ok"]
    halves = (reused_halves(Path(args.reuse)) if args.reuse
              else split_halves(config, archive, args.n, args.seed))
    results: dict[str, Any] = {
        "archive": {"rows": len(accuracies), "var": statistics.variance(accuracies)},
        "halves": halves,
    }
    total = results["archive"]["var"]
    sampling = halves["sampling_var_tuned"]
    results["ceilings"] = {"validation sampling noise alone": ceiling(total, sampling)}
    calibration = 0.0
    if args.noise:
        results["calibration"] = calibration_var(archive, Path(args.noise))
        calibration = results["calibration"]["calibration_var"]
        results["ceilings"]["sampling + calibration-seed noise"] = ceiling(
            total, sampling + calibration)
    results["model_halves_tau"] = halves_tau(total, sampling)
    results["larger_splits"] = {
        str(k): larger_split_tau(total, sampling, calibration, k) for k in LARGER_SPLITS
    }
    results["larger_splits"]["infinite"] = larger_split_tau(total, sampling, calibration, math.inf)
    text = markdown(results, args)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
