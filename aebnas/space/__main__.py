"""``python -m aebnas.space sample|macs``: sample architectures or print an architecture's costs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from aebnas.cli import ArgumentParser
from aebnas.costs import exit_costs
from aebnas.data import dataset_info
from aebnas.errors import UserError, run_cli
from aebnas.space import SPACES, get_space, parse_architecture, sample_architectures


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m aebnas.space", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    sample = commands.add_parser("sample", help="print N sampled architecture strings")
    sample.add_argument("-n", type=int, default=5)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--space", default="aebnas-plus", choices=SPACES.names())
    sample.add_argument("--dataset", default="fashion-mnist", help="sets the resolution choices")
    macs = commands.add_parser("macs", help="print the per-exit MAC table of an architecture")
    macs.add_argument("arch")
    macs.add_argument("--space", default="aebnas-plus", choices=SPACES.names())
    macs.add_argument("--dataset", default="fashion-mnist")
    macs.add_argument("--classes", type=int, default=None, help="default: the dataset's")
    return parser


def check_counts(args: argparse.Namespace) -> None:
    """``sample -n`` and ``macs --classes`` are at least 1 (one line, exit 2, otherwise)."""
    counts = (("-n", getattr(args, "n", None)), ("--classes", getattr(args, "classes", None)))
    for flag, value in counts:
        if value is not None and value < 1:
            raise UserError(f"{flag} must be at least 1, got {value}; pass a positive integer")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_counts(args)
    info = dataset_info(args.dataset)
    space = get_space(args.space, info.resolutions)
    if args.command == "sample":
        for arch in sample_architectures(space, args.n, args.seed):
            print(arch)
        return 0
    arch = parse_architecture(args.arch, space)
    classes = args.classes if args.classes is not None else info.num_classes or 10
    costs = exit_costs(arch, space, info.channels, classes)
    cumulative = costs.cumulative()
    print(f"{arch}  (hash {arch.hash}, {info.channels} input channel(s), {classes} classes)")
    print(
        f"{'exit':>6} {'after stage':>12} {'backbone':>10} {'branch':>10} {'cumulative':>11}  MMACs"
    )
    for k, position in enumerate(costs.positions):
        name = "final" if k == costs.num_exits - 1 else str(k + 1)
        print(
            f"{name:>6} {position:>12} {costs.backbone[k]:>10.3f} {costs.branch[k]:>10.3f} "
            f"{cumulative[k]:>11.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
