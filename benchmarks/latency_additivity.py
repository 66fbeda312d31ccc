"""Is latency additive? Summed per-exit latency from the profile vs the measured path.

For ``--archs`` sampled architectures (random weights: latency does not depend on them), the
per-exit latency of :func:`aebnas.costs.latency.latency_costs` (pieces measured alone, batch 1,
ONNX Runtime) is compared with the measured batch-1 latency of the exported network run by the
early-exit runtime (:class:`aebnas.runtime.EarlyExitRuntime` over ONNX segments, same threads):

- whole path: every exit on with threshold 1.0 (no input leaves early: every trunk, every branch
  and its decision, then the final segment) vs the profile's final-exit cost;
- first exit: the first exit's threshold 0 (every input leaves there) vs its cost.

Unless ``--profile`` names a calibrated profile, the profile is measured in this run and
calibrated (:mod:`aebnas.costs.calibration`) on ``--calibration-archs`` architectures sampled
with ``--calibration-seed`` (which must differ from ``--seed``; the benchmark's own
architectures are excluded), so no benchmark architecture is ever fitted on. The uncalibrated
figures (the pieces' sum alone) are printed next to the calibrated ones.

Prints predicted / measured per architecture and the median absolute error of each. Goal: within
10%. Timings are medians, or minima with ``--statistic min`` (whole path and first exit timed by
turns, 10 rounds), in one run on this machine (shared, possibly loaded: say so).

    python benchmarks/latency_additivity.py [--archs 20] [--repeats 200] [--statistic min]
        [--save-profile P] [--dump P]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

if not __package__:  # run as a script from a checkout: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from aebnas.cli import ArgumentParser
from aebnas.costs.calibration import (
    DEFAULT_CALIBRATION_ARCHS,
    DEFAULT_CALIBRATION_SEED,
    PathSample,
    calibration_samples,
    exported_runtime,
    fit,
    leaving_at,
)
from aebnas.costs.latency import (
    DEFAULT_STATISTIC,
    TIMING_STATISTICS,
    LatencyProfile,
    describe_device,
    latency_costs,
    latency_terms,
    load_profile,
    time_interleaved,
)
from aebnas.data import dataset_info
from aebnas.errors import UserError, run_cli
from aebnas.space import get_space, sample_architectures


def load() -> str:
    """The 1/5/15-minute load averages, for the report."""
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def read_dump(path: Path) -> dict[str, dict[str, float]]:
    """Architecture -> measured ms (``whole_ms``, ``first_ms``) of an earlier ``--dump``."""
    try:
        return {p["arch"]: p for p in json.loads(path.read_text())["benchmark"]}
    except (OSError, KeyError, TypeError, ValueError):
        raise UserError(f"{path} is not a --dump of this benchmark; pass one") from None


def measurement_drift(
    before: dict[str, dict[str, float]], paths: list[dict[str, object]]
) -> dict[str, float]:
    """Median ``|this / earlier - 1|`` of the measured whole-path and first-exit ms of the
    architectures both runs measured."""
    common = [(str(p["arch"]), p) for p in paths if str(p["arch"]) in before]
    if not common:
        raise UserError("the earlier run measured none of these architectures; use its --seed")
    return {
        key: statistics.median(
            abs(float(str(p[f"{key}_ms"])) / float(before[arch][f"{key}_ms"]) - 1)
            for arch, p in common
        )
        for key in ("whole", "first")
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("--archs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--space", default="aebnas-plus")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--profile", help="existing calibrated profile (default: measured here)")
    parser.add_argument("--calibration-archs", type=int, default=DEFAULT_CALIBRATION_ARCHS)
    parser.add_argument("--calibration-seed", type=int, default=DEFAULT_CALIBRATION_SEED)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument(
        "--statistic",
        default=DEFAULT_STATISTIC,
        choices=sorted(TIMING_STATISTICS),
        help="summary of repeated calls, for the profile and the measured paths alike",
    )
    parser.add_argument("--save-profile", help="write the profile measured in this run here")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--dump", help="write every measured path (calibration and benchmark) here as JSON"
    )
    parser.add_argument(
        "--compare", help="an earlier run's --dump: how far this run's measurements moved"
    )
    args = parser.parse_args(argv)
    if args.calibration_seed == args.seed:
        parser.error("--calibration-seed must differ from --seed (never fit on the benchmark)")
    earlier = read_dump(Path(args.compare)) if args.compare else {}
    torch.set_num_threads(args.threads)
    info = dataset_info(args.dataset)
    channels, classes = info.channels, info.num_classes or 10
    space = get_space(args.space, info.resolutions)
    archs = sample_architectures(space, args.archs, args.seed)
    print(f"load average at start: {load()}")
    start = time.perf_counter()
    variants: dict[str, LatencyProfile] = {}  # other calibrations of the same measurements
    samples: list[PathSample] = []
    if args.profile:
        profile = load_profile(args.profile, args.threads)
        if profile.calibration is None:
            parser.error(f"{args.profile} is not calibrated")
    else:
        profile = LatencyProfile.for_host(args.threads, statistic=args.statistic)
        samples = calibration_samples(
            profile,
            space,
            channels,
            classes,
            args.calibration_archs,
            args.calibration_seed,
            args.repeats,
            exclude=frozenset(a.canonical for a in archs),
        )
        profile.calibration = fit(samples, args.calibration_seed, args.calibration_archs)
        fixed = fit(samples, args.calibration_seed, args.calibration_archs, fixed_scale=1.0)
        variants["scale 1"] = LatencyProfile(**{**vars(profile), "calibration": fixed})
    cal = profile.calibration
    assert cal is not None
    print(
        f"device: {describe_device(profile.device)}; repeats {args.repeats} "
        f"({profile.statistic})"
    )
    print(
        f"calibration: {cal.archs} architectures (seed {cal.seed}), {cal.paths} exit paths: "
        f"scale {cal.scale:.3f}, {cal.per_mb:.4f} ms/MB, {cal.per_segment:.4f} ms/segment; "
        f"fit error (median) {100 * cal.median_error:.1f}%"
    )
    print(
        f"{'#':>3} {'exits':>5} {'MB':>5} {'pred ms':>8} {'meas ms':>8} {'ratio':>6} {'raw':>6}  "
        f"{'pred x1':>8} {'meas x1':>8} {'ratio':>6} {'raw':>6}"
    )
    whole, first, raw_whole, raw_first = [], [], [], []
    measured_paths: list[dict[str, object]] = []
    variant_ratios: dict[str, tuple[list[float], list[float]]] = {v: ([], []) for v in variants}
    for i, arch in enumerate(archs):
        costs = latency_costs(arch, space, channels, classes, profile)
        terms = latency_terms(arch, space, channels, classes, profile)
        predicted, raw = costs.cumulative(), terms.pieces.cumulative()
        megabytes = terms.megabytes.cumulative()[-1]
        with tempfile.TemporaryDirectory(prefix="aebnas-additivity-") as tmp:
            runtime = exported_runtime(arch, space, channels, classes, Path(tmp), args.threads)
            x = torch.randn(1, channels, arch.resolution, arch.resolution)
            _, taken = runtime.predict(x)
            assert int(taken[0]) == costs.num_exits - 1, "an input left early at threshold 1.0"
            early = leaving_at(runtime, 0)
            full, one = time_interleaved(
                [partial(runtime.predict, x), partial(early.predict, x)],
                20,
                args.repeats,
                statistic=profile.statistic,
            )
        measured_paths.append({"arch": arch.canonical, "whole_ms": full, "first_ms": one})
        whole.append(predicted[-1] / full)
        for name, other in variants.items():
            alt = latency_costs(arch, space, channels, classes, other).cumulative()
            variant_ratios[name][0].append(alt[-1] / full)
            variant_ratios[name][1].append(alt[0] / one)
        first.append(predicted[0] / one)
        raw_whole.append(raw[-1] / full)
        raw_first.append(raw[0] / one)
        print(
            f"{i:>3} {costs.num_exits - 1:>5} {megabytes:>5.1f} {predicted[-1]:>8.3f} {full:>8.3f} "
            f"{whole[-1]:>6.3f} {raw_whole[-1]:>6.3f}  {predicted[0]:>8.3f} {one:>8.3f} "
            f"{first[-1]:>6.3f} {raw_first[-1]:>6.3f}"
        )

    if args.save_profile:
        profile.save(args.save_profile)
    if args.dump:
        calibration = [{"terms": c.terms, "ms": c.measured} for c in samples]
        Path(args.dump).write_text(
            json.dumps({"calibration": calibration, "benchmark": measured_paths}) + "\n"
        )

    def error(ratios: list[float]) -> float:
        return statistics.median(abs(r - 1) for r in ratios)

    if args.compare:
        moved = measurement_drift(earlier, measured_paths)
        print(
            f"measured vs {args.compare} (same architectures, another run): median "
            f"|this/earlier - 1| whole path {100 * moved['whole']:.1f}%, first exit "
            f"{100 * moved['first']:.1f}%"
        )

    print(
        f"median |predicted/measured - 1|: whole path {100 * error(whole):.1f}%, "
        f"first exit {100 * error(first):.1f}% (goal 10%); uncalibrated pieces: whole path "
        f"{100 * error(raw_whole):.1f}%, first exit {100 * error(raw_first):.1f}%"
    )
    for name, (w, f) in variant_ratios.items():
        other_cal = variants[name].calibration
        assert other_cal is not None
        print(
            f"calibration variant '{name}' ({other_cal.scale:.3f} x pieces, "
            f"{other_cal.per_mb:.4f} ms/MB, {other_cal.per_segment:.4f} ms/segment; fit error "
            f"{100 * other_cal.median_error:.1f}%): whole path {100 * error(w):.1f}%, first exit "
            f"{100 * error(f):.1f}%"
        )
    print(
        f"median ratio: whole path {statistics.median(whole):.3f}, "
        f"first exit {statistics.median(first):.3f}; {time.perf_counter() - start:.0f} s, "
        f"load average at end: {load()}"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "whole_ratios": whole,
                    "first_ratios": first,
                    "median_error_whole": error(whole),
                    "median_error_first": error(first),
                    "median_error_whole_uncalibrated": error(raw_whole),
                    "median_error_first_uncalibrated": error(raw_first),
                    "calibration": cal.to_json(),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
