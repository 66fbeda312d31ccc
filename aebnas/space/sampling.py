"""Seeded sampling, mutation and crossover of architectures (always valid by construction)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from aebnas.space.architecture import Architecture, Block, BranchModule, Exit
from aebnas.space.spaces import SearchSpace

T = TypeVar("T")


def _choice(rng: random.Random, values: Sequence[T]) -> T:
    return values[rng.randrange(len(values))]


def sample_block(space: SearchSpace, rng: random.Random) -> Block:
    bb = space.backbone
    return Block(kernel=_choice(rng, bb.kernels), expand=_choice(rng, bb.expansions))


def sample_stage(space: SearchSpace, rng: random.Random) -> tuple[Block, ...]:
    depth = _choice(rng, space.backbone.depths)
    return tuple(sample_block(space, rng) for _ in range(depth))


def sample_module(space: SearchSpace, rng: random.Random) -> BranchModule:
    br = space.branch
    return BranchModule(
        resize=_choice(rng, br.resizes),
        op=_choice(rng, br.ops),
        kernel=_choice(rng, br.kernels),
        width=_choice(rng, br.widths),
        pool=_choice(rng, br.pools),
    )


def sample_exit(space: SearchSpace, position: int, rng: random.Random) -> Exit:
    depth = _choice(rng, space.branch.depths)
    return Exit(position=position, modules=tuple(sample_module(space, rng) for _ in range(depth)))


def sample_exit_positions(space: SearchSpace, rng: random.Random) -> tuple[int, ...]:
    """Each position is on with probability 1/2, re-drawn until ``min_exits`` are on."""
    while True:
        positions = tuple(p for p in space.exit_positions if rng.random() < 0.5)
        if len(positions) >= space.min_exits:
            return positions


def sample_architecture(space: SearchSpace, rng: random.Random) -> Architecture:
    """Draw one architecture uniformly gene by gene."""
    return Architecture(
        resolution=_choice(rng, space.resolutions),
        stages=tuple(sample_stage(space, rng) for _ in range(space.backbone.num_stages)),
        exits=tuple(sample_exit(space, p, rng) for p in sample_exit_positions(space, rng)),
    )


def sample_architectures(space: SearchSpace, n: int, seed: int) -> list[Architecture]:
    """``n`` distinct architectures, reproducible from ``seed``."""
    rng = random.Random(seed)
    seen: dict[str, Architecture] = {}
    while len(seen) < n:
        arch = sample_architecture(space, rng)
        seen.setdefault(arch.canonical, arch)
    return list(seen.values())


def _mutate_module(
    mod: BranchModule, space: SearchSpace, rng: random.Random, p: float
) -> BranchModule:
    fresh = sample_module(space, rng)
    return BranchModule(
        resize=fresh.resize if rng.random() < p else mod.resize,
        op=fresh.op if rng.random() < p else mod.op,
        kernel=fresh.kernel if rng.random() < p else mod.kernel,
        width=fresh.width if rng.random() < p else mod.width,
        pool=fresh.pool if rng.random() < p else mod.pool,
    )


def _mutate_stage(
    stage: tuple[Block, ...], space: SearchSpace, rng: random.Random, p: float
) -> tuple[Block, ...]:
    blocks = list(stage)
    if rng.random() < p:
        depth = _choice(rng, space.backbone.depths)
        blocks = blocks[:depth] + [sample_block(space, rng) for _ in range(depth - len(blocks))]
    return tuple(sample_block(space, rng) if rng.random() < p else b for b in blocks)


def _mutate_exit(ex: Exit, space: SearchSpace, rng: random.Random, p: float) -> Exit:
    modules = list(ex.modules)
    if rng.random() < p:
        depth = _choice(rng, space.branch.depths)
        modules = modules[:depth] + [sample_module(space, rng) for _ in range(depth - len(modules))]
    return Exit(ex.position, tuple(_mutate_module(m, space, rng, p) for m in modules))


def mutate(
    arch: Architecture, space: SearchSpace, rng: random.Random, p: float = 0.1
) -> Architecture:
    """Re-draw each gene with probability ``p``; exits are toggled with probability ``p`` too.

    The result is valid in ``space`` but may equal ``arch`` (callers deduplicate).
    """
    resolution = _choice(rng, space.resolutions) if rng.random() < p else arch.resolution
    stages = tuple(_mutate_stage(s, space, rng, p) for s in arch.stages)
    current = {e.position: e for e in arch.exits}
    exits: list[Exit] = []
    for pos in space.exit_positions:
        active = pos in current
        if rng.random() < p:
            active = not active
        if active:
            ex = current.get(pos) or sample_exit(space, pos, rng)
            exits.append(_mutate_exit(ex, space, rng, p))
    if len(exits) < space.min_exits:
        exits = list(arch.exits)
    return Architecture(resolution=resolution, stages=stages, exits=tuple(exits))


def crossover(a: Architecture, b: Architecture, rng: random.Random) -> Architecture:
    """Uniform crossover at the level of resolution, whole stages and whole exit slots."""
    stages = tuple(
        sa if rng.random() < 0.5 else sb for sa, sb in zip(a.stages, b.stages, strict=True)
    )
    exits_a = {e.position: e for e in a.exits}
    exits_b = {e.position: e for e in b.exits}
    exits = []
    for pos in sorted(set(exits_a) | set(exits_b)):
        pick = exits_a if rng.random() < 0.5 else exits_b
        if pos in pick:
            exits.append(pick[pos])
    if not exits:
        exits = list(a.exits)
    resolution = a.resolution if rng.random() < 0.5 else b.resolution
    return Architecture(resolution=resolution, stages=stages, exits=tuple(exits))


def _balanced_sequence(values: Sequence[T], n: int, rng: random.Random) -> list[T]:
    """``n`` draws in which every value appears equally often (+-1), in random order."""
    sequence = (list(values) * (n // len(values) + 1))[:n]
    rng.shuffle(sequence)
    return sequence


def sample_stratified(space: SearchSpace, n: int, seed: int) -> list[Architecture]:
    """``n`` distinct architectures that cover the space's choices evenly (seeded).

    Uniform gene-by-gene sampling leaves rare structures rare (e.g. all four exits on, or
    3-module branches at a given position). Here the resolution, each stage's depth, the set
    of active exits (every non-empty subset of positions equally often) and each exit's branch
    depth follow balanced sequences; the remaining genes (kernels, expansions, layer types,
    pooling, widths, resizes) are drawn uniformly.
    """
    rng = random.Random(seed)
    positions = space.exit_positions
    subsets = [
        tuple(p for bit, p in enumerate(positions) if mask >> bit & 1)
        for mask in range(1, 2 ** len(positions))
    ]
    subsets = [sub for sub in subsets if len(sub) >= space.min_exits]
    resolutions = _balanced_sequence(space.resolutions, n, rng)
    depths = [
        _balanced_sequence(space.backbone.depths, n, rng) for _ in space.backbone.stage_widths
    ]
    exit_sets = _balanced_sequence(subsets, n, rng)
    branch_depths = {p: iter(_balanced_sequence(space.branch.depths, n, rng)) for p in positions}
    chosen: dict[str, Architecture] = {}
    for i in range(n):
        exits_depth = {p: next(branch_depths[p]) for p in exit_sets[i]}
        while True:
            arch = Architecture(
                resolution=resolutions[i],
                stages=tuple(tuple(sample_block(space, rng) for _ in range(d[i])) for d in depths),
                exits=tuple(
                    Exit(p, tuple(sample_module(space, rng) for _ in range(depth)))
                    for p, depth in exits_depth.items()
                ),
            )
            if arch.canonical not in chosen:
                chosen[arch.canonical] = arch
                break
    return list(chosen.values())
