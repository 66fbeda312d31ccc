"""Compact storage of validation outcomes inside archive records.

Keeping each candidate's per-exit confidences and correctness lets thresholds be re-tuned (other
tuner, objective or budget) without retraining. Encoding ``npz-b64`` version 1: an ``np.savez``
archive (zip-deflated) of ``confidence`` as float16 ``(N, K-1)`` and ``correct`` bit-packed along
axis 1 with ``K`` kept, base64-encoded. float16 keeps 3 significant digits of the confidence.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from aebnas.thresholds.tuners import ExitOutcomes

OUTCOMES_ENCODING = "npz-b64"
OUTCOMES_VERSION = 1


def pack_outcomes(outcomes: ExitOutcomes) -> dict[str, Any]:
    """A JSON-ready dict holding ``outcomes`` compactly (about 6 bytes per sample and exit)."""
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        confidence=outcomes.confidence.astype(np.float16),
        correct=np.packbits(outcomes.correct, axis=1),
        num_exits=np.array(outcomes.num_exits),
    )
    return {
        "encoding": OUTCOMES_ENCODING,
        "version": OUTCOMES_VERSION,
        "data": base64.b64encode(buffer.getvalue()).decode("ascii"),
    }


def unpack_outcomes(packed: dict[str, Any]) -> ExitOutcomes:
    """Inverse of :func:`pack_outcomes`."""
    if packed.get("encoding") != OUTCOMES_ENCODING or packed.get("version") != OUTCOMES_VERSION:
        raise ValueError(
            f"unknown outcomes encoding {packed.get('encoding')!r} v{packed.get('version')}"
        )
    arrays = np.load(io.BytesIO(base64.b64decode(packed["data"])))
    k = int(arrays["num_exits"])
    correct = np.unpackbits(arrays["correct"], axis=1, count=k).astype(bool)
    return ExitOutcomes(arrays["confidence"].astype(np.float64), correct)
