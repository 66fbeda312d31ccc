"""Predictor reuse across datasets: ranking quality with and without a source prior.

    nice -n 10 .venv/bin/python benchmarks/transfer.py --source ARCHIVE_A --target ARCHIVE_B \
        [--model gp] [--target-name accuracy] [--sizes 10,20,50,100] [--repeats 5] [--seed 0]

A source predictor is fit on every record of ``--source`` (e.g. Fashion-MNIST). For each number
``n`` of target records (``--sizes``) and ``--repeats`` seeded draws: ``n`` random records of
``--target`` (e.g. digits) train (a) a predictor on them alone and (b) a
:class:`~aebnas.predictors.prior.PriorPredictor` built on the source; both are scored (Kendall
tau) on every other target record. The source alone (no target data) is scored too.

Without a second dataset, ``--split ARCHIVE`` uses two disjoint seeded halves of one archive as
source and target (a sanity check of the code path: the same dataset, so the prior helps a lot).
"""

from __future__ import annotations

import argparse
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
from aebnas.data import dataset_info
from aebnas.errors import UserError, run_cli
from aebnas.predictors.cli import parse_sizes
from aebnas.predictors.factory import build_predictor, build_prior_predictor
from aebnas.predictors.features import (
    TARGETS,
    TrainingData,
    feature_names,
    load_training_data,
    ok_records,
    records_to_data,
)
from aebnas.predictors.metrics import MIN_TEST
from aebnas.space import get_space


def kendall(y: np.ndarray, prediction: np.ndarray) -> float:
    return float(stats.kendalltau(y, prediction).statistic)


def split_archive(path: str, target: str, seed: int) -> tuple[TrainingData, TrainingData]:
    """Two disjoint seeded halves of one archive's ok records (source, target)."""
    header, records = read_archive(path)
    dataset = header["dataset"]
    info = dataset_info(dataset)
    space = get_space(header["space"], info.resolutions)
    meta = {
        "dataset": dataset,
        "space": space.name,
        "in_channels": info.channels,
        "num_classes": info.num_classes,
        "archive": path,
    }
    ok = ok_records(records, target)
    order = np.random.default_rng(seed).permutation(len(ok))
    half = len(ok) // 2
    first = records_to_data([ok[i] for i in order[:half]], target, space, meta)
    second = records_to_data([ok[i] for i in order[half:]], target, space, meta)
    return first, second


def transfer_curve(
    source: TrainingData,
    target: TrainingData,
    model: str,
    sizes: Sequence[int],
    repeats: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Kendall tau with and without the prior per target size (mean and sd over draws).

    Args:
        source: Source dataset's training data.
        target: Target dataset's training data (same space and features).
        model: Predictor kind for the source, the target-alone and the residual model.
        sizes: Numbers of target training records.
        repeats: Seeded random draws per size.
        seed: Seed of draws and predictors.

    Returns:
        One row per size: ``n``, ``test``, ``tau_alone``, ``tau_prior``, ``tau_source``
        (means) and their ``*_sd``.
    """
    if source.meta.get("space") != target.meta.get("space"):
        raise UserError(
            f"source space {source.meta.get('space')!r} differs from target space "
            f"{target.meta.get('space')!r}; transfer needs one space"
        )
    names = feature_names(get_space(target.meta["space"]))
    prior_source = build_predictor(model, names, seed=seed).fit(source.X, source.y)
    rows = []
    rng = np.random.default_rng(seed)
    for n in sizes:
        if len(target) - n < MIN_TEST:
            continue
        taus: dict[str, list[float]] = {"alone": [], "prior": [], "source": []}
        for r in range(repeats):
            order = rng.permutation(len(target))
            train, test = order[:n], order[n:]
            X, y = target.X, target.y
            alone = build_predictor(model, names, seed=seed + r).fit(X[train], y[train])
            prior = build_prior_predictor(prior_source, model, names, seed=seed + r)
            prior.fit(X[train], y[train])
            taus["alone"].append(kendall(y[test], alone.predict(X[test])[0]))
            taus["prior"].append(kendall(y[test], prior.predict(X[test])[0]))
            taus["source"].append(kendall(y[test], prior_source.predict(X[test])[0]))
        row: dict[str, Any] = {"n": n, "test": len(target) - n}
        for key, values in taus.items():
            row[f"tau_{key}"] = float(np.mean(values))
            row[f"tau_{key}_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def markdown(rows: Sequence[dict[str, Any]], header: str) -> str:
    lines = [
        header,
        "",
        "| target records | test records | tau alone | tau with prior | tau source only |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['test']} | {r['tau_alone']:.3f} ± {r['tau_alone_sd']:.3f} | "
            f"{r['tau_prior']:.3f} ± {r['tau_prior_sd']:.3f} | "
            f"{r['tau_source']:.3f} ± {r['tau_source_sd']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", help="archive of the source dataset")
    parser.add_argument("--target", help="archive of the target dataset")
    parser.add_argument("--split", help="one archive split into source and target halves")
    parser.add_argument("--model", default="gp", choices=["xgb", "gp", "mlp"])
    parser.add_argument("--target-name", default="accuracy", choices=list(TARGETS))
    parser.add_argument("--sizes", default="10,20,50,100")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="also write the markdown table here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.split:
        source, target = split_archive(args.split, args.target_name, args.seed)
        what = f"two halves of {args.split}"
    elif args.source and args.target:
        source = load_training_data(args.source, args.target_name)
        target = load_training_data(args.target, args.target_name)
        what = f"{args.source} -> {args.target}"
    else:
        raise UserError("give --source and --target archives, or --split ARCHIVE")
    start = time.perf_counter()
    rows = transfer_curve(
        source, target, args.model, parse_sizes(args.sizes), args.repeats, args.seed
    )
    if not rows:
        raise UserError(f"the target has {len(target)} records: too few for --sizes {args.sizes}")
    header = (
        f"Transfer ({what}; {args.model}, {args.target_name}): source {len(source)} "
        f"architectures, target {len(target)}; Kendall tau on the held-out target records, "
        f"mean ± sd over {args.repeats} draws ({time.perf_counter() - start:.0f} s)."
    )
    text = markdown(rows, header)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
