"""aebnas: early-exit neural networks designed by predictor-based, hardware-aware NAS.

The package reads like the pipeline: ``data -> space -> models -> costs -> train -> thresholds
-> archive -> predictors -> search -> report``.
"""

__version__ = "0.1.0"

import logging
import warnings

# linear_operator (GPyTorch's backend) calls torch.jit.script at import; torch 2.14 warns about it
# on every command line. Nothing of ours uses TorchScript.
warnings.filterwarnings(
    "ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning
)
# Lazily imported by GPyTorch/BoTorch code paths; on a CPU-only machine it logs "No CUDA runtime
# is found" once per process, which is expected here and not actionable.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
