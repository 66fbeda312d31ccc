"""aebnas: early-exit neural networks designed by predictor-based, hardware-aware NAS.

The package reads like the pipeline: ``data -> space -> models -> costs -> train -> thresholds
-> archive -> predictors -> search -> report``.
"""

__version__ = "0.1.0"

import warnings

# linear_operator (GPyTorch's backend) calls torch.jit.script at import; torch 2.14 warns about it
# on every command line. Nothing of ours uses TorchScript.
warnings.filterwarnings(
    "ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning
)
