"""Self-describing checkpoints: round trip on real images, and refusal of bad files."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from safetensors.torch import save_file

from aebnas.data import load_dataset
from aebnas.errors import UserError
from aebnas.models import (
    CheckpointMetadata,
    build_network,
    checkpoint_metadata,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from aebnas.space import get_space, parse_architecture

SPACE = get_space("aebnas-plus", (28, 32, 36, 40))
ARCH = parse_architecture(
    "r28|k3e3,k3e3|k5e4,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|x1:r8_dw3_c2_pavg|x3:r10_conv3_c1_pmax",
    SPACE,
)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _network_and_metadata(digits, thresholds=(0.4, None)):
    torch.manual_seed(0)
    net = build_network(ARCH, SPACE, digits.channels, digits.num_classes).eval()
    return net, checkpoint_metadata(ARCH, SPACE, digits, "margin", thresholds)


def test_round_trip_restores_weights_metadata_and_outputs(digits, tmp_path):
    net, metadata = _network_and_metadata(digits)
    path = save_checkpoint(net, tmp_path / "net.safetensors", metadata)
    loaded, read = load_checkpoint(path)
    assert read == metadata
    assert read.class_names == tuple(str(d) for d in range(10))
    assert read.mean == digits.mean and read.in_channels == 1 and read.resolution == 28
    assert read.infer_thresholds == (0.4, math.inf)
    assert not loaded.training
    x, _ = next(iter(digits.batches("val", 28, 16)))
    with torch.no_grad():
        for a, b in zip(net(x), loaded(x), strict=True):
            assert torch.equal(a, b)
    assert torch.equal(
        net.infer(x, read.infer_thresholds)[1], loaded.infer(x, read.infer_thresholds)[1]
    )


def test_existing_file_is_kept_unless_forced(digits, tmp_path):
    net, metadata = _network_and_metadata(digits)
    path = tmp_path / "net.safetensors"
    save_checkpoint(net, path, metadata)
    before = path.read_bytes()
    other = dataclasses.replace(metadata, thresholds=(0.9, 0.8))
    with pytest.raises(UserError, match=r"already exists.*--force"):
        save_checkpoint(net, path, other)
    assert path.read_bytes() == before
    save_checkpoint(net, path, other, force=True)
    assert read_metadata(path).thresholds == (0.9, 0.8)


def _one_line(err: pytest.ExceptionInfo[UserError]) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_old_checkpoint_names_the_missing_metadata(digits, tmp_path):
    net, _ = _network_and_metadata(digits)
    path = tmp_path / "old.safetensors"
    old_header = {"arch": ARCH.canonical, "space": "aebnas-plus", "dataset": "digits"}
    save_file(dict(net.state_dict()), str(path), metadata={**old_header, "thresholds": "[0.4]"})
    with pytest.raises(UserError) as err:
        load_checkpoint(path)
    message = _one_line(err)
    assert "old aebnas checkpoint" in message
    for name in ("format", "version", "in_channels", "class_names", "mean", "confidence"):
        assert name in message
    assert "space," not in message  # present fields are not named


def test_foreign_torn_and_other_version_files_are_refused(digits, tmp_path):
    net, metadata = _network_and_metadata(digits)
    good = save_checkpoint(net, tmp_path / "good.safetensors", metadata)

    text = tmp_path / "notes.safetensors"
    text.write_text("not a checkpoint\n")
    torn = tmp_path / "torn.safetensors"
    torn.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(foreign))
    future = tmp_path / "future.safetensors"
    future_header = {**metadata.to_header(), "version": "2"}
    save_file(dict(net.state_dict()), str(future), metadata=future_header)
    mismatch = tmp_path / "mismatch.safetensors"
    other_arch = ARCH.canonical.replace("x1:r8_dw3_c2_pavg", "x1:r8_conv3_c2_pavg")
    header = {**metadata.to_header(), "arch": f'"{other_arch}"'}
    save_file(dict(net.state_dict()), str(mismatch), metadata=header)

    cases = {
        text: "not a readable safetensors file",
        torn: "torn",
        foreign: "not an aebnas checkpoint",
        future: "version '2'",
        mismatch: "do not fit the architecture",
        tmp_path / "missing.safetensors": "does not exist",
    }
    for path, expected in cases.items():
        with pytest.raises(UserError) as err:
            load_checkpoint(path)
        assert expected in _one_line(err), path


def test_inconsistent_metadata_is_refused(digits, tmp_path):
    net, metadata = _network_and_metadata(digits)
    path = tmp_path / "net.safetensors"
    header = {**metadata.to_header(), "thresholds": "[0.5]", "confidence": '"magic"'}
    save_file(dict(net.state_dict()), str(path), metadata=header)
    with pytest.raises(UserError, match=r"1 thresholds for 2 exits; unknown confidence 'magic'"):
        load_checkpoint(path)


def test_header_is_json_strings_per_field(digits):
    _, metadata = _network_and_metadata(digits)
    header = metadata.to_header()
    assert header["format"] == "aebnas.checkpoint" and header["version"] == "1"
    assert header["thresholds"] == "[0.4, null]"
    assert header["arch"] == f"\"{ARCH.canonical}\""
    assert CheckpointMetadata.from_header(header, "x") == metadata
