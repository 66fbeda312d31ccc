import pytest

from aebnas.errors import UserError
from aebnas.space import (
    Architecture,
    get_space,
    parse_architecture,
    sample_architectures,
    validate,
)

SPACE = get_space("aebnas-plus", (28, 32, 36, 40))
EXAMPLE = (
    "r32|k3e4,k5e6|k3e3,k3e3,k7e6|k5e4,k5e4|k3e6,k3e6,k3e6,k3e6|k7e3,k7e3"
    "|x2:r8_conv3_c2_pmax|x4:r8_conv5_c1_pnone+r10_dw3_c2_pavg"
)


def test_canonical_string_round_trips_for_sampled_architectures():
    for arch in sample_architectures(SPACE, 50, seed=1):
        assert Architecture.parse(str(arch)) == arch
        assert Architecture.parse(str(arch)).hash == arch.hash


def test_example_string_is_canonical_and_readable():
    arch = parse_architecture(EXAMPLE, SPACE)
    assert str(arch) == EXAMPLE
    assert arch.resolution == 32
    assert arch.depths == (2, 3, 2, 4, 2)
    assert arch.exit_positions == (2, 4)
    assert [m.op for m in arch.exits[1].modules] == ["conv", "dw"]


def test_exit_order_is_normalised():
    swapped = EXAMPLE.replace(
        "|x2:r8_conv3_c2_pmax|x4:r8_conv5_c1_pnone+r10_dw3_c2_pavg",
        "|x4:r8_conv5_c1_pnone+r10_dw3_c2_pavg|x2:r8_conv3_c2_pmax",
    )
    assert str(Architecture.parse(swapped)) == EXAMPLE


def test_hash_is_stable_and_distinct():
    archs = sample_architectures(SPACE, 100, seed=2)
    assert len({a.hash for a in archs}) == 100
    assert parse_architecture(EXAMPLE, SPACE).hash == parse_architecture(EXAMPLE, SPACE).hash


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("k3e4", "must start with 'r<resolution>|'"),
        ("r32|k3e4,kxe4|k3e4,k3e4|k3e4,k3e4|k3e4,k3e4|k3e4,k3e4|x1:r8_conv3_c1_pnone", "kxe4"),
        ("r32|k3e4,k3e4|k3e4,k3e4|k3e4,k3e4|k3e4,k3e4|k3e4,k3e4|x1:r8_conv3", "r8_conv3"),
        (
            "r32|k3e4,k3e4|k3e4,k3e4|k3e4,k3e4|k3e4,k3e4|k3e4,k3e4|x1:r8_conv3_c1_pnone|x1:r8_conv3_c1_pnone",
            "repeats",
        ),
    ],
)
def test_malformed_strings_name_the_part(text, fragment):
    with pytest.raises(UserError, match=fragment.replace("|", r"\|").replace("'", ".")):
        Architecture.parse(text)


@pytest.mark.parametrize(
    "replace, gene",
    [
        (("k5e6", "k9e6"), "stage1.block2.kernel=9"),
        (("k5e6", "k5e5"), "stage1.block2.expand=5"),
        (("r32", "r30"), "resolution=30"),
        (("r8_conv3_c2_pmax", "r8_conv3_c3_pmax"), "exit2.module1.width=3"),
        (("r8_conv3_c2_pmax", "r8_sep3_c2_pmax"), "exit2.module1.op=sep"),
        (("r8_conv3_c2_pmax", "r9_conv3_c2_pmax"), "exit2.module1.resize=9"),
        (("r8_conv3_c2_pmax", "r8_conv3_c2_pmin"), "exit2.module1.pool=min"),
    ],
)
def test_invalid_gene_is_named_with_allowed_values(replace, gene):
    text = EXAMPLE.replace(*replace, 1)
    with pytest.raises(UserError, match="allowed values") as err:
        parse_architecture(text, SPACE)
    assert gene in str(err.value)


def test_reference_space_rejects_plus_genes():
    reference = get_space("aebnas", (32, 36))
    with pytest.raises(UserError, match=r"exit4\.module2\.op=dw"):
        parse_architecture(EXAMPLE, reference)


def test_at_least_one_exit_required():
    no_exit = EXAMPLE.split("|x")[0]
    with pytest.raises(UserError, match="at least 1 intermediate exit"):
        parse_architecture(no_exit, SPACE)


def test_branch_depth_is_validated():
    deep = EXAMPLE.replace("x2:r8_conv3_c2_pmax", "x2:" + "+".join(["r8_conv3_c2_pmax"] * 4))
    with pytest.raises(UserError, match=r"exit2\.depth=4"):
        validate(Architecture.parse(deep), SPACE)
