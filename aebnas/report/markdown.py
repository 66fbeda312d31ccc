"""``report.md`` of a search run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _pct(value: float | None, digits: int = 2, missing: str = "-") -> str:
    return missing if value is None else f"{100 * value:.{digits}f}"


def _num(value: float | None, digits: int = 3, missing: str = "-") -> str:
    return missing if value is None else f"{value:.{digits}f}"


def _thresholds(values: Sequence[float | None] | None) -> str:
    if values is None:
        return "-"
    return ", ".join("off" if v is None else f"{v:.3f}" for v in values)


def front_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "| # | val acc % | avg MMACs | test acc % | test MMACs | thresholds | architecture |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, row in enumerate(rows, start=1):
        lines.append(
            f"| {i} | {_pct(row['val_accuracy'])} | {_num(row['avg_macs'])} | "
            f"{_pct(row['test_accuracy'])} | {_num(row['test_avg_macs'])} | "
            f"{_thresholds(row['thresholds'])} | `{row['arch']}` |"
        )
    return lines


def exit_tables(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for i, row in enumerate(rows, start=1):
        if not row.get("exits"):
            continue
        lines += [
            f"**#{i}** `{row['hash']}`"
            + (f" checkpoint `{row['checkpoint']}`" if row.get("checkpoint") else ""),
            "",
            "| exit after stage | cumulative MMACs | util % | standalone acc % | threshold |",
            "|---|---|---|---|---|",
        ]
        final = row["exits"][-1]
        for e in row["exits"]:
            thr = _exit_threshold(e, is_final=e is final)
            lines.append(
                f"| {e['position']} | {_num(e.get('macs'), missing='n/a')} | "
                f"{_pct(e.get('util'), 1, 'n/a')} | {_pct(e.get('accuracy'), missing='n/a')} | "
                f"{thr} |"
            )
        lines.append("")
    return lines


def _exit_threshold(exit_row: dict[str, Any], is_final: bool) -> str:
    """The threshold cell: ``-`` for the final head (no threshold), ``off`` for a switched-off
    exit (its branch is then not run, so its cumulative MMACs are never paid)."""
    if is_final:
        return "-"
    threshold = exit_row.get("threshold")
    return "off" if threshold is None else f"{threshold:.4f}"


def rounds_table(rounds: Sequence[dict[str, Any]]) -> list[str]:
    lines = ["| round | proposed | surrogates | pool | proposal seconds |", "|---|---|---|---|---|"]
    for r in rounds:
        info = r.get("info", {})
        lines.append(
            f"| {r['round']} | {len(r['proposals'])} | {info.get('surrogates', 'random')} | "
            f"{info.get('pool', '-')} | {info.get('seconds', '-')} |"
        )
    return lines


def prediction_table(records: Sequence[dict[str, Any]], outcomes: Sequence[Any]) -> list[str]:
    """Predicted vs measured values of the proposals that had a prediction."""
    lines = [
        "| round | predicted acc % | measured acc % | predicted MMACs | measured MMACs |",
        "|---|---|---|---|---|",
    ]
    rows = 0
    for record, outcome in zip(records, outcomes, strict=True):
        predicted = (record.get("proposal") or {}).get("predicted")
        if not predicted or outcome is None:
            continue
        (pa, sa), (pm, sm) = predicted["accuracy"], predicted["avg_macs"]
        lines.append(
            f"| {record['round']} | {100 * pa:.2f} ± {100 * sa:.2f} | "
            f"{100 * outcome.accuracy:.2f} | {pm:.3f} ± {sm:.3f} | {outcome.avg_macs:.3f} |"
        )
        rows += 1
    return lines if rows else []


def render_report(
    summary: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    rounds: Sequence[dict[str, Any]],
    records: Sequence[dict[str, Any]],
    outcomes: Sequence[Any],
    problem_text: str,
    notes: Sequence[str],
) -> str:
    """The Markdown text of ``report.md``."""
    hv = summary["hypervolume"]
    lines = [
        f"# Search report: {summary['strategy']} on {summary['dataset']} ({summary['space']})",
        "",
        f"- Problem: {problem_text}.",
        f"- Evaluations: {summary['evaluations']} ({summary['fidelity']} fidelity, "
        f"{summary['failed']} failed), seed {summary['seed']}, {summary['seconds']:.0f} s in "
        "the last session.",
        f"- Hypervolume: {hv:.6g}"
        + (
            f" = {100 * summary['hypervolume_fraction']:.1f}% of the archive's true front "
            f"({summary['true_hypervolume']:.6g}); 95% reached after "
            f"{summary['evaluations_to_95'] or 'more than ' + str(summary['evaluations'])} "
            "evaluations"
            if summary.get("true_hypervolume")
            else ""
        )
        + ".",
        f"- Pareto front: {summary['pareto_size']} candidates (validation figures; test figures "
        "at the same thresholds, never used for any choice).",
        *[f"- {note}" for note in notes],
        "",
        "## Pareto front",
        "",
        *front_table(rows),
        "",
        "![Pareto front](pareto.png)",
        "",
        "![Hypervolume](hypervolume.png)",
        "",
    ]
    exits = exit_tables(rows)
    if exits:
        lines += ["## Per-exit tables of the front", "", *exits]
    lines += ["## Rounds", "", *rounds_table(rounds), ""]
    predictions = prediction_table(records, outcomes)
    if predictions:
        lines += ["## Surrogate predictions vs measurements", "", *predictions, ""]
    return "\n".join(lines) + "\n"
