"""Per-exit-slot descriptions of an architecture, and their average under the exit usage.

A tuned early-exit network's accuracy is the accuracy of the exits its samples leave at,
weighted by how many leave at each: on the reference CIFAR-10 archive about 85% of the samples
leave at a single intermediate exit, so *which* exit the tuner relies on, and how deep and wide
the backbone is up to there, explains more than the architecture's genes do. Per slot ``j``
(exit positions in space order, the final head last) :func:`slot_features` describes the network
a sample leaving at ``j`` has run through: the slot (one-hot), the input resolution, the log
backbone MMACs up to it, the backbone blocks, expansion ratios and kernel sizes up to it, the
log MMACs of its own classifier and the genes of its branch's first module. :func:`usage_weighted`
averages them with weights ``util (n, S + 1)``: for a linear per-exit accuracy model
``acc_j = w . phi_j`` the tuned accuracy ``sum_j util_j acc_j`` is linear in that average.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Branch genes of an exit's first module used per slot (0 for the final head / absent genes).
BRANCH_GENES = ("depth", "m1.kernel", "m1.width", "m1.resize", "m1.pool=max")
_STAGE_DEPTH = re.compile(r"^s(\d+)\.depth$")
_ACTIVE = re.compile(r"^x(\d+)\.active$")
#: Column index meaning "no such column" (reads as 0).
MISSING = -1


@dataclass(frozen=True)
class SlotPlan:
    """Where :func:`slot_features` reads its inputs among the feature columns.

    Args:
        positions: Exit positions of the space's intermediate slots (exit ``p`` follows stage
            ``p``); the final head follows the last stage.
        stages: Number of backbone stages.
        resolution: Column of the input resolution.
        depth: Column of each stage's depth, ``stages`` entries.
        blocks: Per stage, per block slot, ``(kernel column, expand column)``.
        backbone: Per slot (final last) the backbone MMACs column.
        branch: Per slot (final last) the own-classifier MMACs column.
        genes: Per intermediate slot, the columns of :data:`BRANCH_GENES` (:data:`MISSING` when
            the space lacks a gene).
    """

    positions: tuple[int, ...]
    stages: int
    resolution: int
    depth: tuple[int, ...]
    blocks: tuple[tuple[tuple[int, int], ...], ...]
    backbone: tuple[int, ...]
    branch: tuple[int, ...]
    genes: tuple[tuple[int, ...], ...]

    @property
    def width(self) -> int:
        """Number of per-slot features."""
        return len(self.positions) + 1 + 6 + len(BRANCH_GENES)


def slot_plan(names: Sequence[str]) -> SlotPlan:
    """The :class:`SlotPlan` of feature columns called ``names``.

    Raises:
        ValueError: When a column the plan needs (resolution, stage depths, block genes,
            per-exit MMACs) is missing.
    """
    index = {name: i for i, name in enumerate(names)}

    def need(name: str) -> int:
        if name not in index:
            raise ValueError(f"features lack the column {name!r}")
        return index[name]

    stages = max((int(m[1]) for n in names if (m := _STAGE_DEPTH.match(n))), default=0)
    positions = tuple(sorted(int(m[1]) for n in names if (m := _ACTIVE.match(n))))
    if stages == 0 or not positions:
        raise ValueError("features name no stages (s{k}.depth) or no exits (x{p}.active)")
    blocks = []
    for s in range(1, stages + 1):
        count = 0
        while f"s{s}.b{count + 1}.kernel" in index:
            count += 1
        blocks.append(
            tuple(
                (need(f"s{s}.b{b}.kernel"), need(f"s{s}.b{b}.expand")) for b in range(1, count + 1)
            )
        )
    return SlotPlan(
        positions=positions,
        stages=stages,
        resolution=need("resolution"),
        depth=tuple(need(f"s{s}.depth") for s in range(1, stages + 1)),
        blocks=tuple(blocks),
        backbone=(*(need(f"x{p}.backbone_mmacs") for p in positions), need("final.backbone_mmacs")),
        branch=(*(need(f"x{p}.branch_mmacs") for p in positions), need("final.head_mmacs")),
        genes=tuple(
            tuple(index.get(f"x{p}.{g}", MISSING) for g in BRANCH_GENES) for p in positions
        ),
    )


def _column(X: np.ndarray, column: int) -> np.ndarray:
    return np.zeros(len(X)) if column == MISSING else X[:, column]


def _stage_sums(X: np.ndarray, plan: SlotPlan) -> tuple[np.ndarray, np.ndarray]:
    """Per stage the sum of the active blocks' expansion ratios and kernel sizes, each
    ``(n, stages)``."""
    expand = np.zeros((len(X), plan.stages))
    kernel = np.zeros((len(X), plan.stages))
    for s, stage_blocks in enumerate(plan.blocks):
        depth = X[:, plan.depth[s]]
        for b, (k_col, e_col) in enumerate(stage_blocks):
            active = depth >= b + 1
            kernel[:, s] += np.where(active, X[:, k_col], 0.0)
            expand[:, s] += np.where(active, X[:, e_col], 0.0)
    return expand, kernel


def slot_features(X: np.ndarray, plan: SlotPlan) -> np.ndarray:
    """What a sample leaving at each slot has run through (see the module docstring).

    Args:
        X: Feature rows (:func:`aebnas.predictors.features.features`), shape ``(n, d)``.
        plan: Column plan of those features (:func:`slot_plan`).

    Returns:
        Shape ``(n, S + 1, plan.width)``; slot ``S`` is the final head.
    """
    n, slots = len(X), len(plan.positions) + 1
    expand, kernel = _stage_sums(X, plan)
    depth = np.stack([X[:, c] for c in plan.depth], axis=1)
    cumulative = [np.cumsum(a, axis=1) for a in (depth, expand, kernel)]
    stage_of = [p - 1 for p in plan.positions] + [plan.stages - 1]
    out = np.zeros((n, slots, plan.width))
    for j, stage in enumerate(stage_of):
        one_hot = np.zeros((n, slots))
        one_hot[:, j] = 1.0
        genes = (
            [_column(X, c) for c in plan.genes[j]]
            if j < len(plan.positions)
            else [np.zeros(n)] * len(BRANCH_GENES)
        )
        columns = [
            X[:, plan.resolution],
            np.log1p(np.maximum(X[:, plan.backbone[j]], 0.0)),
            *(c[:, stage] for c in cumulative),
            np.log1p(np.maximum(X[:, plan.branch[j]], 0.0)),
            *genes,
        ]
        out[:, j] = np.hstack([one_hot, np.stack(columns, axis=1)])
    return out


def usage_weighted(X: np.ndarray, util: np.ndarray, plan: SlotPlan) -> np.ndarray:
    """:func:`slot_features` averaged over the slots with weights ``util``.

    Args:
        X: Feature rows, shape ``(n, d)``.
        util: Fraction of samples leaving at each slot (final last), shape ``(n, S + 1)``.
        plan: Column plan of ``X``.

    Returns:
        Shape ``(n, plan.width)``.
    """
    per_slot = slot_features(X, plan)
    if util.shape != per_slot.shape[:2]:
        raise ValueError(f"util {util.shape} does not match {per_slot.shape[:2]} slots")
    return np.einsum("ij,ijk->ik", util, per_slot)


def usage_feature_names(plan: SlotPlan) -> tuple[str, ...]:
    """Names of the :func:`usage_weighted` columns (prefix ``usage.``)."""
    slots = [f"usage.slot{j}" for j in range(len(plan.positions) + 1)]
    rest = ["resolution", "log_backbone_mmacs", "blocks", "expand_sum", "kernel_sum"]
    rest += ["log_branch_mmacs", *(f"branch.{g}" for g in BRANCH_GENES)]
    return tuple(slots + [f"usage.{r}" for r in rest])
