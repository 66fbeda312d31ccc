"""Predictor inputs: the architecture encoding plus the exact static per-exit MACs (versioned).

Features version 1 = the columns of :func:`aebnas.space.feature_names` (encoding version
:data:`aebnas.space.ENCODING_VERSION`), then, in MMACs:

- per exit position slot ``p``: ``x{p}.backbone_mmacs`` (backbone up to stage ``p``),
  ``x{p}.branch_mmacs`` (the exit's own branch) and ``x{p}.cumulative_mmacs`` (cost of leaving
  there: backbone + every active branch up to it), all 0 when the exit is inactive;
- ``final.backbone_mmacs``, ``final.head_mmacs`` and ``final.cumulative_mmacs`` (every sample at
  the final head, all exits on);
- ``first.cumulative_mmacs``: the cheapest operating point (every sample at the first exit).

The costs of archived records are read from their ``static_macs`` (computed when the record was
trained); the costs of new architectures are computed with :func:`aebnas.costs.exit_costs`.
Both give the same numbers (a test checks it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from aebnas.archive import read_archive
from aebnas.costs.macs import ExitCosts
from aebnas.errors import UserError
from aebnas.predictors.usage import ExitUsage, usage_of_records
from aebnas.space import Architecture, SearchSpace, encode_many, get_space, parse_architecture
from aebnas.space import feature_names as encoding_names

FEATURES_VERSION = 1

#: Targets a predictor can learn from archive records, and whether larger is better.
TARGETS: dict[str, bool] = {"accuracy": True, "avg_macs": False}

@cache
def cost_feature_names(space: SearchSpace) -> tuple[str, ...]:
    """Names of the static-MAC columns (after the encoding's), in order."""
    names: list[str] = []
    for p in space.exit_positions:
        names += [f"x{p}.backbone_mmacs", f"x{p}.branch_mmacs", f"x{p}.cumulative_mmacs"]
    names += ["final.backbone_mmacs", "final.head_mmacs", "final.cumulative_mmacs"]
    names.append("first.cumulative_mmacs")
    return tuple(names)


@cache
def feature_names(space: SearchSpace) -> tuple[str, ...]:
    """Names of all feature columns: encoding then static MACs."""
    return encoding_names(space) + cost_feature_names(space)


def cost_features(costs: ExitCosts, space: SearchSpace) -> np.ndarray:
    """Static-MAC columns of one architecture.

    Args:
        costs: Its per-exit costs (final head last).
        space: Its search space (gives the exit position slots).

    Returns:
        Float64 vector, shape ``(len(cost_feature_names(space)),)``.
    """
    cumulative = costs.cumulative()
    slot = {p: k for k, p in enumerate(costs.positions[:-1])}
    values: list[float] = []
    for p in space.exit_positions:
        k = slot.get(p)
        if k is None:
            values += [0.0, 0.0, 0.0]
        else:
            values += [costs.backbone[k], costs.branch[k], float(cumulative[k])]
    values += [costs.backbone[-1], costs.branch[-1], float(cumulative[-1])]
    values.append(float(cumulative[0]))
    return np.asarray(values, dtype=np.float64)


def costs_from_record(record: dict[str, Any]) -> ExitCosts:
    """The :class:`ExitCosts` stored in an archive record's ``static_macs``."""
    static = record["static_macs"]
    return ExitCosts(
        positions=tuple(int(p) for p in static["positions"]),
        backbone=tuple(float(m) for m in static["backbone"]),
        branch=tuple(float(m) for m in static["branch"]),
    )


def features(
    archs: Sequence[Architecture],
    space: SearchSpace,
    in_channels: int,
    num_classes: int,
    costs: Sequence[ExitCosts] | None = None,
) -> np.ndarray:
    """Feature matrix of architectures.

    Args:
        archs: ``n`` architectures of ``space``.
        space: Their search space.
        in_channels: Image channels of the dataset (stem cost).
        num_classes: Classes of the dataset (classifier costs).
        costs: Their per-exit costs if already known (e.g. from archive records); computed
            with :func:`aebnas.costs.exit_costs` (memoised; slow on first use) when ``None``.

    Returns:
        Float64 array, shape ``(n, len(feature_names(space)))``.
    """
    if costs is None:
        from aebnas.costs import exit_costs

        costs = [exit_costs(a, space, in_channels, num_classes) for a in archs]
    if len(costs) != len(archs):
        raise ValueError(f"{len(archs)} architectures but {len(costs)} cost tables")
    width = len(cost_feature_names(space))
    cost_cols = (
        np.stack([cost_features(c, space) for c in costs]) if archs else np.zeros((0, width))
    )
    return np.hstack([encode_many(list(archs), space), cost_cols])


@dataclass(frozen=True)
class TrainingData:
    """What :func:`load_training_data` read (also unpacks as ``archs, X, y, meta``).

    Args:
        archs: One architecture per row.
        X: Features, shape ``(n, d)``.
        y: Target, shape ``(n,)`` (mean over seeds when an architecture appears repeatedly).
        meta: Dataset, space, fidelity, channels, classes, target, record counts, archive path.
        usage: Per-exit usage at the tuned operating point (``n`` rows, seeds averaged), or
            ``None`` when a record lacks it (training data of the ``exits`` predictor).
    """

    archs: list[Architecture]
    X: np.ndarray
    y: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    usage: ExitUsage | None = None

    def __iter__(self) -> Any:
        return iter((self.archs, self.X, self.y, self.meta))

    def __len__(self) -> int:
        return len(self.archs)

    def subset(self, index: np.ndarray | Sequence[int]) -> TrainingData:
        """Rows ``index`` of the data (same meta)."""
        index = np.asarray(index, dtype=int)
        usage = None if self.usage is None else self.usage.subset(index)
        return TrainingData(
            [self.archs[i] for i in index], self.X[index], self.y[index], self.meta, usage
        )


def check_target(target: str) -> str:
    """``target`` if it is a known target, else a :class:`UserError` listing them."""
    if target not in TARGETS:
        raise UserError(f"unknown target {target!r}; choose one of: {', '.join(TARGETS)}")
    return target


def ok_records(records: Sequence[dict[str, Any]], target: str) -> list[dict[str, Any]]:
    """Records with status ``ok`` and a finite ``target`` value."""
    return [
        r
        for r in records
        if r.get("status") == "ok"
        and isinstance(r.get(target), int | float)
        and math.isfinite(r[target])
    ]


def _space_of(meta: dict[str, Any], records: Sequence[dict[str, Any]], path: Path) -> str:
    name = meta.get("space") or next((r["space"] for r in records if "space" in r), None)
    if name is None:
        raise UserError(f"archive {path} names no search space (header 'space' is missing)")
    return str(name)


def _dataset_of(meta: dict[str, Any], records: Sequence[dict[str, Any]], path: Path) -> str:
    name = meta.get("dataset") or next((r["dataset"] for r in records if "dataset" in r), None)
    if name is None:
        raise UserError(f"archive {path} names no dataset (header 'dataset' is missing)")
    return str(name)


def records_to_data(
    records: Sequence[dict[str, Any]], target: str, space: SearchSpace, meta: dict[str, Any]
) -> TrainingData:
    """Features and target of ok records, one row per architecture (seeds averaged).

    Args:
        records: Archive records (failed ones and ones without a finite target are skipped).
        target: ``accuracy`` or ``avg_macs``.
        space: The records' search space (with the dataset's resolutions).
        meta: Carried into the result's ``meta``.
    """
    check_target(target)
    rows: dict[str, list[dict[str, Any]]] = {}
    for record in ok_records(records, target):
        rows.setdefault(record["arch"], []).append(record)
    archs = [parse_architecture(text, space) for text in rows]
    costs = [costs_from_record(group[0]) for group in rows.values()]
    y = np.asarray([np.mean([r[target] for r in group]) for group in rows.values()], dtype=float)
    channels, classes = meta.get("in_channels", 0), meta.get("num_classes", 0)
    X = features(archs, space, channels, classes, costs=costs)
    usage = usage_of_records(list(rows.values()), space)
    return TrainingData(archs, X, y, dict(meta), usage)


def load_training_data(archive_path: str | Path, target: str) -> TrainingData:
    """Read an archive's ok records as predictor training data.

    Args:
        archive_path: A ``.jsonl`` archive (see :mod:`aebnas.archive.store`).
        target: ``accuracy`` (validation accuracy at the tuned operating point, fraction) or
            ``avg_macs`` (MMACs at that point).

    Returns:
        :class:`TrainingData` ``(archs, X (n, d), y (n,), meta)``; ``meta`` holds ``dataset``,
        ``space``, ``fidelity_name``, ``fidelity``, ``in_channels``, ``num_classes``, ``target``,
        ``n_records`` (ok records used), ``n_failed``, ``n_archs`` and ``archive``.
    """
    from aebnas.data import dataset_info

    path = Path(archive_path)
    header, records = read_archive(path)
    dataset = _dataset_of(header, records, path)
    info = dataset_info(dataset)
    space = get_space(_space_of(header, records, path), info.resolutions)
    usable = ok_records(records, target)
    meta = {
        "archive": str(path),
        "dataset": dataset,
        "space": space.name,
        "fidelity_name": header.get("fidelity_name"),
        "fidelity": header.get("fidelity"),
        "in_channels": info.channels,
        "num_classes": info.num_classes,
        "target": check_target(target),
        "n_records": len(usable),
        "n_failed": sum(r.get("status") != "ok" for r in records),
    }
    data = records_to_data(usable, target, space, meta)
    data.meta["n_archs"] = len(data)
    return data
