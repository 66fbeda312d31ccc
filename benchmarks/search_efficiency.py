"""Search efficiency in benchmark mode: bo vs nsga2 (the reference loop) vs random.

    nice -n 10 .venv/bin/python benchmarks/search_efficiency.py [--archive A] [--seeds 10] \\
        [--seed-start 0] [--budget 160] [--batch-size 8] [--initial 8] [--max-macs M] \\
        [--rows N] [--workers 1]

Every strategy runs ``--seeds`` seeds with the same budget on the archive (evaluations answered
from its rows, ``python -m aebnas.bo_search --benchmark``); with one seed all strategies share
the same random initial design. A run stops early once it has found the archive's whole true
front (its hypervolume equals the archive's; later evaluations could not change the curve).
Printed: mean (and min) fraction of the archive's true Pareto hypervolume after k evaluations,
and the evaluations each run needs to reach 95% of it (runs that never do within the budget
count as "> budget"), with the ratios of the medians; then the same count on a secondary
yardstick whose hypervolume reference cost is 1.1 x the true front's largest average MACs
(the primary one, the archive's largest average MACs, makes the volume mostly a matter of the
single most accurate row).

The archive is copied once (its first ``--rows`` records) before the runs, so every run sees
the same rows even while the archive is still being appended to.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from aebnas.archive import read_archive
from aebnas.config import Config, apply_overrides
from aebnas.report import evaluations_to_fraction, write_outputs
from aebnas.search import SearchProblem, execute, start
from aebnas.search.loop import ARCHIVE_FILE

DEFAULT_ARCHIVE = "data/surrogates/fashion-mnist-aebnas-plus-low.jsonl"
FRACTION = 0.95
#: Reference cost of the secondary yardstick, relative to the true front's largest cost.
KNEE_MARGIN = 1.1
CHECKPOINTS = (8, 16, 24, 32, 48, 64, 96, 128, 160, 200, 250, 300)


@dataclass(frozen=True)
class Job:
    strategy: str
    seed: int
    archive: str
    budget: int
    batch: int
    initial: int
    max_macs: float | None
    out: str
    surrogate: str = "gp"
    acquisition: str = "qlognehvi"


def run_job(job: Job) -> dict[str, Any]:
    """One benchmark-mode search; its hypervolume curve padded to the budget."""
    torch.set_num_threads(1)
    meta, _ = read_archive(job.archive)
    config = apply_overrides(
        Config(),
        {
            "data.dataset": meta["dataset"],
            "space": meta["space"],
            "seed": job.seed,
            "thresholds.max_macs": job.max_macs,
            "search.strategy": job.strategy,
            "search.budget": job.budget,
            "search.batch_size": job.batch,
            "search.initial": job.initial,
            "search.benchmark": job.archive,
            "search.surrogate": job.surrogate,
            "search.acquisition": job.acquisition,
        },
    )
    run_dir = Path(job.out) / f"{job.strategy}-{job.surrogate}-{job.acquisition}-seed{job.seed}"
    setup, archive = start(config, run_dir, job.archive)
    true_hv = setup.problem.hypervolume([setup.problem.outcome(r) for r in setup.reference_records])

    def found_all(records: list[dict[str, Any]]) -> bool:
        hv = setup.problem.hypervolume([setup.problem.outcome(r) for r in records])
        return hv >= true_hv * (1 - 1e-12)

    started = time.perf_counter()
    result = execute(setup, archive, log=lambda _: None, stop=found_all)
    summary = write_outputs(result, plots=False).summary
    curve = summary["hypervolume_curve"]
    curve = curve + [curve[-1]] * (job.budget - len(curve))
    knee = knee_problem(setup.problem, setup.reference_records)
    knee_true = knee.hypervolume([knee.outcome(r) for r in setup.reference_records])
    knee_curve = knee.hypervolume_curve(
        [knee.outcome(r) for r in read_archive(run_dir / ARCHIVE_FILE)[1]]
    )
    knee_curve = knee_curve + [knee_curve[-1]] * (job.budget - len(knee_curve))
    return {
        "strategy": job.strategy,
        "seed": job.seed,
        "curve": [c / true_hv for c in curve],
        "evaluations_to_95": evaluations_to_fraction(curve, true_hv, FRACTION),
        "knee_evaluations_to_95": evaluations_to_fraction(knee_curve, knee_true, FRACTION),
        "stopped_at": summary["evaluations"],
        "seconds": round(time.perf_counter() - started, 1),
        "true_hypervolume": true_hv,
    }


def knee_problem(problem: SearchProblem, reference: list[dict[str, Any]]) -> SearchProblem:
    """The secondary yardstick: the same problem with the hypervolume reference cost at
    :data:`KNEE_MARGIN` times the true front's largest cost (instead of the archive's largest
    average MACs), so that the cheap trade-off region weighs as much as the top accuracy.

    Args:
        problem: The run's problem (its reference accuracy is kept).
        reference: The benchmark rows.
    """
    outcomes = [problem.outcome(r) for r in reference]
    front = [o for o, on in zip(outcomes, problem.pareto_mask(outcomes), strict=True) if on and o]
    cost = KNEE_MARGIN * max(float(problem.cost(o.avg_macs)) for o in front)
    return replace(problem, ref_cost=min(cost, problem.ref_cost))


def snapshot(source: str, path: Path, rows: int | None) -> Path:
    """Copy the header and the first ``rows`` complete records of ``source`` to ``path``.

    Every run of one benchmark must see the same rows; the archive may still be growing
    (append-only), so it is read once here and the runs read the copy.

    Args:
        source: The benchmark archive (``.jsonl``).
        path: Where the copy goes.
        rows: Records to keep (``None``: every complete one).
    """
    lines = Path(source).read_text().splitlines()
    header, records = lines[0], [x for x in lines[1:] if x.rstrip().endswith("}")]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *records[:rows]]) + "\n")
    return path


def median_with_censoring(values: list[int | None], budget: int) -> str:
    numbers = [budget + 1 if v is None else v for v in values]
    median = statistics.median(numbers)
    return f"> {budget}" if median > budget else f"{median:g}"


def report(results: list[dict[str, Any]], strategies: list[str], budget: int) -> None:
    by = {s: [r for r in results if r["strategy"] == s] for s in strategies}
    points = [k for k in CHECKPOINTS if k <= budget]
    print("\nFraction of the archive's true Pareto hypervolume after k evaluations (mean / min)")
    print(f"{'k':>5} " + " ".join(f"{s:>15}" for s in strategies))
    for k in points:
        cells = []
        for s in strategies:
            values = [r["curve"][k - 1] for r in by[s]]
            cells.append(f"{statistics.mean(values):7.3f} /{min(values):6.3f}")
        print(f"{k:>5} " + " ".join(f"{c:>15}" for c in cells))
    print(f"\nEvaluations to reach {100 * FRACTION:.0f}% of the true hypervolume")
    medians: dict[str, float] = {}
    for s in strategies:
        values = [r["evaluations_to_95"] for r in by[s]]
        shown = ", ".join("-" if v is None else str(v) for v in values)
        numbers = [budget + 1 if v is None else v for v in values]
        medians[s] = statistics.median(numbers)
        seconds = statistics.mean(r["seconds"] for r in by[s])
        print(
            f"{s:>8}: median {median_with_censoring(values, budget):>6}  "
            f"mean {statistics.mean(numbers):6.1f}  runs [{shown}]  ({seconds:.0f} s per run)"
        )
    if "bo" in medians:
        for other in (s for s in strategies if s != "bo"):
            bound = " (at least)" if medians[other] > budget else ""
            print(f"  {other} / bo median ratio: {medians[other] / medians['bo']:.2f}{bound}")
    print(
        f"\nSecondary yardstick (reference cost {KNEE_MARGIN} x the true front's largest MACs "
        f"instead of the archive's largest): evaluations to reach {100 * FRACTION:.0f}%"
    )
    for s in strategies:
        values = [r["knee_evaluations_to_95"] for r in by[s]]
        shown = ", ".join("-" if v is None else str(v) for v in values)
        numbers = [budget + 1 if v is None else v for v in values]
        print(
            f"{s:>8}: median {median_with_censoring(values, budget):>6}  "
            f"mean {statistics.mean(numbers):6.1f}  runs [{shown}]"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", default=DEFAULT_ARCHIVE)
    parser.add_argument("--strategies", default="bo,nsga2,random")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--seed-start",
        type=int,
        default=0,
        help="first seed (seeds SEED_START .. SEED_START+SEEDS-1): keep a held-out range "
        "for the final table, apart from the seeds any setting was chosen on",
    )
    parser.add_argument("--budget", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--initial", type=int, default=8)
    parser.add_argument("--max-macs", type=float)
    parser.add_argument("--rows", type=int, help="use the archive's first ROWS records")
    parser.add_argument("--surrogate", default="gp", help="surrogate kind of bo: gp or xgb")
    parser.add_argument("--acquisition", default="qlognehvi", help="qlognehvi or qlognparego")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--json", action="store_true", help="also print one JSON line per run")
    args = parser.parse_args()
    strategies = args.strategies.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or tmp
        archive = snapshot(args.archive, Path(out) / "benchmark.jsonl", args.rows)
        _, rows = read_archive(archive)
        budget = min(args.budget, len({r["arch"] for r in rows}))
        jobs = [
            Job(
                s,
                seed,
                str(archive),
                budget,
                args.batch_size,
                args.initial,
                args.max_macs,
                out,
                args.surrogate,
                args.acquisition,
            )
            for seed in range(args.seed_start, args.seed_start + args.seeds)
            for s in strategies
        ]
        print(
            f"{Path(args.archive).name} (first {len(rows)} records): budget {budget}, batch "
            f"{args.batch_size}, initial design {args.initial}, {args.seeds} seeds "
            f"({args.seed_start}..{args.seed_start + args.seeds - 1}), "
            f"cap {args.max_macs or 'none'}; bo: {args.surrogate} + {args.acquisition}",
            flush=True,
        )
        results = []
        with mp.get_context("spawn").Pool(args.workers) as pool:
            for result in pool.imap_unordered(run_job, jobs):
                results.append(result)
                print(
                    f"  {result['strategy']:>6} seed {result['seed']}: 95% after "
                    f"{result['evaluations_to_95'] or '> ' + str(budget)} evaluations "
                    f"({result['seconds']:.0f} s)",
                    flush=True,
                )
                if args.json:
                    print(json.dumps(result))
    report(results, strategies, budget)


if __name__ == "__main__":
    main()
