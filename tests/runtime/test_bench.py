"""``python -m aebnas.runtime bench``: real measurements of both modes, consistent figures."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from aebnas.errors import UserError
from aebnas.runtime import open_runtime
from aebnas.runtime.bench import bench_data


def test_bench_json_last_line_is_consistent_with_infer(deployed):
    net, metadata, _, folder, _ = deployed
    result = subprocess.run(
        [sys.executable, "-m", "aebnas.runtime", "bench", str(folder), "--dataset", "digits",
         "--split", "test", "--limit", "60", "--warmup", "3", "--batch-size", "16",
         "--cpus", "0", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "speed-up  measured" in result.stdout and "vs predicted" in result.stdout
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("accuracy", "exit_counts", "latency_ms_p50", "latency_ms_p50_no_exits",
                "measured_speedup", "predicted_speedup"):
        assert key in report
    assert report["images"] == 60 and report["threads"] == 1 and report["cpus"] == [0]

    runtime = open_runtime(folder)
    data = bench_data(runtime.card, "digits", "test", limit=60)
    predictions, exits = net.infer(data.images, metadata.infer_thresholds)
    assert report["exit_counts"] == torch.bincount(exits, minlength=5).tolist()
    assert report["accuracy"] == pytest.approx(float((predictions == data.labels).float().mean()))
    assert report["predicted_speedup"] == pytest.approx(
        runtime.card.macs_no_exits / runtime.card.average_macs(report["exit_counts"])
    )
    assert report["measured_speedup"] == pytest.approx(
        report["latency_ms_mean_no_exits"] / report["latency_ms_mean"]
    )
    calls = [f"trunk{k}+exit{k}" for k in range(4)] + ["final"]  # every exit on
    assert [row["segment"] for row in report["segments"]] == calls
    assert all(row["ms"] > 0 for row in report["segments"])
    total = sum(row["macs"] for row in report["segments"])
    assert total == pytest.approx(runtime.card.costs.cumulative()[-1])


def test_bench_data_refuses_a_dataset_that_does_not_fit(deployed):
    runtime = open_runtime(deployed[3])
    with pytest.raises(UserError, match="unknown split"):
        bench_data(runtime.card, "digits", "dev")
    with pytest.raises(UserError, match="--limit must be positive"):
        bench_data(runtime.card, "digits", "test", limit=0)


def test_bad_cpu_list_is_one_line():
    from aebnas.runtime.cli import pin_cpus

    for text, expected in (("zero", "CPU numbers"), ("4096", "not available")):
        with pytest.raises(UserError, match=expected):
            pin_cpus(text)
