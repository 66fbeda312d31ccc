"""The manifest of an exported network: ``DIR/manifest.json``, format ``aebnas.export`` v2.

Layout (JSON object)::

    format, version             "aebnas.export", 2
    export_format               registered segment format, e.g. "onnx"
    versions                    library versions that wrote it (torch, onnx, opset, aebnas, ...)
    arch, space, dataset        canonical architecture string, space name, dataset name
    input                       {"name", "shape": [null, C, R, R], "dtype": "float32",
                                 "layout": "NCHW"}; null = any batch size
    normalisation               {"mean": [C], "std": [C], "pixel_scale": [0, 1]}: the input is
                                (pixel / 255 - mean) / std
    classes                     class names in label order
    confidence                  confidence measure of the exit policy
    segments                    in execution order: {"name", "role" (trunk|exit|final), "file",
                                "sha256", "input", "outputs" (names), "exit" (index or null)}
    fused                       per intermediate exit k, trunk k and exit k as one graph
                                (role "trunk+exit", outputs features, logits and the exit's
                                confidence), same fields
    network                     the whole network with every exit off as one graph (role
                                "network", image -> final logits), same fields
    exits                       per exit, final last: {"index", "position", "segment",
                                "threshold" (null = off; always null for the final),
                                "backbone_macs", "branch_macs", "macs"}; MMACs, "macs" = cost of
                                leaving there with the tuned thresholds (branches of exits that
                                are off are not paid)
    macs_no_exits               MMACs of the network with every exit off
    verification                what the export check measured

Reading checks the format, version, structure and the SHA-256 of every graph file, so a torn,
foreign or tampered folder is refused with one line. Version 1 (no ``fused`` and ``network``
graphs, one ``output`` per segment) is refused with the advice to re-export.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aebnas.costs import ExitCosts
from aebnas.errors import UserError
from aebnas.models.segments import EXIT, FINAL, FUSED, NETWORK, TRUNK

MANIFEST_FORMAT = "aebnas.export"
MANIFEST_VERSION = 2
MANIFEST_NAME = "manifest.json"
ROLES = (TRUNK, EXIT, FINAL)


@dataclass(frozen=True)
class SegmentEntry:
    """One graph file of the export (see the module docstring)."""

    name: str
    role: str
    file: str
    sha256: str
    input: str
    outputs: tuple[str, ...]
    exit: int | None

    def to_json(self) -> dict[str, Any]:
        return {**vars(self), "outputs": list(self.outputs)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SegmentEntry:
        return cls(
            name=str(data["name"]),
            role=str(data["role"]),
            file=str(data["file"]),
            sha256=str(data["sha256"]),
            input=str(data["input"]),
            outputs=tuple(str(o) for o in data["outputs"]),
            exit=None if data["exit"] is None else int(data["exit"]),
        )


@dataclass(frozen=True)
class ExitEntry:
    """One exit (the final head last); MACs in millions."""

    index: int
    position: int
    segment: str
    threshold: float | None
    backbone_macs: float
    branch_macs: float
    macs: float


@dataclass(frozen=True)
class ExportManifest:
    """A parsed, checked ``manifest.json`` (fields as in the module docstring)."""

    export_format: str
    arch: str
    space: str
    dataset: str
    in_channels: int
    resolution: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    confidence: str
    segments: tuple[SegmentEntry, ...]
    fused: tuple[SegmentEntry, ...]
    network: SegmentEntry
    exits: tuple[ExitEntry, ...]
    macs_no_exits: float
    input_name: str = "image"
    verification: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def thresholds(self) -> tuple[float | None, ...]:
        """Tuned threshold of each intermediate exit (``None`` = off)."""
        return tuple(e.threshold for e in self.exits[:-1])

    def costs(self) -> ExitCosts:
        """The static per-exit MAC table (for any choice of active exits)."""
        return ExitCosts(
            positions=tuple(e.position for e in self.exits),
            backbone=tuple(e.backbone_macs for e in self.exits),
            branch=tuple(e.branch_macs for e in self.exits),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "export_format": self.export_format,
            "versions": self.versions,
            "arch": self.arch,
            "space": self.space,
            "dataset": self.dataset,
            "input": {
                "name": self.input_name,
                "shape": [None, self.in_channels, self.resolution, self.resolution],
                "dtype": "float32",
                "layout": "NCHW",
            },
            "normalisation": {
                "mean": list(self.mean),
                "std": list(self.std),
                "pixel_scale": [0, 1],
            },
            "classes": list(self.class_names),
            "confidence": self.confidence,
            "segments": [s.to_json() for s in self.segments],
            "fused": [s.to_json() for s in self.fused],
            "network": self.network.to_json(),
            "exits": [vars(e) for e in self.exits],
            "macs_no_exits": self.macs_no_exits,
            "verification": self.verification,
        }

    @classmethod
    def from_json(cls, data: Any, source: str) -> ExportManifest:
        """Parse and check a manifest object.

        Raises:
            UserError: Foreign format, other version or malformed content.
        """
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise UserError(
                f"{source} is not an aebnas export manifest (no format {MANIFEST_FORMAT!r}); "
                "pass a folder written by `python -m aebnas.export`"
            )
        if data.get("version") != MANIFEST_VERSION:
            raise UserError(
                f"{source} is {MANIFEST_FORMAT} version {data.get('version')!r}; this aebnas "
                f"reads version {MANIFEST_VERSION}: re-export the checkpoint"
            )
        try:
            manifest = cls._parse(data)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise UserError(
                f"{source} is malformed ({type(err).__name__}: {err}); re-export the checkpoint"
            ) from None
        problem = manifest.inconsistency()
        if problem:
            raise UserError(f"{source} is inconsistent: {problem}; re-export the checkpoint")
        return manifest

    @classmethod
    def _parse(cls, data: dict[str, Any]) -> ExportManifest:
        shape = data["input"]["shape"]
        norm = data["normalisation"]
        return cls(
            export_format=str(data["export_format"]),
            arch=str(data["arch"]),
            space=str(data["space"]),
            dataset=str(data["dataset"]),
            in_channels=int(shape[1]),
            resolution=int(shape[2]),
            class_names=tuple(str(c) for c in data["classes"]),
            mean=tuple(float(m) for m in norm["mean"]),
            std=tuple(float(s) for s in norm["std"]),
            confidence=str(data["confidence"]),
            segments=tuple(SegmentEntry.from_json(s) for s in data["segments"]),
            fused=tuple(SegmentEntry.from_json(s) for s in data["fused"]),
            network=SegmentEntry.from_json(data["network"]),
            exits=tuple(
                ExitEntry(
                    index=int(e["index"]),
                    position=int(e["position"]),
                    segment=str(e["segment"]),
                    threshold=None if e["threshold"] is None else float(e["threshold"]),
                    backbone_macs=float(e["backbone_macs"]),
                    branch_macs=float(e["branch_macs"]),
                    macs=float(e["macs"]),
                )
                for e in data["exits"]
            ),
            macs_no_exits=float(data["macs_no_exits"]),
            input_name=str(data["input"]["name"]),
            verification=dict(data.get("verification", {})),
            versions={str(k): str(v) for k, v in data.get("versions", {}).items()},
        )

    def inconsistency(self) -> str | None:
        """What contradicts the expected segment/exit structure, or ``None``."""
        if not self.exits:
            return "it lists no exits"
        roles = [s.role for s in self.segments]
        k = len(self.exits) - 1
        expected = [TRUNK, EXIT] * k + [FINAL]
        if roles != expected:
            return f"segment roles {roles} do not match {k} intermediate exits"
        names = {s.name: s for s in self.segments}
        for e in self.exits:
            segment = names.get(e.segment)
            if segment is None or segment.exit != e.index:
                return f"exit {e.index} names segment {e.segment!r}, which does not compute it"
            if e.threshold is not None and not math.isfinite(e.threshold):
                return f"exit {e.index} has threshold {e.threshold}"
        if self.exits[-1].threshold is not None:
            return "the final exit has a threshold"
        if len(self.class_names) < 2 or not len(self.mean) == len(self.std) == self.in_channels:
            return "classes, mean/std or input channels do not fit together"
        if [(s.role, s.exit) for s in self.fused] != [(FUSED, i) for i in range(k)]:
            return f"the fused graphs do not cover the {k} intermediate exits in order"
        if (self.network.role, self.network.exit) != (NETWORK, k):
            return "the network graph is not the whole network up to the final exit"
        for s in self.graphs:
            if Path(s.file).name != s.file:
                return f"graph file {s.file!r} is not a plain file name"
        return None

    @property
    def graphs(self) -> tuple[SegmentEntry, ...]:
        """Every graph file of the export: segments, fused segments, the network."""
        return (*self.segments, *self.fused, self.network)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_manifest(folder: Path, manifest: ExportManifest) -> Path:
    """Write ``folder/manifest.json``."""
    path = folder / MANIFEST_NAME
    path.write_text(json.dumps(manifest.to_json(), indent=2) + "\n")
    return path


def read_manifest(folder: str | Path) -> ExportManifest:
    """Read and check an export folder's manifest and the hash of every graph file in it.

    Args:
        folder: A folder written by ``python -m aebnas.export``.

    Raises:
        UserError: Missing folder or manifest, foreign/other-version/malformed manifest, missing
            graph file or one whose SHA-256 differs from the manifest's.
    """
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise UserError(f"export folder {folder} does not exist; run `python -m aebnas.export`")
    if not path.is_file():
        raise UserError(
            f"{folder} has no {MANIFEST_NAME}: not an aebnas export folder (or a torn one); "
            "re-export with `python -m aebnas.export CHECKPOINT --out DIR --force`"
        )
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not valid JSON ({err}); re-export the checkpoint") from None
    manifest = ExportManifest.from_json(data, str(path))
    for segment in manifest.graphs:
        graph = folder / segment.file
        if not graph.is_file():
            raise UserError(f"{folder} lacks graph file {segment.file}; re-export the checkpoint")
        if file_sha256(graph) != segment.sha256:
            raise UserError(
                f"{graph} does not match the SHA-256 in {MANIFEST_NAME} (the file or the "
                "manifest was changed); re-export the checkpoint"
            )
    return manifest
