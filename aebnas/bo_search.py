"""Search early-exit architectures: Bayesian optimisation (default), the reference NSGA-II loop
or random search, with full-fidelity training of every proposed candidate.

    python -m aebnas.bo_search --config configs/fashion-mnist.yaml
    python -m aebnas.bo_search --benchmark data/surrogates/fashion-mnist-aebnas-plus-low.jsonl \\
        --strategy bo --budget 64 --batch-size 8 --seed 3 --json
    python -m aebnas.bo_search --resume runs/<run>      # after an interruption, kill -9 included
    python -m aebnas.bo_search --objective latency --latency-profile profiles/host.json \\
        --max-latency 0.8 ...                           # average batch-1 ms instead of MACs

Writes a run folder (``--out``, default ``runs/search-<dataset>-<strategy>-seed<seed>-<time>``):
effective config, the run's archive, Pareto front (JSON, CSV, PNG), hypervolume plot,
checkpoints of the Pareto members and ``report.md``. Progress goes to stderr; stdout gets the
Pareto front and the report's path, or with ``--json`` one JSON line (strategy, evaluations,
hypervolume, pareto_size, hypervolume_curve, ...).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aebnas.archive import read_archive
from aebnas.cli import ArgumentParser
from aebnas.config import Config, apply_overrides, load_config
from aebnas.data import dataset_help
from aebnas.errors import UserError, run_cli
from aebnas.execution.cli import EXECUTION_FLAGS, add_execution_arguments, execution_overrides
from aebnas.execution.executors import check_execution
from aebnas.predictors.base import PREDICTORS
from aebnas.report import RunOutputs, write_outputs
from aebnas.search import ACQUISITIONS, STRATEGIES, execute, resume, start
from aebnas.search.loop import CONFIG_FILE
from aebnas.supernet.checkpoint import read_info
from aebnas.train import configure_threads, resolve_device

#: Flags that may change when a run is resumed (everything else comes from its config.yaml);
#: where and by how many workers candidates train does not change their records.
RESUME_FLAGS = ("budget", "json", "resume", "debug", "workers", *EXECUTION_FLAGS)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m aebnas.bo_search", description=__doc__)
    parser.add_argument("--config", help="YAML config (default: built-in defaults)")
    parser.add_argument("--dataset", help=dataset_help())
    parser.add_argument("--data-root", help="folder with the dataset files")
    parser.add_argument("--space", help="search space: aebnas or aebnas-plus")
    parser.add_argument("--budget", type=int, help="evaluations (full trainings) of the run")
    parser.add_argument("--batch-size", type=int, help="candidates proposed per round")
    macs = parser.add_mutually_exclusive_group()
    macs.add_argument("--max-macs", type=float, help="cap on average MMACs (constraint)")
    macs.add_argument("--target-macs", type=float, help="reference target mode, MMACs")
    parser.add_argument(
        "--objective", help="cost to minimise: macs (default) or latency (batch-1 ms)"
    )
    parser.add_argument(
        "--latency-profile", help="this host's latency profile (python -m aebnas.costs.latency_cli)"
    )
    latency = parser.add_mutually_exclusive_group()
    latency.add_argument("--max-latency", type=float, help="cap on average latency (ms)")
    latency.add_argument("--target-latency", type=float, help="target mode, average ms")
    parser.add_argument(
        "--predictors", help="folder with saved prior predictors accuracy/, avg_macs/"
    )
    parser.add_argument("--archive", help="low-fidelity archive used as prior knowledge")
    parser.add_argument(
        "--supernet",
        help="full fidelity fine-tunes the weights inherited from this supernet file "
        "(epochs: full_fidelity.epochs) instead of training from scratch",
    )
    parser.add_argument("--strategy", help="bo, nsga2 or random")
    parser.add_argument("--surrogate", help="surrogate kind of bo: gp or xgb")
    parser.add_argument("--acquisition", help="qlognehvi or qlognparego")
    parser.add_argument("--pool-size", type=int, help="candidates generated per round")
    parser.add_argument("--initial", type=int, help="random initial design size (no prior)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="auto, cpu or cuda[:N]")
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (default 1: aebnas/train/threads.py)"
    )
    parser.add_argument("--workers", type=int, help="processes training a round side by side")
    parser.add_argument("--out", help="run folder to create")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    parser.add_argument("--benchmark", metavar="ARCHIVE", help="answer from this archive's rows")
    parser.add_argument("--json", action="store_true", help="print one JSON summary line")
    add_execution_arguments(parser)
    return parser


def _overrides(args: Any) -> dict[str, Any]:
    return {
        "data.dataset": args.dataset,
        "data.root": args.data_root,
        "space": args.space,
        "seed": args.seed,
        "device": args.device,
        "thresholds.max_macs": args.max_macs,
        "thresholds.target_macs": args.target_macs,
        "search.budget": args.budget,
        "search.batch_size": args.batch_size,
        "search.strategy": args.strategy,
        "search.surrogate": args.surrogate,
        "search.acquisition": args.acquisition,
        "search.pool_size": args.pool_size,
        "search.initial": args.initial,
        "search.predictors": args.predictors,
        "search.archive": args.archive,
        "search.benchmark": args.benchmark,
        "search.threads": args.threads,
        "search.objective": args.objective,
        "search.latency_profile": args.latency_profile,
        "search.max_latency": args.max_latency,
        "search.target_latency": args.target_latency,
        "full_fidelity.supernet": args.supernet,
        "search.workers": args.workers,
        **execution_overrides(args),
    }


def _benchmark_defaults(config: Config, args: Any) -> Config:
    """Dataset and space of a benchmark run default to the archive's."""
    if not config.search.benchmark:
        return config
    meta, _ = read_archive(config.search.benchmark)
    return apply_overrides(
        config,
        {
            "data.dataset": None if args.dataset else meta.get("dataset"),
            "space": None if args.space else meta.get("space"),
        },
    )


def check_config(config: Config) -> Config:
    """One-line errors for values the search cannot use."""
    search = config.search
    for name in ("budget", "batch_size", "pool_size", "workers"):
        if getattr(search, name) < 1:
            raise UserError(f"search.{name} must be at least 1, got {getattr(search, name)}")
    if search.threads is not None and search.threads < 1:
        raise UserError(f"--threads must be at least 1, got {search.threads}")
    if search.initial < 0:
        raise UserError(f"search.initial must be >= 0, got {search.initial}")
    STRATEGIES.get(search.strategy)
    check_execution(config.execution)
    ACQUISITIONS.get(search.acquisition)
    PREDICTORS.get(search.surrogate)
    resolve_device(config.device)
    for name in ("max_macs", "target_macs"):
        value = getattr(config.thresholds, name)
        if value is not None and value <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be positive (MMACs), got {value:g}")
    if search.objective == "latency":
        check_latency_objective(config)
    if config.full_fidelity.supernet is not None and not search.benchmark:
        info = read_info(config.full_fidelity.supernet)
        if info.dataset != config.data.dataset:
            raise UserError(
                f"supernet {config.full_fidelity.supernet} was trained on {info.dataset}, the "
                f"search runs on {config.data.dataset}; train one on {config.data.dataset}"
            )
    for name in ("benchmark", "archive", "predictors"):
        path = getattr(search, name)
        if path and not Path(path).exists():
            raise UserError(f"search.{name} {path} does not exist")
    return config


def check_latency_objective(config: Config) -> None:
    """What the latency objective cannot be combined with (one line each)."""
    search, th = config.search, config.thresholds
    if th.max_macs is not None or th.target_macs is not None:
        raise UserError(
            "--objective latency replaces the MAC cap: use --max-latency / --target-latency "
            "(ms) instead of --max-macs / --target-macs"
        )
    if search.predictors and not search.benchmark:
        raise UserError(
            "saved prior predictors model MACs, not latency: drop --predictors with "
            "--objective latency (give --archive: the prior is fit on it at latency)"
        )
    if search.strategy == "nsga2" and search.max_latency is None and search.target_latency is None:
        raise UserError("--strategy nsga2 aims at a target: give --target-latency or --max-latency")
    assert search.latency_profile is not None  # the config's cross-check
    if not Path(search.latency_profile).is_file():
        raise UserError(
            f"latency profile {search.latency_profile} does not exist; measure one with "
            f"python -m aebnas.costs.latency_cli profile --out {search.latency_profile}"
        )


def new_config(args: Any) -> Config:
    config = apply_overrides(load_config(args.config), _overrides(args))
    return check_config(_benchmark_defaults(config, args))


def resumed_config(args: Any) -> Config:
    given = [k for k, v in vars(args).items() if v not in (None, False) and k not in RESUME_FLAGS]
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise UserError(
            f"--resume continues a run with its saved config; drop {flags} "
            "(only --budget may change)"
        )
    path = Path(args.resume) / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"{args.resume} holds no search to resume ({CONFIG_FILE} is missing)")
    config = apply_overrides(load_config(path), resume_overrides(args))
    return check_config(config)


def resume_overrides(args: Any) -> dict[str, Any]:
    """What a resumed run may change: its budget, and where and by how many workers it trains."""
    return {
        "search.budget": args.budget,
        "search.workers": args.workers,
        **execution_overrides(args),
    }


def default_run_dir(config: Config) -> Path:
    name = config.data.dataset.replace(":", "_").replace("/", "_")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"search-{name}-{config.search.strategy}-seed{config.seed}-{stamp}"


def print_front(result: RunOutputs) -> None:
    """The Pareto front as a table, then the report's path."""
    from rich.console import Console
    from rich.table import Table

    summary = result.summary
    table = Table(
        title=f"Pareto front ({summary['pareto_size']} of {summary['evaluations']} evaluated)"
    )
    unit = "ms" if any(row.get("cost_unit") == "ms" for row in result.front) else "MMACs"
    for column in ("val acc %", f"avg {unit}", "test acc %", "test MMACs", "architecture"):
        table.add_column(column, overflow="fold")
    for row in result.front:
        table.add_row(
            f"{100 * row['val_accuracy']:.2f}",
            f"{row['avg_macs']:.3f}",
            "-" if row["test_accuracy"] is None else f"{100 * row['test_accuracy']:.2f}",
            "-" if row["test_avg_macs"] is None else f"{row['test_avg_macs']:.3f}",
            row["arch"],
        )
    console = Console(width=160)
    console.print(table)
    console.print(f"hypervolume {summary['hypervolume']:.6g}")
    console.print(f"report: {result.run_dir / 'report.md'}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.resume:
        config = resumed_config(args)
        configure_threads(config.search.threads)
        setup, archive = resume(Path(args.resume), config)
    else:
        config = new_config(args)
        configure_threads(config.search.threads)
        run_dir = Path(args.out) if args.out else default_run_dir(config)
        setup, archive = start(config, run_dir, config.search.benchmark)
    result = write_outputs(execute(setup, archive))
    if args.json:
        print(json.dumps(result.summary, separators=(",", ":")))
    else:
        print_front(result)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
