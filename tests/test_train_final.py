"""`python -m aebnas.train_final` on a tiny digits run folder: resume equals uninterrupted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from aebnas.config import Config, apply_overrides, dump_config, load_config
from aebnas.costs.latency import LatencyProfile
from aebnas.data import load_dataset
from aebnas.errors import run_cli
from aebnas.models import build_network, checkpoint_metadata, load_checkpoint, save_checkpoint
from aebnas.space import get_space, parse_architecture
from aebnas.train_final import STATE_FILE, load_member, main, train_member

ARCH = "r28|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|x2:r8_conv3_c1_pnone"
TRAIN = 96


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A search run folder with one Pareto member (a fresh digits network)."""
    folder = tmp_path_factory.mktemp("run")
    config = apply_overrides(
        Config(),
        {
            "data.dataset": "digits",
            "space": "aebnas-plus",
            "device": "cpu",
            "full_fidelity.batch_size": 32,
        },
    )
    dump_config(config, folder / "config.yaml")
    dataset = load_dataset("digits", None, None, seed=config.seed)
    space = get_space("aebnas-plus", dataset.info.resolutions)
    arch = parse_architecture(ARCH, space)
    torch.manual_seed(0)
    net = build_network(arch, space, dataset.channels, dataset.num_classes)
    metadata = checkpoint_metadata(arch, space, dataset, "margin", [0.5])
    save_checkpoint(net, folder / "checkpoints" / "m.safetensors", metadata)
    row = {"arch": arch.canonical, "checkpoint": "checkpoints/m.safetensors"}
    (folder / "pareto.json").write_text(json.dumps({"meta": {}, "front": [row]}))
    return folder


def test_resume_after_interruption_gives_the_same_weights(run_dir: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    whole = train_member(load_member(run_dir, 0), tmp_path / "a", 2, train_size=TRAIN)
    interrupted = load_member(run_dir, 0)
    train_member(interrupted, tmp_path / "b", 2, train_size=TRAIN, stop_after=1)
    resumed = train_member(
        load_member(run_dir, 0), tmp_path / "b", 2, resume=True, train_size=TRAIN
    )
    for (name, a), (_, b) in zip(
        whole.state_dict().items(), resumed.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    start = load_member(run_dir, 0).net.state_dict()
    assert any(not torch.equal(start[k], v) for k, v in whole.state_dict().items())


def test_cli_trains_retunes_and_writes_a_checkpoint(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "final"
    argv = [str(run_dir), "--member", "0", "--epochs", "1", "--out", str(out)]
    assert run_cli(main, [*argv, "--train-size", str(TRAIN), "--threads", "1"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert 0 <= report["test_accuracy"] <= 1 and len(report["exits"]) == 2
    net, metadata = load_checkpoint(out / "final.safetensors")
    assert metadata.arch == net.arch.canonical and metadata.dataset == "digits"
    assert "test" in capsys.readouterr().out
    # An existing output is not overwritten without --force; a bad member is one line.
    assert run_cli(main, argv) == 2
    assert run_cli(main, [str(run_dir), "--member", "3", "--out", str(tmp_path / "x")]) == 2
    assert run_cli(main, [*argv[:-2], "--out", str(tmp_path / "y"), "--resume"]) == 2
    torn = tmp_path / "torn"
    torn.mkdir()
    (torn / STATE_FILE).write_bytes(b"not a state")
    assert run_cli(main, [*argv[:-2], "--out", str(torn), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("error: ") for line in err)
    assert (torn / STATE_FILE).read_bytes() == b"not a state"
    assert (out / STATE_FILE).is_file()


def test_latency_run_is_retuned_at_latency(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "host.json"
    LatencyProfile.for_host(threads=1, warmup=1, repeats=3).save(profile)
    latency_run = tmp_path / "latency-run"
    shutil.copytree(run_dir, latency_run)
    config = load_config(latency_run / "config.yaml")
    overrides = {"search.objective": "latency", "search.latency_profile": str(profile)}
    dump_config(apply_overrides(config, overrides), latency_run / "config.yaml")
    out = tmp_path / "final"
    argv = [str(latency_run), "--member", "0", "--epochs", "1", "--out", str(out)]
    assert run_cli(main, [*argv, "--train-size", str(TRAIN), "--threads", "1"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["objective"]["unit"] == "ms" and report["objective"]["cost"] == "latency"
    first, final = report["exits"][0], report["exits"][-1]
    assert report["val_avg_macs"] == pytest.approx(
        first["util"] * first["macs"] + final["util"] * final["macs"]
    )
    assert report["val_avg_latency_ms"] > 0 and report["test_avg_latency_ms"] > 0
