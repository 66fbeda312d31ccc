import math

import torch

from aebnas.config import FidelityConfig
from aebnas.models import build_network
from aebnas.space import get_space, sample_architectures
from aebnas.train import joint_loss, seed_everything, train_network

SPACE = get_space("aebnas-plus", (28, 32, 36, 40))
CPU = torch.device("cpu")


def _batches(n_batches: int, resolution: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randn(16, 1, resolution, resolution, generator=g),
            torch.randint(0, 10, (16,), generator=g),
        )
        for _ in range(n_batches)
    ]


def test_joint_loss_weights_intermediate_exits():
    logits = [torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 3)]
    target = torch.zeros(4, dtype=torch.long)
    one = joint_loss(logits, target, 1.0)
    half = joint_loss(logits, target, 0.5)
    assert math.isclose(float(one), 3 * math.log(3), rel_tol=1e-5)
    assert math.isclose(float(half), 2 * math.log(3), rel_tol=1e-5)


def test_training_is_reproducible_on_cpu():
    arch = sample_architectures(SPACE, 1, seed=0)[0]
    results, weights = [], []
    for _ in range(2):
        seed_everything(3)
        net = build_network(arch, SPACE, 1, 10)
        res = train_network(net, _batches(3, arch.resolution), FidelityConfig(epochs=2), 0.05, CPU)
        results.append(res.final_loss)
        weights.append(net.head.classifier.weight.detach().clone())
    assert results[0] == results[1]
    assert torch.equal(weights[0], weights[1])


def test_diverging_training_fails_with_a_reason():
    arch = sample_architectures(SPACE, 1, seed=1)[0]
    net = build_network(arch, SPACE, 1, 10)
    batches = _batches(2, arch.resolution)
    batches[1] = (torch.full_like(batches[1][0], float("nan")), batches[1][1])
    result = train_network(net, batches, FidelityConfig(epochs=1), 0.05, CPU)
    assert result.status == "failed"
    assert "non-finite loss" in result.reason and "step 2" in result.reason


class _HungryNetwork(torch.nn.Module):
    """A real early-exit network whose second forward pass asks the CPU allocator for 4 TB
    (what a too-large batch or resolution does), so the allocator's own error is raised."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.calls += 1
        if self.calls == 2:
            torch.empty((2**40,), dtype=torch.float32)
        return self.inner(x)


def test_cpu_out_of_memory_is_a_failed_training_with_its_reason():
    arch = sample_architectures(SPACE, 1, seed=0)[0]
    net = _HungryNetwork(build_network(arch, SPACE, 1, 10))
    res = train_network(net, _batches(3, arch.resolution), FidelityConfig(epochs=1), 0.05, CPU)
    assert res.status == "failed" and res.images == 16
    assert res.reason is not None and res.reason.startswith("out of memory (CPU:")
    assert "can't allocate memory" in res.reason


def test_out_of_memory_reason_tells_oom_from_other_errors():
    from aebnas.train.trainer import out_of_memory_reason

    gpu = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert (out_of_memory_reason(gpu) or "").startswith("out of memory (GPU:")
    cpu = RuntimeError("[enforce fail] DefaultCPUAllocator: not enough memory: you tried ...")
    assert (out_of_memory_reason(cpu) or "").startswith("out of memory (CPU:")
    assert out_of_memory_reason(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None
    assert out_of_memory_reason(ValueError("out of memory")) is None
