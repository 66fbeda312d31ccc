"""Predictor benchmark: learning curves of the predictor kinds on a surrogate archive.

    nice -n 10 .venv/bin/python benchmarks/predictors.py \
        [--data data/surrogates/fashion-mnist-aebnas-plus-low.jsonl] \
        [--models xgb,gp,mlp,exits,usage-gp] [--train-sizes 25,50,100,200] [--folds 5] [--seed 0] \
        [--noise data/surrogates/fashion-mnist-aebnas-plus-low-noise.jsonl] \
        [--validation-ceiling benchmarks/results/validation_ceiling.json]

For each target (validation accuracy, average MACs), train size and model: Kendall tau, Spearman,
RMSE, MAPE, 90%-interval coverage and precision at the top 10%, averaged over ``--folds`` random
train/test splits (the same splits for every model). Writes ``benchmarks/results/predictors.md``
(the table, the goals and the seed-noise ceiling when the archive has repeated seeds) and
``benchmarks/results/predictors_learning_curve.png``, and prints the markdown. ``--noise`` names
an archive of the same architectures trained with other seeds: the seed-to-seed agreement (and the
Kendall tau / MAPE a perfect predictor of the seed-averaged value would reach against one seed)
is the ceiling no predictor can pass, drawn on the learning curves. It counts only the seed's
noise; ``--validation-ceiling`` names the ``--json`` output of ``benchmarks/validation_ceiling.py``
for the archive, whose ceiling also counts which images the validation split holds (the lower,
true ceiling of an inherited archive): drawn too, with the goal "within 90% of it".

Goals: accuracy Kendall tau >= 0.85 with 100 training records; average-MACs MAPE <= 5%.

The real CIFAR-10 figures (the reference implementation's own 200 candidates, see
``../shared/reference/cifar10-reference-archive/README.md``)::

    nice -n 10 .venv/bin/python benchmarks/predictors.py --reference-cifar10

is ``--data ../shared/reference/cifar10-reference-archive/cifar10-aebnas-ref5ep.jsonl
--train-sizes 100 --folds 5`` (100 rows to train, the other 100 to test, 5 random splits) with
the goals of that archive (Kendall tau >= 0.80, MAPE <= 5%), written to
``benchmarks/results/predictors_cifar10_reference.md`` (and ``..._learning_curve.png``).
"""

from __future__ import annotations

import argparse
import json
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
from aebnas.predictors.features import TARGETS, load_training_data
from aebnas.predictors.metrics import NoiseCeiling, noise_ceiling

#: The ceiling of ``benchmarks/validation_ceiling.py --json`` that counts every noise it measured.
VALIDATION_CEILING_KEY = "sampling + calibration-seed noise"
CEILING_SHARE = 0.9

DEFAULT_ARCHIVE = "data/surrogates/fashion-mnist-aebnas-plus-low.jsonl"
DEFAULT_MODELS = "xgb,gp,mlp,exits,usage-gp"
GOAL_TAU, GOAL_TAU_SIZE, GOAL_MAPE = 0.85, 100, 5.0
#: The reference implementation's CIFAR-10 archive (next to the repository, read-only).
REFERENCE_ARCHIVE = (
    Path(__file__).resolve().parents[2]
    / "shared/reference/cifar10-reference-archive/cifar10-aebnas-ref5ep.jsonl"
)
REFERENCE_GOAL_TAU = 0.80


def goal_lines(
    rows: Sequence[dict[str, Any]], models: Sequence[str], goal_tau: float = GOAL_TAU
) -> list[str]:
    """One markdown bullet per model and goal, with the measured value next to the goal."""
    lines = []
    for target, key, goal, better in (
        ("accuracy", "kendall_tau", goal_tau, "higher"),
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
    rows: Sequence[dict[str, Any]],
    path: Path,
    ceilings: dict[str, NoiseCeiling],
    goal_tau: float = GOAL_TAU,
    validation_tau: float | None = None,
) -> None:
    """Accuracy Kendall tau and average-MACs MAPE against train size, one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    panels = (("accuracy", "kendall_tau", goal_tau), ("avg_macs", "mape", GOAL_MAPE))
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
        if key == "kendall_tau" and validation_tau is not None:
            ax.axhline(validation_tau, color="purple", linestyle="-.", label="validation ceiling")
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
    command: str = "",
    goal_tau: float = GOAL_TAU,
    validation: dict[str, Any] | None = None,
) -> str:
    """The markdown report (``command``: the invocation that produced it; ``validation``: the
    ``--json`` output of ``benchmarks/validation_ceiling.py``)."""
    lines = [
        "# Predictor benchmark",
        "",
        f"Archive `{meta['archive']}`: {meta['dataset']}, space {meta['space']}, fidelity "
        f"{meta['fidelity_name']}; {meta['n_archs']} architectures ({meta['n_records']} ok "
        f"records, {meta['n_failed']} failed). {folds} random train/test splits per train size "
        f"(same splits for every model), test = all records not used for training. "
        f"Generated {time.strftime('%Y-%m-%d %H:%M')} in {seconds:.0f} s"
        + (f" by `{command}`." if command else "."),
        "",
        markdown_table(rows),
        "",
        "## Goals",
        "",
        *goal_lines(rows, models, goal_tau),
        "",
    ]
    if ceilings:
        lines += ["## Seed-noise ceiling", "", *ceiling_lines(ceilings), ""]
    if validation is not None:
        lines += ["## Validation ceiling", "", *validation_lines(rows, models, validation), ""]
    return "\n".join(lines)


def read_validation_ceiling(path: str, n_records: int) -> dict[str, Any]:
    """The ``--json`` output of ``benchmarks/validation_ceiling.py`` for an archive of
    ``n_records`` ok records.

    Raises:
        UserError: Missing or unreadable file, or one measured on another archive size.
    """
    try:
        data = json.loads(Path(path).read_text().strip().splitlines()[-1])
        rows = int(data["archive"]["rows"])
        tau = float(data["ceilings"][VALIDATION_CEILING_KEY]["kendall_tau"])
    except (OSError, IndexError, KeyError, TypeError, ValueError) as err:
        raise UserError(
            f"--validation-ceiling {path} is not the --json output of "
            f"benchmarks/validation_ceiling.py ({type(err).__name__}); run it with --json"
        ) from None
    if rows != n_records:
        raise UserError(
            f"--validation-ceiling {path} was measured on an archive of {rows} rows, this one has "
            f"{n_records}; measure it on this archive"
        )
    return {**data, "kendall_tau": tau}


def validation_lines(
    rows: Sequence[dict[str, Any]], models: Sequence[str], validation: dict[str, Any]
) -> list[str]:
    """Markdown bullets: the validation ceiling and each model's accuracy tau as a share of it."""
    tau = validation["kendall_tau"]
    halves = validation["halves"]
    lines = [
        f"- Two disjoint halves of the {halves['validation_images']} validation images rank "
        f"{halves['candidates']} re-evaluated candidates at Kendall tau "
        f"{halves['tau_tuned_halves']:.3f}; with the calibration-seed noise, no predictor of the "
        f"architecture can rank this archive's accuracy above about **{tau:.3f}** "
        "(`benchmarks/validation_ceiling.py`)."
    ]
    for model in models:
        own = [r for r in rows if r["target"] == "accuracy" and r["model"] == model]
        at = [r for r in own if r["train_size"] == GOAL_TAU_SIZE]
        if not at:
            continue
        share = at[0]["kendall_tau"] / tau
        met = share >= CEILING_SHARE
        lines.append(
            f"- accuracy kendall_tau of {model} with {GOAL_TAU_SIZE} training records: "
            f"{at[0]['kendall_tau']:.3f} = {100 * share:.0f}% of the validation ceiling (goal >= "
            f"{100 * CEILING_SHARE:.0f}%: {'met' if met else 'NOT met'})"
        )
    return lines


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
    parser.add_argument("--data", default=None, help=f"archive (default {DEFAULT_ARCHIVE})")
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--train-sizes", default=None, help="default 25,50,100,200")
    parser.add_argument(
        "--reference-cifar10",
        action="store_true",
        help="the CIFAR-10 reference archive at 100 training rows, its goals and result file",
    )
    parser.add_argument("--targets", default="accuracy,avg_macs")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out-dir", default="benchmarks/results")
    parser.add_argument(
        "--name", help="result file stem (default predictors, or predictors_cifar10_reference)"
    )
    parser.add_argument("--noise", help="archive of the same architectures with other seeds")
    parser.add_argument(
        "--validation-ceiling", help="the --json output of benchmarks/validation_ceiling.py"
    )
    args = parser.parse_args(argv)
    reference = args.reference_cifar10
    if reference and args.data:
        raise UserError("--reference-cifar10 names its own archive; drop --data")
    data = str(REFERENCE_ARCHIVE) if reference else args.data or DEFAULT_ARCHIVE
    if reference and not Path(data).is_file():
        raise UserError(
            f"{data} is missing; --reference-cifar10 needs the shared reference archive next to "
            "the repository (../shared/reference/cifar10-reference-archive/)"
        )
    args.data = data
    models = parse_list(args.models, "models")
    targets = parse_list(args.targets, "targets", list(TARGETS))
    sizes = parse_sizes(args.train_sizes or ("100" if reference else "25,50,100,200"))
    stem, goal_tau = (
        ("predictors_cifar10_reference", REFERENCE_GOAL_TAU)
        if reference
        else (
            "predictors",
            GOAL_TAU,
        )
    )
    stem = args.name or stem
    validation = None
    if args.validation_ceiling:  # checked before the minutes of evaluation
        n_records = load_training_data(args.data, "accuracy").meta["n_records"]
        validation = read_validation_ceiling(args.validation_ceiling, n_records)
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
    command = "python benchmarks/predictors.py " + " ".join(sys.argv[1:] if argv is None else argv)
    seconds = time.perf_counter() - start
    text = report(
        rows, meta, models, args.folds, ceilings, seconds, command.strip(), goal_tau, validation
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.md").write_text(text + "\n")
    validation_tau = None if validation is None else validation["kendall_tau"]
    plot_learning_curves(
        rows, out / f"{stem}_learning_curve.png", ceilings, goal_tau, validation_tau
    )
    print(text)
    print(f"wrote {out / f'{stem}.md'} and {out / f'{stem}_learning_curve.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
