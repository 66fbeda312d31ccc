"""ONNX export of network segments (``torch.onnx.export``) and their ONNX Runtime sessions.

Exporter choice: the TorchScript-based exporter (``dynamo=False``). Tried with torch 2.14.1 on
one trunk and one branch segment: both exporters give graphs equal to PyTorch within float
rounding, but the ``torch.export``-based one needs the extra ``onnxscript`` package, was many
times slower per segment, and, running the Python code of the network on fake tensors, left fake
tensors in the ``functools.cache`` of the branches' bicubic matrices (the next eager forward then
failed). The traced graphs are fixed to the export resolution: :class:`TrimmedConv2d` crops its
kernels and :class:`BicubicResize` builds its matrices from the input's spatial size at trace time,
which is exactly the deployed shape; only the batch dimension is dynamic.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from aebnas.errors import UserError
from aebnas.export.formats import EXPORT_FORMATS, SegmentRunner
from aebnas.versions import package_versions

OPSET = 17
BATCH_AXIS = "batch"
DEFAULT_PROVIDER = "CPUExecutionProvider"


class OnnxFormat:
    """Segments as ONNX graphs (opset :data:`OPSET`), run by ONNX Runtime."""

    suffix = ".onnx"

    def write(
        self,
        module: nn.Module,
        example: torch.Tensor,
        path: Path,
        input_name: str,
        output_names: Sequence[str],
    ) -> None:
        """Trace ``module`` on ``example`` ``(B, C, H, W)`` and write the graph to ``path``."""
        module.eval()
        with warnings.catch_warnings(), torch.no_grad():
            # The legacy exporter's deprecation notice, and the tracer's note that the kernel
            # crops and resize matrices are fixed to the traced (deployed) shape.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # Kernel crops of trimmed convolutions stay Slice nodes; ONNX Runtime folds them.
            warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
            torch.onnx.export(
                module,
                (example,),
                str(path),
                dynamo=False,
                input_names=[input_name],
                output_names=list(output_names),
                dynamic_axes={name: {0: BATCH_AXIS} for name in (input_name, *output_names)},
                opset_version=OPSET,
                do_constant_folding=True,
            )

    def load(
        self, path: Path, providers: Sequence[str] | None = None, threads: int | None = None
    ) -> SegmentRunner:
        return OnnxSegment(onnx_session(path, providers, threads))

    def versions(self) -> dict[str, str]:
        return {**package_versions(["torch", "onnx", "onnxruntime"]), "opset": str(OPSET)}


def check_providers(providers: Sequence[str]) -> list[str]:
    """``providers`` if ONNX Runtime has them all here.

    Raises:
        UserError: Naming the unavailable provider and the available ones.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    for provider in providers:
        if provider not in available:
            raise UserError(
                f"ONNX Runtime provider {provider!r} is not available here; choose from: "
                f"{', '.join(available)}"
            )
    return list(providers)


def onnx_session(
    path: Path, providers: Sequence[str] | None = None, threads: int | None = None
) -> Any:
    """An ``onnxruntime.InferenceSession`` of ``path`` (sequential execution).

    Args:
        path: The ``.onnx`` file.
        providers: Execution providers in priority order (default: CPU).
        threads: Intra-op threads (``None``: ONNX Runtime's default); inter-op is 1.

    Raises:
        UserError: Unavailable provider, or a file ONNX Runtime cannot load.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads is not None:
        options.intra_op_num_threads = threads
    chosen = check_providers(providers or [DEFAULT_PROVIDER])
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=chosen)
    except Exception as err:  # onnxruntime raises its own untyped errors for bad graphs
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise UserError(f"ONNX Runtime cannot load {path} ({first}); re-export it") from None


class OnnxSegment:
    """A :class:`~aebnas.export.formats.SegmentRunner` over one session (zero-copy tensors)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_name: str = session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        (out,) = self.session.run(None, {self.input_name: _array(x)})
        return torch.from_numpy(out)

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(a) for a in self.arrays(_array(x)))

    def arrays(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: x})  # type: ignore[no-any-return]


def _array(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)


EXPORT_FORMATS.add("onnx", OnnxFormat())
