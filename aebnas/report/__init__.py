"""Outputs of a search run: Pareto front (JSON, CSV), plots, report and summary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aebnas.report.front import pareto_rows, write_front_csv, write_front_json
from aebnas.report.markdown import render_report
from aebnas.report.plots import hypervolume_plot, pareto_plot
from aebnas.search.evaluator import written_checkpoints

if TYPE_CHECKING:
    from aebnas.search.loop import SearchResult, SearchSetup

__all__ = [
    "RunOutputs",
    "evaluations_to_fraction",
    "pareto_rows",
    "summarize",
    "write_front_csv",
    "write_front_json",
    "write_outputs",
]


@dataclass
class RunOutputs:
    """What :func:`write_outputs` wrote (also the ``--json`` line).

    Args:
        run_dir: The run folder.
        summary: JSON-ready summary (strategy, evaluations, hypervolume, pareto_size, ...).
        front: Pareto rows (see :mod:`aebnas.report.front`).
    """

    run_dir: Path
    summary: dict[str, Any]
    front: list[dict[str, Any]]


def evaluations_to_fraction(curve: Sequence[float], total: float, fraction: float) -> int | None:
    """Evaluations after which ``curve`` first reaches ``fraction * total`` (None: never)."""
    for i, value in enumerate(curve, start=1):
        if value >= fraction * total * (1 - 1e-12):
            return i
    return None


def summarize(
    setup: SearchSetup, records: Sequence[dict[str, Any]], seconds: float
) -> dict[str, Any]:
    """The JSON-ready summary of a run (the ``--json`` line)."""
    problem = setup.problem
    outcomes = [problem.outcome(r) for r in records]
    curve = problem.hypervolume_curve(outcomes)
    summary: dict[str, Any] = {
        "strategy": setup.config.search.strategy,
        "dataset": setup.config.data.dataset,
        "space": setup.config.space,
        "seed": setup.config.seed,
        "fidelity": setup.evaluator.fidelity_name,
        "evaluations": len(records),
        "failed": sum(o is None for o in outcomes),
        "hypervolume": curve[-1] if curve else 0.0,
        "pareto_size": int(problem.pareto_mask(outcomes).sum()),
        "hypervolume_curve": curve,
        "problem": {
            "mode": problem.mode,
            "macs": problem.macs,
            "ref_accuracy": problem.ref_accuracy,
            "ref_cost": problem.ref_cost,
        },
        "seconds": round(seconds, 3),
        "run_dir": str(setup.run_dir),
    }
    if setup.reference_records:
        true = problem.hypervolume([problem.outcome(r) for r in setup.reference_records])
        summary["true_hypervolume"] = true
        summary["hypervolume_fraction"] = summary["hypervolume"] / true if true else None
        summary["evaluations_to_95"] = evaluations_to_fraction(curve, true, 0.95)
    return summary


def _rounds(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((run_dir / "rounds").glob("round-*.json"))]


def prune_checkpoints(run_dir: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Delete checkpoints of candidates off the front (a dominated or infeasible candidate
    stays so as the run grows, so this never removes a later Pareto member's weights). Only
    files the run itself wrote (listed in ``checkpoints/written.txt``) are ever deleted."""
    keep = {Path(row["checkpoint"]).name for row in rows if row.get("checkpoint")}
    for path in written_checkpoints(run_dir / "checkpoints"):
        if path.name not in keep:
            path.unlink(missing_ok=True)


def _notes(setup: SearchSetup) -> list[str]:
    meta, notes = setup.meta, []
    if meta.get("benchmark"):
        notes.append(
            f"Benchmark mode: answers from `{meta['benchmark']}` ({meta['benchmark_rows']} rows); "
            "no network was trained."
        )
    dataset = setup.config.data.dataset
    source = meta.get("prior_dataset", dataset)
    loaded = bool(setup.config.search.predictors) and not meta.get("benchmark")
    if meta.get("prior_archive") and not (loaded and source != dataset):  # unused then
        what = "other fidelity" if source == dataset else f"transfer from {source}"
        notes.append(
            f"Prior: {meta['prior_records']} records of `{meta['prior_archive']}` ({what}) "
            "through prior predictors with an offset and scale fit on this run's results."
        )
    if loaded:
        transfer = (
            f" (fit on {setup.prior_source}: a transfer prior, shifted and rescaled on this "
            f"run's {dataset} results)"
            if setup.prior_source
            else ""
        )
        notes.append(f"Prior predictors loaded from `{setup.config.search.predictors}`{transfer}.")
    return notes


def write_outputs(result: SearchResult, plots: bool = True) -> RunOutputs:
    """Write pareto.json/csv, the plots (unless ``plots`` is false), report.md and
    summary.json into the run folder of ``result``."""
    setup, records, seconds = result.setup, result.records, result.seconds
    run_dir, problem = setup.run_dir, setup.problem
    rows = pareto_rows(records, problem)
    summary = summarize(setup, records, seconds)
    write_front_json(
        run_dir / "pareto.json",
        rows,
        {k: v for k, v in summary.items() if k != "hypervolume_curve"},
    )
    write_front_csv(run_dir / "pareto.csv", rows)
    if not setup.benchmark:
        prune_checkpoints(run_dir, rows)
    outcomes = [problem.outcome(r) for r in records]
    if plots:
        evaluated = [o for o in outcomes if o is not None]
        front = [
            o for o, on in zip(outcomes, problem.pareto_mask(outcomes), strict=True) if on and o
        ]
        prior = [o for o in (problem.outcome(r) for r in setup.prior_records) if o is not None]
        reference = [o for o in (problem.outcome(r) for r in setup.reference_records) if o]
        true_front = [
            o for o, on in zip(reference, problem.pareto_mask(reference), strict=True) if on
        ]
        title = f"{summary['strategy']}, {summary['dataset']}, seed {summary['seed']}"
        pareto_plot(run_dir / "pareto.png", problem, evaluated, front, prior, true_front, title)
        hypervolume_plot(
            run_dir / "hypervolume.png",
            summary["hypervolume_curve"],
            summary.get("true_hypervolume"),
            title,
        )
    text = render_report(
        summary, rows, _rounds(run_dir), records, outcomes, problem.describe(), _notes(setup)
    )
    (run_dir / "report.md").write_text(text)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return RunOutputs(run_dir, summary, rows)
