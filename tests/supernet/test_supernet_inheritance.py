import dataclasses
import json

import pytest
import torch

from aebnas.config import FidelityConfig, ThresholdConfig
from aebnas.errors import UserError, run_cli
from aebnas.evaluate import main as evaluate_main
from aebnas.evaluation import evaluate_architecture
from aebnas.space import get_space, parse_architecture, sample_architectures
from aebnas.supernet import EarlyExitSupernet
from aebnas.supernet.checkpoint import SupernetInfo, save_supernet
from aebnas.supernet.inheritance import calibrate_batch_norm

SPACE = get_space("aebnas", (28, 32))
ARCH = "r32|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|x2:r8_conv3_c1_pmax"


@pytest.fixture(scope="module")
def supernet_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("inherit") / "supernet.safetensors"
    info = SupernetInfo("aebnas", "digits", 1, 10, (28, 32), 0, 300, 1, 1, "float32", {})
    save_supernet(EarlyExitSupernet(SPACE, 1, 10), info, path, half=False)
    return path


def _fidelity(path, **changes):
    return dataclasses.replace(FidelityConfig(epochs=0, supernet=str(path)), **changes)


def test_inherited_records_carry_the_supernets_identity(supernet_file, digits):
    arch = parse_architecture(ARCH, SPACE)
    record = evaluate_architecture(arch, SPACE, digits, _fidelity(supernet_file),
                                   ThresholdConfig(), seed=0, device=torch.device("cpu"))
    assert record["status"] == "ok" and record["train_seconds"] == 0
    assert len(record["supernet"]["sha256"]) == 64
    assert record["fidelity"]["supernet"] == str(supernet_file)
    again = evaluate_architecture(arch, SPACE, digits, _fidelity(supernet_file),
                                  ThresholdConfig(), seed=0, device=torch.device("cpu"))
    assert again["accuracy"] == record["accuracy"]  # same calibration seed: same figures


def test_fine_tuning_starts_from_the_inherited_weights(supernet_file, digits):
    arch = parse_architecture(ARCH, SPACE)
    record = evaluate_architecture(arch, SPACE, digits,
                                   _fidelity(supernet_file, epochs=1, train_size=256, lr=0.01),
                                   ThresholdConfig(), seed=0, device=torch.device("cpu"))
    assert record["status"] == "ok" and record["train_seconds"] > 0 and "supernet" in record


def test_calibration_replaces_the_running_statistics(digits):
    torch.manual_seed(0)
    supernet = EarlyExitSupernet(SPACE, 1, 10)
    arch = parse_architecture(ARCH, SPACE)
    a, b = supernet.extract(arch), supernet.extract(arch)
    calibrate_batch_norm(a, digits, 32, 200, seed=0, device=torch.device("cpu"))
    calibrate_batch_norm(b, digits, 32, 200, seed=1, device=torch.device("cpu"))
    first = a.stem[0][1]
    assert not a.training and not torch.equal(first.running_mean, torch.zeros_like(
        first.running_mean))
    assert not torch.equal(first.running_mean, b.stem[0][1].running_mean)  # other images


def test_a_resolution_the_supernet_never_saw_is_refused(supernet_file, digits):
    other = sample_architectures(get_space("aebnas", (36,)), 1, seed=0)[0]
    with pytest.raises(UserError, match="resolution 36 is not one the supernet was trained at"):
        evaluate_architecture(other, get_space("aebnas", (36,)), digits,
                              _fidelity(supernet_file), ThresholdConfig(), seed=0,
                              device=torch.device("cpu"))


def test_cli_evaluates_by_inheritance_and_refuses_another_dataset(supernet_file, tmp_path,
                                                                 capsys):
    out = tmp_path / "r.json"
    assert run_cli(evaluate_main, ["--dataset", "digits", "--space", "aebnas", "--arch", ARCH,
                                   "--supernet", str(supernet_file), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["supernet"]["file"] == str(supernet_file)
    assert "inherit " in capsys.readouterr().out
    status = run_cli(evaluate_main, ["--dataset", "fashion-mnist", "--space", "aebnas",
                                     "--arch", ARCH, "--supernet", str(supernet_file)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "was trained on digits" in err[0]


def test_surrogate_data_by_inheritance_never_mixes_two_supernets(tmp_path, capsys):
    from aebnas.archive import read_archive
    from aebnas.surrogate_data import main as surrogate_main

    supernet, out = tmp_path / "supernet.safetensors", tmp_path / "a.jsonl"
    info = SupernetInfo("aebnas", "digits", 1, 10, (28, 32), 0, 300, 1, 1, "float32", {})
    torch.manual_seed(0)
    save_supernet(EarlyExitSupernet(SPACE, 1, 10), info, supernet, half=False)
    command = ["-n", "2", "--dataset", "digits", "--space", "aebnas", "--workers", "1",
               "--out", str(out), "--supernet", str(supernet)]
    assert run_cli(surrogate_main, command) == 0
    meta, records = read_archive(out)
    assert meta["fidelity_name"] == "supernet" and len(meta["supernet_sha256"]) == 64
    assert [r["fidelity_name"] for r in records] == ["supernet", "supernet"]
    torch.manual_seed(1)  # the supernet retrained in place: same path, other weights
    save_supernet(EarlyExitSupernet(SPACE, 1, 10), info, supernet, half=False)
    before = out.read_bytes()
    capsys.readouterr()
    assert run_cli(surrogate_main, command) == 2
    assert "supernet_sha256" in capsys.readouterr().err and out.read_bytes() == before
