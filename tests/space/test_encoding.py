import numpy as np

from aebnas.space import encode, encode_many, feature_names, get_space, sample_architectures

SPACE = get_space("aebnas-plus", (28, 32, 36, 40))


def test_encoding_length_matches_names_and_is_injective():
    archs = sample_architectures(SPACE, 100, seed=0)
    matrix = encode_many(archs, SPACE)
    assert matrix.shape == (100, len(feature_names(SPACE)))
    assert len({row.tobytes() for row in matrix}) == 100


def test_encoding_values_are_readable():
    arch = sample_architectures(SPACE, 1, seed=4)[0]
    values = dict(zip(feature_names(SPACE), encode(arch, SPACE), strict=True))
    assert values["resolution"] == arch.resolution
    assert values["s1.depth"] == len(arch.stages[0])
    assert values["s1.b1.kernel"] == arch.stages[0][0].kernel
    for position in (1, 2, 3, 4):
        assert values[f"x{position}.active"] == (position in arch.exit_positions)
    first = arch.exits[0]
    prefix = f"x{first.position}.m1"
    assert values[f"{prefix}.op={first.modules[0].op}"] == 1.0
    assert sum(values[f"{prefix}.pool={p}"] for p in ("none", "max", "avg")) == 1.0


def test_reference_space_encoding_has_45_backbone_genes():
    names = feature_names(get_space("aebnas"))
    backbone = [n for n in names if n.startswith("s")]
    assert len(backbone) == 45  # as the reference's 45 backbone genes
    assert np.all(
        np.isfinite(encode(sample_architectures(get_space("aebnas"), 1, 0)[0], get_space("aebnas")))
    )
