"""Which sub-networks one supernet training step trains (the sandwich rule, BigNAS).

Every step trains the largest backbone at the largest resolution, the smallest backbone at the
smallest resolution, and ``random`` sub-networks drawn gene by gene. Every one of them carries a
random exit configuration: each exit position is on with probability ``exit_probability`` (at
least ``space.min_exits`` on) with branch genes drawn uniformly, so every branch weight is
trained beside every backbone size.
"""

from __future__ import annotations

import random

from aebnas.space.architecture import Architecture, Block, Exit
from aebnas.space.sampling import sample_architecture, sample_exit
from aebnas.space.spaces import SearchSpace


def random_exits(
    space: SearchSpace, rng: random.Random, exit_probability: float
) -> tuple[Exit, ...]:
    """Random active exits with uniformly drawn branch genes.

    Args:
        space: The search space.
        rng: Random stream.
        exit_probability: Chance that a position is on (re-drawn until ``min_exits`` are).
    """
    while True:
        positions = [p for p in space.exit_positions if rng.random() < exit_probability]
        if len(positions) >= space.min_exits:
            return tuple(sample_exit(space, p, rng) for p in positions)


def uniform_backbone(space: SearchSpace, size: str, rng: random.Random,
                     exit_probability: float) -> Architecture:
    """The ``largest`` or ``smallest`` backbone of ``space`` with random exits."""
    spec = space.backbone
    pick = max if size == "largest" else min
    block = Block(kernel=pick(spec.kernels), expand=pick(spec.expansions))
    return Architecture(
        resolution=pick(space.resolutions),
        stages=tuple((block,) * pick(spec.depths) for _ in range(spec.num_stages)),
        exits=random_exits(space, rng, exit_probability),
    )


def sandwich(space: SearchSpace, rng: random.Random, random_subnets: int,
             exit_probability: float) -> list[Architecture]:
    """The sub-networks of one step: largest first (the distillation teacher), then smallest,
    then ``random_subnets`` random ones.

    Args:
        space: The search space.
        rng: Random stream of this step.
        random_subnets: Number of random sub-networks besides the largest and smallest.
        exit_probability: Chance that each exit position is on.
    """
    archs = [
        uniform_backbone(space, "largest", rng, exit_probability),
        uniform_backbone(space, "smallest", rng, exit_probability),
    ]
    for _ in range(random_subnets):
        arch = sample_architecture(space, rng)
        archs.append(Architecture(arch.resolution, arch.stages,
                                  random_exits(space, rng, exit_probability)))
    return archs
