"""Early-exit runtime over an export folder (ONNX Runtime) or a checkpoint (PyTorch).

``open_runtime(path).predict(x) -> (predictions, exit_index)``; backends are registered in
:data:`BACKENDS`; ``python -m aebnas.runtime bench DIR`` measures it (see
:mod:`aebnas.runtime.bench`).
"""

from aebnas.runtime.backends import (
    BACKENDS,
    graphs_runtime,
    open_checkpoint,
    open_export,
    open_runtime,
)
from aebnas.runtime.engine import (
    EarlyExitRuntime,
    ModelCard,
    RuntimeSegment,
    Shortcuts,
    Step,
    is_on,
)

__all__ = [
    "BACKENDS",
    "EarlyExitRuntime",
    "ModelCard",
    "RuntimeSegment",
    "Shortcuts",
    "Step",
    "graphs_runtime",
    "is_on",
    "open_checkpoint",
    "open_export",
    "open_runtime",
]
