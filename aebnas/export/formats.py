"""Registered export formats: how one network segment is written to a file and run again.

A format turns a segment module into a file (:meth:`SegmentFormat.write`) and a file back into a
:class:`SegmentRunner` (:meth:`SegmentFormat.load`), which both the export check and the runtime
use. Formats are looked up by name in :data:`EXPORT_FORMATS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from aebnas.registry import Registry


class SegmentRunner(Protocol):
    """Runs one exported graph on CPU float32 tensors."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, ...) -> (N, ...)``: the graph's only output."""
        ...

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(N, ...) ->`` every output of the graph, in the order they were written."""
        ...

    def arrays(self, x: np.ndarray) -> Sequence[np.ndarray]:
        """:meth:`outputs` on a C-contiguous float32 array, as arrays (the runtime's batch-1
        path: no tensor conversions)."""
        ...


class SegmentFormat(Protocol):
    """One export format (e.g. ONNX)."""

    #: File name suffix of a segment, e.g. ``".onnx"``.
    suffix: str

    def write(
        self,
        module: nn.Module,
        example: torch.Tensor,
        path: Path,
        input_name: str,
        output_names: Sequence[str],
    ) -> None:
        """Write ``module`` (eval mode) traced on ``example`` ``(B, ...)`` to ``path``, its outputs
        named ``output_names`` (one per output of the module); the batch dimension stays
        dynamic."""
        ...

    def load(
        self, path: Path, providers: Sequence[str] | None = None, threads: int | None = None
    ) -> SegmentRunner:
        """A runner of the file at ``path`` on the given execution providers and threads."""
        ...

    def versions(self) -> dict[str, str]:
        """Versions of the libraries that write and run the format (for the manifest)."""
        ...


EXPORT_FORMATS: Registry[SegmentFormat] = Registry("export format")
