"""``python -m aebnas.predictors``: fit, evaluate, noise-ceiling, end to end on small archives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from predictor_fixtures import synthetic_records, write_archive

from aebnas.errors import run_cli
from aebnas.predictors import load_predictor
from aebnas.predictors.cli import main


def test_fit_writes_a_loadable_predictor_with_cv_metrics(
    synthetic_archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "xgb-acc"
    argv = [
        "fit",
        "--data",
        str(synthetic_archive),
        "--model",
        "xgb",
        "--target",
        "accuracy",
        "--out",
        str(out),
        "--cv-folds",
        "2",
    ]
    assert run_cli(main, argv) == 0
    assert str(out) in capsys.readouterr().out
    meta = json.loads((out / "metadata.json").read_text())
    assert set(meta["cv"]) >= {"kendall_tau", "spearman", "rmse", "mape", "coverage90"}
    assert meta["cv"]["kendall_tau"] > 0.5 and meta["n_archs"] == 80
    assert load_predictor(out, space="aebnas-plus", expect_target="accuracy").meta["seed"] == 0
    assert run_cli(main, argv) == 2  # --out is not empty
    assert "--force" in capsys.readouterr().err

    target = write_archive(tmp_path / "other.jsonl", synthetic_records(30, seed=9))
    prior_out = tmp_path / "with-prior"
    argv = [
        "fit",
        "--data",
        str(target),
        "--model",
        "xgb",
        "--target",
        "accuracy",
        "--out",
        str(prior_out),
        "--cv-folds",
        "0",
        "--prior",
        str(out),
    ]
    assert run_cli(main, argv) == 0
    loaded = load_predictor(prior_out, expect_target="accuracy")
    assert loaded.meta["model"] == "xgb+prior" and loaded.meta["prior"]["n_records"] == 80
    assert (prior_out / "source" / "metadata.json").is_file()
    argv[argv.index("accuracy")] = "avg_macs"
    argv[argv.index(str(prior_out))] = str(tmp_path / "bad")
    assert run_cli(main, argv) == 2
    assert "target 'accuracy', this use needs 'avg_macs'" in capsys.readouterr().err


def test_evaluate_json_lines(synthetic_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "evaluate",
        "--data",
        str(synthetic_archive),
        "--models",
        "xgb,gp,mlp",
        "--train-sizes",
        "20,75",
        "--folds",
        "1",
        "--targets",
        "accuracy",
        "--json",
    ]
    assert run_cli(main, argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["model"] for r in rows] == ["xgb", "gp", "mlp"]  # 75 leaves < 10 test records
    for row in rows:
        assert row["train_size"] == 20 and row["target"] == "accuracy"
        assert {"kendall_tau", "spearman", "rmse", "mape", "coverage90", "precision_top10"} <= set(
            row
        )


def test_evaluate_table_and_errors(
    synthetic_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "evaluate",
        "--data",
        str(synthetic_archive),
        "--models",
        "xgb",
        "--train-sizes",
        "30",
        "--folds",
        "1",
        "--targets",
        "avg_macs",
    ]
    assert run_cli(main, argv) == 0
    assert "Kendall tau" in capsys.readouterr().out
    assert run_cli(main, [*argv[:4], "xgb,forest"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'forest'" in err and len(err.strip().splitlines()) == 1


def test_noise_ceiling_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = write_archive(tmp_path / "s0.jsonl", synthetic_records(25, seed=3))
    second = write_archive(tmp_path / "s1.jsonl", synthetic_records(25, seed=3, noise_seed=1))
    assert run_cli(main, ["noise-ceiling", "--data", str(first)]) == 2
    assert "two seeds" in capsys.readouterr().err
    argv = ["noise-ceiling", "--data", str(first), "--other", str(second), "--json"]
    assert run_cli(main, argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pairs"] == 25 and result["kendall_tau"] > 0.5
