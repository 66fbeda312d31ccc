"""A synthetic benchmark archive for the search tests (no training, no MAC tracing).

Rows are sampled architectures with made-up but structured numbers: static per-exit costs from
a cheap formula (resolution, kernels, expansions, branch genes), a final-exit accuracy that
rises with cost and depends on a few genes, and a concave accuracy-vs-MACs curve from the
first exit to the final one. Good enough to exercise the search; not a model of any dataset.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from aebnas.costs import ExitCosts
from aebnas.search.pool import CostTable
from aebnas.space import Architecture, SearchSpace, get_space, sample_architectures

SPACE = "aebnas-plus"
DATASET = "fashion-mnist"
RESOLUTIONS = (28, 32, 36, 40)


def space() -> SearchSpace:
    return get_space(SPACE, RESOLUTIONS)


def _costs(arch: Architecture) -> dict[str, Any]:
    scale = (arch.resolution / 28) ** 2
    backbone, total = [], 0.1 * scale
    for s, stage in enumerate(arch.stages):
        total += sum(0.004 * b.kernel**2 * b.expand for b in stage) * scale / (1 + 0.6 * s)
        backbone.append(total)
    branch = [
        sum(
            0.03 * m.width * (m.resize / 8) ** 2 * (2.0 if m.op == "conv" else 1.0)
            for m in ex.modules
        )
        for ex in arch.exits
    ]
    positions = [*arch.exit_positions, 5]
    backbone_at = [backbone[p - 1] for p in positions]
    branch.append(0.4)
    cumulative = [backbone_at[k] + sum(branch[: k + 1]) for k in range(len(positions))]
    return {
        "positions": positions,
        "backbone": backbone_at,
        "branch": branch,
        "final": cumulative[-1],
        "cumulative": cumulative,
    }


def _quality(arch: Architecture, rng: random.Random) -> float:
    kernels = sum(b.kernel for s in arch.stages for b in s) / sum(len(s) for s in arch.stages)
    return 0.02 * (kernels - 5) / 2 + 0.01 * (arch.resolution - 34) / 6 + rng.gauss(0, 0.004)


def synthetic_record(arch: Architecture, rng: random.Random) -> dict[str, Any]:
    """One ok row (see the module docstring)."""
    costs = _costs(arch)
    c0, cf = costs["cumulative"][0], costs["final"]
    acc_final = 0.80 + 0.02 * math.log(cf) + _quality(arch, rng)
    first_quality = 0.01 * max(e.position for e in arch.exits) + 0.005 * len(arch.exits[0].modules)
    acc_first = acc_final - 0.08 + first_quality
    curve = []
    for i, f in enumerate((0.0, 0.1, 0.25, 0.5, 0.75, 1.0)):
        thresholds = [round(1 - f, 3) if k == 0 else None for k in range(len(arch.exits))]
        curve.append(
            {
                "accuracy": acc_first + (acc_final - acc_first) * math.sqrt(f) + 0.0001 * i,
                "avg_macs": c0 + (cf - c0) * f,
                "thresholds": thresholds,
            }
        )
    best = curve[-2]
    return {
        "format": "aebnas.evaluation",
        "arch": arch.canonical,
        "hash": arch.hash,
        "space": SPACE,
        "dataset": DATASET,
        "seed": 0,
        "status": "ok",
        "reason": None,
        "accuracy": best["accuracy"],
        "avg_macs": best["avg_macs"],
        "objective": {"mode": "budget", "macs": 1e9, "accuracy_tolerance": 0.005},
        "static_macs": {k: costs[k] for k in ("positions", "backbone", "branch", "final")},
        "exits": [
            {"position": p, "macs": c, "util": 0.5, "accuracy": best["accuracy"], "threshold": t}
            for p, c, t in zip(
                costs["positions"], costs["cumulative"], [*best["thresholds"], None], strict=True
            )
        ],
        "curve": curve,
        "test": None,
        "fidelity_name": "low",
        "outcomes": {"encoding": "npz-b64", "version": 1, "data": "dropped-by-benchmark"},
    }


def write_archive(path: Path, n: int, seed: int = 0, failed: int = 1) -> Path:
    """Write an ``aebnas.archive`` with ``n`` rows (the last ``failed`` ones failed)."""
    rng = random.Random(seed)
    archs = sample_architectures(space(), n, seed)
    meta = {"dataset": DATASET, "space": SPACE, "fidelity_name": "low"}
    lines = [json.dumps({"format": "aebnas.archive", "version": 1, "meta": meta})]
    for i, arch in enumerate(archs):
        record = synthetic_record(arch, rng)
        if i >= n - failed:
            record = {
                k: record[k] for k in ("arch", "hash", "seed", "space", "dataset", "static_macs")
            }
            record.update(status="failed", reason="diverged", fidelity_name="low")
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    return path


class FormulaCosts(CostTable):
    """A :class:`CostTable` answering from the synthetic formula (no fvcore tracing)."""

    def __init__(self) -> None:
        super().__init__(space(), 1, 10)

    def get(self, arch: Architecture) -> ExitCosts:
        costs = _costs(arch)
        return ExitCosts(
            positions=tuple(costs["positions"]),
            backbone=tuple(costs["backbone"]),
            branch=tuple(costs["branch"]),
        )
