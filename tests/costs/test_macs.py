import warnings
from math import prod

import numpy as np
import torch
from torch import nn

with warnings.catch_warnings():  # fvcore's import scripts a function with the deprecated jit API
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn import FlopCountAnalysis
    from fvcore.nn.jit_handles import get_shape

from aebnas.costs import ExitCosts, count_macs, exit_costs
from aebnas.models import build_network
from aebnas.models.network import EarlyExitNetwork
from aebnas.space import get_space, sample_architectures

SPACE = get_space("aebnas-plus", (28, 32, 36, 40))


class PathToExit(nn.Module):
    """Runs the whole path of one exit end to end: stem, stages up to the exit, and every active
    branch up to and including it (their logits summed so nothing is dead code)."""

    def __init__(self, net: EarlyExitNetwork, exit_index: int) -> None:
        super().__init__()
        self.net = net
        positions = (*net.exit_positions, len(net.stages))
        self.last_stage = positions[exit_index]
        self.branch_positions = [p for p in net.exit_positions if p <= self.last_stage]
        self.final = exit_index == len(net.exit_positions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.net.stem(x)
        total = 0
        for position, stage in enumerate(self.net.stages[: self.last_stage], start=1):
            x = stage(x)
            if position in self.branch_positions:
                total = total + self.net.branches[str(position)](x)
        if self.final:
            total = total + self.net.head(x)
        return total


def test_cumulative_cost_equals_whole_path_traced_end_to_end():
    for arch in sample_architectures(SPACE, 20, seed=11):
        costs = exit_costs(arch, SPACE, 1, 10)
        net = build_network(arch, SPACE, 1, 10)
        x = torch.zeros(1, 1, arch.resolution, arch.resolution)
        for k, cumulative in enumerate(costs.cumulative()):
            traced = count_macs(PathToExit(net, k), x) / 1e6
            assert abs(cumulative - traced) <= 0.005 * traced, (arch, k, cumulative, traced)


def fvcore_macs(module: nn.Module, x: torch.Tensor) -> int:
    """fvcore's count (the project's convention), with 2x2 pooling at 1 MAC per input element."""

    def pool(inputs: list, outputs: list) -> int:
        return prod(get_shape(inputs[0]))

    analysis = FlopCountAnalysis(module.eval(), x)
    analysis.set_op_handle(**{"aten::max_pool2d": pool, "aten::avg_pool2d": pool})
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    with torch.no_grad():
        return int(analysis.total())


def test_counts_equal_fvcores_on_every_exit_path():
    """Block kinds, branch ops, resizes and pooling over 8 architectures, each exit's path."""
    for arch in sample_architectures(SPACE, 8, seed=3):
        net = build_network(arch, SPACE, 3, 100)
        x = torch.zeros(1, 3, arch.resolution, arch.resolution)
        for k in range(len(arch.exit_positions) + 1):
            path = PathToExit(net, k)
            assert count_macs(path, x) == fvcore_macs(path, x), (arch.canonical, k)


def test_cumulative_skips_inactive_branches():
    costs = ExitCosts(positions=(1, 3, 5), backbone=(1.0, 3.0, 6.0), branch=(0.5, 0.25, 2.0))
    assert np.allclose(costs.cumulative(), [1.5, 3.75, 8.75])
    assert np.allclose(costs.cumulative([False, True]), [1.5, 3.25, 8.25])
    assert costs.final == 8.75


def test_costs_grow_with_resolution_and_are_in_millions():
    arch = sample_architectures(SPACE, 1, seed=0)[0]
    small = exit_costs(type(arch)(28, arch.stages, arch.exits), SPACE, 1, 10)
    large = exit_costs(type(arch)(40, arch.stages, arch.exits), SPACE, 1, 10)
    assert 1.0 < small.final < large.final < 100.0
    assert small.branch == large.branch or small.positions == large.positions
