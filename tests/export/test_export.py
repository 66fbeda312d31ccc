"""ONNX export: graphs equal the PyTorch network on real images; bad folders are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aebnas.data import load_dataset
from aebnas.errors import UserError
from aebnas.export import (
    MANIFEST_NAME,
    ExportCheckError,
    check_images,
    export_network,
    read_manifest,
)
from aebnas.models import save_checkpoint
from tests.export.export_fixtures import ARCHS, calibrate, real_images, untrained


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def exported(digits, tmp_path_factory):
    """The 4-exit architecture exported once (shared by the refusal tests)."""
    net, metadata = untrained(ARCHS[2], digits, [0.2, None, 0.4, 0.6])
    out = tmp_path_factory.mktemp("export") / "net"
    export_network(net, metadata, real_images(digits, metadata.resolution, 64), out)
    return out


@pytest.mark.parametrize("arch", ARCHS)
def test_exported_graphs_equal_pytorch_for_every_exit(arch, digits, tmp_path):
    net, metadata = untrained(arch, digits)
    images = real_images(digits, metadata.resolution, 64)
    calibrate(net, images)  # image-dependent deep features, so the comparison means something
    result = export_network(net, metadata, images, tmp_path / "out")
    k = len(net.exit_positions)
    assert len(result.max_abs_diff) == k + 1 and max(result.max_abs_diff) <= 1e-4
    manifest = read_manifest(tmp_path / "out")
    assert [s.role for s in manifest.segments] == ["trunk", "exit"] * k + ["final"]
    fused = [(s.name, s.exit) for s in manifest.fused]
    assert fused == [(f"trunk{i}+exit{i}", i) for i in range(k)]
    assert [s.outputs for s in manifest.fused] == [("features", "logits", "confidence")] * k
    assert (manifest.network.role, manifest.network.input) == ("network", "image")
    assert [e.position for e in manifest.exits] == [*net.exit_positions, 5]
    assert manifest.thresholds == metadata.thresholds
    assert manifest.verification["max_abs_diff"] == list(result.max_abs_diff)
    macs = [e.macs for e in manifest.exits]
    assert macs == sorted(macs) and manifest.macs_no_exits < macs[-1]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [MANIFEST_NAME, *(s.file for s in manifest.graphs)]
    )


def test_every_path_through_the_graphs_is_checked(digits, tmp_path, monkeypatch):
    """A fused graph that differs from PyTorch fails the check though the segments agree."""
    import aebnas.export.exporter as exporter

    net, metadata = untrained(ARCHS[1], digits)
    images = real_images(digits, metadata.resolution, 16)
    original = exporter.fused_segments

    def scaled_fused(net, confidence):
        segments = original(net, confidence)
        for s in segments:
            s.module.branch = torch.nn.Sequential(s.module.branch, _Scale(1.5))
        return segments

    monkeypatch.setattr(exporter, "fused_segments", scaled_fused)
    with pytest.raises(ExportCheckError, match=r"exit \d logits"):
        export_network(net, metadata, images, tmp_path / "out")
    assert not (tmp_path / "out").exists()


class _Scale(torch.nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def test_failed_check_writes_nothing_and_keeps_the_old_export(digits, tmp_path):
    net, metadata = untrained(ARCHS[0], digits)
    images = real_images(digits, metadata.resolution, 32)
    out = tmp_path / "out"
    export_network(net, metadata, images, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with torch.no_grad():  # large logits: float32 rounding in the graphs exceeds the tolerance
        net.head.classifier.weight.mul_(1e4)
    with pytest.raises(ExportCheckError, match=r"export check failed: exit \d logits"):
        export_network(net, metadata, images, out, force=True, tolerance=1e-9)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no partial folder left


def test_existing_folder_needs_force(digits, exported):
    net, metadata = untrained(ARCHS[2], digits, [0.2, None, 0.4, 0.6])
    with pytest.raises(UserError, match=r"already exists.*--force"):
        export_network(net, metadata, real_images(digits, 36, 8), exported)


def _copy(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    return copy


def _refusal(folder: Path) -> str:
    with pytest.raises(UserError) as err:
        read_manifest(folder)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_tampered_graph_and_manifest_are_refused(exported, tmp_path):
    copy = _copy(exported, tmp_path)
    graph = copy / "final.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    assert "does not match the SHA-256" in _refusal(copy)

    (tmp_path / "b").mkdir()
    copy2 = _copy(exported, tmp_path / "b")
    manifest = json.loads((copy2 / MANIFEST_NAME).read_text())
    manifest["segments"][1]["sha256"] = "0" * 64
    (copy2 / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert "does not match the SHA-256" in _refusal(copy2)


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda m: m.update(version=1), "version 1"),
        (lambda m: m.update(format="something.else"), "not an aebnas export manifest"),
        (lambda m: m["segments"].pop(1), "segment roles"),
        (lambda m: m["exits"][0].pop("macs"), "malformed (KeyError"),
        (lambda m: m.update(exits=[]), "it lists no exits"),
        (lambda m: m["exits"][1].update(threshold="high"), "malformed (ValueError"),
        (lambda m: m["segments"][0].update(file="../../etc/passwd"), "not a plain file name"),
        (lambda m: m["fused"].pop(0), "fused graphs do not cover"),
        (lambda m: m["network"].update(role="final"), "not the whole network"),
        (lambda m: m["network"].update(file="../net.onnx"), "not a plain file name"),
    ],
)
def test_foreign_or_malformed_manifest_is_refused(exported, tmp_path, edit, expected):
    copy = _copy(exported, tmp_path)
    manifest = json.loads((copy / MANIFEST_NAME).read_text())
    edit(manifest)
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert expected in _refusal(copy)


def test_torn_and_foreign_folders_are_refused(exported, tmp_path):
    copy = _copy(exported, tmp_path)
    (copy / "exit1.onnx").unlink()
    assert "lacks graph file exit1.onnx" in _refusal(copy)
    (copy / "exit1.onnx").write_bytes((exported / "exit1.onnx").read_bytes())
    (copy / "trunk2+exit2.onnx").unlink()
    assert "lacks graph file trunk2+exit2.onnx" in _refusal(copy)
    (copy / MANIFEST_NAME).write_text('{"format": "aebnas.export", "vers')
    assert "is not valid JSON" in _refusal(copy)
    (copy / MANIFEST_NAME).unlink()
    assert f"has no {MANIFEST_NAME}" in _refusal(copy)
    assert "does not exist" in _refusal(tmp_path / "nowhere")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aebnas.export", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_exports_a_checkpoint_checked_on_256_validation_images(digits, tmp_path):
    net, metadata = untrained(ARCHS[1], digits, [0.3, 0.5])
    checkpoint = save_checkpoint(net, tmp_path / "net.safetensors", metadata)
    out = tmp_path / "onnx"
    result = _cli(str(checkpoint), "--format", "onnx", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "check    256 val images" in result.stdout
    manifest = read_manifest(out)
    assert manifest.verification["images"] == 256 and manifest.dataset == "digits"
    assert len(check_images(metadata, None)) == 256

    again = _cli(str(checkpoint), "--out", str(out))
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "already exists" in again.stderr
    bad = _cli(str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and bad.stderr.startswith("error: checkpoint")
    assert bad.stderr.count("\n") == 1
    unknown = _cli(str(checkpoint), "--format", "tflite", "--out", str(tmp_path / "y"))
    assert unknown.returncode == 2 and "invalid choice: 'tflite'" in unknown.stderr
    none = _cli(str(checkpoint), "--out", str(tmp_path / "z"), "--check-images", "0")
    assert none.returncode == 2 and "--check-images must be positive" in none.stderr
