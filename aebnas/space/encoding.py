"""Numeric encoding of architectures for surrogates (versioned).

Encoding version 1 is a fixed-length float vector per space, built from these features in order:

- ``resolution``: input resolution in pixels;
- per stage ``s`` (1..5): ``s{s}.depth`` then, per block slot ``b`` (1..max depth),
  ``s{s}.b{b}.kernel`` and ``s{s}.b{b}.expand`` (0 for slots beyond the depth);
- per exit position ``p``: ``x{p}.active`` (0/1), ``x{p}.depth`` (0 when inactive) and, per module
  slot ``m`` (1..max branch depth): ``x{p}.m{m}.resize``, ``.kernel``, ``.width`` (ordinal values)
  and one-hot ``.op=<op>`` and ``.pool=<pool>`` over the space's choices (all 0 for absent slots).

Ordinal genes keep their values (kernel 3/5/7 are ordered); categorical genes are one-hot. The
reference implementation fed an 82-integer vector raw; ours differs only by one-hot categoricals.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from aebnas.space.architecture import Architecture
from aebnas.space.spaces import SearchSpace

ENCODING_VERSION = 1


@cache
def feature_names(space: SearchSpace) -> tuple[str, ...]:
    """Names of the encoding's columns, in order."""
    bb, br = space.backbone, space.branch
    names = ["resolution"]
    for s in range(1, bb.num_stages + 1):
        names.append(f"s{s}.depth")
        for b in range(1, bb.max_depth + 1):
            names += [f"s{s}.b{b}.kernel", f"s{s}.b{b}.expand"]
    for p in space.exit_positions:
        names += [f"x{p}.active", f"x{p}.depth"]
        for m in range(1, br.max_depth + 1):
            prefix = f"x{p}.m{m}"
            names += [f"{prefix}.resize", f"{prefix}.kernel", f"{prefix}.width"]
            names += [f"{prefix}.op={op}" for op in br.ops]
            names += [f"{prefix}.pool={pool}" for pool in br.pools]
    return tuple(names)


def encode(arch: Architecture, space: SearchSpace) -> np.ndarray:
    """Encode one architecture.

    Returns:
        A float64 vector of shape ``(len(feature_names(space)),)``.
    """
    bb, br = space.backbone, space.branch
    values: list[float] = [float(arch.resolution)]
    for stage in arch.stages:
        values.append(len(stage))
        for b in range(bb.max_depth):
            block = stage[b] if b < len(stage) else None
            values += [block.kernel, block.expand] if block else [0.0, 0.0]
    exits = {e.position: e for e in arch.exits}
    for p in space.exit_positions:
        ex = exits.get(p)
        values += [1.0, len(ex.modules)] if ex else [0.0, 0.0]
        for m in range(br.max_depth):
            mod = ex.modules[m] if ex and m < len(ex.modules) else None
            if mod is None:
                values += [0.0] * (3 + len(br.ops) + len(br.pools))
                continue
            values += [mod.resize, mod.kernel, mod.width]
            values += [float(mod.op == op) for op in br.ops]
            values += [float(mod.pool == pool) for pool in br.pools]
    return np.asarray(values, dtype=np.float64)


def encode_many(archs: list[Architecture], space: SearchSpace) -> np.ndarray:
    """Encode a list; shape ``(len(archs), n_features)``."""
    if not archs:
        return np.zeros((0, len(feature_names(space))))
    return np.stack([encode(a, space) for a in archs])
