"""Per-device calibration of the latency profile against the early-exit runtime's exit paths.

Pieces timed alone (:mod:`aebnas.costs.latency`) find their weights in the caches; inside the
runtime, a path through several ONNX Runtime sessions (each with its own weights and arena)
touches more memory than the caches keep, so the late, heavy pieces (the final head's 960->1280
1x1 convolution alone holds 4.9 MB of weights, read once per call at batch 1) pay for reading
their weights from memory: the final head costs several times more after a cache sweep than
timed alone (measured in benchmarks/results/latency_additivity.md).

The calibration fits, by non-negative least squares on relative errors, the measured latency of
every exit path (every input leaving at exit ``i``, batch 1) of ``archs`` calibration
architectures (random weights, their own ``seed``) as a linear function of the path's
:class:`~aebnas.costs.latency.LatencyTerms`: its pieces' measured time, the MB of weights it
reads and its segment calls. The result is stored in the profile (:class:`Calibration`).
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import nnls

from aebnas.costs import exit_costs
from aebnas.costs.latency import (
    DEFAULT_STATISTIC,
    Calibration,
    LatencyProfile,
    latency_terms,
    time_interleaved,
)
from aebnas.export import write_graphs
from aebnas.export.onnx import OnnxFormat
from aebnas.models import EarlyExitNetwork
from aebnas.runtime.backends import graphs_runtime
from aebnas.runtime.engine import EarlyExitRuntime, ModelCard
from aebnas.space import Architecture, SearchSpace, sample_architectures

DEFAULT_CALIBRATION_ARCHS, DEFAULT_CALIBRATION_SEED = 12, 1000
WARMUP = 20
#: Confidence of the calibration networks: margin never reaches a threshold of 1.0.
CALIBRATION_CONFIDENCE = "margin"


def exported_runtime(
    arch: Architecture,
    space: SearchSpace,
    channels: int,
    classes: int,
    folder: Path,
    threads: int,
) -> EarlyExitRuntime:
    """The network of ``arch`` (seeded random weights: latency does not depend on them)
    exported to ``folder`` as an export writes it, in the :class:`EarlyExitRuntime` that runs an
    export, with every exit at threshold 1.0 (margin confidence: nothing leaves early)."""
    with torch.random.fork_rng():  # seeded weights without touching the caller's generator
        torch.manual_seed(0)
        net = EarlyExitNetwork(arch, space, channels, classes).eval()
    fmt = OnnxFormat()
    x = torch.zeros(1, channels, arch.resolution, arch.resolution)
    graphs = write_graphs(fmt, net, x, folder, CALIBRATION_CONFIDENCE)
    card = ModelCard(
        arch=arch.canonical,
        dataset="none",
        in_channels=channels,
        resolution=arch.resolution,
        mean=(0.0,) * channels,
        std=(1.0,) * channels,
        class_names=tuple(str(c) for c in range(classes)),
        confidence=CALIBRATION_CONFIDENCE,
        thresholds=(1.0,) * len(arch.exit_positions),
        costs=exit_costs(arch, space, channels, classes),
    )
    return graphs_runtime(fmt, graphs, folder, card, None, threads)


def leaving_at(runtime: EarlyExitRuntime, exit_index: int) -> EarlyExitRuntime:
    """``runtime`` with every input leaving at ``exit_index`` (threshold 0 there, 1.0 before;
    the final exit: 1.0 everywhere)."""
    k = runtime.card.num_exits
    thresholds: list[float | None] = [1.0] * (k - 1)
    if exit_index < k - 1:
        thresholds[exit_index] = 0.0
    return runtime.with_thresholds(thresholds)


def measure_exit_paths(
    runtime: EarlyExitRuntime, x: torch.Tensor, repeats: int, statistic: str = DEFAULT_STATISTIC
) -> list[float]:
    """ms (median or ``statistic``) of :meth:`EarlyExitRuntime.predict` on ``x`` ``(1, C, R, R)``
    with the input leaving at each exit, ``(K,)`` (the exits timed by turns,
    :func:`time_interleaved`).

    Raises:
        RuntimeError: The input did not leave where it should (a random network whose margin
            reached 1.0).
    """
    paths = [leaving_at(runtime, k) for k in range(runtime.card.num_exits)]
    for k, path in enumerate(paths):
        _, taken = path.predict(x)
        if int(taken[0]) != k:
            raise RuntimeError(f"input left at exit {int(taken[0])}, expected {k}")
    runs = [partial(p.predict, x) for p in paths]
    return time_interleaved(runs, WARMUP, repeats, statistic=statistic)


@dataclass(frozen=True)
class PathSample:
    """One measured exit path: its terms (pieces ms, MB, segments) and its measured ms."""

    terms: tuple[float, float, float]
    measured: float


def sample_paths(
    arch: Architecture,
    space: SearchSpace,
    channels: int,
    classes: int,
    profile: LatencyProfile,
    repeats: int,
) -> list[PathSample]:
    """Every exit path of ``arch``: its :class:`LatencyTerms` and its runtime latency."""
    terms = latency_terms(arch, space, channels, classes, profile)
    columns = [t.cumulative() for t in (terms.pieces, terms.megabytes, terms.segments)]
    with tempfile.TemporaryDirectory(prefix="aebnas-calibration-") as tmp:
        runtime = exported_runtime(arch, space, channels, classes, Path(tmp), profile.threads)
        x = torch.randn(1, channels, arch.resolution, arch.resolution)
        measured = measure_exit_paths(runtime, x, repeats, profile.statistic)
    return [
        PathSample((float(p), float(m), float(s)), t)
        for p, m, s, t in zip(*columns, measured, strict=True)
    ]


def fit(
    samples: list[PathSample], seed: int, archs: int, fixed_scale: float | None = None
) -> Calibration:
    """Non-negative least squares on relative errors: minimise
    ``sum(((a, b, c) . terms / measured - 1)^2)`` over the paths.

    Args:
        samples: Measured exit paths.
        seed: Seed their architectures were sampled with (recorded).
        archs: How many architectures they come from (recorded).
        fixed_scale: Keep the pieces' factor ``a`` at this value and fit only ``b`` and ``c``
            (``None``: fit all three).
    """
    terms = np.array([s.terms for s in samples], dtype=float)
    measured = np.array([s.measured for s in samples], dtype=float)
    relative = terms / measured[:, None]
    if fixed_scale is None:
        coef, _ = nnls(relative, np.ones(len(samples)))
    else:
        rest, _ = nnls(relative[:, 1:], 1.0 - fixed_scale * relative[:, 0])
        coef = np.concatenate([[fixed_scale], rest])
    errors = np.abs(terms @ coef / measured - 1.0)
    return Calibration(
        scale=float(coef[0]),
        per_mb=float(coef[1]),
        per_segment=float(coef[2]),
        seed=seed,
        archs=archs,
        paths=len(samples),
        median_error=float(statistics.median(errors)),
    )


def calibration_samples(
    profile: LatencyProfile,
    space: SearchSpace,
    channels: int,
    classes: int,
    archs: int = DEFAULT_CALIBRATION_ARCHS,
    seed: int = DEFAULT_CALIBRATION_SEED,
    repeats: int = 200,
    exclude: frozenset[str] = frozenset(),
) -> list[PathSample]:
    """Every exit path of ``archs`` architectures sampled with ``seed`` (none of ``exclude``,
    canonical strings), measured in the runtime."""
    candidates = sample_architectures(space, archs + len(exclude), seed)
    chosen = [a for a in candidates if a.canonical not in exclude][:archs]
    return [
        s for arch in chosen for s in sample_paths(arch, space, channels, classes, profile, repeats)
    ]


def calibrate(
    profile: LatencyProfile,
    space: SearchSpace,
    channels: int,
    classes: int,
    archs: int = DEFAULT_CALIBRATION_ARCHS,
    seed: int = DEFAULT_CALIBRATION_SEED,
    repeats: int = 200,
    exclude: frozenset[str] = frozenset(),
) -> Calibration:
    """Fit :class:`Calibration` on :func:`calibration_samples`, store it in ``profile`` and
    return it."""
    samples = calibration_samples(profile, space, channels, classes, archs, seed, repeats, exclude)
    profile.calibration = fit(samples, seed, archs)
    return profile.calibration
