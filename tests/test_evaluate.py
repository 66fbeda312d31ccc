"""The evaluation pipeline and its CLI, on real Fashion-MNIST data."""

import json
import subprocess
import sys

import pytest
import torch

from aebnas.config import FidelityConfig, ThresholdConfig
from aebnas.data import dataset_info, load_dataset
from aebnas.evaluation import evaluate_architecture
from aebnas.models import load_checkpoint
from aebnas.space import get_space, parse_architecture, sample_architectures

SPACE = get_space("aebnas-plus", dataset_info("fashion-mnist").resolutions)
ARCH = (
    "r28|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|x2:r8_conv3_c1_pnone|x3:r8_dw3_c2_pmax"
)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aebnas.evaluate", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--arch", ARCH, "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (
            [
                "--arch",
                ARCH.replace("r28", "r32"),
                "--dataset",
                "cifar10",
                "--data-root",
                "/nonexistent",
            ],
            "cifar-10-batches-py",
        ),
        (["--arch", "r28|garbage"], "malformed"),
        (["--arch", ARCH.replace("k3e3", "k4e3", 1)], "stage1.block1.kernel=4"),
        (["--arch", ARCH, "--max-macs", "0.5"], "impossible"),
        (["--arch", ARCH, "--target-macs", "-1"], "must be positive"),
        (["--arch", ARCH, "--epochs", "many"], "invalid int value"),
        (["--arch", ARCH, "--config", "/nonexistent.yaml"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message):
    result = _cli(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert message in lines[0]


@pytest.fixture(scope="module")
def fashion():
    return load_dataset("fashion-mnist", seed=0)


@pytest.mark.slow
def test_trained_candidate_learns_and_early_exits_save_macs(fashion, tmp_path):
    """Default low fidelity on real data: the network learns and exiting early saves MACs."""
    torch.set_num_threads(2)
    arch = sample_architectures(SPACE, 1, seed=1)[0]
    record = evaluate_architecture(
        arch,
        SPACE,
        fashion,
        FidelityConfig(),
        ThresholdConfig(),
        seed=0,
        test=True,
        checkpoint=tmp_path / "net.safetensors",
    )
    assert record["status"] == "ok", record.get("reason")
    assert record["final_accuracy"] >= 0.70
    assert record["avg_macs"] < record["static_macs"]["final"]
    assert record["accuracy"] >= record["final_accuracy"] - 0.005 - 1e-9
    exits = record["exits"]
    assert [e["position"] for e in exits] == [*arch.exit_positions, 5]
    assert abs(sum(e["util"] for e in exits) - 1) < 1e-9
    assert record["test"]["accuracy"] >= 0.65
    for point in record["curve"]:
        assert point["avg_macs"] <= record["static_macs"]["final"] + 1e-9
    grid = record["grid"]
    better = [p for p in record["curve"] if p["avg_macs"] <= grid["avg_macs"] + 1e-9]
    assert max(p["accuracy"] for p in better) >= grid["accuracy"]
    json.dumps(record)  # JSON-ready
    _, metadata = load_checkpoint(tmp_path / "net.safetensors")
    assert list(metadata.thresholds) == [e["threshold"] for e in exits[:-1]]


def test_cli_writes_the_documented_json_and_a_checkpoint(tmp_path):
    out, checkpoint = tmp_path / "r.json", tmp_path / "net.safetensors"
    args = ("--arch", ARCH, "--train-size", "256", "--epochs", "1", "--checkpoint", str(checkpoint))
    result = _cli(*args, "--out", str(out))
    assert result.returncode == 0, result.stderr
    record = json.loads(out.read_text())
    for key in (
        "arch",
        "hash",
        "dataset",
        "status",
        "accuracy",
        "avg_macs",
        "exits",
        "grid",
        "curve",
        "train_seconds",
    ):
        assert key in record
    assert record["arch"] == str(parse_architecture(ARCH, SPACE))
    for e in record["exits"]:
        assert set(e) >= {"position", "macs", "util", "accuracy", "threshold"}
    assert set(record["grid"]) >= {"accuracy", "avg_macs", "thresholds"}
    assert "val accuracy" in result.stdout
    network, metadata = load_checkpoint(checkpoint)
    assert network.arch.canonical == metadata.arch == record["arch"]
    assert metadata.dataset == "fashion-mnist"
    assert list(metadata.thresholds) == [e["threshold"] for e in record["exits"][:-1]]
    assert metadata.class_names[0] == "T-shirt/top" and metadata.confidence == "margin"

    again = _cli(*args)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert load_checkpoint(checkpoint)[1] == metadata
