"""Export a checkpoint for deployment: one graph per network segment plus a manifest.

``python -m aebnas.export CHECKPOINT --format onnx --out DIR`` (see :mod:`aebnas.export.cli`);
formats are registered in :data:`EXPORT_FORMATS`; :func:`read_manifest` reads and checks a folder.
"""

from aebnas.export import onnx as _onnx  # noqa: F401  (registers the "onnx" format)
from aebnas.export.exporter import (
    CHECK_IMAGES,
    TOLERANCE,
    ExportCheckError,
    ExportGraphs,
    ExportResult,
    LoadedGraphs,
    check_images,
    export_checkpoint,
    export_network,
    load_graphs,
    write_graphs,
)
from aebnas.export.formats import EXPORT_FORMATS, SegmentFormat, SegmentRunner
from aebnas.export.manifest import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    ExitEntry,
    ExportManifest,
    SegmentEntry,
    read_manifest,
)

__all__ = [
    "CHECK_IMAGES",
    "EXPORT_FORMATS",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "TOLERANCE",
    "ExitEntry",
    "ExportCheckError",
    "ExportGraphs",
    "ExportManifest",
    "ExportResult",
    "LoadedGraphs",
    "SegmentEntry",
    "SegmentFormat",
    "SegmentRunner",
    "check_images",
    "export_checkpoint",
    "export_network",
    "load_graphs",
    "read_manifest",
    "write_graphs",
]
