"""Evaluate one early-exit architecture: build, cost, train, tune thresholds, report.

``python -m aebnas.evaluate --arch STRING`` (or ``--sample-seed N``) prints a summary and writes
the result JSON (format ``aebnas.evaluation`` version 1, documented in the README); with
``--checkpoint PATH`` also the trained network with its tuned thresholds
(:mod:`aebnas.models.checkpoint`). The work is :func:`aebnas.evaluation.evaluate_architecture`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aebnas.cli import ArgumentParser
from aebnas.config import Config, apply_overrides, load_config
from aebnas.data import dataset_help, dataset_info, load_dataset
from aebnas.errors import UserError, run_cli
from aebnas.evaluation import RESULT_FORMAT, evaluate_architecture
from aebnas.outputs import check_output_file
from aebnas.space import get_space, parse_architecture
from aebnas.space.sampling import sample_architectures
from aebnas.train import configure_threads, resolve_device


def _pct(value: float | None, digits: int = 2) -> str:
    """A fraction as a percentage, ``n/a`` when it was not measured."""
    return "n/a" if value is None else f"{100 * value:.{digits}f}"


def print_summary(record: dict[str, Any]) -> None:
    """A readable summary of a result record."""
    print(f"arch     {record['arch']}")
    print(f"hash     {record['hash']}   dataset {record['dataset']}   status {record['status']}")
    if record["status"] != "ok":
        print(f"reason   {record['reason']}")
        return
    inherited = record.get("supernet")
    if inherited:
        print(
            f"inherit  {inherited['inherit_seconds']:.1f} s from {inherited['file']} "
            f"(sha256 {inherited['sha256'][:12]}), batch-norm recalibrated on "
            f"{inherited['calibration_size']} training images"
        )
    if record["train_seconds"] > 0 or not inherited:
        print(
            f"train    {record['train_seconds']:.1f} s ({record['images_per_second']:.0f} img/s),"
            f" loss {record['train_loss']:.3f}"
        )
    print(f"{'exit':>6} {'MMACs':>8} {'util %':>7} {'acc %':>7} {'threshold':>10}")
    final = record["exits"][-1]
    for e in record["exits"]:
        if e is final:
            threshold = "-"
        else:
            threshold = "off" if e["threshold"] is None else f"{e['threshold']:.4f}"
        print(
            f"{e['position']:>6} {e['macs']:>8.3f} {_pct(e.get('util'), 1):>7} "
            f"{_pct(e.get('accuracy')):>7} {threshold:>10}"
        )
    grid = record["grid"]
    print(
        f"tuned    val accuracy {_pct(record['accuracy'])}% at {record['avg_macs']:.3f} MMACs "
        f"average (final exit alone: {_pct(record.get('final_accuracy'))}% at "
        f"{record['static_macs']['final']:.3f} MMACs)"
    )
    print(f"grid     val accuracy {_pct(grid['accuracy'])}% at {grid['avg_macs']:.3f} MMACs")
    if record.get("test"):
        test = record["test"]
        print(f"test     accuracy {_pct(test['accuracy'])}% at {test['avg_macs']:.3f} MMACs")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m aebnas.evaluate", description=__doc__)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--arch", help="architecture string (see `python -m aebnas.space sample`)")
    which.add_argument(
        "--sample-seed", type=int, help="evaluate the architecture sampled with this seed"
    )
    parser.add_argument("--config", help="YAML config (defaults: built in)")
    parser.add_argument("--dataset", help=dataset_help())
    parser.add_argument("--data-root", help="folder with the dataset files")
    parser.add_argument("--space", help="search space: aebnas or aebnas-plus")
    parser.add_argument(
        "--supernet", help="inherit the weights from this supernet file (seconds, no training)"
    )
    parser.add_argument(
        "--calibration-size", type=int, help="batch-norm recalibration images (with --supernet)"
    )
    parser.add_argument("--epochs", type=int, help="training epochs (with --supernet: fine-tune)")
    parser.add_argument("--train-size", type=int, help="training images (a seeded subset)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--target-macs", type=float, help="reference target mode, MMACs")
    parser.add_argument("--max-macs", type=float, help="budget mode: average MMACs at most this")
    parser.add_argument("--accuracy-tolerance", type=float, help="fraction, default 0.005")
    parser.add_argument("--tuner", choices=["optimal", "grid"])
    parser.add_argument("--confidence", choices=["margin", "max-softmax", "entropy"])
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="auto, cpu or cuda[:N]")
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (default 1: aebnas/train/threads.py)"
    )
    parser.add_argument("--test", action="store_true", help="also report the test split")
    parser.add_argument("--out", help="write the result JSON here")
    parser.add_argument(
        "--checkpoint", help="save the trained network here (.safetensors, self-describing)"
    )
    parser.add_argument(
        "--force", action="store_true", help="replace an existing --checkpoint file"
    )
    return parser


def config_from_args(args: Any) -> Config:
    config = load_config(args.config)
    return apply_overrides(
        config,
        {
            "data.dataset": args.dataset,
            "data.root": args.data_root,
            "space": args.space,
            "seed": args.seed,
            "device": args.device,
            "low_fidelity.supernet": args.supernet,
            "low_fidelity.calibration_size": args.calibration_size,
            "low_fidelity.epochs": 0 if args.supernet and args.epochs is None else args.epochs,
            "low_fidelity.train_size": args.train_size,
            "low_fidelity.batch_size": args.batch_size,
            "low_fidelity.lr": args.lr,
            "thresholds.target_macs": args.target_macs,
            "thresholds.max_macs": args.max_macs,
            "thresholds.tuner": args.tuner,
            "thresholds.accuracy_tolerance": args.accuracy_tolerance,
            "thresholds.confidence": args.confidence,
        },
    )


def write_result(path: Path, record: dict[str, Any]) -> None:
    """Write the result JSON atomically (an earlier result is never left half-replaced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)


def check_result_path(path: str) -> Path:
    """``--out`` is a new file or an earlier result JSON (nothing else is overwritten)."""
    out = check_output_file(path)
    if out.is_file() and out.stat().st_size > 0:
        try:
            earlier = json.loads(out.read_bytes())
        except ValueError:
            earlier = None
        if not isinstance(earlier, dict) or earlier.get("format") != RESULT_FORMAT:
            raise UserError(
                f"--out {out} exists and is not an {RESULT_FORMAT} result; choose another --out "
                "(only an earlier result is replaced)"
            )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_threads(args.threads)
    config = config_from_args(args)
    if args.out:
        check_result_path(args.out)
    info = dataset_info(config.data.dataset)
    space = get_space(config.space, info.resolutions)
    if args.arch is not None:
        arch = parse_architecture(args.arch, space)
    else:
        arch = sample_architectures(space, 1, args.sample_seed)[0]
    device = resolve_device(config.device)
    dataset = load_dataset(
        config.data.dataset, config.data.root, config.data.val_size, seed=config.seed
    )
    record = evaluate_architecture(
        arch,
        space,
        dataset,
        config.low_fidelity,
        config.thresholds,
        seed=config.seed,
        device=device,
        test=args.test,
        progress=sys.stderr.isatty(),
        checkpoint=Path(args.checkpoint) if args.checkpoint else None,
        force=args.force,
    )
    print_summary(record)
    if args.out:
        write_result(Path(args.out), record)
        print(f"wrote {args.out}")
    if args.checkpoint and record["status"] == "ok":
        print(f"wrote {args.checkpoint}")
    return 0 if record["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
