import json
import time
from pathlib import Path

import numpy as np
import pytest

from aebnas.costs.latency import (
    CALL,
    LatencyProfile,
    arch_pieces,
    latency_costs,
    load_profile,
    time_interleaved,
)
from aebnas.costs.latency_cli import main
from aebnas.errors import UserError, run_cli
from aebnas.space import get_space, parse_architecture

SPACE = get_space("aebnas-plus", (28, 32, 36, 40))
ARCH = parse_architecture(
    "r28|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|x1:r8_conv3_c1_pnone|x3:r8_dw3_c1_pmax",
    SPACE,
)


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[LatencyProfile, Path]:
    profile = LatencyProfile.for_host(threads=1, warmup=1, repeats=3)
    latency_costs(ARCH, SPACE, 1, 10, profile)
    path = tmp_path_factory.mktemp("latency") / "host.json"
    profile.save(path)
    return profile, path


def test_profile_measures_every_piece_once_and_round_trips(
    measured: tuple[LatencyProfile, Path],
) -> None:
    profile, path = measured
    keys = {p.key for p in arch_pieces(ARCH, SPACE, 1, 10).all()}
    assert keys <= set(profile.entries)
    assert all(v > 0 for k, v in profile.entries.items() if k != "decision|n10")
    before = dict(profile.entries)
    first = latency_costs(ARCH, SPACE, 1, 10, profile)
    assert profile.entries == before  # memoised: nothing measured again
    loaded = load_profile(path)
    assert loaded.entries == profile.entries
    assert latency_costs(ARCH, SPACE, 1, 10, loaded) == first


def test_per_exit_latency_is_cumulative_like_exit_costs(
    measured: tuple[LatencyProfile, Path],
) -> None:
    profile = LatencyProfile(**{**vars(measured[0]), "entries": dict(measured[0].entries)})
    costs = latency_costs(ARCH, SPACE, 1, 10, profile)
    cumulative = costs.cumulative()
    assert costs.positions == (1, 3, 5)
    assert np.all(np.diff(cumulative) > 0)
    assert cumulative[-1] == pytest.approx(sum(costs.branch) + costs.backbone[-1])
    # One more millisecond in the final head is paid by the final exit only.
    head = arch_pieces(ARCH, SPACE, 1, 10).head.key
    profile.entries[head] += 1.0
    bumped = latency_costs(ARCH, SPACE, 1, 10, profile).cumulative()
    assert bumped[:-1] == pytest.approx(cumulative[:-1])
    assert bumped[-1] == pytest.approx(cumulative[-1] + 1.0)
    # The per-segment cost is paid once per call on the path: exit 1 runs trunk0 and exit0 in
    # one call, exit 2 two, the final exit three (two fused calls and the final segment).
    profile.entries["segment|n10"] += 0.5
    called = latency_costs(ARCH, SPACE, 1, 10, profile).cumulative()
    assert called - bumped == pytest.approx([0.5, 1.0, 1.5])
    # A piece's own time is its call minus one call alone.
    before = latency_costs(ARCH, SPACE, 1, 10, profile).cumulative()[-1]
    profile.entries[CALL] += 0.01
    assert latency_costs(ARCH, SPACE, 1, 10, profile).cumulative()[-1] < before


def _rewrite(path: Path, tmp: Path, change: dict) -> Path:
    data = json.loads(path.read_text())
    for key, value in change.items():
        if key == "cpu":
            data["device"]["cpu"] = value
        else:
            data[key] = value
    out = tmp / "changed.json"
    out.write_text(json.dumps(data))
    return out


def test_foreign_device_or_version_is_refused_with_one_line(
    measured: tuple[LatencyProfile, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, path = measured
    with pytest.raises(UserError, match="another device"):
        load_profile(_rewrite(path, tmp_path, {"cpu": "Some Other CPU"}))
    with pytest.raises(UserError, match="has version 1, this aebnas reads version 3"):
        load_profile(_rewrite(path, tmp_path, {"version": 1}))  # no calibration: refused
    with pytest.raises(UserError, match="another device"):
        load_profile(path, threads=2)  # measured with 1 intra-op thread
    foreign = _rewrite(path, tmp_path, {"cpu": "Some Other CPU"})
    status = run_cli(main, ["show", str(ARCH), "--profile", str(foreign), "--dataset", "digits"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "another device" in err
    assert json.loads(foreign.read_text())["device"]["cpu"] == "Some Other CPU"  # untouched


def test_interleaved_timing_takes_turns_and_counts_every_call() -> None:
    calls: list[str] = []
    medians = time_interleaved(
        [lambda: calls.append("a"), lambda: calls.append("b")], warmup=2, repeats=6, rounds=3
    )
    assert len(medians) == 2 and all(m >= 0 for m in medians)
    assert calls == ["a", "a", "b", "b"] + ["a", "a", "b", "b"] * 3


def test_minimum_statistic_keeps_the_fastest_call() -> None:
    delays = iter([0.04, 0.0, 0.02, 0.04, 0.0, 0.02])

    def sleepy() -> None:
        time.sleep(next(delays))

    (fastest,) = time_interleaved([sleepy], warmup=0, repeats=3, rounds=1, statistic="min")
    (median,) = time_interleaved([sleepy], warmup=0, repeats=3, rounds=1)
    assert fastest < 10.0 < 20.0 <= median  # ms: the 0 s call vs the 20 ms one (loaded or not)
    with pytest.raises(UserError, match="unknown timing statistic 'mean'"):
        time_interleaved([sleepy], warmup=0, repeats=1, rounds=1, statistic="mean")


def test_profile_keeps_its_statistic_and_refuses_an_unknown_one(
    measured: tuple[LatencyProfile, Path], tmp_path: Path
) -> None:
    profile, path = measured
    assert load_profile(path).statistic == "median"
    minimum = LatencyProfile(**{**vars(profile), "statistic": "min"})
    minimum.save(tmp_path / "min.json")
    assert load_profile(tmp_path / "min.json").statistic == "min"
    data = json.loads(path.read_text())
    data["settings"]["statistic"] = "mean"
    (tmp_path / "mean.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="unknown statistic 'mean'"):
        load_profile(tmp_path / "mean.json")
    del data["settings"]["statistic"]  # profiles written before the setting existed
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert load_profile(tmp_path / "old.json").statistic == "median"


def test_extending_a_profile_with_another_statistic_is_refused(
    measured: tuple[LatencyProfile, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, path = measured
    copy = tmp_path / "host.json"
    copy.write_text(path.read_text())
    status = run_cli(main, ["profile", "--out", str(copy), "--statistic", "min", "--threads", "1"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "summarises its timings by median, not min" in err
    assert copy.read_text() == path.read_text()  # untouched
