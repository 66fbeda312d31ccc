"""Measured latency per block on this host (ONNX Runtime, batch 1), as a per-device profile.

Every piece an architecture is made of (stem, one backbone block at its input size, the final
head, one branch module, a branch classifier) is exported alone to ONNX and timed through the
same call path as the early-exit runtime (:class:`aebnas.export.onnx.OnnxSegment`, CPU provider,
``threads`` intra-op threads, inter-op 1): the median (or minimum, the profile's ``statistic``)
of ``repeats`` calls after ``warmup``.
Pieces are memoised by their genes and input size, like the MAC table of
:mod:`aebnas.costs.macs`; a profile only measures what it has not seen.

Fixed costs of the runtime are measured too: one session call of a trivial graph alone
(``call``: a piece's own latency is its measured time minus it), and, from a chain of
:data:`CHAIN` distinct tiny sessions run one after another as the runtime runs segments, the
cost of one segment call (``segment|n<classes>``) and of one exit decision on its logits
(``decision|n<classes>``: margin confidence and the threshold test); in a chain both cost more
than alone (caches and the torch code of the decision are cold). Per-exit latency
(:func:`latency_costs`, an :class:`~aebnas.costs.macs.ExitCosts` in milliseconds) then follows
the runtime's segment order:

- backbone up to exit ``i`` = its pieces + one segment call per trunk run so far;
- branch ``i`` = its pieces + one decision: the runtime runs an exit that is on in one call with
  the trunk before it (the export's fused graph); the final head = its pieces + one segment call
  (the final segment holds the last stages and the head).

(A model with every exit off runs as one call of the export's whole-network graph; the terms
count a call per trunk for it, ``K - 1`` segment calls more than the runtime makes.)

Pieces timed alone keep their weights in the caches; in the runtime a path through several
sessions does not, and the heavy late pieces (the final head) cost several times more. So the
per-exit latency is calibrated per device (:class:`Calibration`, fitted by
:mod:`aebnas.costs.calibration` on the runtime's exit paths of calibration architectures):
``scale * pieces + per_mb * MB of weights + per_segment * segment calls``, the three terms of
:func:`latency_terms`, each a sum over memoised pieces (their MB are memoised too). An
uncalibrated profile gives the pieces' term alone.

On disk (JSON, :data:`PROFILE_FORMAT` v :data:`PROFILE_VERSION`)::

    {"format": "aebnas.latency-profile", "version": 3, "device": {...},
     "settings": {"warmup": W, "repeats": R, "statistic": "median" | "min"},
     "entries": {"<piece key>": ms, ...},
     "weights": {"<piece key>": MB, ...}, "calibration": {"scale": ..., ...} | null}

A profile belongs to one device (:func:`device_fingerprint`: CPU model, intra-op threads,
ONNX Runtime version and provider, opset); another device's or another version's profile
(version 1 had no calibration; version 2 was calibrated on a runtime that called every exit
branch on its own) is refused with one line. Command line:
:mod:`aebnas.costs.latency_cli`::

    python -m aebnas.costs.latency_cli profile --out profiles/host.json [--archs 20] [--threads 1]
    python -m aebnas.costs.latency_cli show ARCH --profile profiles/host.json
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from aebnas.confidence import score_margin
from aebnas.costs.macs import ExitCosts, stage_input_sizes
from aebnas.errors import UserError
from aebnas.models.backbone import FinalHead, build_stage, build_stem, stage_in_channels
from aebnas.models.branches import BranchStage, branch_classifier
from aebnas.registry import Registry
from aebnas.space.architecture import Architecture, Block, BranchModule, Exit
from aebnas.space.spaces import BackboneSpec, SearchSpace

if TYPE_CHECKING:  # aebnas.export imports this package
    from aebnas.export.formats import SegmentRunner

PROFILE_FORMAT = "aebnas.latency-profile"
PROFILE_VERSION = 3
CALL, SEGMENT, DECISION = "call", "segment", "decision"
DEFAULT_WARMUP, DEFAULT_REPEATS = 20, 100
DEFAULT_THREADS = 1
PROVIDER = "CPUExecutionProvider"

#: How repeated timings of one call are summarised. ``median`` is robust to a few slow calls;
#: ``min`` is the least disturbed call (load only ever adds time). Measured on this VM
#: (benchmarks/results/latency_additivity.md): inside one run the minimum repeats better (2.5%
#: vs 5.8%), between runs neither repeats a whole path better than 15%.
TIMING_STATISTICS: Registry[Callable[[Sequence[float]], float]] = Registry("timing statistic")
TIMING_STATISTICS.add("median", statistics.median)
TIMING_STATISTICS.add("min", min)
DEFAULT_STATISTIC = "median"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def device_fingerprint(threads: int) -> dict[str, Any]:
    """What makes latencies of one host comparable: CPU, threads, runtime version, provider."""
    import onnxruntime as ort

    from aebnas.export.onnx import OPSET

    return {
        "cpu": cpu_model(),
        "intra_op_threads": threads,
        "onnxruntime": ort.__version__,
        "provider": PROVIDER,
        "opset": OPSET,
    }


def describe_device(device: dict[str, Any]) -> str:
    return (
        f"{device.get('cpu')}, {device.get('intra_op_threads')} thread(s), "
        f"onnxruntime {device.get('onnxruntime')}"
    )


# ------------------------------------------------------------------------------ measurement
def time_calls(
    run: Callable[[], object],
    warmup: int,
    repeats: int,
    between: Callable[[], object] | None = None,
    statistic: str = DEFAULT_STATISTIC,
) -> float:
    """Wall time of ``run()`` in milliseconds (median or ``statistic`` of ``repeats`` calls),
    after ``warmup`` untimed calls.

    Args:
        run: What is timed.
        warmup: Untimed calls first.
        repeats: Timed calls.
        between: Untimed work before each call (so ``run`` does not find the caches as it left
            them, as inside a network where other segments run in between).
        statistic: A name in :data:`TIMING_STATISTICS`.
    """
    summarise = TIMING_STATISTICS.get(statistic)
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        if between is not None:
            between()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1e3 * summarise(times)


def time_interleaved(
    runs: Sequence[Callable[[], object]],
    warmup: int,
    repeats: int,
    rounds: int = 10,
    statistic: str = DEFAULT_STATISTIC,
) -> list[float]:
    """Wall time in ms (median or ``statistic``) of each of ``runs``, timed in ``rounds``
    rounds of ``repeats // rounds`` calls each, the runs taking turns.

    On a shared machine the load drifts within seconds (measured in
    benchmarks/results/latency_additivity.md); taking turns exposes every run to the same drift,
    so their ratios stay comparable.

    Args:
        runs: What is timed.
        warmup: Untimed calls of each run first.
        repeats: Timed calls of each run in all (at least ``rounds``).
        rounds: Turns.
        statistic: A name in :data:`TIMING_STATISTICS`.
    """
    summarise = TIMING_STATISTICS.get(statistic)
    for run in runs:
        for _ in range(warmup):
            run()
    per_round = max(repeats // rounds, 1)
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for run, kept in zip(runs, times, strict=True):
            for _ in range(per_round):
                start = time.perf_counter()
                run()
                kept.append(time.perf_counter() - start)
    return [1e3 * summarise(kept) for kept in times]


#: Bytes swept between timed calls: more than a core's L2 cache, so every call starts with the
#: caches another segment left, as inside a network.
SWEEP_BYTES = 4 << 20


class CacheSweep:
    """Touches :data:`SWEEP_BYTES` of memory when called (untimed work between timed calls)."""

    def __init__(self, nbytes: int = SWEEP_BYTES) -> None:
        self.buffer = np.zeros(nbytes // 8)

    def __call__(self) -> None:
        self.buffer += 1.0


def onnx_runner(
    module: nn.Module,
    example: torch.Tensor,
    folder: Path,
    threads: int,
    outputs: Sequence[str] = ("y",),
) -> SegmentRunner:
    """``module`` exported alone to ``folder`` (its ``outputs`` named) and loaded as the runtime
    loads a segment; the runtime's batch 1 calls are its ``arrays``."""
    from aebnas.export.onnx import OnnxFormat

    fmt = OnnxFormat()
    path = folder / "piece.onnx"
    fmt.write(module, example, path, "x", outputs)
    return fmt.load(path, [PROVIDER], threads)


def measure_module(
    module: nn.Module,
    example: torch.Tensor,
    threads: int,
    warmup: int,
    repeats: int,
    statistic: str = DEFAULT_STATISTIC,
) -> float:
    """ms (``statistic`` of ``repeats`` calls) of one ONNX Runtime call of ``module`` exported
    alone, input ``example`` ``(1, C, H, W)``, caches swept before each call."""
    with tempfile.TemporaryDirectory(prefix="aebnas-latency-") as tmp:
        runner = onnx_runner(module, example, Path(tmp), threads)
        x = np.ascontiguousarray(example.numpy(), dtype=np.float32)
        return time_calls(lambda: runner.arrays(x), warmup, repeats, CacheSweep(), statistic)


#: Distinct sessions of the calibration chain of :func:`measure_chain`.
CHAIN = 6


def measure_chain(
    num_classes: int, threads: int, warmup: int, repeats: int, statistic: str = DEFAULT_STATISTIC
) -> tuple[float, float]:
    """Per-segment call and per-exit decision cost as the runtime pays them, in ms.

    A chain of :data:`CHAIN` distinct tiny sessions (``(1, classes)`` -> the same and its margin
    confidence, as a fused graph returns it) is timed as the runtime calls graphs at batch 1
    (arrays in, arrays out), as it is and with an exit decision (confidence >= threshold) on
    each output; between chains the caches are swept. Returns ``(chain / CHAIN, (with -
    without) / CHAIN)``: run one after another, calls cost more than alone.
    """
    x = torch.zeros(1, num_classes)
    a = np.zeros((1, num_classes), dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="aebnas-latency-") as tmp:
        runners = []
        for k in range(CHAIN):
            folder = Path(tmp) / str(k)
            folder.mkdir()
            link = _ChainLink(num_classes)
            runners.append(onnx_runner(link, x, folder, threads, ("y", "confidence")))

        def plain() -> None:
            for run in runners:
                run.arrays(a)

        def deciding() -> None:
            for run in runners:
                _ = float(run.arrays(a)[1][0]) >= 0.5

        sweep = CacheSweep()
        without = time_calls(plain, warmup, repeats, sweep, statistic)
        with_decisions = time_calls(deciding, warmup, repeats, sweep, statistic)
    return without / CHAIN, max(with_decisions - without, 0.0) / CHAIN


class _ChainLink(nn.Module):
    """``(1, classes) -> ((1, classes), (1,) margin confidence)``: a graph shaped like a fused
    one at its smallest."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(num_classes, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.linear(x)
        return y, score_margin(y)


# ------------------------------------------------------------------------------ piece keys
def spec_id(spec: BackboneSpec) -> str:
    """Short stable id of a backbone spec (pieces of different backbones never collide)."""
    return hashlib.sha256(repr(spec).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Piece:
    """One measurable piece: its profile key, how to build it, and its input shape."""

    key: str
    build: Callable[[], nn.Module]
    shape: tuple[int, int, int, int]


def stem_piece(spec: BackboneSpec, in_channels: int, resolution: int) -> Piece:
    return Piece(
        f"stem|{spec_id(spec)}|c{in_channels}|{resolution}",
        lambda: build_stem(in_channels, spec),
        (1, in_channels, resolution, resolution),
    )


def block_piece(spec: BackboneSpec, stage: int, first: bool, block: Block, size: int) -> Piece:
    """A stage's first block carries its stride and channel change; the others are alike."""
    channels = stage_in_channels(spec, stage) if first else spec.stage_widths[stage]

    def build() -> nn.Module:
        if first:
            return build_stage(spec, stage, (block,))
        return build_stage(spec, stage, (block, block))[1]

    where = "first" if first else "rest"
    return Piece(
        f"block|{spec_id(spec)}|s{stage}|{where}|{block}|{size}", build, (1, channels, size, size)
    )


def head_piece(spec: BackboneSpec, num_classes: int, size: int) -> Piece:
    channels = spec.stage_widths[-1]
    return Piece(
        f"head|{spec_id(spec)}|n{num_classes}|{size}",
        lambda: FinalHead(spec, num_classes),
        (1, channels, size, size),
    )


def branch_module_piece(channels: int, gene: BranchModule, size: int) -> Piece:
    return Piece(
        f"branch|c{channels}|{gene}|{size}",
        lambda: BranchStage(channels, gene),
        (1, channels, size, size),
    )


def classifier_piece(channels: int, num_classes: int, size: int) -> Piece:
    return Piece(
        f"classifier|c{channels}|n{num_classes}|{size}",
        lambda: branch_classifier(channels, num_classes),
        (1, channels, size, size),
    )


def branch_pieces(channels: int, gene: Exit, num_classes: int, size: int) -> list[Piece]:
    """The pieces of one exit branch on ``(1, channels, size, size)`` features, in order."""
    pieces = []
    for module in gene.modules:
        piece = branch_module_piece(channels, module, size)
        pieces.append(piece)
        with torch.no_grad():
            size = piece.build().eval()(torch.zeros(piece.shape)).shape[-1]
        channels *= module.width
    return [*pieces, classifier_piece(channels, num_classes, size)]


@dataclass(frozen=True)
class ArchPieces:
    """An architecture cut into pieces, grouped as :func:`latency_costs` sums them.

    Args:
        stem: The stem.
        stages: Pieces of each backbone stage, shape ``(num_stages,)`` lists.
        branches: Pieces of each intermediate exit's branch, in position order.
        head: The final head.
    """

    stem: Piece
    stages: list[list[Piece]]
    branches: list[list[Piece]]
    head: Piece

    def all(self) -> list[Piece]:
        flat = [self.stem, *(p for s in self.stages for p in s)]
        return [*flat, *(p for b in self.branches for p in b), self.head]


def arch_pieces(
    arch: Architecture, space: SearchSpace, in_channels: int, num_classes: int
) -> ArchPieces:
    """The pieces of ``arch`` at its resolution."""
    spec = space.backbone
    sizes = stage_input_sizes(spec, arch.resolution)
    stages = []
    for s, blocks in enumerate(arch.stages):
        after_first = -(-sizes[s] // spec.stage_strides[s])
        stage = [block_piece(spec, s, True, blocks[0], sizes[s])]
        stage += [block_piece(spec, s, False, b, after_first) for b in blocks[1:]]
        stages.append(stage)
    branches = [
        branch_pieces(spec.stage_widths[e.position - 1], e, num_classes, sizes[e.position])
        for e in sorted(arch.exits)
    ]
    return ArchPieces(
        stem_piece(spec, in_channels, arch.resolution),
        stages,
        branches,
        head_piece(spec, num_classes, sizes[-1]),
    )


# ------------------------------------------------------------------------------ the profile
@dataclass(frozen=True)
class Calibration:
    """How the runtime's exit paths relate to the profile's terms on one device (ms)::

        latency = scale * pieces + per_mb * megabytes + per_segment * segments

    (terms of :class:`LatencyTerms`), fitted by :func:`aebnas.costs.calibration.calibrate` on
    the measured exit paths of calibration architectures. Linear in the terms, so per-exit
    latency stays a sum over memoised pieces.

    Args:
        scale: Factor on the pieces' measured time.
        per_mb: ms per MB of weights on the path (weights read from beyond the caches).
        per_segment: ms per segment call beyond the measured call cost.
        seed: Seed the calibration architectures were sampled with.
        archs: Calibration architectures.
        paths: Exit paths measured (one per exit of each architecture).
        median_error: Median ``|fitted / measured - 1|`` over those paths.
    """

    scale: float
    per_mb: float
    per_segment: float
    seed: int
    archs: int
    paths: int
    median_error: float

    def apply(self, terms: LatencyTerms) -> ExitCosts:
        """Per-exit latency (ms) of ``terms``."""
        parts = (terms.pieces, terms.megabytes, terms.segments)
        weights = (self.scale, self.per_mb, self.per_segment)

        def combine(field_name: str) -> tuple[float, ...]:
            columns = zip(*(getattr(p, field_name) for p in parts), strict=True)
            return tuple(sum(w * v for w, v in zip(weights, col, strict=True)) for col in columns)

        return ExitCosts(terms.pieces.positions, combine("backbone"), combine("branch"))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object, path: Path) -> Calibration:
        """Read what :meth:`to_json` wrote.

        Raises:
            UserError: Missing or non-numeric fields, or negative coefficients.
        """
        names = [f.name for f in fields(cls)]
        if not isinstance(data, dict) or set(data) != set(names):
            raise UserError(f"latency profile {path} has a malformed calibration; measure it again")
        if not all(isinstance(data[n], int | float) and data[n] >= 0 for n in names):
            raise UserError(f"latency profile {path} has a negative or non-numeric calibration")
        return cls(
            scale=float(data["scale"]),
            per_mb=float(data["per_mb"]),
            per_segment=float(data["per_segment"]),
            seed=int(data["seed"]),
            archs=int(data["archs"]),
            paths=int(data["paths"]),
            median_error=float(data["median_error"]),
        )


@dataclass
class LatencyProfile:
    """Measured milliseconds per piece on one device (see the module docstring).

    Args:
        device: :func:`device_fingerprint` of the host that measured it.
        warmup: Untimed calls before each measurement.
        repeats: Timed calls per measurement.
        entries: Piece key -> ms of one call, summarised by ``statistic`` (and ``call``,
            ``segment|n<classes>``, ``decision|n<classes>``).
        weights: Piece key -> MB of its parameters (float32), what a call reads from memory.
        calibration: How whole paths of the runtime relate to the pieces on this device
            (:mod:`aebnas.costs.calibration`); ``None``: the pieces' sum as measured.
        statistic: How repeated calls are summarised (a name in :data:`TIMING_STATISTICS`);
            the calibration's runtime paths are summarised the same way.
    """

    device: dict[str, Any]
    warmup: int = DEFAULT_WARMUP
    repeats: int = DEFAULT_REPEATS
    entries: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    calibration: Calibration | None = None
    statistic: str = DEFAULT_STATISTIC

    @classmethod
    def for_host(
        cls,
        threads: int = DEFAULT_THREADS,
        warmup: int = DEFAULT_WARMUP,
        repeats: int = 100,
        statistic: str = DEFAULT_STATISTIC,
    ) -> LatencyProfile:
        """An empty profile of this host."""
        if threads < 1 or warmup < 0 or repeats < 1:
            raise UserError(
                f"threads and repeats must be >= 1 and warmup >= 0, got {threads}, {repeats}, "
                f"{warmup}"
            )
        TIMING_STATISTICS.get(statistic)
        return cls(device_fingerprint(threads), warmup, repeats, statistic=statistic)

    @property
    def threads(self) -> int:
        return int(self.device["intra_op_threads"])

    def measured(self, piece: Piece) -> float:
        """ms of one call of ``piece`` (measured now if not in the profile)."""
        if piece.key not in self.entries:
            self.entries[piece.key] = measure_module(
                piece.build(),
                torch.zeros(piece.shape),
                self.threads,
                self.warmup,
                self.repeats,
                self.statistic,
            )
        return self.entries[piece.key]

    @property
    def call(self) -> float:
        """ms of one session call of a trivial graph (the runtime's per-segment overhead)."""
        if CALL not in self.entries:
            self.entries[CALL] = measure_module(
                nn.ReLU(),
                torch.zeros(1, 1, 1, 1),
                self.threads,
                self.warmup,
                self.repeats,
                self.statistic,
            )
        return self.entries[CALL]

    def _chain(self, num_classes: int) -> tuple[float, float]:
        keys = (f"{SEGMENT}|n{num_classes}", f"{DECISION}|n{num_classes}")
        if not all(k in self.entries for k in keys):
            values = measure_chain(
                num_classes, self.threads, self.warmup, self.repeats, self.statistic
            )
            self.entries.update(zip(keys, values, strict=True))
        return self.entries[keys[0]], self.entries[keys[1]]

    def segment(self, num_classes: int) -> float:
        """ms the runtime pays per segment it calls (session call, in a chain of them)."""
        return self._chain(num_classes)[0]

    def decision(self, num_classes: int) -> float:
        """ms of one exit decision on ``(1, num_classes)`` logits, in a chain of calls."""
        return self._chain(num_classes)[1]

    def own(self, pieces: Sequence[Piece]) -> float:
        """ms of ``pieces`` run inside one segment: their times minus their call overheads."""
        call = self.call
        return sum(max(self.measured(p) - call, 0.0) for p in pieces)

    def megabytes(self, pieces: Sequence[Piece]) -> float:
        """MB of the parameters of ``pieces`` (float32; counted once per piece key)."""
        for p in pieces:
            if p.key not in self.weights:
                self.weights[p.key] = 4e-6 * sum(t.numel() for t in p.build().parameters())
        return sum(self.weights[p.key] for p in pieces)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "device": self.device,
            "settings": {
                "warmup": self.warmup, "repeats": self.repeats, "statistic": self.statistic
            },
            "entries": dict(sorted(self.entries.items())),
            "weights": dict(sorted(self.weights.items())),
            "calibration": None if self.calibration is None else self.calibration.to_json(),
        }

    def save(self, path: str | Path) -> None:
        """Write atomically (a kill never leaves a torn profile)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def load_profile(path: str | Path, threads: int | None = None) -> LatencyProfile:
    """Read a profile measured on this host.

    Args:
        path: The JSON file.
        threads: Intra-op threads it must have been measured with (``None``: its own).

    Raises:
        UserError: Missing/unreadable file, another format or version, or another device.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(
            f"cannot read latency profile {path} ({type(err).__name__}); measure one with "
            "python -m aebnas.costs.latency_cli profile --out PATH"
        ) from None
    if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
        raise UserError(f"{path} is not an aebnas latency profile (no format {PROFILE_FORMAT!r})")
    if data.get("version") != PROFILE_VERSION:
        raise UserError(
            f"latency profile {path} has version {data.get('version')!r}, this aebnas reads "
            f"version {PROFILE_VERSION}; measure it again with python -m aebnas.costs.latency_cli"
        )
    device = data.get("device")
    entries = data.get("entries")
    settings = data.get("settings") or {}
    if not isinstance(device, dict) or not isinstance(entries, dict):
        raise UserError(f"latency profile {path} lacks its device or entries; measure it again")
    if not all(isinstance(v, int | float) and v >= 0 for v in entries.values()):
        raise UserError(f"latency profile {path} holds a non-numeric or negative entry")
    wanted = threads if threads is not None else device.get("intra_op_threads")
    here = device_fingerprint(wanted if isinstance(wanted, int) else 0)
    if device != here:
        raise UserError(
            f"latency profile {path} was measured on another device ({describe_device(device)}); "
            f"this host is {describe_device(here)}: measure one here with "
            "python -m aebnas.costs.latency_cli profile --out PATH"
        )
    weights = data.get("weights") or {}
    if not isinstance(weights, dict) or not all(
        isinstance(v, int | float) and v >= 0 for v in weights.values()
    ):
        raise UserError(f"latency profile {path} holds a non-numeric or negative weight entry")
    calibration = data.get("calibration")
    statistic = settings.get("statistic", DEFAULT_STATISTIC)
    if statistic not in TIMING_STATISTICS:
        raise UserError(
            f"latency profile {path} was summarised by an unknown statistic {statistic!r}; "
            "measure it again with python -m aebnas.costs.latency_cli profile"
        )
    return LatencyProfile(
        device,
        int(settings.get("warmup", DEFAULT_WARMUP)),
        int(settings.get("repeats", DEFAULT_REPEATS)),
        {k: float(v) for k, v in entries.items()},
        {k: float(v) for k, v in weights.items()},
        None if calibration is None else Calibration.from_json(calibration, path),
        str(statistic),
    )


@dataclass(frozen=True)
class LatencyTerms:
    """The additive terms of an architecture's per-exit latency, each with the structure of
    :class:`ExitCosts` (so ``.cumulative()`` gives the term of every exit path):

    Args:
        pieces: ms as the profile measured it: the pieces' own time, one segment call per
            segment run and one decision per exit passed.
        megabytes: MB of parameters on the path (the weights a call reads).
        segments: Segment calls on the path.
    """

    pieces: ExitCosts
    megabytes: ExitCosts
    segments: ExitCosts


def latency_terms(
    arch: Architecture,
    space: SearchSpace,
    in_channels: int,
    num_classes: int,
    profile: LatencyProfile,
) -> LatencyTerms:
    """The :class:`LatencyTerms` of ``arch`` (pieces missing from ``profile`` are measured and
    added to it), following the runtime's segment order (see the module docstring)."""
    pieces = arch_pieces(arch, space, in_channels, num_classes)
    positions = (*arch.exit_positions, space.backbone.num_stages)
    k = len(positions)
    calls = [min(i + 1, k - 1) for i in range(k)]

    def term(
        measure: Callable[[Sequence[Piece]], float], call: float, decision: float
    ) -> ExitCosts:
        so_far = [measure([pieces.stem])]
        for stage in pieces.stages:
            so_far.append(so_far[-1] + measure(stage))
        backbone = [so_far[p] + n * call for p, n in zip(positions, calls, strict=True)]
        branch = [measure(b) + decision for b in pieces.branches]  # fused with its trunk
        branch.append(measure([pieces.head]) + call)
        return ExitCosts(positions=positions, backbone=tuple(backbone), branch=tuple(branch))

    return LatencyTerms(
        pieces=term(profile.own, profile.segment(num_classes), profile.decision(num_classes)),
        megabytes=term(profile.megabytes, 0.0, 0.0),
        segments=term(lambda _: 0.0, 1.0, 0.0),
    )


def latency_costs(
    arch: Architecture,
    space: SearchSpace,
    in_channels: int,
    num_classes: int,
    profile: LatencyProfile,
) -> ExitCosts:
    """Per-exit latency of ``arch`` at batch 1, in **milliseconds** (structure of
    :class:`ExitCosts`): the profile's calibration applied to :func:`latency_terms` (an
    uncalibrated profile: the pieces' term alone). Pieces missing from ``profile`` are
    measured and added to it."""
    terms = latency_terms(arch, space, in_channels, num_classes, profile)
    if profile.calibration is None:
        return terms.pieces
    return profile.calibration.apply(terms)
