"""Threshold-tuning benchmark: speed of the tuners, and grid vs optimal at matched MACs.

Speed (synthetic outcomes, no network is run)::

    .venv/bin/python benchmarks/threshold_tuning.py --samples 10000 --exits 4 --repeats 5

prints the median wall time of the ``optimal`` tuner (best point and curve) against the 0.1 s
goal and of the reference ``grid`` tuner, as ratio lines, then grid vs optimal accuracy at the
grid point's MACs on the synthetic outcomes.

Saved outcomes of trained candidates::

    .venv/bin/python benchmarks/threshold_tuning.py --results data/surrogates/ [--target-macs X]

prints, per candidate, grid vs optimal accuracy at matched MACs (:func:`compare_on_outcomes`):
the grid tuner gets the reference's ``target`` objective (``--target-macs``, else
``--target-fraction`` of the candidate's final-exit MACs), the optimal tuner gets the grid
point's average MACs as its budget. Accepted files (directories are searched recursively):

- ``*.jsonl`` archives of evaluated candidates (:mod:`aebnas.archive`): every ``ok`` record
  holding ``outcomes`` and ``static_macs``;
- ``*.json`` files with one candidate or ``{"candidates": [...]}``, each::

    {"name": "...",
     "outcomes": {"confidence": [[...K-1 floats] * N], "correct": [[...K 0/1] * N]},
     "costs": {"positions": [...K], "backbone": [...K MMACs], "branch": [...K MMACs]},
     "objective": {"mode": "target", "macs": 17.0, "penalty": 0.1}}   # optional

  (``ExitOutcomes.to_json()`` writes the ``outcomes`` part).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

if not __package__:  # run as a script from a checkout: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aebnas.costs.macs import ExitCosts
from aebnas.errors import UserError, run_cli
from aebnas.thresholds.tuners import (
    ExitOutcomes,
    GridComparison,
    Objective,
    compare_on_outcomes,
    grid_thresholds,
    tune,
)

GOAL_SECONDS = 0.1


@dataclass(frozen=True)
class Candidate:
    """Saved outcomes of one trained candidate.

    Args:
        name: Label for the table.
        outcomes: Its validation outcomes.
        costs: Its per-exit MMACs.
        objective: The grid tuner's objective; ``None`` uses ``--target-macs``.
    """

    name: str
    outcomes: ExitOutcomes
    costs: ExitCosts
    objective: Objective | None


def synthetic_outcomes(
    samples: int, exits: int, classes: int = 10, seed: int = 0
) -> tuple[ExitOutcomes, ExitCosts]:
    """Realistic fake outcomes: deeper exits are more accurate, confidence tracks correctness.

    Each sample has a difficulty shared by all exits; exit ``k``'s logits are Gaussian noise
    plus a true-class boost that grows with depth and shrinks with difficulty; confidence is
    the softmax score margin. Exit costs grow with depth like a MobileNetV3 backbone's.

    Args:
        samples: ``N``.
        exits: Intermediate exits ``K-1``.
        classes: Number of classes.
        seed: Random seed.

    Returns:
        Outcomes with ``N`` samples and ``K`` exits, and their costs.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, samples)
    difficulty = rng.normal(size=samples)
    confidence = np.empty((samples, exits))
    correct = np.empty((samples, exits + 1), dtype=bool)
    for k in range(exits + 1):
        logits = rng.normal(size=(samples, classes))
        logits[np.arange(samples), labels] += 1.0 + 3.2 * k / exits - 1.2 * difficulty
        logits *= 1.0 + 0.5 * rng.random()  # exits differ in calibration
        prob = np.exp(logits - logits.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        top = np.sort(prob, axis=1)
        if k < exits:
            confidence[:, k] = top[:, -1] - top[:, -2]
        correct[:, k] = prob.argmax(axis=1) == labels
    depth = np.arange(1, exits + 2) / (exits + 1)
    costs = ExitCosts(
        positions=tuple(range(1, exits + 2)),
        backbone=tuple(float(b) for b in 22.0 * depth**1.3),
        branch=(*(float(b) for b in 0.3 + 0.3 * depth[:-1]), 1.5),
    )
    return ExitOutcomes(confidence, correct), costs


def median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and process-CPU seconds of ``fn`` over ``repeats`` calls, after a warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def _costs(data: dict[str, Any]) -> ExitCosts:
    return ExitCosts(
        positions=tuple(int(p) for p in data["positions"]),
        backbone=tuple(float(m) for m in data["backbone"]),
        branch=tuple(float(m) for m in data["branch"]),
    )


def _json_candidates(data: Any, source: str) -> list[Candidate]:
    entries = data["candidates"] if isinstance(data, dict) and "candidates" in data else [data]
    out = []
    for k, entry in enumerate(entries):
        objective = entry.get("objective")
        out.append(
            Candidate(
                name=str(entry.get("name", f"{source}#{k}")),
                outcomes=ExitOutcomes.from_json(entry["outcomes"]),
                costs=_costs(entry["costs"]),
                objective=None if objective is None else Objective(**objective),
            )
        )
    return out


def _archive_candidates(path: Path) -> list[Candidate]:
    from aebnas.archive import read_archive
    from aebnas.archive.outcomes import unpack_outcomes

    _, records = read_archive(path)
    return [
        Candidate(
            name=f"{record.get('hash', k)} {record.get('dataset', path.stem)}",
            outcomes=unpack_outcomes(record["outcomes"]),
            costs=_costs(record["static_macs"]),
            objective=None,
        )
        for k, record in enumerate(records)
        if record.get("status") == "ok" and "outcomes" in record and "static_macs" in record
    ]


def load_candidates(paths: Sequence[str]) -> list[Candidate]:
    """Candidates from archives (``*.jsonl``), JSON files, and such files under directories.

    Args:
        paths: Files or directories.

    Returns:
        Every candidate found, in path order.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl")))
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"--results {raw}: no such file or directory; pass files or folders")
    candidates = []
    for file in files:
        try:
            if file.suffix == ".jsonl":
                candidates.extend(_archive_candidates(file))
            else:
                candidates.extend(_json_candidates(json.loads(file.read_text()), file.name))
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(
                f"{file}: not an archive or saved-outcomes file ({err!r}); see the layouts in "
                "benchmarks/threshold_tuning.py"
            ) from None
    return candidates


def comparison_table(rows: Sequence[tuple[str, GridComparison]]) -> str:
    """Fixed-width table of grid vs optimal at the grid point's MACs."""
    lines = [
        f"{'candidate':<28} {'grid acc%':>9} {'grid MMACs':>10} {'optimal acc%':>12} "
        f"{'opt MMACs':>10} {'gain pp':>8}"
    ]
    for name, c in rows:
        lines.append(
            f"{name[:28]:<28} {100 * c.grid.accuracy:>9.2f} {c.grid.avg_macs:>10.3f} "
            f"{100 * c.optimal.accuracy:>12.2f} {c.optimal.avg_macs:>10.3f} "
            f"{100 * c.accuracy_gain:>+8.2f}"
        )
    if rows:
        gains = [100 * c.accuracy_gain for _, c in rows]
        lines.append(
            f"mean gain {statistics.mean(gains):+.2f} pp, min {min(gains):+.2f} pp over "
            f"{len(rows)} candidate(s)"
        )
    return "\n".join(lines)


def speed_report(
    samples: int, exits: int, repeats: int, seed: int, target: float | None, fraction: float
) -> None:
    """Time both tuners on synthetic outcomes and compare them at matched MACs."""
    outcomes, costs = synthetic_outcomes(samples, exits, seed=seed)
    macs = target if target is not None else fraction * costs.final
    objective = Objective("target", macs)
    size = f"{samples} samples x {exits} exits"
    optimal, optimal_cpu = median_seconds(lambda: tune(outcomes, costs, objective), repeats)
    print(
        f"optimal tuner: {optimal:.3f} s for {size} "
        f"(goal < {GOAL_SECONDS:g} s, ratio {optimal / GOAL_SECONDS:.2f})"
    )
    grid, grid_cpu = median_seconds(lambda: tune(outcomes, costs, objective, "grid"), repeats)
    print(
        f"grid tuner: {grid:.3f} s for {size}, {len(grid_thresholds(exits))} combinations "
        f"(goal < {GOAL_SECONDS:g} s, ratio {grid / GOAL_SECONDS:.2f}; optimal/grid "
        f"{optimal / grid:.1f})"
    )
    result = tune(outcomes, costs, objective)
    print(
        f"optimal curve: {len(result.curve)} points from {result.curve[0].avg_macs:.2f} to "
        f"{result.curve[-1].avg_macs:.2f} MMACs; medians of {repeats} runs after a warm-up; "
        f"CPU time optimal {optimal_cpu:.3f} s, grid {grid_cpu:.3f} s; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    rows = []
    for s in range(seed, seed + 5):
        fake, fake_costs = synthetic_outcomes(samples, exits, seed=s)
        rows.append((f"synthetic seed {s}", compare_on_outcomes(fake, fake_costs, objective)))
    print(f"\ngrid vs optimal at the grid point's MACs (target {macs:.2f} MMACs, synthetic):")
    print(comparison_table(rows))


def results_report(paths: Sequence[str], target: float | None, fraction: float) -> None:
    """Grid vs optimal at matched MACs for every saved candidate."""
    candidates = load_candidates(paths)
    if not candidates:
        raise UserError(f"no trained candidate with saved outcomes in {' '.join(paths)}")
    rows = []
    for c in candidates:
        objective = c.objective
        if objective is None:
            macs = target if target is not None else fraction * c.costs.final
            objective = Objective("target", macs)
        rows.append((c.name, compare_on_outcomes(c.outcomes, c.costs, objective)))
    how = f"{target:g} MMACs" if target is not None else f"{fraction:g} x each final exit's MACs"
    print(f"grid (target {how}) vs optimal at the grid point's MACs, {len(rows)} candidate(s):")
    print(comparison_table(rows))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=10_000, help="validation samples N")
    parser.add_argument("--exits", type=int, default=4, help="intermediate exits K-1")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per tuner")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target-macs", type=float, default=None, help="grid's target, MMACs")
    parser.add_argument(
        "--target-fraction",
        type=float,
        default=0.6,
        help="without --target-macs: the target as a fraction of the final exit's MACs",
    )
    parser.add_argument(
        "--results",
        nargs="+",
        metavar="DIR_OR_FILES",
        help="archives (*.jsonl) or JSON files of trained candidates' outcomes",
    )
    args = parser.parse_args(argv)
    if args.samples < 1 or args.exits < 1 or args.repeats < 1:
        raise UserError("--samples, --exits and --repeats must be positive")
    if args.results:
        results_report(args.results, args.target_macs, args.target_fraction)
    else:
        target = args.target_macs
        speed_report(
            args.samples, args.exits, args.repeats, args.seed, target, args.target_fraction
        )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
