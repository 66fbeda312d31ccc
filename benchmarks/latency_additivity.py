"""Is latency additive? Summed per-exit latency from the profile vs the measured path.

For ``--archs`` sampled architectures (random weights: latency does not depend on them), the
per-exit latency of :func:`aebnas.costs.latency.latency_costs` (pieces measured alone, batch 1,
ONNX Runtime) is compared with the measured batch-1 latency of the exported network run by the
early-exit runtime (:class:`aebnas.runtime.EarlyExitRuntime` over ONNX segments, same threads):

- whole path: every exit on with threshold 1.0 (no input leaves early: every trunk, every branch
  and its decision, then the final segment) vs the profile's final-exit cost;
- first exit: the first exit's threshold 0 (every input leaves there) vs its cost.

Prints predicted / measured per architecture and the median absolute error of each. Goal: within
10%. Timings are medians in one run on this machine (shared, possibly loaded: say so).

    python benchmarks/latency_additivity.py [--archs 20] [--profile profiles/host.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

if not __package__:  # run as a script from a checkout: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from aebnas.costs.latency import (
    LatencyProfile,
    describe_device,
    latency_costs,
    load_profile,
    time_calls,
)
from aebnas.data import dataset_info
from aebnas.export.onnx import OnnxFormat
from aebnas.models import EarlyExitNetwork
from aebnas.models.segments import network_segments
from aebnas.runtime.engine import EarlyExitRuntime, ModelCard, RuntimeSegment
from aebnas.space import Architecture, SearchSpace, get_space, sample_architectures


def exported_runtime(
    arch: Architecture,
    space: SearchSpace,
    channels: int,
    classes: int,
    folder: Path,
    threads: int,
    card_costs: object,
) -> EarlyExitRuntime:
    """The network of ``arch`` (random weights) as ONNX segments in ``folder``, in a runtime."""
    torch.manual_seed(0)
    net = EarlyExitNetwork(arch, space, channels, classes).eval()
    fmt = OnnxFormat()
    x = torch.zeros(1, channels, arch.resolution, arch.resolution)
    segments = []
    with torch.no_grad():
        for s in network_segments(net):
            path = folder / f"{s.name}.onnx"
            fmt.write(s.module, x, path, "x", "y")
            segments.append(
                RuntimeSegment(s.name, s.role, fmt.load(path, None, threads), s.exit_index)
            )
            if s.role == "trunk":
                x = s.module(x)
    card = ModelCard(
        arch=arch.canonical,
        dataset="none",
        in_channels=channels,
        resolution=arch.resolution,
        mean=(0.0,) * channels,
        std=(1.0,) * channels,
        class_names=tuple(str(c) for c in range(classes)),
        confidence="margin",
        thresholds=(1.0,) * (len(arch.exit_positions)),
        costs=card_costs,  # type: ignore[arg-type]
    )
    return EarlyExitRuntime(segments, card, "onnx", {"intra_op_threads": threads})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--archs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--space", default="aebnas-plus")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--profile", help="existing profile (default: measured in this run)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    info = dataset_info(args.dataset)
    channels, classes = info.channels, info.num_classes or 10
    space = get_space(args.space, info.resolutions)
    profile = (
        load_profile(args.profile, args.threads)
        if args.profile
        else LatencyProfile.for_host(args.threads)
    )
    print(f"device: {describe_device(profile.device)}; repeats {args.repeats} (median)")
    print(
        f"{'#':>3} {'exits':>5} {'pred ms':>8} {'meas ms':>8} {'ratio':>6}  "
        f"{'pred x1':>8} {'meas x1':>8} {'ratio':>6}"
    )
    whole, first = [], []
    for i, arch in enumerate(sample_architectures(space, args.archs, args.seed)):
        costs = latency_costs(arch, space, channels, classes, profile)
        predicted = costs.cumulative()
        with tempfile.TemporaryDirectory(prefix="aebnas-additivity-") as tmp:
            runtime = exported_runtime(
                arch, space, channels, classes, Path(tmp), args.threads, costs
            )
            x = torch.randn(1, channels, arch.resolution, arch.resolution)
            _, taken = runtime.predict(x)
            assert int(taken[0]) == costs.num_exits - 1, "an input left early at threshold 1.0"
            full = time_calls(lambda r=runtime, x=x: r.predict(x), 20, args.repeats)
            early = runtime.with_thresholds([0.0] + [1.0] * (costs.num_exits - 2))
            one = time_calls(lambda r=early, x=x: r.predict(x), 20, args.repeats)
        whole.append(predicted[-1] / full)
        first.append(predicted[0] / one)
        print(
            f"{i:>3} {costs.num_exits - 1:>5} {predicted[-1]:>8.3f} {full:>8.3f} "
            f"{whole[-1]:>6.3f}  {predicted[0]:>8.3f} {one:>8.3f} {first[-1]:>6.3f}"
        )
    err_whole = statistics.median(abs(r - 1) for r in whole)
    err_first = statistics.median(abs(r - 1) for r in first)
    print(
        f"median |predicted/measured - 1|: whole path {100 * err_whole:.1f}%, "
        f"first exit {100 * err_first:.1f}% (goal 10%)"
    )
    print(
        f"median ratio: whole path {statistics.median(whole):.3f}, "
        f"first exit {statistics.median(first):.3f}"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "whole_ratios": whole,
                    "first_ratios": first,
                    "median_error_whole": err_whole,
                    "median_error_first": err_first,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
