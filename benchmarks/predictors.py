"""Predictor benchmark: learning curves of xgb, gp and mlp on a surrogate archive.

    nice -n 10 .venv/bin/python benchmarks/predictors.py \
        [--data data/surrogates/fashion-mnist-aebnas-plus-low.jsonl] [--models xgb,gp,mlp] \
        [--train-sizes 25,50,100,200] [--folds 5] [--seed 0] \
        [--noise data/surrogates/fashion-mnist-aebnas-plus-low-noise.jsonl]

For each target (validation accuracy, average MACs), train size and model: Kendall tau, Spearman,
RMSE, MAPE, 90%-interval coverage and precision at the top 10%, averaged over ``--folds`` random
train/test splits (the same splits for every model). Writes ``benchmarks/results/predictors.md``
(the table, the goals and the seed-noise ceiling when the archive has repeated seeds) and
``benchmarks/results/predictors_learning_curve.png``, and prints the markdown. ``--noise`` names
an archive of the same architectures trained with other seeds: the seed-to-seed agreement (and the
Kendall tau / MAPE a perfect predictor of the seed-averaged value would reach against one seed)
is the ceiling no predictor can pass, drawn on the learning curves.

Goals: accuracy Kendall tau >= 0.85 with 100 training records; average-MACs MAPE <= 2%.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if not __package__:  # run as a script from a checkout: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from aebnas.archive import read_archive
from aebnas.errors import UserError, run_cli
from aebnas.predictors.cli import parse_list, parse_sizes
from aebnas.predictors.evaluation import evaluate_archive, format_value, markdown_table
from aebnas.predictors.features import TARGETS
from aebnas.predictors.metrics import NoiseCeiling, noise_ceiling

DEFAULT_ARCHIVE = "data/surrogates/fashion-mnist-aebnas-plus-low.jsonl"
GOAL_TAU, GOAL_TAU_SIZE, GOAL_MAPE = 0.85, 100, 2.0


def goal_lines(rows: Sequence[dict[str, Any]], models: Sequence[str]) -> list[str]:
    """One markdown bullet per model and goal, with the measured value next to the goal."""
    lines = []
    for target, key, goal, better in (
        ("accuracy", "kendall_tau", GOAL_TAU, "higher"),
        ("avg_macs", "mape", GOAL_MAPE, "lower"),
    ):
        for model in models:
            own = [r for r in rows if r["target"] == target and r["model"] == model]
            if not own:
                continue
            at = [r for r in own if r["train_size"] == GOAL_TAU_SIZE]
            row = at[0] if at else max(own, key=lambda r: r["train_size"])
            value = row[key]
            met = value >= goal if better == "higher" else value <= goal
            sign = ">=" if better == "higher" else "<="
            lines.append(
                f"- {target} {key} of {model} with {row['train_size']} training records: "
                f"{format_value(key, value)} (goal {sign} {goal:g}: "
                f"{'met' if met else 'NOT met'})"
            )
    return lines


def plot_learning_curves(
    rows: Sequence[dict[str, Any]], path: Path, ceilings: dict[str, NoiseCeiling]
) -> None:
    """Accuracy Kendall tau and average-MACs MAPE against train size, one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    panels = (("accuracy", "kendall_tau", GOAL_TAU), ("avg_macs", "mape", GOAL_MAPE))
    for ax, (target, key, goal) in zip(axes, panels, strict=True):
        for model in dict.fromkeys(r["model"] for r in rows):
            own = sorted(
                (r for r in rows if r["target"] == target and r["model"] == model),
                key=lambda r: r["train_size"],
            )
            if own:
                ax.plot([r["train_size"] for r in own], [r[key] for r in own], "o-", label=model)
        ax.axhline(goal, color="grey", linestyle="--", label=f"goal {goal:g}")
        if target in ceilings:
            ceiling = ceilings[target]
            value = ceiling.predictor_tau if key == "kendall_tau" else ceiling.mape / math.sqrt(2)
            ax.axhline(value, color="red", linestyle=":", label="seed-noise ceiling")
        ax.set_xlabel("training records")
        ax.set_ylabel("Kendall tau" if key == "kendall_tau" else "MAPE (%)")
        ax.set_title(f"{target}: {'Kendall tau' if key == 'kendall_tau' else 'MAPE'}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(
    rows: Sequence[dict[str, Any]],
    meta: dict[str, Any],
    models: Sequence[str],
    folds: int,
    ceilings: dict[str, NoiseCeiling],
    seconds: float,
) -> str:
    """The markdown report."""
    lines = [
        "# Predictor benchmark",
        "",
        f"Archive `{meta['archive']}`: {meta['dataset']}, space {meta['space']}, fidelity "
        f"{meta['fidelity_name']}; {meta['n_archs']} architectures ({meta['n_records']} ok "
        f"records, {meta['n_failed']} failed). {folds} random train/test splits per train size "
        f"(same splits for every model), test = all records not used for training. "
        f"Generated {time.strftime('%Y-%m-%d %H:%M')} in {seconds:.0f} s.",
        "",
        markdown_table(rows),
        "",
        "## Goals",
        "",
        *goal_lines(rows, models),
        "",
    ]
    if ceilings:
        lines += ["## Seed-noise ceiling", "", *ceiling_lines(ceilings), ""]
    return "\n".join(lines)


def noise_ceilings(archive: str, noise: str | None) -> dict[str, NoiseCeiling]:
    """Per target, the seed-to-seed agreement of ``archive`` (with ``noise``, if given)."""
    records = read_archive(archive)[1]
    other = read_archive(noise)[1] if noise else None
    found = {t: noise_ceiling(records, other, t) for t in TARGETS}
    return {t: c for t, c in found.items() if c.pairs > 0}


def ceiling_lines(ceilings: dict[str, NoiseCeiling]) -> list[str]:
    """Markdown bullets: seed-to-seed agreement and the perfect predictor's expected scores."""
    return [
        f"- {target}: {c.pairs} architectures trained with two seeds: Kendall tau "
        f"{c.kendall_tau:.3f}, Spearman {c.spearman:.3f}, RMSE {c.rmse:.4g}, MAPE {c.mape:.2f}% "
        f"between seeds. A perfect predictor of the seed-averaged value would reach about "
        f"Kendall tau {c.predictor_tau:.3f} and MAPE {c.mape / math.sqrt(2):.2f}% against one "
        f"seed's measurement (independent noise of equal size per seed)."
        for target, c in ceilings.items()
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=DEFAULT_ARCHIVE)
    parser.add_argument("--models", default="xgb,gp,mlp")
    parser.add_argument("--train-sizes", default="25,50,100,200")
    parser.add_argument("--targets", default="accuracy,avg_macs")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out-dir", default="benchmarks/results")
    parser.add_argument("--noise", help="archive of the same architectures with other seeds")
    args = parser.parse_args(argv)
    models = parse_list(args.models, "models")
    targets = parse_list(args.targets, "targets", list(TARGETS))
    sizes = parse_sizes(args.train_sizes)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows, meta = evaluate_archive(
        args.data,
        models,
        targets,
        sizes,
        args.folds,
        args.seed,
        progress=lambda label: print(f"  {label}", file=sys.stderr, flush=True),
    )
    if not rows:
        raise UserError(f"{args.data} holds too few records for --train-sizes {args.train_sizes}")
    out = Path(args.out_dir)
    ceilings = noise_ceilings(args.data, args.noise)
    text = report(rows, meta, models, args.folds, ceilings, time.perf_counter() - start)
    out.mkdir(parents=True, exist_ok=True)
    (out / "predictors.md").write_text(text)
    plot_learning_curves(rows, out / "predictors_learning_curve.png", ceilings)
    print(text)
    print(f"wrote {out / 'predictors.md'} and {out / 'predictors_learning_curve.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
