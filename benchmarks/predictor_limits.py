"""What limits accuracy ranking on an archive: the predictors given what only training reveals.

    nice -n 10 .venv/bin/python benchmarks/predictor_limits.py \
        [--data ../shared/reference/cifar10-reference-archive/cifar10-aebnas-ref5ep.jsonl] \
        [--models gp,xgb] [--train-sizes 50,100,150,180] [--folds 5] [--seed 0]

Accuracy Kendall tau (mean over ``--folds`` random splits, the same splits as
``benchmarks/predictors.py``) of each model with

- ``features``: the predictor features (what a search knows before training);
- ``features + operating point``: plus the measured tuned operating point of each record (which
  exits the tuner kept on and the utilisation of every exit), known only after training and
  tuning. No predictor can know more about the tuner's choice than this; if even this stays
  below a goal, better features of the architecture alone will not reach it.

And the average-MACs MAPE of the ``exits`` predictor (mean over the same splits) as it is, and
with the measured on/off state of every exit given (only the leave fractions predicted): the
gap shows how much of the error is the tuner's discrete on/off choice.

Writes ``benchmarks/results/predictor_limits.md`` and prints it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if not __package__:  # run as a script from a checkout: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from aebnas.errors import UserError, run_cli
from aebnas.predictors.cli import parse_list, parse_sizes
from aebnas.predictors.evaluation import makers_for
from aebnas.predictors.exits import ExitsPredictor, exit_cost_columns
from aebnas.predictors.factory import build_predictor
from aebnas.predictors.features import TrainingData, feature_names, load_training_data
from aebnas.predictors.metrics import learning_curve, subset_splits
from aebnas.predictors.usage import expected_avg_macs, split_costs
from aebnas.space import get_space

REFERENCE_ARCHIVE = (
    Path(__file__).resolve().parents[2]
    / "shared/reference/cifar10-reference-archive/cifar10-aebnas-ref5ep.jsonl"
)


def operating_point_columns(space_positions: Sequence[int]) -> list[str]:
    """Names of the appended columns: ``op.x{p}.on`` per exit slot, ``op.util{j}`` per slot."""
    names = [f"op.x{p}.on" for p in space_positions]
    return names + [f"op.util{j}" for j in range(len(space_positions) + 1)]


def macs_lines(archive: str, sizes: Sequence[int], folds: int, seed: int) -> list[str]:
    """Markdown rows: ``exits`` MAPE per train size, as it is and with the measured on/off."""
    data: TrainingData = load_training_data(archive, "avg_macs")
    assert data.usage is not None
    names = feature_names(get_space(data.meta["space"]))
    _, backbone, branch = split_costs(data.X, exit_cost_columns(names))
    free, given = [], []
    for size in sizes:
        if len(data) - size < 10:
            free.append("-")
            given.append("-")
            continue
        errors: list[tuple[float, float]] = []
        for r, (train, test) in enumerate(subset_splits(len(data), size, folds, seed)):
            model = build_predictor("exits", names, seed=seed + r)
            assert isinstance(model, ExitsPredictor)
            model.fit(data.X[train], data.y[train], data.usage.subset(train))
            mean = model.predict(data.X[test])[0]
            usage = model.predict_usage(data.X[test], on=data.usage.on[test])
            known_on = expected_avg_macs(usage, backbone[test], branch[test])
            y = data.y[test]
            errors.append(
                (100 * np.mean(np.abs(mean - y) / y), 100 * np.mean(np.abs(known_on - y) / y))
            )
        free.append(f"{np.mean([e[0] for e in errors]):.2f}")
        given.append(f"{np.mean([e[1] for e in errors]):.2f}")
    return [
        "",
        "Average-MACs MAPE (%) of the `exits` predictor:",
        "",
        "| inputs | " + " | ".join(f"n={s}" for s in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
        "| features | " + " | ".join(free) + " |",
        "| features + measured on/off of every exit (after tuning) | " + " | ".join(given) + " |",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(REFERENCE_ARCHIVE))
    parser.add_argument("--models", default="gp,xgb")
    parser.add_argument("--train-sizes", default="50,100,150,180")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default="benchmarks/results")
    parser.add_argument(
        "--macs-only", action="store_true", help="only the average-MACs part (fast)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    models, sizes = parse_list(args.models, "models"), parse_sizes(args.train_sizes)
    start = time.perf_counter()
    data = load_training_data(args.data, "accuracy")
    if data.usage is None:
        raise UserError(f"{args.data}: some records lack per-exit utilisation (`exits`)")
    space = get_space(data.meta["space"])
    names = list(feature_names(space))
    with_op = np.hstack([data.X, data.usage.on, data.usage.util])
    op_names = names + operating_point_columns(space.exit_positions)
    lines = [
        "# What limits accuracy ranking",
        "",
        f"Archive `{data.meta['archive']}` ({len(data)} architectures), target accuracy, "
        f"{args.folds} random splits per train size; Kendall tau on the held-out rows.",
        "",
        "| inputs | model | " + " | ".join(f"n={s}" for s in sizes) + " |",
        "|---|---|" + "---:|" * len(sizes),
    ]
    runs = (
        ("features", data.X, names),
        ("features + operating point (after training)", with_op, op_names),
    )
    for label, X, cols in () if args.macs_only else runs:
        points = learning_curve(
            makers_for(models, cols), X, data.y, "accuracy", sizes, args.folds, args.seed
        )
        for model in models:
            taus = {p.train_size: p.metrics["kendall_tau"] for p in points if p.model == model}
            cells = " | ".join(f"{taus[s]:.3f}" if s in taus else "-" for s in sizes)
            lines.append(f"| {label} | {model} | {cells} |")
    lines += macs_lines(args.data, sizes, args.folds, args.seed)
    command = "python benchmarks/predictor_limits.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    lines += [
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M')} in {time.perf_counter() - start:.0f} s "
        f"by `{command.strip()}`.",
    ]
    text = "\n".join(lines) + "\n"
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "predictor_limits.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
