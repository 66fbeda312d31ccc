"""Time to propose one batch with the ``bo`` strategy from archives of 100, 300 and 1000 records.

    nice -n 10 .venv/bin/python benchmarks/proposal_time.py [--archive A] [--sizes 100,300,1000]

Per size: one cold proposal (it pays the MAC counts of pool architectures new to the process),
then the next round's proposal timed twice in the same process, as the search did before (GP
hyper-parameters fit on every row: ``previous``) and as it does now (on a seeded subset of at most
:data:`aebnas.search.surrogates.GP_HYPER_ROWS` rows, posterior on all: ``current``), so the
ratio is measured under the same load. ``--quality`` also fits both on the first ``N`` real rows
and prints the Kendall tau of each on the remaining real rows (the ranking the subset keeps);
``--quality-offsets 0,1000`` repeats that check on other training windows.

The archive's ok records play the run's evaluated candidates (surrogates fit on them, pool
generated from the space around their Pareto set, as in a real search). Sizes above the
archive's record count are filled with synthetic records: single-gene neighbours of real rows
that carry their parent's static MACs and its outcomes with small noise (plausible inputs of
the right size for timing; not measurements). Per size the script prints wall and CPU seconds
of two proposals in this process: the first pays the cold MAC-count memo of the new pool
architectures (each unseen block or branch module is traced by fvcore once per process), the
second (another round seed) mostly not.
"""

from __future__ import annotations

import argparse
import copy
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from scipy import stats

from aebnas.archive import read_archive
from aebnas.config import Config, apply_overrides
from aebnas.data import dataset_info
from aebnas.search import surrogates
from aebnas.search.pool import CostTable, GeneratedDomain, PoolSettings, single_gene_neighbours
from aebnas.search.problem import problem_from_config
from aebnas.search.rounds import RoundInput
from aebnas.search.strategies import bo_strategy
from aebnas.search.surrogates import fit_surrogates, training_set
from aebnas.space import Architecture, SearchSpace, get_space

DEFAULT_ARCHIVE = "data/surrogates/fashion-mnist-aebnas-plus-supernet.jsonl"


def synthetic_records(
    records: list[dict[str, Any]], n: int, space: SearchSpace, seed: int = 0
) -> list[dict[str, Any]]:
    """``n`` extra records: neighbours of real rows with the parent's costs, jittered outcomes."""
    rng, seen = random.Random(seed), {r["arch"] for r in records}
    out: list[dict[str, Any]] = []
    while len(out) < n:
        parent = rng.choice(records)
        child = rng.choice(single_gene_neighbours(Architecture.parse(parent["arch"]), space))
        if child.canonical in seen:
            continue
        seen.add(child.canonical)
        record = copy.deepcopy({k: v for k, v in parent.items() if k not in ("outcomes", "curve")})
        record.update(arch=child.canonical, hash=child.hash)
        record["accuracy"] += rng.gauss(0.0, 0.005)
        record["avg_macs"] *= 1.0 + rng.gauss(0.0, 0.05)
        out.append(record)
    return out


def time_proposal(inputs: RoundInput) -> tuple[float, float, dict[str, Any]]:
    wall, cpu = time.perf_counter(), time.process_time()
    plan = bo_strategy(inputs)
    return time.perf_counter() - wall, time.process_time() - cpu, plan.info


@contextmanager
def hyper_rows(rows: int | None) -> Iterator[None]:
    """The search's GP hyper-parameter subset size set to ``rows`` (``None``: every row)."""
    saved = surrogates.GP_HYPER_ROWS
    surrogates.GP_HYPER_ROWS = rows
    try:
        yield
    finally:
        surrogates.GP_HYPER_ROWS = saved


VARIANTS = {"previous": None, "current": surrogates.GP_HYPER_ROWS}


def ranking_kept(
    records: list[dict[str, Any]], n_train: int, problem: Any, costs: CostTable, offset: int = 0
) -> list[str]:
    """Held-out Kendall tau of both variants' surrogates fit on ``n_train`` rows from
    ``offset`` (tested on every other row)."""
    window = slice(offset, offset + n_train)
    train = training_set(records[window], problem, costs)
    test = training_set(records[:offset] + records[offset + n_train :], problem, costs)
    lines = []
    for name, rows in VARIANTS.items():
        with hyper_rows(rows):
            start = time.process_time()
            fitted = fit_surrogates("gp", train, None, costs.space, seed=0)
            seconds = time.process_time() - start
        assert fitted is not None
        means, _ = fitted.predict(test.X)
        taus = [stats.kendalltau(means[:, i], test.Y[:, i]).statistic for i in (0, 1)]
        lines.append(
            f"{name:>9}: fit {seconds:6.1f} cpu s on {len(train)} rows from {offset}; held-out "
            f"tau on "
            f"{len(test)} rows: accuracy {taus[0]:.3f}, avg MACs {taus[1]:.3f}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", default=DEFAULT_ARCHIVE)
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--pool-size", type=int, help="default: the config default")
    parser.add_argument("--surrogate", default="gp")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quality", type=int, help="training rows of the ranking check")
    parser.add_argument(
        "--quality-offsets",
        default="0",
        help="first row of each training window of the ranking check (comma-separated)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    meta, records = read_archive(args.archive)
    records = [r for r in records if r.get("status") == "ok"]
    config = apply_overrides(
        Config(),
        {
            "data.dataset": meta["dataset"],
            "space": meta["space"],
            "search.surrogate": args.surrogate,
            "search.pool_size": args.pool_size,
        },
    )
    info = dataset_info(config.data.dataset)
    space = get_space(config.space, info.resolutions)
    costs = CostTable(space, info.channels, info.num_classes or 10)
    sizes = [int(s) for s in args.sizes.split(",")]
    extra = synthetic_records(records, max(0, max(sizes) - len(records)), space)
    print(
        f"archive {Path(args.archive).name}: {len(records)} ok records; pool size "
        f"{config.search.pool_size}, batch {args.batch}, surrogate {args.surrogate}, "
        f"{torch.get_num_threads()} torch thread(s)"
    )
    print(f"{'records':>8} {'synthetic':>9} {'variant':>9} {'wall s':>8} {'cpu s':>8}  pool/scored")
    for size in sizes:
        rows = (records + extra)[:size]
        costs.add_records(rows)
        problem = problem_from_config(config, rows)
        domain = GeneratedDomain(
            space, costs, problem.cap, PoolSettings(size=config.search.pool_size)
        )
        # Round 0 (current) is the cold call: it pays the MAC counts of the new pool
        # architectures; round 1 is then timed for both variants on the same warm pool.
        for variant, rows_fit, round_index in (
            ("cold", VARIANTS["current"], 0),
            ("previous", VARIANTS["previous"], 1),
            ("current", VARIANTS["current"], 1),
        ):
            inputs = RoundInput(
                round_index=round_index,
                seed=size,
                n=args.batch,
                problem=problem,
                domain=domain,
                costs=costs,
                records=rows,
                surrogate=args.surrogate,
                pool=PoolSettings(size=config.search.pool_size),
                initial=0,
            )
            with hyper_rows(rows_fit):
                wall, cpu, info_ = time_proposal(inputs)
            synthetic = max(0, size - len(records))
            print(
                f"{size:>8} {synthetic:>9} {variant:>9} {wall:>8.1f} {cpu:>8.1f}  "
                f"{info_.get('pool')}/{info_.get('scored')}  (wall s: fit "
                f"{info_.get('fit_seconds')}, pool {info_.get('pool_seconds')}, local search "
                f"{info_.get('local_search_seconds')})",
                flush=True,
            )
    if args.quality:
        problem = problem_from_config(config, records)
        for offset in (int(o) for o in args.quality_offsets.split(",")):
            for line in ranking_kept(records, args.quality, problem, costs, offset):
                print(line, flush=True)


if __name__ == "__main__":
    main()
