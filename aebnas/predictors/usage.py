"""Exit usage at the tuned operating point, and the exact average-MACs identity it obeys.

A record's average MACs are not a free number: with ``S`` exit position slots plus the final
head (slot ``S``), utilisation ``util_j`` (fraction of samples leaving at slot ``j``),
``on_j`` (1 when intermediate exit ``j`` is switched on at the operating point) and the exact
static costs ``backbone_j`` / ``branch_j`` (MMACs, 0 for an exit the architecture lacks),

    avg_macs = sum_{j<S} util_j * backbone_j
             + sum_{j<S} on_j * branch_j * survive_j          (survive_j = sum_{k>=j} util_k)
             + util_S * (backbone_S + head)

since every sample that reaches an exit which is on pays for its branch, and an exit switched
off by the tuner costs nothing. :func:`expected_avg_macs` computes it;
:class:`ExitUsage` holds the measured ``util`` and ``on`` of archive records, the training
targets of :class:`aebnas.predictors.exits.ExitsPredictor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aebnas.space import SearchSpace


@dataclass(frozen=True)
class ExitUsage:
    """Per-slot exit usage of ``n`` rows.

    Args:
        util: Fraction of samples leaving at each slot (exit positions in space order, the
            final head last), shape ``(n, S + 1)``; rows sum to 1.
        on: Whether each intermediate exit slot is on (a fraction when seeds are averaged),
            shape ``(n, S)``; 0 for exits the architecture lacks.
    """

    util: np.ndarray
    on: np.ndarray

    def __post_init__(self) -> None:
        if self.util.ndim != 2 or self.on.shape != (self.util.shape[0], self.util.shape[1] - 1):
            raise ValueError(f"util {self.util.shape} and on {self.on.shape} do not match")

    def __len__(self) -> int:
        return int(self.util.shape[0])

    def subset(self, index: np.ndarray | Sequence[int]) -> ExitUsage:
        """Rows ``index``."""
        index = np.asarray(index, dtype=int)
        return ExitUsage(self.util[index], self.on[index])

    def survival(self) -> np.ndarray:
        """Fraction of samples reaching each slot, shape ``(n, S + 1)``."""
        return np.cumsum(self.util[:, ::-1], axis=1)[:, ::-1]

    def leave_fraction(self) -> np.ndarray:
        """Of the samples reaching intermediate slot ``j``, the fraction leaving there,
        shape ``(n, S)`` (0 where nothing arrives)."""
        arrive = self.survival()[:, :-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(arrive > 1e-12, self.util[:, :-1] / arrive, 0.0)
        return np.clip(q, 0.0, 1.0)

    @classmethod
    def from_fractions(cls, on: np.ndarray, leave: np.ndarray) -> ExitUsage:
        """Usage of exits that are on with probability ``on`` and let ``leave`` of the arriving
        samples go, both shape ``(n, S)``: ``util_j = arrive_j * on_j * leave_j``."""
        n, slots = on.shape
        util = np.zeros((n, slots + 1))
        arrive = np.ones(n)
        for j in range(slots):
            util[:, j] = arrive * on[:, j] * leave[:, j]
            arrive = arrive - util[:, j]
        util[:, slots] = arrive
        return cls(util, on)


def slot_index(position: int, space: SearchSpace) -> int:
    """Slot of an exit ``position`` (the final head, position ``num_stages``, is slot ``S``)."""
    positions = space.exit_positions
    return positions.index(position) if position in positions else len(positions)


def record_usage(record: dict[str, Any], space: SearchSpace) -> tuple[np.ndarray, np.ndarray]:
    """``(util (S + 1,), on (S,))`` of one record's tuned operating point (its ``exits``)."""
    slots = len(space.exit_positions)
    util, on = np.zeros(slots + 1), np.zeros(slots)
    for exit_ in record.get("exits") or []:
        j = slot_index(int(exit_["position"]), space)
        util[j] = float(exit_["util"])
        if j < slots:
            on[j] = float(exit_.get("threshold") is not None)
    return util, on


def usage_of_records(
    groups: Sequence[Sequence[dict[str, Any]]], space: SearchSpace
) -> ExitUsage | None:
    """Mean usage per group of records (one group per architecture, seeds averaged);
    ``None`` when some record lacks per-exit utilisation."""
    if any(not r.get("exits") for group in groups for r in group):
        return None
    slots = len(space.exit_positions)
    util, on = np.zeros((len(groups), slots + 1)), np.zeros((len(groups), slots))
    for i, group in enumerate(groups):
        pairs = [record_usage(r, space) for r in group]
        util[i] = np.mean([u for u, _ in pairs], axis=0)
        on[i] = np.mean([o for _, o in pairs], axis=0)
    return ExitUsage(util, on)


def expected_avg_macs(usage: ExitUsage, backbone: np.ndarray, branch: np.ndarray) -> np.ndarray:
    """Average MMACs of ``usage`` at the exact static costs (identity in the module docstring).

    Args:
        usage: ``util (n, S + 1)``, ``on (n, S)``.
        backbone: Backbone MMACs up to each slot, shape ``(n, S + 1)`` (0 for absent exits).
        branch: Each slot's own classifier MMACs (the final head last), shape ``(n, S + 1)``.

    Returns:
        Shape ``(n,)``.
    """
    util, survive = usage.util, usage.survival()
    early = (util[:, :-1] * backbone[:, :-1]).sum(axis=1)
    branches = (usage.on * branch[:, :-1] * survive[:, :-1]).sum(axis=1)
    return early + branches + util[:, -1] * (backbone[:, -1] + branch[:, -1])


def cost_columns(names: Sequence[str], space_positions: Sequence[int]) -> tuple[int, ...]:
    """Column indices ``[active_1, backbone_1, branch_1, ..., backbone_S, head_S]`` among
    feature ``names`` for exit positions ``space_positions`` (raises ``ValueError`` if one is
    missing)."""
    wanted: list[str] = []
    for p in space_positions:
        wanted += [f"x{p}.active", f"x{p}.backbone_mmacs", f"x{p}.branch_mmacs"]
    wanted += ["final.backbone_mmacs", "final.head_mmacs"]
    index = {name: i for i, name in enumerate(names)}
    missing = [w for w in wanted if w not in index]
    if missing:
        raise ValueError(f"features lack the cost columns {missing}")
    return tuple(index[w] for w in wanted)


def split_costs(X: np.ndarray, columns: Sequence[int]) -> tuple[np.ndarray, ...]:
    """``(present (n, S), backbone (n, S + 1), branch (n, S + 1))`` from features ``X (n, d)``
    and the indices of :func:`cost_columns`."""
    slots = (len(columns) - 2) // 3
    cols = np.asarray(columns[: 3 * slots], dtype=int).reshape(slots, 3)
    present = X[:, cols[:, 0]] > 0.5
    backbone = np.hstack([X[:, cols[:, 1]], X[:, [columns[-2]]]])
    branch = np.hstack([X[:, cols[:, 2]], X[:, [columns[-1]]]])
    return present, backbone, branch
