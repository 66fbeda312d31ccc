"""Export a checkpoint as one graph per segment plus a manifest, checked against PyTorch.

``export_checkpoint(CHECKPOINT, DIR)`` writes the graphs of
:func:`aebnas.models.segments.network_segments` (and the shortcuts of
:func:`~aebnas.models.segments.fused_segments` and
:func:`~aebnas.models.segments.network_without_exits`) in a registered format into a hidden
sibling folder, runs them on real validation images of the checkpoint's dataset, compares every
exit's logits on every path through the graphs with the PyTorch network's, and only if they agree
within the tolerance writes the manifest and moves the folder to ``DIR``. A failed check removes
the partial folder; an existing ``DIR`` is only replaced with ``force``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from aebnas import __version__
from aebnas.confidence import CONFIDENCES, Confidence
from aebnas.costs import ExitCosts, exit_costs
from aebnas.data import BatchLoader, load_dataset
from aebnas.errors import UserError
from aebnas.export.formats import EXPORT_FORMATS, SegmentFormat, SegmentRunner
from aebnas.export.manifest import (
    ExitEntry,
    ExportManifest,
    SegmentEntry,
    file_sha256,
    write_manifest,
)
from aebnas.models import CheckpointMetadata, EarlyExitNetwork, load_checkpoint
from aebnas.models.segments import (
    FUSED,
    TRUNK,
    Segment,
    fused_segments,
    network_segments,
    network_without_exits,
)

#: Images of the export check and the largest allowed absolute logit difference.
CHECK_IMAGES = 256
TOLERANCE = 1e-4
#: Images also checked one by one (the graphs' dynamic batch axis at batch 1).
SINGLE_IMAGES = 4
IMAGE_INPUT, FEATURE_INPUT, FEATURE_OUTPUT, LOGIT_OUTPUT = "image", "features", "features", "logits"
FUSED_OUTPUTS = (FEATURE_OUTPUT, LOGIT_OUTPUT, "confidence")


class ExportCheckError(UserError):
    """The exported graphs do not reproduce the PyTorch network (nothing was written)."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_checkpoint` wrote and measured.

    Args:
        folder: The export folder.
        manifest: Its manifest.
        max_abs_diff: Largest absolute difference of logits (and computed confidences) per exit
            (final last) over the check.
    """

    folder: Path
    manifest: ExportManifest
    max_abs_diff: tuple[float, ...]


@dataclass(frozen=True)
class ExportGraphs:
    """The graph files of an export (manifest entries, in the manifest's order).

    Args:
        segments: The segment chain (trunk, exit, ..., final).
        fused: Per intermediate exit, its trunk and branch as one graph.
        network: The whole network with every exit off.
    """

    segments: tuple[SegmentEntry, ...]
    fused: tuple[SegmentEntry, ...]
    network: SegmentEntry


def write_graphs(
    fmt: SegmentFormat,
    net: EarlyExitNetwork,
    example: torch.Tensor,
    folder: Path,
    confidence: str,
) -> ExportGraphs:
    """Write every graph of ``net`` (eval mode) in ``fmt`` into ``folder``.

    Args:
        fmt: The export format.
        net: The network.
        example: Images ``(B, C, R, R)`` to trace on (each segment sees the features they lead to).
        folder: Destination folder (files ``<segment name><suffix>``).
        confidence: The confidence measure the fused graphs compute.
    """
    segments = network_segments(net)
    inputs = [example]  # inputs[k]: what trunk k takes (exit k - 1 and the final: the same)
    with torch.no_grad():
        for segment in segments[:-1:2]:
            inputs.append(segment.module(inputs[-1]))
    chain = [_write(fmt, s, inputs[(i + 1) // 2], i == 0, folder) for i, s in enumerate(segments)]
    fused_chain = fused_segments(net, confidence)
    fused = [_write(fmt, s, inputs[k], k == 0, folder) for k, s in enumerate(fused_chain)]
    network = _write(fmt, network_without_exits(net), example, True, folder)
    return ExportGraphs(tuple(chain), tuple(fused), network)


@dataclass(frozen=True)
class LoadedGraphs:
    """The runners of :class:`ExportGraphs` (same order)."""

    segments: tuple[SegmentRunner, ...]
    fused: tuple[SegmentRunner, ...]
    network: SegmentRunner


def load_graphs(
    fmt: SegmentFormat,
    graphs: ExportGraphs,
    folder: Path,
    providers: Sequence[str] | None = None,
    threads: int | None = None,
) -> LoadedGraphs:
    """Runners of every graph in ``folder`` (execution ``providers``, intra-op ``threads``)."""

    def load(entry: SegmentEntry) -> SegmentRunner:
        return fmt.load(folder / entry.file, providers, threads)

    return LoadedGraphs(
        tuple(load(e) for e in graphs.segments),
        tuple(load(e) for e in graphs.fused),
        load(graphs.network),
    )


def check_images(
    metadata: CheckpointMetadata, data_root: str | Path | None, count: int = CHECK_IMAGES
) -> torch.Tensor:
    """``count`` validation images of the checkpoint's dataset, resized and normalised as the
    network expects; float32 ``(count, C, R, R)``."""
    dataset = load_dataset(metadata.dataset, data_root)
    split = dataset.resized("val", metadata.resolution, subset=count, seed=0)
    x, _ = next(iter(BatchLoader(split, metadata.mean, metadata.std, count)))
    return x


def export_network(
    net: EarlyExitNetwork,
    metadata: CheckpointMetadata,
    images: torch.Tensor,
    out: str | Path,
    *,
    export_format: str = "onnx",
    force: bool = False,
    tolerance: float = TOLERANCE,
) -> ExportResult:
    """Export ``net`` to ``out`` and check it on ``images`` (see the module docstring).

    Args:
        net: The network (put in eval mode).
        metadata: Its checkpoint metadata.
        images: Normalised check images ``(N, C, R, R)``.
        out: Destination folder.
        export_format: Name in :data:`~aebnas.export.formats.EXPORT_FORMATS`.
        force: Replace an existing ``out``.
        tolerance: Largest allowed absolute difference of any exit's logits.

    Raises:
        UserError: ``out`` exists without ``force``; unknown format.
        ExportCheckError: The graphs disagree with PyTorch beyond ``tolerance``.
    """
    out = Path(out)
    refuse_existing_folder(out, force)
    fmt = EXPORT_FORMATS.get(export_format)
    net.eval()
    _, space = metadata.architecture()
    costs = exit_costs(net.arch, space, metadata.in_channels, metadata.num_classes)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        graphs = write_graphs(fmt, net, images[:2], partial, metadata.confidence)
        runners = load_graphs(fmt, graphs, partial)
        diffs = _max_differences(net, runners, images, CONFIDENCES.get(metadata.confidence))
        worst = max(diffs)
        if not worst <= tolerance:
            k = diffs.index(worst)
            raise ExportCheckError(
                f"export check failed: exit {k} logits of the {export_format} graphs differ from "
                f"PyTorch by {worst:.3g} > {tolerance:g} on {len(images)} images; nothing was "
                "written"
            )
        check = {"split": "val", "images": len(images), "tolerance": tolerance}
        manifest = _manifest(metadata, export_format, fmt, graphs, costs, diffs, check)
        write_manifest(partial, manifest)
        _move_into_place(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return ExportResult(out, manifest, tuple(diffs))


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    *,
    export_format: str = "onnx",
    force: bool = False,
    data_root: str | Path | None = None,
    check_count: int = CHECK_IMAGES,
) -> ExportResult:
    """Load ``checkpoint`` and :func:`export_network` it, checked on ``check_count`` validation
    images of its dataset (read from ``data_root``)."""
    refuse_existing_folder(Path(out), force)
    EXPORT_FORMATS.get(export_format)
    net, metadata = load_checkpoint(checkpoint)
    x = check_images(metadata, data_root, check_count)
    return export_network(net, metadata, x, out, export_format=export_format, force=force)


def refuse_existing_folder(out: Path, force: bool) -> None:
    """Raise the one-line error for an existing ``out`` unless ``force`` (and out is a folder)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder; choose another --out")
    if out.exists() and not force:
        raise UserError(f"{out} already exists; choose another --out or pass --force to replace it")


def _write(
    fmt: SegmentFormat, segment: Segment, example: torch.Tensor, first: bool, folder: Path
) -> SegmentEntry:
    """Write one segment traced on ``example`` (``first``: it takes the image) and describe it."""
    input_name = IMAGE_INPUT if first else FEATURE_INPUT
    outputs = {TRUNK: (FEATURE_OUTPUT,), FUSED: FUSED_OUTPUTS}.get(segment.role, (LOGIT_OUTPUT,))
    path = folder / f"{segment.name}{fmt.suffix}"
    fmt.write(segment.module, example, path, input_name, outputs)
    return SegmentEntry(
        name=segment.name,
        role=segment.role,
        file=path.name,
        sha256=file_sha256(path),
        input=input_name,
        outputs=outputs,
        exit=segment.exit_index,
    )


def _path_outputs(
    runners: LoadedGraphs, x: torch.Tensor
) -> list[tuple[list[torch.Tensor], list[torch.Tensor]]]:
    """Along each path through the graphs, every exit's logits (final last) and the confidences
    the graphs computed (intermediate exits): the segment chain, the fused chain (fused graphs,
    then the final segment) and the network graph (final logits only)."""
    chain, features = [], x
    for k, run in enumerate(runners.segments):
        if k % 2 == 0 and k < len(runners.segments) - 1:
            features = run(features)
        else:
            chain.append(run(features))
    fused, confidences, features = [], [], x
    for run in runners.fused:
        features, logits, confidence = run.outputs(features)
        fused.append(logits)
        confidences.append(confidence)
    fused.append(runners.segments[-1](features))
    return [(chain, []), (fused, confidences), ([runners.network(x)], [])]


@torch.no_grad()
def _max_differences(
    net: EarlyExitNetwork, runners: LoadedGraphs, images: torch.Tensor, measure: Confidence
) -> list[float]:
    """Largest absolute difference per exit (final last) of the logits, and of the confidence
    where a graph computes it, over every path, batched and for the first
    :data:`SINGLE_IMAGES` images one by one."""
    reference = [lg.float() for lg in net(images)]
    diffs = [0.0] * len(reference)
    batches = [slice(None)] + [slice(i, i + 1) for i in range(min(SINGLE_IMAGES, len(images)))]
    for rows in batches:
        for logits, confidences in _path_outputs(runners, images[rows]):
            offset = len(reference) - len(logits)  # the network path computes the final only
            for k, got in enumerate(logits):
                diff = float((reference[offset + k][rows] - got).abs().max())
                diffs[offset + k] = max(diffs[offset + k], diff)
            for k, got in enumerate(confidences):
                diff = float((measure(reference[k][rows]) - got).abs().max())
                diffs[k] = max(diffs[k], diff)
    return diffs


def _manifest(
    metadata: CheckpointMetadata,
    export_format: str,
    fmt: SegmentFormat,
    graphs: ExportGraphs,
    costs: ExitCosts,
    diffs: Sequence[float],
    check: dict[str, Any],
) -> ExportManifest:
    active = [t is not None for t in metadata.thresholds]
    cumulative = costs.cumulative(active)
    thresholds = [*metadata.thresholds, None]
    segment_of = {e.exit: e.name for e in graphs.segments if e.exit is not None}
    exits = tuple(
        ExitEntry(
            index=k,
            position=costs.positions[k],
            segment=segment_of[k],
            threshold=thresholds[k],
            backbone_macs=costs.backbone[k],
            branch_macs=costs.branch[k],
            macs=float(cumulative[k]),
        )
        for k in range(costs.num_exits)
    )
    return ExportManifest(
        export_format=export_format,
        arch=metadata.arch,
        space=metadata.space,
        dataset=metadata.dataset,
        in_channels=metadata.in_channels,
        resolution=metadata.resolution,
        class_names=metadata.class_names,
        mean=metadata.mean,
        std=metadata.std,
        confidence=metadata.confidence,
        segments=graphs.segments,
        fused=graphs.fused,
        network=graphs.network,
        exits=exits,
        macs_no_exits=costs.backbone[-1] + costs.branch[-1],
        input_name=IMAGE_INPUT,
        verification={
            **check,
            "single_images": min(SINGLE_IMAGES, check["images"]),
            "max_abs_diff": list(diffs),
        },
        versions={"aebnas": __version__, **fmt.versions()},
    )


def _move_into_place(partial: Path, out: Path) -> None:
    """Rename ``partial`` to ``out``, replacing an existing ``out`` only after the rename is set."""
    if not out.exists():
        partial.rename(out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    out.rename(old)
    partial.rename(out)
    shutil.rmtree(old, ignore_errors=True)
