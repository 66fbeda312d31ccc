"""Images/s of aebnas's training loop against a bare PyTorch loop on the same network.

Both train the same architecture (same layout: channels_last) on the same Fashion-MNIST images;
ours includes the real data pipeline (BatchLoader), the joint loss, gradient clipping, the
cosine scheduler and the progress bookkeeping. Runs alternate (ours, bare, ours, bare, ...) so
background load hits both alike; the ratio of medians is printed. Goal: ratio >= 0.95.

    .venv/bin/python benchmarks/train_throughput.py [--steps 30] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from aebnas.config import FidelityConfig
from aebnas.data import dataset_info, load_dataset
from aebnas.models import build_network
from aebnas.space import get_space, sample_architectures
from aebnas.train import joint_loss, seed_everything, train_network


def _batches(arch, dataset, fidelity: FidelityConfig, steps: int):
    return dataset.batches(
        "train",
        arch.resolution,
        fidelity.batch_size,
        shuffle=True,
        channels_last=True,
        subset=steps * fidelity.batch_size,
        drop_last=True,
    )


def ours(arch, space, dataset, fidelity: FidelityConfig, steps: int) -> float:
    seed_everything(0)
    model = build_network(arch, space, dataset.channels, dataset.num_classes)
    batches = _batches(arch, dataset, fidelity, steps)
    result = train_network(model, batches, fidelity, 0.1, torch.device("cpu"))
    return result.images_per_second


def bare(arch, space, dataset, fidelity: FidelityConfig, steps: int) -> float:
    seed_everything(0)
    model = build_network(arch, space, dataset.channels, dataset.num_classes)
    model.to(memory_format=torch.channels_last).train()
    prepared = list(_batches(arch, dataset, fidelity, steps))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    start = time.perf_counter()
    for x, y in prepared:
        loss = joint_loss(model(x), y, 1.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return len(prepared) * fidelity.batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--arch-seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    space = get_space("aebnas-plus", dataset_info("fashion-mnist").resolutions)
    arch = sample_architectures(space, 1, args.arch_seed)[0]
    dataset = load_dataset("fashion-mnist")
    fidelity = FidelityConfig(epochs=1, batch_size=64)
    ours(arch, space, dataset, fidelity, 3)  # warm-up (resize cache, allocator, oneDNN kernels)
    bare(arch, space, dataset, fidelity, 3)
    measured: dict[str, list[float]] = {"aebnas": [], "bare": []}
    for _ in range(args.repeats):
        measured["aebnas"].append(ours(arch, space, dataset, fidelity, args.steps))
        measured["bare"].append(bare(arch, space, dataset, fidelity, args.steps))
    print(f"architecture {arch}")
    print(
        f"{args.steps} steps of batch {fidelity.batch_size}, {args.threads} thread(s), "
        f"{args.repeats} repeats"
    )
    for name, values in measured.items():
        print(
            f"{name:>7}: median {statistics.median(values):7.1f} img/s  (runs: "
            + ", ".join(f"{v:.1f}" for v in values)
            + ")"
        )
    ratio = statistics.median(measured["aebnas"]) / statistics.median(measured["bare"])
    print(f"ratio aebnas / bare = {ratio:.3f} (goal >= 0.95)")


if __name__ == "__main__":
    main()
