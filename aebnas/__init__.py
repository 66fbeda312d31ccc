"""aebnas: early-exit neural networks designed by predictor-based, hardware-aware NAS.

The package reads like the pipeline: ``data -> space -> models -> costs -> train -> thresholds
-> archive -> predictors -> search -> report``.
"""

__version__ = "0.1.0"
