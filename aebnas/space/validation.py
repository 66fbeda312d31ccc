"""Check an :class:`Architecture` against a :class:`SearchSpace`."""

from __future__ import annotations

from collections.abc import Sequence

from aebnas.errors import UserError
from aebnas.space.architecture import Architecture
from aebnas.space.spaces import SearchSpace


def _check(gene: str, value: object, allowed: Sequence[object], space: SearchSpace) -> None:
    if value not in allowed:
        choices = ", ".join(str(a) for a in allowed)
        raise UserError(
            f"invalid gene {gene}={value} for space {space.name!r}; allowed values: {choices}"
        )


def validate(arch: Architecture, space: SearchSpace) -> Architecture:
    """Return ``arch`` if every gene is allowed in ``space``; else raise :class:`UserError`.

    The message names the gene (e.g. ``stage3.block2.kernel``) and its allowed values.
    """
    backbone, branch = space.backbone, space.branch
    _check("resolution", arch.resolution, space.resolutions, space)
    if len(arch.stages) != backbone.num_stages:
        raise UserError(
            f"invalid architecture for space {space.name!r}: it has {len(arch.stages)} stages, "
            f"the space has {backbone.num_stages}"
        )
    for s, stage in enumerate(arch.stages, start=1):
        _check(f"stage{s}.depth", len(stage), backbone.depths, space)
        for b, block in enumerate(stage, start=1):
            _check(f"stage{s}.block{b}.kernel", block.kernel, backbone.kernels, space)
            _check(f"stage{s}.block{b}.expand", block.expand, backbone.expansions, space)
    if len(arch.exits) < space.min_exits:
        raise UserError(
            f"invalid architecture for space {space.name!r}: at least {space.min_exits} "
            "intermediate exit(s) must be active (add e.g. 'x2:r8_conv3_c1_pnone')"
        )
    for ex in arch.exits:
        _check("exit.position", ex.position, space.exit_positions, space)
        name = f"exit{ex.position}"
        _check(f"{name}.depth", len(ex.modules), branch.depths, space)
        for m, mod in enumerate(ex.modules, start=1):
            _check(f"{name}.module{m}.resize", mod.resize, branch.resizes, space)
            _check(f"{name}.module{m}.op", mod.op, branch.ops, space)
            _check(f"{name}.module{m}.kernel", mod.kernel, branch.kernels, space)
            _check(f"{name}.module{m}.width", mod.width, branch.widths, space)
            _check(f"{name}.module{m}.pool", mod.pool, branch.pools, space)
    return arch


def parse_architecture(text: str, space: SearchSpace) -> Architecture:
    """Parse and validate in one step."""
    return validate(Architecture.parse(text), space)
