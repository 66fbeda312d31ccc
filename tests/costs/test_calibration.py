import json
from pathlib import Path

import numpy as np
import pytest

from aebnas.costs.calibration import PathSample, calibrate, fit
from aebnas.costs.latency import (
    Calibration,
    LatencyProfile,
    arch_pieces,
    latency_costs,
    latency_terms,
    load_profile,
)
from aebnas.costs.latency_cli import main
from aebnas.errors import UserError, run_cli
from aebnas.space import get_space, parse_architecture

SPACE = get_space("aebnas-plus", (28, 32, 36, 40))
ARCH = parse_architecture(
    "r28|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|x1:r8_conv3_c1_pnone|x3:r8_dw3_c1_pmax",
    SPACE,
)


def calibration(scale: float, per_mb: float, per_segment: float) -> Calibration:
    return Calibration(scale, per_mb, per_segment, seed=5, archs=1, paths=3, median_error=0.0)


@pytest.fixture(scope="module")
def profile() -> LatencyProfile:
    measured = LatencyProfile.for_host(threads=1, warmup=1, repeats=3)
    latency_terms(ARCH, SPACE, 1, 10, measured)
    return measured


def test_calibrated_latency_is_linear_in_the_memoised_terms(profile: LatencyProfile) -> None:
    terms = latency_terms(ARCH, SPACE, 1, 10, profile)
    pieces = arch_pieces(ARCH, SPACE, 1, 10)
    # MB are the pieces' float32 parameters; the final path holds every piece.
    assert terms.megabytes.cumulative()[-1] == pytest.approx(
        sum(profile.weights[p.key] for p in pieces.all())
    )
    assert profile.weights[pieces.head.key] == pytest.approx(
        4e-6 * sum(t.numel() for t in pieces.head.build().parameters())
    )
    # Calls per exit path: trunk0+exit0 (one fused graph), then trunk1+exit1, then final.
    assert list(terms.segments.cumulative()) == [1.0, 2.0, 3.0]
    # With exit 0 off, trunk 0 is still its own call.
    assert list(terms.segments.cumulative([False, True])) == [1.0, 2.0, 3.0]
    uncalibrated = LatencyProfile(**{**vars(profile), "calibration": None})
    assert latency_costs(ARCH, SPACE, 1, 10, uncalibrated) == terms.pieces
    calibrated = LatencyProfile(**{**vars(profile), "calibration": calibration(2.0, 0.5, 0.1)})
    got = latency_costs(ARCH, SPACE, 1, 10, calibrated).cumulative()
    want = (
        2.0 * terms.pieces.cumulative()
        + 0.5 * terms.megabytes.cumulative()
        + 0.1 * terms.segments.cumulative()
    )
    assert got == pytest.approx(want)
    # With an exit off, its branch is paid by no later exit, calibrated or not.
    off = latency_costs(ARCH, SPACE, 1, 10, calibrated).cumulative([False, True])
    assert off[-1] < got[-1]


def test_fit_recovers_known_coefficients_and_never_goes_negative() -> None:
    rng = np.random.default_rng(0)
    terms = rng.uniform([0.1, 0.1, 2], [2.0, 20.0, 7], size=(30, 3))
    measured = terms @ np.array([1.2, 0.05, 0.02])
    samples = [PathSample(tuple(t), float(m)) for t, m in zip(terms, measured, strict=True)]
    cal = fit(samples, seed=3, archs=10)
    assert (cal.scale, cal.per_mb, cal.per_segment) == pytest.approx((1.2, 0.05, 0.02))
    assert cal.median_error == pytest.approx(0.0, abs=1e-9)
    assert (cal.seed, cal.archs, cal.paths) == (3, 10, 30)
    # Paths cheaper than their pieces cannot make a coefficient negative.
    cheap = [PathSample((1.0, 5.0, 3.0), 0.5), PathSample((2.0, 1.0, 3.0), 0.9)]
    low = fit(cheap, seed=3, archs=1)
    assert min(low.scale, low.per_mb, low.per_segment) >= 0.0


def test_fit_with_a_fixed_scale_fits_only_the_memory_and_segment_terms() -> None:
    rng = np.random.default_rng(1)
    terms = rng.uniform([0.1, 0.1, 2], [2.0, 20.0, 7], size=(30, 3))
    measured = terms @ np.array([1.0, 0.03, 0.07])
    samples = [PathSample(tuple(t), float(m)) for t, m in zip(terms, measured, strict=True)]
    cal = fit(samples, seed=3, archs=10, fixed_scale=1.0)
    assert (cal.scale, cal.per_mb, cal.per_segment) == pytest.approx((1.0, 0.03, 0.07))
    off = fit(samples, seed=3, archs=10, fixed_scale=0.5)
    assert off.scale == 0.5 and off.median_error > 0.01


def test_calibrate_measures_real_exit_paths_and_round_trips(
    profile: LatencyProfile, tmp_path: Path
) -> None:
    measured = LatencyProfile(**{**vars(profile), "calibration": None})
    measured.repeats = 5
    cal = calibrate(measured, SPACE, 1, 10, archs=1, seed=11, repeats=5)
    assert measured.calibration == cal
    assert cal.archs == 1 and cal.seed == 11 and cal.paths >= 1
    assert min(cal.scale, cal.per_mb, cal.per_segment) >= 0.0
    assert cal.scale + cal.per_mb + cal.per_segment > 0.0
    path = tmp_path / "host.json"
    measured.save(path)
    loaded = load_profile(path)
    assert loaded.calibration == cal and loaded.weights == measured.weights
    assert latency_costs(ARCH, SPACE, 1, 10, loaded) == latency_costs(ARCH, SPACE, 1, 10, measured)
    data = json.loads(path.read_text())
    data["calibration"]["scale"] = -1.0
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="negative or non-numeric calibration"):
        load_profile(path)


def test_profile_command_refuses_calibrating_on_its_own_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "host.json"
    argv = ["profile", "--out", str(out), "--seed", "4", "--calibration-seed", "4"]
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--calibration-seed must differ" in err
    assert not out.exists()
