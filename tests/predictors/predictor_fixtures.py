"""Helpers of the predictor tests: real archive records and synthetic ones.

Synthetic records have the real record format (``arch``, ``static_macs``, ``accuracy``,
``avg_macs``, ...) for real sampled architectures; their static MACs come from a cheap made-up
cost model (fvcore is too slow for tests) and their targets from a known function of the
features plus noise, so a predictor that learns must rank them well.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from aebnas.costs.macs import ExitCosts
from aebnas.predictors.features import features
from aebnas.space import Architecture, SearchSpace, get_space
from aebnas.space.sampling import sample_stratified

REPO = Path(__file__).resolve().parents[2]
ARCHIVE = REPO / "data/surrogates/fashion-mnist-aebnas-plus-low.jsonl"
MIN_REAL = 30
RESOLUTIONS = (28, 32, 36, 40)


def fmnist_space() -> SearchSpace:
    return get_space("aebnas-plus", RESOLUTIONS)


def fake_costs(arch: Architecture, space: SearchSpace) -> ExitCosts:
    """A made-up but structured cost table: grows with resolution, depth, kernels, widths."""
    size = arch.resolution / 2
    so_far, backbone = 0.05 * size**2 / 100, []
    for s, stage in enumerate(arch.stages):
        size /= space.backbone.stage_strides[s]
        width = space.backbone.stage_widths[s]
        so_far += sum(b.kernel**2 * b.expand for b in stage) * width * size**2 / 4e6
        backbone.append(so_far)
    exits = {e.position: e for e in arch.exits}
    branch = []
    for p in arch.exit_positions:
        width = space.backbone.stage_widths[p - 1]
        branch.append(
            sum(m.resize**2 * m.kernel**2 * m.width for m in exits[p].modules) * width / 2e6
        )
    positions = (*arch.exit_positions, space.backbone.num_stages)
    return ExitCosts(
        positions=positions,
        backbone=tuple(backbone[p - 1] for p in positions),
        branch=(*branch, 1.5),
    )


def synthetic_targets(
    X: np.ndarray, costs: list[ExitCosts], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy: log final cost + exits + resolution + noise; avg MACs: a cost-driven exit mix."""
    rng = np.random.default_rng(seed)
    final = np.asarray([c.final for c in costs])
    first = np.asarray([c.cumulative()[0] for c in costs])
    exits = np.asarray([c.num_exits - 1 for c in costs])
    accuracy = 0.55 + 0.05 * np.log(final) + 0.01 * exits + 0.001 * X[:, 0]
    accuracy += rng.normal(0, 0.002, len(X))
    share = 0.3 + 0.4 * (first / final)
    avg_macs = share * first + (1 - share) * final
    return accuracy, avg_macs * (1 + rng.normal(0, 0.005, len(X)))


def synthetic_records(n: int, seed: int = 0, noise_seed: int | None = None) -> list[dict[str, Any]]:
    """``n`` ok records in the archive format with known structure (see the module docstring)."""
    space = fmnist_space()
    archs = sample_stratified(space, n, seed)
    costs = [fake_costs(a, space) for a in archs]
    X = features(archs, space, 1, 10, costs=costs)
    accuracy, avg_macs = synthetic_targets(X, costs, seed if noise_seed is None else noise_seed)
    return [
        {
            "arch": a.canonical,
            "hash": a.hash,
            "space": space.name,
            "dataset": "fashion-mnist",
            "seed": 0 if noise_seed is None else noise_seed,
            "status": "ok",
            "fidelity_name": "low",
            "accuracy": float(acc),
            "avg_macs": float(macs),
            "final_accuracy": float(acc),
            "static_macs": {
                "positions": list(c.positions),
                "backbone": list(c.backbone),
                "branch": list(c.branch),
                "final": c.final,
            },
            "encoding_version": 1,
        }
        for a, c, acc, macs in zip(archs, costs, accuracy, avg_macs, strict=True)
    ]


def write_archive(path: Path, records: list[dict[str, Any]]) -> Path:
    """An archive file (header + records) in the real format."""
    header = {
        "format": "aebnas.archive",
        "version": 1,
        "meta": {"dataset": "fashion-mnist", "space": "aebnas-plus", "fidelity_name": "low"},
    }
    lines = [json.dumps(header)] + [json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n")
    return path


def usage_records(n: int, seed: int) -> list[dict[str, Any]]:
    """Synthetic records whose ``exits`` follow a known rule and whose ``avg_macs`` is exact:
    exits after stage 1 are switched off, the others let go a share that grows with the
    resolution and the exit's depth."""
    space = fmnist_space()
    records = synthetic_records(n, seed)
    for record in records:
        static = record["static_macs"]
        positions = static["positions"]
        resolution = int(record["arch"].split("|")[0][1:])
        exits, arrive, avg = [], 1.0, 0.0
        paid = 0.0
        for k, position in enumerate(positions):
            last = k == len(positions) - 1
            on = last or position > 1
            share = 1.0 if last else (0.2 + 0.1 * position + (resolution - 28) / 60) * on
            util = arrive * share
            paid += static["branch"][k] if on else 0.0
            avg += util * (static["backbone"][k] + paid)
            exits.append(
                {
                    "position": position,
                    "util": util,
                    "threshold": (None if not on else 0.5) if not last else None,
                }
            )
            arrive -= util
        record["exits"], record["avg_macs"] = exits, avg
    assert all(len(r["exits"]) <= len(space.exit_positions) + 1 for r in records)
    return records
