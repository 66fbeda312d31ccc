"""The Pareto front of a search run as rows, JSON and CSV.

A row per non-dominated feasible candidate, sorted by average MACs: architecture string, hash,
round, thresholds (one per intermediate exit, ``None`` = off), validation accuracy and average
MACs at those thresholds, test accuracy and average MACs (real runs), the per-exit table
(position, cumulative MMACs, fraction of samples leaving there, standalone accuracy, threshold)
and the checkpoint path (real runs).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aebnas.search.problem import Outcome, SearchProblem

CSV_COLUMNS = (
    "arch",
    "hash",
    "round",
    "val_accuracy",
    "avg_macs",
    "test_accuracy",
    "test_avg_macs",
    "thresholds",
    "exits",
    "checkpoint",
    "cost_unit",
)


def _exits(record: dict[str, Any], outcome: Outcome) -> list[dict[str, Any]] | None:
    """The record's per-exit table when it describes ``outcome``'s thresholds, else None (an
    operating point re-read from the curve has no stored per-exit utilisation)."""
    exits = record.get("exits")
    if not exits or [e["threshold"] for e in exits[:-1]] != outcome.thresholds:
        return None
    return exits


def front_row(record: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
    """One Pareto row (see the module docstring)."""
    test = record.get("test") or {}
    same_point = _exits(record, outcome) is not None
    return {
        "arch": record["arch"],
        "hash": record["hash"],
        "round": record.get("round"),
        "val_accuracy": outcome.accuracy,
        "avg_macs": outcome.avg_macs,
        "test_accuracy": test.get("accuracy") if same_point else None,
        "test_avg_macs": test.get("avg_macs") if same_point else None,
        "thresholds": outcome.thresholds,
        "exits": _exits(record, outcome),
        "checkpoint": record.get("checkpoint"),
        "fidelity_name": record.get("fidelity_name"),
    }


def pareto_rows(records: Sequence[dict[str, Any]], problem: SearchProblem) -> list[dict[str, Any]]:
    """Rows of the feasible non-dominated records, sorted by average MACs."""
    outcomes = [problem.outcome(r) for r in records]
    mask = problem.pareto_mask(outcomes)
    rows = [front_row(r, o) for r, o, on in zip(records, outcomes, mask, strict=True) if on and o]
    if problem.objective == "latency":  # avg_macs holds ms; the test MACs are another unit
        for row in rows:
            row.update(cost_unit="ms", test_avg_macs=None)
    return sorted(rows, key=lambda row: (row["avg_macs"], -row["val_accuracy"]))


def write_front_json(path: Path, rows: Sequence[dict[str, Any]], meta: dict[str, Any]) -> None:
    """``{"meta": ..., "front": rows}`` as indented JSON."""
    path.write_text(json.dumps({"meta": meta, "front": list(rows)}, indent=2) + "\n")


def write_front_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """One CSV line per row; thresholds and exits as JSON strings."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            out = dict(row)
            out["thresholds"] = json.dumps(row["thresholds"])
            out["exits"] = json.dumps(row["exits"])
            writer.writerow(out)
