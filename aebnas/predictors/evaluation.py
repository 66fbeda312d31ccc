"""Learning-curve evaluation of predictor kinds on an archive, and its table renderings."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aebnas.predictors.base import predicts_target
from aebnas.predictors.factory import build_predictor
from aebnas.predictors.features import TARGETS, feature_names, load_training_data
from aebnas.predictors.metrics import PredictorFactory, learning_curve
from aebnas.space import get_space

#: Columns of the evaluation rows (JSON keys), in display order.
COLUMNS = (
    "model",
    "target",
    "train_size",
    "test_size",
    "kendall_tau",
    "spearman",
    "rmse",
    "mape",
    "coverage90",
    "precision_top10",
)
HEADERS = {
    "model": "model",
    "target": "target",
    "train_size": "n train",
    "test_size": "n test",
    "kendall_tau": "Kendall tau",
    "spearman": "Spearman",
    "rmse": "RMSE",
    "mape": "MAPE %",
    "coverage90": "cov. 90%",
    "precision_top10": "prec@10%",
}


def makers_for(models: Sequence[str], names: Sequence[str]) -> dict[str, PredictorFactory]:
    """Name -> factory (seed -> unfitted predictor) for each model kind."""

    def maker(model: str) -> PredictorFactory:
        return lambda seed: build_predictor(model, names, seed=seed)

    return {model: maker(model) for model in models}


def evaluate_archive(
    archive: str | Path,
    models: Sequence[str],
    targets: Sequence[str],
    train_sizes: Sequence[int],
    repeats: int = 5,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Learning curves of ``models`` on the ok records of ``archive``.

    Args:
        archive: Archive path.
        models: Predictor kinds (a kind is skipped for a target it does not predict).
        targets: ``accuracy`` and/or ``avg_macs``.
        train_sizes: Training set sizes (sizes leaving < 10 test records are skipped).
        repeats: Random train/test splits per size.
        seed: Seed of splits and predictors.
        progress: Called with a label before each fit.

    Returns:
        ``(rows, meta)``: one row per target, train size and model (keys :data:`COLUMNS` plus
        ``kendall_tau_sd`` and ``splits``), and the training data's meta.
    """
    rows: list[dict[str, Any]] = []
    meta: dict[str, Any] = {}
    for target in targets:
        data = load_training_data(archive, target)
        meta = data.meta
        names = feature_names(get_space(meta["space"]))
        usable = [m for m in models if predicts_target(m, target)]
        points = learning_curve(
            makers_for(usable, names),
            data.X,
            data.y,
            target,
            train_sizes,
            repeats=repeats,
            seed=seed,
            higher_is_better=TARGETS[target],
            progress=progress,
            usage=data.usage,
        )
        rows += [p.to_json() for p in points]
    rows.sort(key=lambda r: (targets.index(r["target"]), r["train_size"], models.index(r["model"])))
    return rows, meta


def format_value(key: str, value: Any) -> str:
    """Display text of one cell."""
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if key == "rmse":
            return f"{value:.4g}"
        if key == "mape":
            return f"{value:.2f}"
        return f"{value:.3f}"
    return str(value)


def json_safe(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with NaN floats as ``None`` (strict JSON)."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] = COLUMNS) -> str:
    """GitHub markdown table of evaluation rows."""
    lines = [
        "| " + " | ".join(HEADERS.get(c, c) for c in columns) + " |",
        "|" + "|".join("---" if c in ("model", "target") else "---:" for c in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(format_value(c, row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def rich_table(rows: Sequence[dict[str, Any]], title: str | None = None) -> Any:
    """A ``rich.table.Table`` of evaluation rows (a rule between targets/sizes)."""
    from rich.table import Table

    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(
            HEADERS[column], justify="left" if column in ("model", "target") else "right"
        )
    previous = None
    for row in rows:
        group = (row["target"], row["train_size"])
        if previous is not None and group != previous:
            table.add_section()
        previous = group
        table.add_row(*(format_value(c, row.get(c)) for c in COLUMNS))
    return table
