"""The latency objective: records re-tuned at per-exit latency, and ``bo_search --objective
latency`` in benchmark mode on real digits rows (with their saved validation outcomes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aebnas.archive.outcomes import unpack_outcomes
from aebnas.bo_search import main
from aebnas.costs.latency import LatencyProfile
from aebnas.errors import run_cli
from aebnas.search.latency import RecordLatency
from aebnas.space import get_space
from aebnas.thresholds.evaluation import evaluate_thresholds

REPO = Path(__file__).resolve().parents[2]
DIGITS_ARCHIVE = REPO / "data" / "surrogates" / "digits-aebnas-plus-low.jsonl"
ROWS = 4
SPACE = get_space("aebnas-plus", (28, 32, 36, 40))


@pytest.fixture(scope="module")
def rows_and_profile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The first digits rows as a small archive, and a quick profile of their pieces."""
    folder = tmp_path_factory.mktemp("latency-search")
    with open(DIGITS_ARCHIVE, encoding="utf-8") as f:
        lines = [next(f) for _ in range(ROWS + 1)]
    archive = folder / "digits.jsonl"
    archive.write_text("".join(lines))
    profile_path = folder / "host.json"
    LatencyProfile.for_host(threads=1, warmup=1, repeats=3).save(profile_path)
    RecordLatency(profile_path, SPACE, 1, 10)  # loads: the device is this host
    return archive, profile_path


def _records(archive: Path) -> list[dict]:
    return [json.loads(line) for line in archive.read_text().splitlines()[1:]]


def test_record_is_retuned_at_latency(rows_and_profile: tuple[Path, Path]) -> None:
    archive, profile_path = rows_and_profile
    latency = RecordLatency(profile_path, SPACE, 1, 10)
    record = _records(archive)[0]
    costs = latency.costs(record["arch"])
    cumulative = costs.cumulative()
    acc, avg, thresholds = latency.outcome(record, "open", None, 0.0)
    assert cumulative[0] - 1e-9 <= avg <= cumulative[-1] + 1e-9
    # The point's latency is util-weighted per-exit latency of its thresholds.
    outcomes = unpack_outcomes(record["outcomes"])
    point = evaluate_thresholds(outcomes, costs, thresholds)
    assert point.avg_macs == pytest.approx(avg) and point.accuracy == pytest.approx(acc)
    cap = float(cumulative[0] + 0.3 * (cumulative[-1] - cumulative[0]))
    _, capped, _ = latency.outcome(record, "budget", cap, 0.005)
    assert capped <= cap * (1 + 1e-9)
    saved = json.loads(profile_path.read_text())["entries"]
    assert len(saved) > 10  # the measured pieces were written back to the profile


def test_bo_search_latency_objective_in_benchmark_mode(
    rows_and_profile: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, profile_path = rows_and_profile
    run_dir = tmp_path / "run"
    argv = ["--benchmark", str(archive), "--strategy", "random", "--budget", "3"]
    argv += ["--batch-size", "3", "--out", str(run_dir), "--json"]
    argv += ["--objective", "latency", "--latency-profile", str(profile_path)]
    status = run_cli(main, argv)
    out = capsys.readouterr().out
    assert status == 0
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["evaluations"] == 3 and summary["pareto_size"] >= 1
    rows = json.loads((run_dir / "pareto.json").read_text())["front"]
    assert all(row["cost_unit"] == "ms" for row in rows)
    latency = RecordLatency(profile_path, SPACE, 1, 10)
    by_arch = {r["arch"]: r for r in _records(archive)}
    for row in rows:
        _, avg, _ = latency.outcome(by_arch[row["arch"]], "open", None, 0.005)
        assert row["avg_macs"] == pytest.approx(avg)  # milliseconds, not the row's MMACs
    status = run_cli(main, ["--resume", str(run_dir), "--budget", str(ROWS), "--json"])
    resumed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 0 and resumed["evaluations"] == ROWS
    assert json.loads((run_dir / "pareto.json").read_text())["front"][0]["cost_unit"] == "ms"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--objective", "latency"], "needs a latency profile"),
        (["--max-latency", "1.0"], "need --objective latency"),
        (
            ["--objective", "latency", "--latency-profile", "PROFILE", "--max-macs", "3"],
            "replaces the MAC cap",
        ),
        (["--objective", "latency", "--latency-profile", "missing.json"], "does not exist"),
    ],
)
def test_latency_flags_are_checked_with_one_line(
    rows_and_profile: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    archive, profile_path = rows_and_profile
    extra = [str(profile_path) if e == "PROFILE" else e for e in extra]
    argv = ["--benchmark", str(archive), "--budget", "2", "--out", str(tmp_path / "run")]
    status = run_cli(main, [*argv, *extra])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and message in err
    assert not (tmp_path / "run").exists()
