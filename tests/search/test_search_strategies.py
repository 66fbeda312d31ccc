"""Strategies in benchmark mode, determinism, the MAC cap in prediction, CLI errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from aebnas.archive import read_archive
from aebnas.bo_search import main
from aebnas.config import Config, apply_overrides
from aebnas.errors import run_cli
from aebnas.report import write_outputs
from aebnas.search import execute, start
from aebnas.search.pool import GeneratedDomain, PoolSettings
from aebnas.search.problem import SearchProblem, problem_from_config
from aebnas.search.rounds import STRATEGIES, RoundInput
from aebnas.search.strategies import bo_strategy
from aebnas.space import Architecture, validate
from tests.search.synthetic import FormulaCosts, space, write_archive

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_archive(tmp_path_factory.mktemp("bench") / "bench.jsonl", 60)


def benchmark_config(bench: Path, **overrides: Any) -> Config:
    values = {
        "data.dataset": "fashion-mnist",
        "space": "aebnas-plus",
        "search.benchmark": str(bench),
        "search.budget": 12,
        "search.batch_size": 6,
        "search.initial": 6,
        **overrides,
    }
    return apply_overrides(Config(), values)


@pytest.fixture(scope="module")
def runs(bench: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``run(name, strategy, seed)`` -> (summary, records), each run made once per module."""
    done: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    root = tmp_path_factory.mktemp("runs")

    def run(name: str, strategy: str, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        if name not in done:
            config = benchmark_config(bench, **{"search.strategy": strategy, "seed": seed})
            setup, archive = start(config, root / name, str(bench))
            result = execute(setup, archive, log=lambda _: None)
            summary = write_outputs(result, plots=False).summary
            done[name] = summary, read_archive(root / name / "archive.jsonl")[1]
        return done[name]

    return run


@pytest.mark.parametrize("strategy", ["bo", "nsga2", "random"])
def test_each_strategy_runs_in_benchmark_mode(bench: Path, runs: Any, strategy: str) -> None:
    summary, records = runs(strategy, strategy, 0)
    assert summary["strategy"] == strategy and summary["evaluations"] == 12
    assert 0 < summary["hypervolume"] <= summary["true_hypervolume"] * (1 + 1e-9)
    rows = {r["arch"] for r in read_archive(bench)[1]}
    archs = [r["arch"] for r in records]
    assert len(set(archs)) == 12 and set(archs) <= rows
    assert {r["round"] for r in records} == {0, 1}
    assert all(r["proposal"]["origin"] == "initial" for r in records if r["round"] == 0)
    assert all(r["proposal"]["origin"] == strategy for r in records if r["round"] == 1)
    assert Path(summary["run_dir"], "pareto.json").is_file()


def test_benchmark_mode_is_deterministic_per_seed_and_shares_the_initial_design(
    runs: Any,
) -> None:
    def archs(name: str, strategy: str, seed: int) -> list[str]:
        return [r["arch"] for r in runs(name, strategy, seed)[1]]

    first = archs("bo", "bo", 0)
    assert archs("bo-again", "bo", 0) == first
    assert archs("bo-seed1", "bo", 1) != first
    assert archs("random", "random", 0)[:6] == first[:6]
    assert archs("nsga2", "nsga2", 0)[:6] == first[:6]


@pytest.mark.parametrize(
    ("surrogate", "acquisition"), [("gp", "qlognehvi"), ("xgb", "qlognparego")]
)
def test_bo_proposals_are_valid_new_and_under_the_cap_in_prediction(
    bench: Path, surrogate: str, acquisition: str
) -> None:
    _, records = read_archive(bench)
    records = records[:40]
    costs = FormulaCosts()
    costs.add_records(records)
    cap = sorted(r["avg_macs"] for r in records if r["status"] == "ok")[15]
    config = apply_overrides(Config(), {"thresholds.max_macs": cap})
    problem = problem_from_config(config, records)
    settings = PoolSettings(size=60, local_search_top=4, local_search_neighbours=8)
    inputs = _generated_round(records, problem, costs, settings, 4, cap)
    inputs.surrogate, inputs.acquisition = surrogate, acquisition
    plan = bo_strategy(inputs)
    assert len(plan.proposals) == 4
    evaluated = {r["arch"] for r in records}
    names = [p.arch.canonical for p in plan.proposals]
    assert len(set(names)) == 4 and not set(names) & evaluated
    for proposal in plan.proposals:
        validate(Architecture.parse(proposal.arch.canonical), space())
        assert proposal.predicted is not None
        assert proposal.predicted["avg_macs"][0] <= cap
        assert costs.cheapest(proposal.arch) <= cap


def _generated_round(
    records: list,
    problem: SearchProblem,
    costs: FormulaCosts,
    settings: PoolSettings,
    n: int,
    cap: float | None,
) -> RoundInput:
    """Round 1 (no initial design left) over a domain generated from the space."""
    return RoundInput(
        round_index=1,
        seed=0,
        n=n,
        problem=problem,
        domain=GeneratedDomain(space(), costs, cap, settings),
        costs=costs,
        records=records,
        pool=settings,
        initial=0,
    )


@pytest.mark.parametrize("strategy", ["nsga2", "random"])
def test_baseline_proposals_are_valid_new_and_unique_in_a_generated_domain(
    bench: Path, strategy: str
) -> None:
    _, records = read_archive(bench)
    records = records[:30]
    costs = FormulaCosts()
    costs.add_records(records)
    problem = problem_from_config(Config(), records)
    settings = PoolSettings(size=60)
    inputs = _generated_round(records, problem, costs, settings, 8, None)
    plan = STRATEGIES.get(strategy)(inputs)
    names = [p.arch.canonical for p in plan.proposals]
    assert len(names) == 8 and len(set(names)) == 8
    assert not set(names) & {r["arch"] for r in records}
    for proposal in plan.proposals:
        validate(Architecture.parse(proposal.arch.canonical), space())
        assert proposal.origin == strategy


@pytest.mark.parametrize(
    "argv",
    [
        ["--budget", "abc"],
        ["--batch-size", "0"],
        ["--acquisition", "ucb"],
        ["--archive", "/nonexistent/low.jsonl"],
        ["--predictors", "/nonexistent/predictors"],
        ["--config", "/nonexistent/config.yaml"],
        ["--resume", "/nonexistent/run", "--seed", "3"],
        ["--budget", "0"],
        ["--strategy", "annealing"],
        ["--surrogate", "forest"],
        ["--max-macs", "-1"],
        ["--max-macs", "3", "--target-macs", "4"],
        ["--resume", "/nonexistent/run"],
        ["--benchmark", "/nonexistent/archive.jsonl"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("search:\n  budget: [1\n", "not valid YAML"),
        ("search:\n  bogus: 3\n", "unknown config key search.bogus"),
        ("search:\n  budget: many\n", "search.budget must be int"),
        ("search:\n  strategy: annealing\n", "unknown search strategy"),
    ],
)
def test_malformed_config_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, text: str, message: str
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    assert run_cli(main, ["--config", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "run").exists()


def test_the_module_exits_2_without_a_traceback(bench: Path, tmp_path: Path) -> None:
    argv = ["--benchmark", str(bench), "--space", "aebnas", "--out", str(tmp_path / "run")]
    done = subprocess.run(
        [sys.executable, "-m", "aebnas.bo_search", *argv],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and "--space aebnas-plus" in done.stderr
