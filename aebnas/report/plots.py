"""Plots of a search run (matplotlib, Agg backend, PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from aebnas.search.problem import Outcome, SearchProblem

DPI = 120


def _xy(problem: SearchProblem, outcomes: Sequence[Outcome]) -> tuple[list[float], list[float]]:
    return [float(problem.cost(o.avg_macs)) for o in outcomes], [100 * o.accuracy for o in outcomes]


def pareto_plot(
    path: Path,
    problem: SearchProblem,
    evaluated: Sequence[Outcome],
    front: Sequence[Outcome],
    prior: Sequence[Outcome] = (),
    reference_front: Sequence[Outcome] = (),
    title: str = "",
) -> None:
    """Validation accuracy vs cost of every evaluated point, the run's front highlighted.

    Args:
        path: PNG to write.
        problem: Gives the cost axis (MACs or MAPE) and the cap.
        evaluated: Every evaluated candidate's operating point.
        front: The run's Pareto members.
        prior: Other-fidelity points (drawn faint, for context).
        reference_front: The benchmark archive's true front (drawn as a line).
        title: Figure title.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if prior:
        ax.scatter(*_xy(problem, prior), s=8, c="0.8", label="prior (other fidelity)")
    if reference_front:
        x, y = _xy(problem, sorted(reference_front, key=lambda o: problem.cost(o.avg_macs)))
        ax.step(x, y, where="post", c="tab:green", lw=1, ls="--", label="archive's true front")
    ax.scatter(*_xy(problem, evaluated), s=16, c="tab:blue", alpha=0.6, label="evaluated")
    if front:
        x, y = _xy(problem, sorted(front, key=lambda o: problem.cost(o.avg_macs)))
        ax.step(x, y, where="post", c="tab:red", lw=1.2)
        ax.scatter(x, y, s=36, c="tab:red", marker="D", label="Pareto front")
    if problem.cap is not None:
        ax.axvline(problem.cap, c="k", ls=":", lw=1, label=f"cap {problem.cap:g} MMACs")
    _finish(fig, ax, path, problem.cost_name, "validation accuracy (%)", title)


def hypervolume_plot(
    path: Path, curve: Sequence[float], true_hypervolume: float | None = None, title: str = ""
) -> None:
    """Hypervolume after each evaluation (and the archive's true value in benchmark mode)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(range(1, len(curve) + 1), curve, marker="o", ms=3, label="run")
    if true_hypervolume:
        ax.axhline(true_hypervolume, c="tab:green", ls="--", label="archive's true front")
        ax.axhline(0.95 * true_hypervolume, c="tab:green", ls=":", label="95%")
    _finish(fig, ax, path, "evaluations", "hypervolume", title)


def _finish(fig: Any, ax: Any, path: Path, xlabel: str, ylabel: str, title: str) -> None:
    """Label, grid and legend ``ax``, save ``fig`` to ``path`` and close it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
