"""Candidate pools: valid, new, unique, statically feasible; neighbours; snapping."""

from __future__ import annotations

import random

from aebnas.search.pool import (
    FixedDomain,
    GeneratedDomain,
    PoolSettings,
    round_rng,
    single_gene_neighbours,
)
from aebnas.space import encode, sample_architectures, validate
from tests.search.synthetic import FormulaCosts, space


def test_single_gene_neighbours_are_valid_distinct_and_one_gene_away() -> None:
    sp = space()
    arch = sample_architectures(sp, 1, seed=3)[0]
    moves = single_gene_neighbours(arch, sp)
    assert len(moves) > 30
    assert len({m.canonical for m in moves}) == len(moves)
    base = encode(arch, sp)
    for move in moves:
        validate(move, sp)
        assert move.canonical != arch.canonical
        changed = (encode(move, sp) != base).sum()
        assert 1 <= changed <= 3 + len(sp.branch.ops) + len(sp.branch.pools)  # one gene or slot


def test_generated_pool_is_valid_new_unique_and_under_the_cap() -> None:
    sp, costs = space(), FormulaCosts()
    archs = sample_architectures(sp, 40, seed=0)
    cap = sorted(costs.cheapest(a) for a in archs)[20]
    parents, evaluated = archs[:6], {a.canonical for a in archs[:20]}
    domain = GeneratedDomain(sp, costs, cap, PoolSettings(size=80))
    pool = domain.pool(parents, random.Random(0), evaluated)
    assert 70 <= len(pool) <= 80
    assert len({a.canonical for a in pool}) == len(pool)
    for arch in pool:
        validate(arch, sp)
        assert arch.canonical not in evaluated
        assert costs.cheapest(arch) <= cap
    near = domain.neighbours(pool[:3], random.Random(1), evaluated)
    assert near and all(costs.cheapest(a) <= cap and a.canonical not in evaluated for a in near)
    again = domain.pool(parents, random.Random(0), evaluated)
    assert [a.canonical for a in again] == [a.canonical for a in pool]  # seeded


def test_fixed_domain_hands_out_rows_only() -> None:
    sp, costs = space(), FormulaCosts()
    rows = sample_architectures(sp, 30, seed=1)
    domain = FixedDomain(sp, rows, costs, cap=None)
    exclude = {a.canonical for a in rows[:10]}
    assert [a.canonical for a in domain.pool([], random.Random(0), exclude)] == [
        a.canonical for a in rows[10:]
    ]
    assert domain.neighbours(rows[:2], random.Random(0), exclude) == []
    picked = domain.random(5, round_rng(0, 0, "random"), exclude)
    assert len(picked) == 5 and not {a.canonical for a in picked} & exclude
    outsider = sample_architectures(sp, 31, seed=1)[-1]
    snapped = domain.snap([rows[4], outsider])
    assert snapped[0] == rows[4] and snapped[1].canonical in {a.canonical for a in rows}


def test_round_rng_depends_only_on_seed_round_and_stream() -> None:
    a = [round_rng(3, 2, "pool").random() for _ in range(2)]
    assert a[0] == a[1]
    assert round_rng(3, 2, "pool").random() != round_rng(3, 3, "pool").random()
