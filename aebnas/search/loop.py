"""The search loop: rounds of propose -> evaluate -> append to the run's archive -> hypervolume.

Run folder layout (``--out RUN_DIR``)::

    config.yaml          effective configuration (dump_config)
    archive.jsonl        the run's evaluations (crash-safe JSON Lines, one record per line)
    rounds/round-NNNN.json   each round's proposals, written before any of them is evaluated
    checkpoints/         trained networks (real runs; only Pareto members are kept)
    pareto.json, pareto.csv, pareto.png, hypervolume.png, report.md, summary.json
                         written at the end by :func:`aebnas.report.write_outputs` from the
                         :class:`SearchResult` that :func:`execute` returns

Resume (``--resume RUN_DIR``, also after ``kill -9``): the archive keeps every finished
evaluation; the loop re-reads it, takes the round's saved proposals when they exist (so a round
interrupted half-way is finished with the same candidates) and skips candidates already
evaluated. Every random draw of a round is a function of ``(seed, round)`` and of the records of
the earlier rounds, read back from the archive, never of the process history, so a resumed run
reaches the same archive as an uninterrupted one. The slices of the prior and benchmark archives
a run uses (their record counts) and its problem are fixed in the archive's header at the start.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aebnas.archive import Archive, read_archive
from aebnas.config import Config, dump_config
from aebnas.data import dataset_classes, dataset_info
from aebnas.errors import UserError
from aebnas.outputs import check_output_folder
from aebnas.predictors.base import Predictor
from aebnas.search.evaluator import (
    CHECKPOINTS_FOLDER,
    FULL,
    BenchmarkEvaluator,
    Evaluator,
    TrainingEvaluator,
)
from aebnas.search.latency import RecordLatency
from aebnas.search.pool import CostTable, Domain, FixedDomain, GeneratedDomain, PoolSettings
from aebnas.search.problem import SearchProblem, problem_from_config
from aebnas.search.rounds import STRATEGIES, Proposal, RoundInput, RoundPlan
from aebnas.search.surrogates import fit_prior, load_prior
from aebnas.space import SearchSpace, get_space

ARCHIVE_FILE = "archive.jsonl"
CONFIG_FILE = "config.yaml"
ROUNDS_DIR = "rounds"
CHECKPOINTS_DIR = CHECKPOINTS_FOLDER

Log = Callable[[str], None]


def stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class SearchSetup:
    """Everything a run resolves once per process.

    Args:
        config: Effective configuration.
        run_dir: The run folder.
        space: Search space (with the dataset's resolutions).
        problem: Objectives, constraint, hypervolume reference.
        domain: Candidate source.
        costs: Static MAC lookup.
        evaluator: Trains or looks up candidates.
        meta: The run archive's header meta.
        prior_records: Other-fidelity records of this dataset (real runs: the surrogate
            archive).
        reference_records: Records fixing the true front (benchmark rows), else empty.
        transfer_records: Records of another dataset (a prior archive of another dataset):
            they only fit the prior, never enter the costs, the problem or the candidates.
        transfer_costs: Static costs of ``transfer_records`` (their dataset's channels and
            classes).
        prior: Prior predictors (fit lazily on first use).
        prior_source: The dataset the prior was fit on when it is not the search's (transfer).
    """

    config: Config
    run_dir: Path
    space: SearchSpace
    problem: SearchProblem
    domain: Domain
    costs: CostTable
    evaluator: Evaluator
    meta: dict[str, Any]
    prior_records: list[dict[str, Any]] = field(default_factory=list)
    reference_records: list[dict[str, Any]] = field(default_factory=list)
    transfer_records: list[dict[str, Any]] = field(default_factory=list)
    transfer_costs: CostTable | None = None
    prior_source: str | None = None
    _prior: dict[str, Predictor] | None = None
    _prior_ready: bool = False

    @property
    def benchmark(self) -> bool:
        return self.meta.get("benchmark") is not None

    def prior(self) -> dict[str, Predictor] | None:
        """Prior predictors: loaded from ``search.predictors`` or fit on the prior records."""
        if not self._prior_ready:
            search = self.config.search
            if search.predictors and not self.benchmark:
                loaded = load_prior(
                    search.predictors, self.space, self.config.data.dataset, search.surrogate
                )
                self._prior, self.prior_source = loaded.predictors, loaded.transferred_from
            elif self.prior_records:
                self._prior = fit_prior(
                    search.surrogate, self.prior_records, self.problem, self.costs, self.config.seed
                )
            elif self.transfer_records:
                assert self.transfer_costs is not None  # set with the records by prepare()
                self._prior = fit_prior(
                    search.surrogate,
                    self.transfer_records,
                    self.problem,
                    self.transfer_costs,
                    self.config.seed,
                )
                self.prior_source = self.meta.get("prior_dataset")
            if self._prior is not None and self.prior_source is not None:
                stderr_log(
                    f"transfer prior: predictors fit on {self.prior_source}, shifted and "
                    f"rescaled on this search's {self.config.data.dataset} results"
                )
            self._prior_ready = True
        return self._prior


def _checked_archive(
    path: str, config: Config, what: str, other_dataset: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The archive's meta and records; its space (and, unless ``other_dataset``, its dataset)
    must be the search's."""
    meta, records = read_archive(path)
    checks = [("space", config.space)]
    if not other_dataset:
        checks.append(("dataset", config.data.dataset))
    for key, ours in checks:
        if meta.get(key) not in (None, ours):
            raise UserError(
                f"{what} {path} holds {key} {meta.get(key)!r}, this search uses {ours!r}; "
                f"pass --{key} {meta.get(key)} or another archive"
            )
    return meta, records


def _new_meta(config: Config, benchmark: str | None) -> dict[str, Any]:
    """Header meta of a new run: which slices of which archives it uses."""
    meta: dict[str, Any] = {
        "kind": "aebnas.search",
        "dataset": config.data.dataset,
        "space": config.space,
        "strategy": config.search.strategy,
        "seed": config.seed,
        "benchmark": benchmark,
        "prior_archive": None if benchmark else config.search.archive,
    }
    if benchmark:
        meta["benchmark_rows"] = len(_checked_archive(benchmark, config, "benchmark archive")[1])
    elif config.search.archive:
        archive_meta, records = _checked_archive(
            config.search.archive, config, "archive", other_dataset=True
        )
        meta["prior_records"] = len(records)
        meta["prior_dataset"] = archive_meta.get("dataset") or config.data.dataset
    return meta


def transfer_cost_table(space_name: str, dataset: str, records: list[dict[str, Any]]) -> CostTable:
    """Static costs of another dataset's records (its resolutions, channels and classes)."""
    info = dataset_info(dataset)
    table = CostTable(
        get_space(space_name, info.resolutions), info.channels, info.num_classes or 0
    )
    table.add_records(records)
    return table


def prepare(config: Config, run_dir: Path, meta: dict[str, Any]) -> SearchSetup:
    """Resolve space, archives, problem, domain and evaluator of a run.

    Args:
        config: Effective configuration.
        run_dir: The run folder.
        meta: The run's header meta (new: from :func:`_new_meta`; resumed: read back), which
            fixes the archive slices and, once set, the problem.
    """
    info = dataset_info(config.data.dataset)
    space = get_space(config.space, info.resolutions)
    STRATEGIES.get(config.search.strategy)
    classes = info.num_classes
    evaluator: Evaluator
    prior_records: list[dict[str, Any]] = []
    reference: list[dict[str, Any]] = []
    transfer: list[dict[str, Any]] = []
    transfer_costs: CostTable | None = None
    if meta.get("benchmark"):
        bench = BenchmarkEvaluator(meta["benchmark"], space, limit=meta["benchmark_rows"])
        evaluator, reference = bench, list(bench.row_records)
    else:
        evaluator = TrainingEvaluator(config, space, run_dir / CHECKPOINTS_DIR)
        if meta.get("prior_archive"):
            _, records = _checked_archive(meta["prior_archive"], config, "archive", True)
            source = meta.get("prior_dataset", config.data.dataset)
            if source == config.data.dataset:
                prior_records = records[: meta["prior_records"]]
            else:
                transfer = records[: meta["prior_records"]]
                transfer_costs = transfer_cost_table(config.space, source, transfer)
        if classes is None:
            classes = dataset_classes(config.data.dataset)  # counted, the data is not loaded
    costs = CostTable(space, info.channels, classes or 0)
    costs.add_records(reference or prior_records)
    record_cost = None
    if config.search.objective == "latency":
        assert config.search.latency_profile is not None  # the config's cross-check
        record_cost = RecordLatency(
            config.search.latency_profile,
            space,
            info.channels,
            classes or 0,
            config.thresholds.tuner,
            rows=reference,
        )
    if "problem" in meta:
        problem = SearchProblem(**meta["problem"], record_cost=record_cost)
    else:
        problem = problem_from_config(
            config,
            reference or prior_records,
            default_ref_macs=10 * info.default_target_macs if record_cost is None else 0.0,
            record_cost=record_cost,
        )
        meta["problem"] = problem.to_meta()
    # The domain's cheap pre-filter knows MACs only; a latency cap is the acquisition's.
    mac_cap = problem.cap if problem.objective == "macs" else None
    domain: Domain
    if reference:
        domain = FixedDomain(space, bench.archs, costs, mac_cap)
    else:
        settings = PoolSettings(size=config.search.pool_size)
        domain = GeneratedDomain(space, costs, mac_cap, settings)
    return SearchSetup(
        config,
        run_dir,
        space,
        problem,
        domain,
        costs,
        evaluator,
        meta,
        prior_records,
        reference,
        transfer,
        transfer_costs,
    )


# ------------------------------------------------------------------------------ rounds
def _round_path(run_dir: Path, r: int) -> Path:
    return run_dir / ROUNDS_DIR / f"round-{r:04d}.json"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_plan(run_dir: Path, r: int) -> RoundPlan | None:
    """The saved proposals of round ``r`` (``None`` if that round was never proposed)."""
    path = _round_path(run_dir, r)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return RoundPlan([Proposal.from_json(p) for p in data["proposals"]], data.get("info", {}))


def save_plan(run_dir: Path, r: int, strategy: str, plan: RoundPlan) -> None:
    data = {
        "round": r,
        "strategy": strategy,
        "info": plan.info,
        "proposals": [p.to_json() for p in plan.proposals],
    }
    _write_atomic(_round_path(run_dir, r), json.dumps(data, indent=1) + "\n")


def round_input(setup: SearchSetup, r: int, n: int, records: list[dict[str, Any]]) -> RoundInput:
    search, info = setup.config.search, dataset_info(setup.config.data.dataset)
    return RoundInput(
        round_index=r,
        seed=setup.config.seed,
        n=n,
        problem=setup.problem,
        domain=setup.domain,
        costs=setup.costs,
        records=records,
        prior_records=setup.prior_records,
        prior=setup.prior() if not setup.benchmark else None,
        surrogate=search.surrogate,
        acquisition=search.acquisition,
        pool=PoolSettings(size=search.pool_size),
        initial=search.initial,
        reference_target=info.default_target_macs,
    )


def _log_evaluation(log: Log, setup: SearchSetup, records: list[dict[str, Any]], r: int) -> None:
    record = records[-1]
    outcome = setup.problem.outcome(record)
    hv = setup.problem.hypervolume([setup.problem.outcome(x) for x in records])
    what = (
        f"val {100 * outcome.accuracy:.2f}% at {outcome.avg_macs:.3f} {setup.problem.unit}"
        + ("" if outcome.feasible else " (over the cap)")
        if outcome
        else f"failed: {record.get('reason')}"
    )
    log(f"round {r} eval {len(records)}/{setup.config.search.budget}: {what}; hypervolume {hv:.5g}")


def run_rounds(
    setup: SearchSetup,
    archive: Archive,
    log: Log = stderr_log,
    stop: Callable[[list[dict[str, Any]]], bool] | None = None,
) -> list[dict[str, Any]]:
    """Propose and evaluate until the budget is spent (or the domain or ``stop`` ends it).

    Args:
        setup: The resolved run.
        archive: The run's open archive (records of earlier sessions included).
        log: Progress lines.
        stop: Called with the records after each evaluation; ``True`` ends the run early.

    Returns:
        The run's records in evaluation order.
    """
    search, run_dir = setup.config.search, setup.run_dir
    strategy = STRATEGIES.get(search.strategy)
    records = list(archive.records)
    r = 0
    while True:
        before = in_proposal_order(x for x in records if x["round"] < r)
        n = min(search.batch_size, search.budget - len(before))
        if n <= 0 or (stop is not None and records and stop(records)):
            return in_proposal_order(records)
        plan = load_plan(run_dir, r)
        if plan is None:
            plan = strategy(round_input(setup, r, n, before))
            save_plan(run_dir, r, search.strategy, plan)
            log(f"round {r}: proposed {len(plan.proposals)} ({_plan_summary(plan)})")
        if not plan.proposals:
            log(f"round {r}: the domain has no unevaluated candidate left; stopping")
            return in_proposal_order(records)
        done = {x["arch"] for x in records}
        todo = [(i, p) for i, p in enumerate(plan.proposals) if p.arch.canonical not in done]
        # Records are appended as they arrive (completion order with parallel workers); every
        # decision reads them back in proposal order, so the run does not depend on timing.
        for position, record in setup.evaluator.evaluate_many([p.arch for _, p in todo]):
            i, proposal = todo[position]
            record.update(round=r, index=i, strategy=search.strategy, proposal=proposal.to_json())
            archive.append(record)
            records.append(record)
            _log_evaluation(log, setup, records, r)
            if stop is not None and stop(records):
                return in_proposal_order(records)
        r += 1


def in_proposal_order(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` sorted by round, then position in the round's proposals."""
    return sorted(records, key=lambda x: (x["round"], x["index"]))


def _plan_summary(plan: RoundPlan) -> str:
    keys = ("surrogates", "pool", "allowed", "seconds")
    return ", ".join(f"{k} {plan.info[k]}" for k in keys if k in plan.info) or "no model"


# ------------------------------------------------------------------------------ entry points
@dataclass
class SearchResult:
    """What a finished (or stopped) run returns; :func:`aebnas.report.write_outputs` turns it
    into the run's outputs.

    Args:
        setup: The run's setup (config, problem, run folder, reference and prior records).
        records: The run's records in proposal order.
        seconds: Wall time of the rounds.
    """

    setup: SearchSetup
    records: list[dict[str, Any]]
    seconds: float


def start(config: Config, run_dir: Path, benchmark: str | None) -> tuple[SearchSetup, Archive]:
    """A new run in ``run_dir``: a missing or empty folder (a folder of anything else, or a
    file, is refused before anything is written; so are missing data files and saved prior
    predictors that do not load)."""
    check_output_folder(run_dir, ARCHIVE_FILE, "search run")
    if (run_dir / ARCHIVE_FILE).exists():
        raise UserError(f"{run_dir} already holds a search; continue it with --resume {run_dir}")
    meta = _new_meta(config, benchmark)
    setup = prepare(config, run_dir, meta)
    setup.evaluator.check()  # missing data files, Ray unreachable: one line, no folder yet
    if config.search.predictors and not setup.benchmark:
        setup.prior()
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_config(config, run_dir / CONFIG_FILE)
    return setup, Archive(run_dir / ARCHIVE_FILE, setup.meta)


def resume(run_dir: Path, config: Config) -> tuple[SearchSetup, Archive]:
    """Reopen the run in ``run_dir`` with its saved header meta and ``config``."""
    path = run_dir / ARCHIVE_FILE
    if not path.is_file():
        raise UserError(f"{run_dir} holds no search to resume ({ARCHIVE_FILE} is missing)")
    meta, _ = read_archive(path)
    if meta.get("kind") != "aebnas.search":
        raise UserError(f"{path} is not the archive of a search run")
    setup = prepare(config, run_dir, dict(meta))
    setup.evaluator.check()
    return setup, Archive(path, setup.meta)


def execute(
    setup: SearchSetup,
    archive: Archive,
    log: Log = stderr_log,
    stop: Callable[[list[dict[str, Any]]], bool] | None = None,
) -> SearchResult:
    """Run the rounds in the open archive (until the budget is spent or ``stop`` says so)."""
    started = time.perf_counter()
    try:
        with archive:
            records = run_rounds(setup, archive, log, stop)
    finally:
        setup.evaluator.close()
    return SearchResult(setup, records, time.perf_counter() - started)


def target_records(records: list[dict[str, Any]], fidelity: str = FULL) -> list[dict[str, Any]]:
    """Records of one fidelity (helper for reports and tests)."""
    return [r for r in records if r.get("fidelity_name") == fidelity]
