"""How repeatable is a batch-1 latency measurement here? The floor under any latency model.

    python benchmarks/latency_repeatability.py [--archs 8] [--repeats 200] [--seed 1]

For ``--archs`` sampled architectures (the first of ``benchmarks/latency_additivity.py``'s
sample with the same ``--seed``), the exported network is loaded twice as two separate ONNX
Runtime sessions (two exports of the same graph), and three runs take turns in one timing loop
(:func:`aebnas.costs.latency.time_interleaved`): session 1, session 2, session 1 again. The whole
path is timed (no input leaves early). Printed per architecture and as medians over them:

- ``session 1 again / session 1``: the same session, same loop: what timing alone moves;
- ``session 2 / session 1``: the identical graph in another session (another memory layout).

Both with the median and with the minimum of the repeated calls (each statistic in its own
loop, one after the other). A latency model can only be as close to a measurement as two
measurements of the identical network are to each other.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path

if not __package__:  # run as a script from a checkout: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from aebnas.cli import ArgumentParser
from aebnas.costs.calibration import exported_runtime
from aebnas.costs.latency import TIMING_STATISTICS, time_interleaved
from aebnas.data import dataset_info
from aebnas.errors import run_cli
from aebnas.space import get_space, sample_architectures

COLUMNS = ("again", "other")


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("--archs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dataset", default="fashion-mnist")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    info = dataset_info(args.dataset)
    channels, classes = info.channels, info.num_classes or 10
    space = get_space("aebnas-plus", info.resolutions)
    ratios: dict[str, dict[str, list[float]]] = {
        s: {c: [] for c in COLUMNS} for s in sorted(TIMING_STATISTICS)
    }
    print(f"{'#':>3} {'ms':>7}  " + "  ".join(
        f"{s} again / other" for s in ratios))
    for i, arch in enumerate(sample_architectures(space, args.archs, args.seed)):
        with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
            first = exported_runtime(arch, space, channels, classes, Path(one), args.threads)
            second = exported_runtime(arch, space, channels, classes, Path(two), args.threads)
            x = torch.randn(1, channels, arch.resolution, arch.resolution)
            runs = [partial(first.predict, x), partial(second.predict, x),
                    partial(first.predict, x)]
            cells, base = [], 0.0
            for name, kept in ratios.items():
                ms = time_interleaved(runs, 20, args.repeats, statistic=name)
                base = base or ms[0]
                kept["again"].append(ms[2] / ms[0])
                kept["other"].append(ms[1] / ms[0])
                cells.append(f"{kept['again'][-1]:.3f} / {kept['other'][-1]:.3f}")
        print(f"{i:>3} {base:>7.3f}  " + "  ".join(f"{c:>20}" for c in cells), flush=True)
    for name, kept in ratios.items():
        again, other = (statistics.median(abs(r - 1) for r in kept[c]) for c in COLUMNS)
        print(f"{name}: median |ratio - 1|, same session again {100 * again:.1f}%, "
              f"another session of the same graph {100 * other:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
