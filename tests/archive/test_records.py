"""Archive records: failures become records, outcomes are packed, provenance is added."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aebnas.archive.outcomes import unpack_outcomes
from aebnas.archive.records import candidate_record
from aebnas.space import ENCODING_VERSION, Architecture, get_space, sample_architectures
from aebnas.thresholds.outcomes import ExitOutcomes


@pytest.fixture
def arch() -> Architecture:
    return sample_architectures(get_space("aebnas-plus"), 1, seed=3)[0]


def test_a_failing_candidate_becomes_a_failed_record(arch: Architecture) -> None:
    def diverge() -> dict[str, object]:
        raise RuntimeError("loss is NaN at step 12")

    record = candidate_record(diverge, arch, seed=7, fidelity_name="low")
    assert record["status"] == "failed" and record["arch"] == arch.canonical
    assert record["reason"] == "RuntimeError: loss is NaN at step 12" and record["seed"] == 7
    assert record["fidelity_name"] == "low" and record["encoding_version"] == ENCODING_VERSION
    assert record["packages"]["torch"] != "not installed"
    assert record["threads"] == torch.get_num_threads()


def test_outcomes_are_packed_and_round_trip(arch: Architecture) -> None:
    rng = np.random.default_rng(0)
    outcomes = ExitOutcomes(rng.random((50, 2)), rng.random((50, 3)) > 0.5)
    record = candidate_record(
        lambda: {"arch": arch.canonical, "status": "ok", "outcomes": outcomes},
        arch,
        seed=0,
        fidelity_name="full",
    )
    restored = unpack_outcomes(record["outcomes"])
    np.testing.assert_array_equal(restored.correct, outcomes.correct)
    np.testing.assert_allclose(restored.confidence, outcomes.confidence, atol=1e-3)


def test_other_errors_are_not_swallowed(arch: Architecture) -> None:
    def broken() -> dict[str, object]:
        raise KeyError("a bug, not a candidate failure")

    with pytest.raises(KeyError):
        candidate_record(broken, arch, seed=0, fidelity_name="low")
