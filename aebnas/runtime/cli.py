"""``python -m aebnas.runtime bench PATH [--dataset D] [--split test] [--json]``.

PATH is an export folder (ONNX Runtime backend) or a checkpoint (PyTorch backend); see
:mod:`aebnas.runtime.bench` for what is measured. ``--json`` prints the result as the last line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from aebnas.cli import ArgumentParser
from aebnas.errors import UserError
from aebnas.runtime.backends import BACKENDS, open_runtime
from aebnas.runtime.bench import bench_data, print_report, run_bench


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m aebnas.runtime", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser("bench", help="latency, throughput and exits vs no exits")
    bench.add_argument("path", help="export folder (onnx) or .safetensors checkpoint (torch)")
    bench.add_argument("--backend", choices=BACKENDS.names(), help="default: by PATH kind")
    bench.add_argument(
        "--provider", action="append", help="ONNX Runtime provider (repeat for a priority list)"
    )
    bench.add_argument("--dataset", help="default: the model's dataset")
    bench.add_argument("--split", default="test", choices=["train", "val", "test"])
    bench.add_argument("--data-root", help="folder with the dataset files")
    bench.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    bench.add_argument(
        "--cpus", help="pin the process to these CPUs, e.g. 0 or 0,1 (default: not pinned)"
    )
    bench.add_argument("--limit", type=int, help="benchmark the first N images of the split")
    bench.add_argument("--warmup", type=int, default=20, help="images per mode not timed")
    bench.add_argument("--batch-size", type=int, default=64, help="batch of the throughput pass")
    bench.add_argument("--json", action="store_true", help="print the result as a last JSON line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for flag, value in (("--threads", args.threads), ("--batch-size", args.batch_size)):
        if value < 1:
            raise UserError(f"{flag} must be positive, got {value}")
    if args.warmup < 0:
        raise UserError(f"--warmup must be 0 or more, got {args.warmup}")
    if args.cpus:
        pin_cpus(args.cpus)
    runtime = open_runtime(args.path, args.backend, args.provider, args.threads)
    data = bench_data(runtime.card, args.dataset, args.split, args.data_root, args.limit)
    result = run_bench(
        runtime, data, warmup=args.warmup, batch_size=args.batch_size, threads=args.threads
    )
    print_report(result)
    if args.json:
        print(json.dumps(result))
    return 0


def pin_cpus(text: str) -> None:
    """Restrict the process (and the threads it starts) to the CPUs listed in ``text``.

    Raises:
        UserError: Malformed list or CPUs this process may not use.
    """
    allowed = os.sched_getaffinity(0)
    try:
        cpus = {int(part) for part in text.split(",")}
    except ValueError:
        raise UserError(f"--cpus {text!r} must be CPU numbers separated by commas") from None
    if not cpus <= allowed:
        raise UserError(
            f"--cpus {text}: CPU(s) {sorted(cpus - allowed)} are not available; choose from "
            f"{sorted(allowed)}"
        )
    os.sched_setaffinity(0, cpus)
