import random

from aebnas.space import crossover, get_space, mutate, sample_architectures, validate
from aebnas.space.sampling import sample_stratified

SPACE = get_space("aebnas-plus", (28, 32, 36, 40))
REFERENCE = get_space("aebnas", tuple(range(32, 73, 4)))


def test_sampling_is_seeded_and_distinct():
    a = sample_architectures(SPACE, 30, seed=5)
    b = sample_architectures(SPACE, 30, seed=5)
    c = sample_architectures(SPACE, 30, seed=6)
    assert a == b
    assert a != c
    assert len({x.canonical for x in a}) == 30


def test_samples_are_valid_in_both_spaces():
    for space in (SPACE, REFERENCE):
        for arch in sample_architectures(space, 200, seed=0):
            validate(arch, space)


def test_sampling_covers_every_choice():
    archs = sample_architectures(SPACE, 300, seed=0)
    modules = [m for a in archs for e in a.exits for m in e.modules]
    assert {m.op for m in modules} == {"conv", "dw"}
    assert {m.pool for m in modules} == {"none", "max", "avg"}
    assert {len(e.modules) for a in archs for e in a.exits} == {1, 2, 3}
    assert {p for a in archs for p in a.exit_positions} == {1, 2, 3, 4}
    assert {a.resolution for a in archs} == {28, 32, 36, 40}


def test_stratified_sampling_balances_exit_sets_and_depths():
    archs = sample_stratified(SPACE, 150, seed=0)
    assert len({a.canonical for a in archs}) == 150
    exit_sets = {a.exit_positions for a in archs}
    assert len(exit_sets) == 15  # every non-empty subset of 4 positions
    with_all_four = sum(len(a.exits) == 4 for a in archs)
    assert with_all_four == 10  # 150 / 15, uniform sampling gives ~9 only by chance
    for arch in archs:
        validate(arch, SPACE)
    assert sample_stratified(SPACE, 20, seed=3) == sample_stratified(SPACE, 20, seed=3)


def test_mutation_and_crossover_stay_valid():
    rng = random.Random(0)
    parents = sample_architectures(SPACE, 20, seed=1)
    changed = 0
    for i, arch in enumerate(parents):
        child = mutate(arch, SPACE, rng, p=0.2)
        validate(child, SPACE)
        changed += child != arch
        validate(crossover(arch, parents[i - 1], rng), SPACE)
    assert changed >= 15
