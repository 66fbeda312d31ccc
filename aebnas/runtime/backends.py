"""Registered runtime backends: what turns a saved model into an :class:`EarlyExitRuntime`.

- ``onnx``: an export folder (``python -m aebnas.export``), each graph an ONNX Runtime session
  (CPU provider by default, any available provider selectable), the fused and whole-network
  graphs as the runtime's :class:`~aebnas.runtime.engine.Shortcuts`;
- ``torch``: a checkpoint (``.safetensors``), each segment the PyTorch module of the network.

``open_runtime(path)`` picks ``onnx`` for a folder and ``torch`` for a file unless told.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from aebnas.costs import exit_costs
from aebnas.errors import UserError
from aebnas.export import (
    EXPORT_FORMATS,
    ExportGraphs,
    SegmentEntry,
    SegmentFormat,
    SegmentRunner,
    load_graphs,
    read_manifest,
)
from aebnas.models import load_checkpoint
from aebnas.models.segments import network_segments
from aebnas.registry import Registry
from aebnas.runtime.engine import EarlyExitRuntime, ModelCard, RuntimeSegment, Shortcuts

Backend = Callable[[Path, Sequence[str] | None, int | None], EarlyExitRuntime]
"""``(path, providers, threads) -> runtime``; ``threads=None`` keeps the library default."""

BACKENDS: Registry[Backend] = Registry("runtime backend")


@BACKENDS.register("onnx")
def open_export(
    folder: Path, providers: Sequence[str] | None = None, threads: int | None = None
) -> EarlyExitRuntime:
    """A runtime over an export folder (manifest and graph hashes checked first)."""
    manifest = read_manifest(folder)
    card = ModelCard(
        arch=manifest.arch,
        dataset=manifest.dataset,
        in_channels=manifest.in_channels,
        resolution=manifest.resolution,
        mean=manifest.mean,
        std=manifest.std,
        class_names=manifest.class_names,
        confidence=manifest.confidence,
        thresholds=manifest.thresholds,
        costs=manifest.costs(),
    )
    graphs = ExportGraphs(manifest.segments, manifest.fused, manifest.network)
    fmt = EXPORT_FORMATS.get(manifest.export_format)
    return graphs_runtime(fmt, graphs, folder, card, providers, threads)


def graphs_runtime(
    fmt: SegmentFormat,
    graphs: ExportGraphs,
    folder: Path,
    card: ModelCard,
    providers: Sequence[str] | None = None,
    threads: int | None = None,
) -> EarlyExitRuntime:
    """A runtime over the graph files ``graphs`` in ``folder``, fused and whole-network graphs
    included (execution ``providers``, ``threads`` intra-op threads; ``None``: the default)."""
    loaded = load_graphs(fmt, graphs, folder, providers, threads)

    def segment(
        entry: SegmentEntry, runner: SegmentRunner, tensors: Callable[..., Any]
    ) -> RuntimeSegment:
        return RuntimeSegment(entry.name, entry.role, tensors, entry.exit, runner.arrays)

    pairs = zip(graphs.segments, loaded.segments, strict=True)
    segments = [segment(entry, run, run) for entry, run in pairs]
    pairs = zip(graphs.fused, loaded.fused, strict=True)
    fused = tuple(segment(entry, run, run.outputs) for entry, run in pairs)
    shortcuts = Shortcuts(fused, segment(graphs.network, loaded.network, loaded.network))
    settings: dict[str, object] = {
        "providers": list(providers or ["CPUExecutionProvider"]),
        "intra_op_threads": threads if threads is not None else "default",
        "inter_op_threads": 1,
    }
    return EarlyExitRuntime(segments, card, "onnx", settings, shortcuts)


@BACKENDS.register("torch")
def open_checkpoint(
    path: Path, providers: Sequence[str] | None = None, threads: int | None = None
) -> EarlyExitRuntime:
    """A runtime over a checkpoint's PyTorch modules (CPU; ``threads`` sets torch's pool)."""
    if providers:
        raise UserError("--provider is for the onnx backend; the torch backend runs on the CPU")
    net, metadata = load_checkpoint(path)
    _, space = metadata.architecture()
    if threads is not None:
        torch.set_num_threads(threads)
    card = ModelCard(
        arch=metadata.arch,
        dataset=metadata.dataset,
        in_channels=metadata.in_channels,
        resolution=metadata.resolution,
        mean=metadata.mean,
        std=metadata.std,
        class_names=metadata.class_names,
        confidence=metadata.confidence,
        thresholds=metadata.thresholds,
        costs=exit_costs(net.arch, space, metadata.in_channels, metadata.num_classes),
    )
    segments = [
        RuntimeSegment(s.name, s.role, s.module, s.exit_index) for s in network_segments(net)
    ]
    settings: dict[str, object] = {"intra_op_threads": torch.get_num_threads()}
    return EarlyExitRuntime(segments, card, "torch", settings)


def open_runtime(
    path: str | Path,
    backend: str | None = None,
    providers: Sequence[str] | None = None,
    threads: int | None = None,
) -> EarlyExitRuntime:
    """Open ``path`` with ``backend`` (default: ``onnx`` for a folder, ``torch`` for a file).

    Raises:
        UserError: Unknown backend, or a bad folder/checkpoint (one line naming the problem).
    """
    path = Path(path)
    name = backend or ("onnx" if path.is_dir() else "torch")
    return BACKENDS.get(name)(path, providers, threads)
