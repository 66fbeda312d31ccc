"""Low- vs full-fidelity agreement: does cheap training rank candidates like full training?

    .venv/bin/python benchmarks/fidelity.py \
        [--low data/surrogates/fashion-mnist-aebnas-plus-low.jsonl] \
        [--full data/surrogates/fashion-mnist-aebnas-plus-full.jsonl] [--out FILE.md]

Pairs the architectures present (status ok) in both archives and prints, per target (tuned
validation accuracy, average MACs, final-exit accuracy), Kendall tau and Spearman rho between the
two fidelities, the mean values at each fidelity and the training time per candidate. The search
promotes only the candidates its low-fidelity-informed surrogates find promising, which pays off
only if these correlations are clearly positive.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if not __package__:  # run as a script from a checkout: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from scipy import stats

from aebnas.archive import read_archive
from aebnas.errors import UserError, run_cli

TARGETS = ("accuracy", "avg_macs", "final_accuracy")


def paired(
    low: Sequence[dict[str, Any]], full: Sequence[dict[str, Any]]
) -> list[tuple[dict, dict]]:
    """``(low record, full record)`` of every architecture ok in both archives."""
    by_arch = {r["arch"]: r for r in low if r.get("status") == "ok"}
    return [
        (by_arch[r["arch"]], r) for r in full if r.get("status") == "ok" and r["arch"] in by_arch
    ]


def agreement_rows(pairs: Sequence[tuple[dict, dict]]) -> list[dict[str, Any]]:
    """One row per target: rank correlations and means at both fidelities."""
    rows = []
    for target in TARGETS:
        low = np.asarray([a[target] for a, _ in pairs], dtype=float)
        full = np.asarray([b[target] for _, b in pairs], dtype=float)
        rows.append(
            {
                "target": target,
                "pairs": len(pairs),
                "kendall_tau": float(stats.kendalltau(low, full).statistic),
                "spearman": float(stats.spearmanr(low, full).statistic),
                "mean_low": float(low.mean()),
                "mean_full": float(full.mean()),
            }
        )
    return rows


def markdown(rows: Sequence[dict[str, Any]], pairs: Sequence[tuple[dict, dict]], what: str) -> str:
    seconds = {
        name: statistics.median(p[k]["train_seconds"] for p in pairs)
        for k, name in ((0, "low"), (1, "full"))
    }
    lines = [
        f"Fidelity check ({what}): {len(pairs)} architectures trained at both fidelities; "
        f"median training time {seconds['low']:.1f} s (low) vs {seconds['full']:.1f} s (full), "
        "as recorded when each was trained (the machine's load differed).",
        "",
        "| target | Kendall tau | Spearman | mean low | mean full |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['target']} | {r['kendall_tau']:.3f} | {r['spearman']:.3f} | "
            f"{r['mean_low']:.4g} | {r['mean_full']:.4g} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--low", default="data/surrogates/fashion-mnist-aebnas-plus-low.jsonl")
    parser.add_argument("--full", default="data/surrogates/fashion-mnist-aebnas-plus-full.jsonl")
    parser.add_argument("--out", help="also write the markdown here")
    args = parser.parse_args(argv)
    pairs = paired(read_archive(args.low)[1], read_archive(args.full)[1])
    if len(pairs) < 3:
        raise UserError(
            f"only {len(pairs)} architectures are ok in both {args.low} and {args.full}; "
            "train some with `python -m aebnas.surrogate_data --fidelity full --from-archive LOW`"
        )
    text = markdown(agreement_rows(pairs), pairs, f"{args.low} vs {args.full}")
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
