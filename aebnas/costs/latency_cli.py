"""The latency profile's command line (``python -m aebnas.costs.latency_cli``).

    python -m aebnas.costs.latency_cli profile --out profiles/host.json [--archs 20] [--threads 1]
        [--calibration-archs 12] [--calibration-seed 1000] [--statistic median|min]
    python -m aebnas.costs.latency_cli show ARCH --profile profiles/host.json

``profile`` measures the pieces of ``--archs`` sampled architectures, then calibrates the
profile against the runtime's exit paths of ``--calibration-archs`` other architectures
(:mod:`aebnas.costs.calibration`; 0 keeps the profile uncalibrated).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aebnas.cli import ArgumentParser
from aebnas.costs.calibration import DEFAULT_CALIBRATION_ARCHS, DEFAULT_CALIBRATION_SEED, calibrate
from aebnas.costs.latency import (
    DEFAULT_REPEATS,
    DEFAULT_STATISTIC,
    DEFAULT_THREADS,
    DEFAULT_WARMUP,
    TIMING_STATISTICS,
    LatencyProfile,
    describe_device,
    latency_costs,
    load_profile,
)
from aebnas.errors import UserError, run_cli


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m aebnas.costs.latency_cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    prof = commands.add_parser("profile", help="measure the pieces of sampled architectures")
    prof.add_argument("--out", required=True, help="profile JSON (extended if it exists)")
    prof.add_argument("--space", default="aebnas-plus")
    prof.add_argument("--dataset", default="fashion-mnist", help="resolutions, channels, classes")
    prof.add_argument("--archs", type=int, default=20, help="sampled architectures to cover")
    prof.add_argument("--seed", type=int, default=0)
    prof.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="intra-op threads")
    prof.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    prof.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    prof.add_argument(
        "--statistic",
        default=DEFAULT_STATISTIC,
        choices=sorted(TIMING_STATISTICS),
        help="summary of the repeated calls (min: least disturbed by other load)",
    )
    prof.add_argument(
        "--calibration-archs",
        type=int,
        default=DEFAULT_CALIBRATION_ARCHS,
        help="architectures whose exit paths calibrate the profile (0: none)",
    )
    prof.add_argument("--calibration-seed", type=int, default=DEFAULT_CALIBRATION_SEED)
    show = commands.add_parser("show", help="print an architecture's per-exit latency")
    show.add_argument("arch")
    show.add_argument("--profile", required=True)
    show.add_argument("--space", default="aebnas-plus")
    show.add_argument("--dataset", default="fashion-mnist")
    return parser


def _dataset_shape(name: str) -> tuple[Any, int, int]:
    from aebnas.data import dataset_info

    info = dataset_info(name)
    return info, info.channels, info.num_classes or 10


def _profile(args: Any) -> int:
    from aebnas.space import get_space, sample_architectures

    if args.archs < 1 or args.calibration_archs < 0:
        raise UserError(
            f"--archs must be at least 1 and --calibration-archs at least 0, got {args.archs} "
            f"and {args.calibration_archs}"
        )
    if args.calibration_archs and args.calibration_seed == args.seed:
        raise UserError("--calibration-seed must differ from --seed; pick another seed")
    info, channels, classes = _dataset_shape(args.dataset)
    space = get_space(args.space, info.resolutions)
    out = Path(args.out)
    if out.exists():
        profile = load_profile(out, args.threads)
        if profile.statistic != args.statistic:
            raise UserError(
                f"{out} summarises its timings by {profile.statistic}, not {args.statistic}; "
                f"pass --statistic {profile.statistic} to extend it, or another --out"
            )
    else:
        profile = LatencyProfile.for_host(args.threads, args.warmup, args.repeats, args.statistic)
    for i, arch in enumerate(sample_architectures(space, args.archs, args.seed)):
        latency_costs(arch, space, channels, classes, profile)
        profile.save(out)
        print(f"[{i + 1}/{args.archs}] {len(profile.entries)} entries", file=sys.stderr)
    if args.calibration_archs:
        cal = calibrate(
            profile,
            space,
            channels,
            classes,
            args.calibration_archs,
            args.calibration_seed,
            profile.repeats,
        )
        profile.save(out)
        print(
            f"calibrated on {cal.paths} exit paths of {cal.archs} architectures: scale "
            f"{cal.scale:.3f}, {cal.per_mb:.4f} ms/MB, {cal.per_segment:.4f} ms/segment "
            f"(median fit error {100 * cal.median_error:.1f}%)",
            file=sys.stderr,
        )
    print(f"{out}: {len(profile.entries)} entries on {describe_device(profile.device)}")
    return 0


def _show(args: Any) -> int:
    from aebnas.space import get_space, parse_architecture

    info, channels, classes = _dataset_shape(args.dataset)
    space = get_space(args.space, info.resolutions)
    arch = parse_architecture(args.arch, space)
    profile = load_profile(args.profile)
    before = len(profile.entries)
    costs = latency_costs(arch, space, channels, classes, profile)
    if len(profile.entries) != before:
        profile.save(args.profile)
    cal = profile.calibration
    state = "uncalibrated" if cal is None else f"calibrated on {cal.paths} exit paths"
    print(f"{arch}  on {describe_device(profile.device)}, {state}")
    print(f"{'exit':>6} {'backbone':>10} {'branch':>10} {'cumulative':>11}  ms (batch 1)")
    for k, value in enumerate(costs.cumulative()):
        name = "final" if k == costs.num_exits - 1 else str(k + 1)
        print(f"{name:>6} {costs.backbone[k]:>10.4f} {costs.branch[k]:>10.4f} {value:>11.4f}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _profile(args) if args.command == "profile" else _show(args)


if __name__ == "__main__":
    sys.exit(run_cli(main))
