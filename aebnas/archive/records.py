"""Archive records of evaluated candidates: one shape for surrogate data and search runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from aebnas.archive.outcomes import pack_outcomes
from aebnas.space import ENCODING_VERSION, Architecture
from aebnas.train.trainer import out_of_memory_reason
from aebnas.versions import package_versions

#: Packages whose versions every record carries (they decide its numbers).
RECORD_PACKAGES = ("aebnas", "torch", "torchvision", "numpy", "fvcore")


def candidate_record(
    evaluate: Callable[[], dict[str, Any]], arch: Architecture, seed: int, fidelity_name: str
) -> dict[str, Any]:
    """Run ``evaluate`` (an :func:`aebnas.evaluation.evaluate_architecture` call returning the
    evaluation record with raw ``outcomes``) and make the archive record of ``arch``.

    A candidate-level failure (``RuntimeError``, ``ValueError`` or ``MemoryError``, e.g. a shape
    error or running out of memory on the CPU or GPU) becomes a record with ``status: failed``
    and its reason instead of an exception, so a run goes on.
    Validation outcomes are packed (:func:`aebnas.archive.outcomes.pack_outcomes`); the fidelity
    name, encoding version, package versions, torch's intra-op thread count (it decides the
    numbers too: reductions split differently) and finishing time are added.

    Args:
        evaluate: Evaluates the candidate; called once.
        arch: The candidate (names a failed record).
        seed: Training seed (recorded in a failed record).
        fidelity_name: ``low`` or ``full``.
    """
    try:
        record = evaluate()
    except (RuntimeError, ValueError, MemoryError) as err:
        reason = out_of_memory_reason(err) or f"{type(err).__name__}: {err}"
        return failure_record(arch, seed, fidelity_name, reason)
    outcomes = record.pop("outcomes", None)
    if outcomes is not None:
        record["outcomes"] = pack_outcomes(outcomes)
    return _stamped(record, fidelity_name)


def failure_record(
    arch: Architecture, seed: int, fidelity_name: str, reason: str
) -> dict[str, Any]:
    """The archive record of a candidate that could not be evaluated (``status: failed``).

    Args:
        arch: The candidate.
        seed: Its training seed.
        fidelity_name: ``low``, ``full`` or ``supernet``.
        reason: Why, in one line (e.g. the exception, or a worker that kept dying).
    """
    record = {
        "arch": arch.canonical,
        "hash": arch.hash,
        "seed": seed,
        "status": "failed",
        "reason": reason,
    }
    return _stamped(record, fidelity_name)


def _stamped(record: dict[str, Any], fidelity_name: str) -> dict[str, Any]:
    record.update(
        fidelity_name=fidelity_name,
        encoding_version=ENCODING_VERSION,
        packages=package_versions(RECORD_PACKAGES),
        threads=torch.get_num_threads(),
        finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    return record
