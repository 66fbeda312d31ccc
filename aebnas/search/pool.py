"""Candidate pools: where proposals come from (generated from the space, or an archive's rows).

A :class:`Domain` answers four questions the strategies ask:

- ``random(n)``: uniform random candidates (initial design, the ``random`` strategy);
- ``pool(parents)``: the candidate pool scored by the acquisition function;
- ``neighbours(archs)``: local-search moves around the best-scored candidates;
- ``snap(archs)``: the nearest members of the domain (NSGA-II offspring in benchmark mode).

:class:`GeneratedDomain` (real searches): random samples, mutations (gene re-draw probability
cycling through :attr:`PoolSettings.mutation_rates`) and crossovers of the current Pareto set,
single-gene neighbours for local search. :class:`FixedDomain` (benchmark mode): the archive's
rows; its pool is every row not evaluated yet, it has no neighbours outside the rows.

Every candidate handed out is valid in the space (:func:`aebnas.space.validate`), not in the
``exclude`` set of already evaluated architectures, unique (canonical string), and statically
able to meet the MAC cap (its cheapest operating point, every sample at the first exit, costs
at most the cap).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from random import Random
from typing import Any, Protocol

import numpy as np

from aebnas.costs import ExitCosts, exit_costs
from aebnas.predictors.features import costs_from_record
from aebnas.space import (
    Architecture,
    BranchModule,
    Exit,
    SearchSpace,
    crossover,
    encode_many,
    mutate,
    sample_architecture,
    validate,
)
from aebnas.space.architecture import Block

#: Draw attempts per wanted candidate before a generator gives up (tight caps, tiny spaces).
MAX_ATTEMPTS = 30


def round_rng(seed: int, round_index: int, stream: str) -> Random:
    """A ``random.Random`` that depends only on ``(seed, round, stream)`` (string seeds are
    hashed with SHA-512, so the stream is the same in every process)."""
    return random.Random(f"aebnas.search/{seed}/{round_index}/{stream}")


def round_seed(seed: int, round_index: int, stream: str) -> int:
    """A 31-bit integer seed that depends only on ``(seed, round, stream)``."""
    return round_rng(seed, round_index, stream).getrandbits(31)


class CostTable:
    """Exact static per-exit MMACs of architectures, memoised by canonical string.

    Costs stored in archive records (``static_macs``) are taken from there; others are
    computed with :func:`aebnas.costs.exit_costs` (slow for blocks not seen before in this
    process: each new block or branch module is traced once by fvcore).

    Args:
        space: The search space.
        in_channels: Image channels of the dataset.
        num_classes: Classes of the dataset.
    """

    def __init__(self, space: SearchSpace, in_channels: int, num_classes: int) -> None:
        self.space = space
        self.in_channels = in_channels
        self.num_classes = num_classes
        self._table: dict[str, ExitCosts] = {}

    def add_records(self, records: Iterable[dict[str, Any]]) -> None:
        """Remember the stored costs of records that have them."""
        for record in records:
            if "static_macs" in record and record["arch"] not in self._table:
                self._table[record["arch"]] = costs_from_record(record)

    def get(self, arch: Architecture) -> ExitCosts:
        costs = self._table.get(arch.canonical)
        if costs is None:
            costs = exit_costs(arch, self.space, self.in_channels, self.num_classes)
            self._table[arch.canonical] = costs
        return costs

    def many(self, archs: Sequence[Architecture]) -> list[ExitCosts]:
        return [self.get(a) for a in archs]

    def cheapest(self, arch: Architecture) -> float:
        """MMACs of the cheapest operating point (every sample leaves at the first exit)."""
        return float(self.get(arch).cumulative()[0])


@dataclass(frozen=True)
class PoolSettings:
    """How a generated pool is made.

    Args:
        size: Candidates drawn per pool (before local search).
        mutation_share: Fraction made by mutating Pareto members.
        crossover_share: Fraction made by crossing two Pareto members (then a light mutation).
        mutation_rates: Gene re-draw probabilities, cycled over the mutants.
        local_search_top: Best-scored candidates whose neighbours are added per step.
        local_search_neighbours: Single-gene neighbours drawn per such candidate.
        local_search_steps: Rounds of local search.
    """

    size: int = 400
    mutation_share: float = 0.5
    crossover_share: float = 0.2
    mutation_rates: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3)
    local_search_top: int = 8
    local_search_neighbours: int = 24
    local_search_steps: int = 2


class Domain(Protocol):
    """Where candidates come from (see the module docstring)."""

    name: str
    space: SearchSpace
    costs: CostTable

    def random(self, n: int, rng: Random, exclude: set[str]) -> list[Architecture]: ...

    def pool(
        self, parents: Sequence[Architecture], rng: Random, exclude: set[str]
    ) -> list[Architecture]: ...

    def neighbours(
        self, archs: Sequence[Architecture], rng: Random, exclude: set[str]
    ) -> list[Architecture]: ...

    def snap(self, archs: Sequence[Architecture]) -> list[Architecture]: ...


class _Collector:
    """Accepts valid, new, unique, statically feasible candidates up to a count."""

    def __init__(
        self, space: SearchSpace, exclude: set[str], feasible: Callable[[Architecture], bool]
    ):
        self.space = space
        self.exclude = exclude
        self.feasible = feasible
        self.items: dict[str, Architecture] = {}

    def offer(self, arch: Architecture) -> bool:
        key = arch.canonical
        if key in self.items or key in self.exclude:
            return False
        validate(arch, self.space)
        if not self.feasible(arch):
            return False
        self.items[key] = arch
        return True

    def fill(self, n: int, draw: Callable[[], Architecture]) -> None:
        """Offer draws until ``n`` more were accepted or the attempts run out."""
        target = len(self.items) + n
        for _ in range(MAX_ATTEMPTS * max(n, 1)):
            if len(self.items) >= target:
                return
            self.offer(draw())


class GeneratedDomain:
    """Candidates generated from the search space (real searches).

    Args:
        space: The search space.
        costs: Static MAC lookup.
        cap: MAC cap (MMACs) or ``None``.
        settings: Pool sizes and operator rates.
    """

    name = "generated"

    def __init__(
        self, space: SearchSpace, costs: CostTable, cap: float | None, settings: PoolSettings
    ) -> None:
        self.space = space
        self.costs = costs
        self.cap = cap
        self.settings = settings

    def feasible(self, arch: Architecture) -> bool:
        return self.cap is None or self.costs.cheapest(arch) <= self.cap

    def _collector(self, exclude: set[str]) -> _Collector:
        return _Collector(self.space, exclude, self.feasible)

    def random(self, n: int, rng: Random, exclude: set[str]) -> list[Architecture]:
        out = self._collector(exclude)
        out.fill(n, lambda: sample_architecture(self.space, rng))
        return list(out.items.values())

    def pool(
        self, parents: Sequence[Architecture], rng: Random, exclude: set[str]
    ) -> list[Architecture]:
        s, out = self.settings, self._collector(exclude)
        if parents:
            rates = iter(s.mutation_rates * (s.size + 1))
            out.fill(
                int(s.size * s.mutation_share),
                lambda: mutate(rng.choice(parents), self.space, rng, next(rates)),
            )
            out.fill(
                int(s.size * s.crossover_share),
                lambda: mutate(
                    crossover(rng.choice(parents), rng.choice(parents), rng), self.space, rng, 0.05
                ),
            )
        out.fill(s.size - len(out.items), lambda: sample_architecture(self.space, rng))
        return list(out.items.values())

    def neighbours(
        self, archs: Sequence[Architecture], rng: Random, exclude: set[str]
    ) -> list[Architecture]:
        out = self._collector(exclude)
        for arch in archs:
            moves = single_gene_neighbours(arch, self.space)
            rng.shuffle(moves)
            taken = 0
            for move in moves:
                if taken >= self.settings.local_search_neighbours:
                    break
                taken += out.offer(move)
        return list(out.items.values())

    def snap(self, archs: Sequence[Architecture]) -> list[Architecture]:
        return list(archs)


class FixedDomain:
    """The rows of an archive as the whole domain (benchmark mode).

    Args:
        space: The search space.
        archs: The rows' architectures (unique).
        costs: Static MAC lookup (filled from the rows' records).
        cap: MAC cap (MMACs) or ``None``.
    """

    name = "fixed"

    def __init__(
        self,
        space: SearchSpace,
        archs: Sequence[Architecture],
        costs: CostTable,
        cap: float | None,
    ) -> None:
        self.space = space
        self.costs = costs
        self.archs = [a for a in archs if cap is None or costs.cheapest(a) <= cap]
        self._index = {a.canonical: i for i, a in enumerate(self.archs)}
        encoded = encode_many(self.archs, space)
        scale = encoded.std(axis=0)
        self._scale = np.where(scale > 0, scale, 1.0)
        self._encoded = encoded / self._scale
        self._nearest: dict[str, int] = {}  # memo of snapped non-rows (NSGA-II re-draws many)

    def random(self, n: int, rng: Random, exclude: set[str]) -> list[Architecture]:
        free = [a for a in self.archs if a.canonical not in exclude]
        return rng.sample(free, min(n, len(free)))

    def pool(
        self, parents: Sequence[Architecture], rng: Random, exclude: set[str]
    ) -> list[Architecture]:
        return [a for a in self.archs if a.canonical not in exclude]

    def neighbours(
        self, archs: Sequence[Architecture], rng: Random, exclude: set[str]
    ) -> list[Architecture]:
        return []

    def snap(self, archs: Sequence[Architecture]) -> list[Architecture]:
        """Each architecture itself if it is a row, else the row nearest in the (column-scaled)
        encoding."""
        out = []
        for arch in archs:
            i = self._index.get(arch.canonical)
            if i is None:
                i = self._nearest.get(arch.canonical)
            if i is None:
                x = encode_many([arch], self.space)[0] / self._scale
                i = int(np.argmin(((self._encoded - x) ** 2).sum(axis=1)))
                self._nearest[arch.canonical] = i
            out.append(self.archs[i])
        return out


# ------------------------------------------------------------------------------ neighbours
def _alternatives(value: Any, choices: Sequence[Any]) -> list[Any]:
    return [c for c in choices if c != value]


def _with_stage(arch: Architecture, s: int, blocks: tuple[Block, ...]) -> Architecture:
    stages = (*arch.stages[:s], blocks, *arch.stages[s + 1 :])
    return replace(arch, stages=stages)


def _with_exits(arch: Architecture, exits: Sequence[Exit]) -> Architecture:
    return Architecture(arch.resolution, arch.stages, tuple(exits))


def _stage_moves(arch: Architecture, space: SearchSpace) -> list[Architecture]:
    bb, out = space.backbone, []
    for s, blocks in enumerate(arch.stages):
        if len(blocks) + 1 in bb.depths:
            out.append(_with_stage(arch, s, (*blocks, blocks[-1])))
        if len(blocks) - 1 in bb.depths:
            out.append(_with_stage(arch, s, blocks[:-1]))
        for b, block in enumerate(blocks):
            swaps = [Block(k, block.expand) for k in _alternatives(block.kernel, bb.kernels)]
            swaps += [Block(block.kernel, e) for e in _alternatives(block.expand, bb.expansions)]
            out += [_with_stage(arch, s, (*blocks[:b], n, *blocks[b + 1 :])) for n in swaps]
    return out


def _module_swaps(module: BranchModule, space: SearchSpace) -> list[BranchModule]:
    br = space.branch
    return (
        [replace(module, resize=v) for v in _alternatives(module.resize, br.resizes)]
        + [replace(module, op=v) for v in _alternatives(module.op, br.ops)]
        + [replace(module, kernel=v) for v in _alternatives(module.kernel, br.kernels)]
        + [replace(module, width=v) for v in _alternatives(module.width, br.widths)]
        + [replace(module, pool=v) for v in _alternatives(module.pool, br.pools)]
    )


def _exit_moves(arch: Architecture, space: SearchSpace) -> list[Architecture]:
    br, exits, out = space.branch, list(arch.exits), []
    if len(exits) > space.min_exits:
        out += [_with_exits(arch, exits[:i] + exits[i + 1 :]) for i in range(len(exits))]
    smallest = BranchModule(
        min(br.resizes), br.ops[0], min(br.kernels), min(br.widths), br.pools[0]
    )
    for p in sorted(set(space.exit_positions) - set(arch.exit_positions)):
        out.append(_with_exits(arch, [*exits, Exit(p, (smallest,) * min(br.depths))]))
    for i, ex in enumerate(exits):
        variants = []
        if len(ex.modules) + 1 in br.depths:
            variants.append((*ex.modules, ex.modules[-1]))
        if len(ex.modules) - 1 in br.depths:
            variants.append(ex.modules[:-1])
        for m, module in enumerate(ex.modules):
            variants += [
                (*ex.modules[:m], n, *ex.modules[m + 1 :]) for n in _module_swaps(module, space)
            ]
        out += [
            _with_exits(arch, [*exits[:i], Exit(ex.position, v), *exits[i + 1 :]]) for v in variants
        ]
    return out


def single_gene_neighbours(arch: Architecture, space: SearchSpace) -> list[Architecture]:
    """Every architecture one gene away: another resolution, a stage one block deeper or
    shallower, one block's kernel or expansion, an exit switched off or on (with the smallest
    branch), a branch one module deeper or shallower, one module gene changed."""
    resolutions = [
        replace(arch, resolution=r) for r in _alternatives(arch.resolution, space.resolutions)
    ]
    return resolutions + _stage_moves(arch, space) + _exit_moves(arch, space)
