"""Command line of the predictors.

Fit and save one predictor (with 5-fold cross-validated metrics in its ``metadata.json``)::

    python -m aebnas.predictors fit --data ARCHIVE --model gp --target accuracy \
        --out predictors/fmnist-gp-accuracy/ [--prior predictors/SOURCE/]

Compare predictor kinds on an archive (learning curves)::

    python -m aebnas.predictors evaluate --data ARCHIVE [--models xgb,gp,mlp] [--folds 5] \
        [--train-sizes 25,50,100,200] [--targets accuracy,avg_macs] [--json] [--seed 0]

Seed-to-seed agreement of measured values (the ceiling of any predictor's ranking)::

    python -m aebnas.predictors noise-ceiling --data ARCHIVE [--other ARCHIVE2]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aebnas.archive import read_archive
from aebnas.cli import ArgumentParser
from aebnas.config import MAX_SEED
from aebnas.errors import UserError
from aebnas.outputs import check_creatable
from aebnas.predictors.base import PREDICTORS, Predictor, fit_predictor, predicts_target
from aebnas.predictors.evaluation import evaluate_archive, json_safe, rich_table
from aebnas.predictors.factory import build_predictor, build_prior_predictor
from aebnas.predictors.features import TARGETS, check_target, feature_names, load_training_data
from aebnas.predictors.metrics import cross_validate, noise_ceiling
from aebnas.predictors.store import build_metadata, load_predictor, save_predictor
from aebnas.space import get_space
from aebnas.train import configure_threads


def parse_list(text: str, what: str, allowed: Sequence[str] | None = None) -> list[str]:
    """Comma-separated names; unknown ones (if ``allowed``) raise a one-line UserError."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise UserError(f"--{what} is empty")
    for item in items:
        if allowed is not None and item not in allowed:
            raise UserError(
                f"unknown {what[:-1]} {item!r} in --{what}; choose from: {', '.join(allowed)}"
            )
    return items


def parse_sizes(text: str) -> list[int]:
    """Comma-separated positive integers (``--train-sizes``)."""
    try:
        sizes = [int(t) for t in parse_list(text, "train-sizes")]
    except ValueError:
        raise UserError(f"--train-sizes must be integers like 25,50,100, got {text!r}") from None
    if any(s < 2 for s in sizes):
        raise UserError("--train-sizes must be at least 2")
    return sizes


def _fit_predictor(args: Any) -> tuple[Predictor, dict[str, Any]]:
    if not predicts_target(args.model, args.target):
        raise UserError(
            f"predictor kind {args.model!r} does not predict {args.target}; choose another --model"
        )
    data = load_training_data(args.data, args.target)
    space = get_space(data.meta["space"])
    names = feature_names(space)
    if len(data) < 2:
        raise UserError(f"{args.data} has {len(data)} usable records; a predictor needs 2 or more")
    source, prior_meta = None, None
    if args.prior:
        loaded = load_predictor(args.prior, space=space, expect_target=args.target)
        source, prior_meta = (
            loaded,
            {k: loaded.meta.get(k) for k in ("model", "dataset", "archive", "n_records", "cv")},
        )
        prior_meta["directory"] = str(args.prior)

    def make(seed: int) -> Predictor:
        if source is None:
            return build_predictor(args.model, names, seed=seed)
        return build_prior_predictor(
            source.predictor, args.model, names, seed=seed, source_dir=Path(args.prior)
        )

    cv = None
    if args.cv_folds:
        if len(data) < max(args.cv_folds, 2) * 2:
            raise UserError(
                f"{len(data)} records are too few for {args.cv_folds}-fold "
                "cross-validation; pass --cv-folds 0"
            )
        cv = cross_validate(
            make, data.X, data.y, args.cv_folds, args.seed, TARGETS[args.target], data.usage
        )
    predictor = fit_predictor(make(args.seed), data.X, data.y, data.usage)
    name = args.model if source is None else f"{args.model}+prior"
    meta = build_metadata(name, args.target, space, data.meta, cv, seed=args.seed, prior=prior_meta)
    return predictor, meta


def cmd_fit(args: Any) -> int:
    """``fit``: fit, cross-validate and save one predictor."""
    check_target(args.target)
    if args.cv_folds < 0 or args.cv_folds == 1:
        raise UserError(
            f"--cv-folds must be 0 (none) or at least 2, got {args.cv_folds}; pass e.g. 5"
        )
    out = check_creatable(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; pass a folder for the predictor")
    if out.exists() and any(out.iterdir()) and not args.force:
        raise UserError(f"{out} is not empty; pass --force to overwrite or choose another --out")
    predictor, meta = _fit_predictor(args)
    save_predictor(predictor, out, meta)
    cv = meta["cv"] or {}
    summary = ", ".join(
        f"{k} {cv[k]:.3f}" for k in ("kendall_tau", "spearman", "mape", "coverage90") if k in cv
    )
    print(
        f"{out}: {meta['model']} predictor of {args.target} on {meta['n_archs']} architectures"
        + (f" ({args.cv_folds}-fold CV: {summary})" if summary else "")
    )
    return 0


def cmd_evaluate(args: Any) -> int:
    """``evaluate``: learning curves of predictor kinds, printed as a table or JSON lines."""
    models = parse_list(args.models, "models", PREDICTORS.names())
    targets = parse_list(args.targets, "targets", list(TARGETS))
    sizes = parse_sizes(args.train_sizes)
    if args.folds < 1:
        raise UserError(f"--folds must be at least 1, got {args.folds}; pass e.g. 5")
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("evaluating") as status:
        rows, meta = evaluate_archive(
            args.data,
            models,
            targets,
            sizes,
            args.folds,
            args.seed,
            progress=lambda label: status.update(f"evaluating: {label}"),
        )
    if not rows:
        raise UserError(
            f"{args.data} holds {meta.get('n_archs', 0)} usable architectures: too few "
            "for these --train-sizes (each needs 10 held-out records)"
        )
    if args.json:
        for row in rows:
            print(json.dumps(json_safe(row)))
        return 0
    title = (
        f"{meta['dataset']} / {meta['space']} / {meta['fidelity_name']}: "
        f"{meta['n_archs']} architectures, {args.folds} random splits per size"
    )
    Console(width=None if sys.stdout.isatty() else 140).print(rich_table(rows, title))
    return 0


def cmd_noise(args: Any) -> int:
    """``noise-ceiling``: agreement of two training seeds of the same architectures."""
    check_target(args.target)
    _, records = read_archive(args.data)
    other = read_archive(args.other)[1] if args.other else None
    ceiling = noise_ceiling(records, other, args.target)
    if args.json:
        print(json.dumps(json_safe(ceiling.to_json())))
        return 0
    if ceiling.pairs == 0:
        raise UserError(
            "no architecture was trained with two seeds in these archives (make "
            "some with `python -m aebnas.surrogate_data --seed-offset 1000 --limit 20`)"
        )
    print(
        f"{ceiling.pairs} architectures with two seeds: Kendall tau {ceiling.kendall_tau:.3f}, "
        f"Spearman {ceiling.spearman:.3f}, RMSE {ceiling.rmse:.4g}, MAPE {ceiling.mape:.2f}% "
        f"({args.target}); a perfect predictor reaches Kendall tau about "
        f"{ceiling.predictor_tau:.3f} against one seed"
    )
    return 0


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="python -m aebnas.predictors",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1: aebnas/train/threads.py)"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    fit = sub.add_parser("fit", help="fit and save one predictor")
    fit.add_argument("--data", required=True, help="archive (.jsonl) to fit on")
    fit.add_argument("--model", required=True, choices=PREDICTORS.names())
    fit.add_argument("--target", required=True, choices=list(TARGETS))
    fit.add_argument("--out", required=True, help="directory to write (e.g. predictors/NAME/)")
    fit.add_argument("--prior", help="a saved predictor of another dataset to build on")
    fit.add_argument("--cv-folds", type=int, default=5, help="cross-validation folds (0: none)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--force", action="store_true", help="overwrite a non-empty --out")
    fit.set_defaults(run=cmd_fit)

    ev = sub.add_parser("evaluate", help="compare predictor kinds on an archive")
    ev.add_argument("--data", required=True, help="archive (.jsonl)")
    ev.add_argument("--models", default=",".join(PREDICTORS.names()))
    ev.add_argument("--folds", type=int, default=5, help="random splits per train size")
    ev.add_argument("--train-sizes", default="25,50,100,200")
    ev.add_argument("--targets", default="accuracy,avg_macs")
    ev.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    ev.add_argument("--seed", type=int, default=0)
    ev.set_defaults(run=cmd_evaluate)

    noise = sub.add_parser("noise-ceiling", help="seed-to-seed agreement of measured values")
    noise.add_argument("--data", required=True, help="archive (.jsonl)")
    noise.add_argument("--other", help="second archive with other seeds of the same candidates")
    noise.add_argument("--target", default="accuracy", choices=list(TARGETS))
    noise.add_argument("--json", action="store_true")
    noise.set_defaults(run=cmd_noise)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}; pass e.g. 1")
    seed = getattr(args, "seed", None)
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise UserError(f"--seed must be in 0..{MAX_SEED}, got {seed}; pass e.g. 0")
    configure_threads(args.threads)
    return int(args.run(args))


if __name__ == "__main__":  # pragma: no cover
    from aebnas.errors import run_cli

    sys.exit(run_cli(main))
