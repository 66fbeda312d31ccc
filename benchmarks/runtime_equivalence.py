"""Does the early-exit runtime answer as EarlyExitNetwork.infer on a whole split, both backends?

    python benchmarks/runtime_equivalence.py CHECKPOINT EXPORT_DIR [--split test] [--limit N]

Classifies every image of the split (default: the 10,000 Fashion-MNIST test images) with
:meth:`EarlyExitNetwork.infer` (the checkpoint's network and thresholds, batches of 256), and with
the runtime of each backend (``onnx`` over ``EXPORT_DIR``, ``torch`` over ``CHECKPOINT``) one
image at a time and in batches of 64. Prints, per backend and batch size, how many predictions
and exits differ from ``infer`` and the mean batch-1 ms per image; exits 1 if any differ.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

if not __package__:  # run as a script from a checkout: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from aebnas.cli import ArgumentParser
from aebnas.errors import run_cli
from aebnas.models import load_checkpoint
from aebnas.runtime import open_runtime
from aebnas.runtime.bench import bench_data


def batched(
    fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``fn`` over ``x`` in batches of ``size``, outputs concatenated."""
    parts = [fn(x[i : i + size]) for i in range(0, len(x), size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    net, metadata = load_checkpoint(args.checkpoint)
    runtimes = {
        "onnx": open_runtime(args.export_dir, "onnx", None, args.threads),
        "torch": open_runtime(args.checkpoint, "torch", None, args.threads),
    }
    data = bench_data(runtimes["onnx"].card, None, args.split, None, args.limit)
    thresholds, confidence = metadata.infer_thresholds, metadata.confidence
    with torch.no_grad():
        expected = batched(lambda b: net.infer(b, thresholds, confidence), data.images, 256)
    print(f"{len(data.images)} {data.dataset} {data.split} images, {args.threads} thread(s)")
    differing = 0
    for name, runtime in runtimes.items():
        start = time.perf_counter()
        one = batched(runtime.predict, data.images, 1)
        ms = 1e3 * (time.perf_counter() - start) / len(data.images)
        for size, got in ((1, one), (64, batched(runtime.predict, data.images, 64))):
            wrong = [int((g != e).sum()) for g, e in zip(got, expected, strict=True)]
            differing += sum(wrong)
            print(
                f"{name:>6} batch {size:>2}: {wrong[0]} predictions and {wrong[1]} exits differ "
                f"from infer" + (f"; {ms:.3f} ms per image" if size == 1 else "")
            )
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
