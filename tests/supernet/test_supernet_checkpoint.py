import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from aebnas.errors import UserError, run_cli
from aebnas.space import get_space, sample_architectures
from aebnas.supernet import EarlyExitSupernet
from aebnas.supernet.checkpoint import SupernetInfo, load_supernet, save_supernet
from aebnas.supernet.cli import main

SPACE = get_space("aebnas", (32,))


def _info(**changes):
    fields = dict(space="aebnas", dataset="digits", in_channels=1, num_classes=10,
                  resolutions=(32,), data_seed=0, val_size=300, epochs=1, steps=3,
                  precision="float32", config={"lr": 0.1})
    return SupernetInfo(**{**fields, **changes})


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    supernet = EarlyExitSupernet(SPACE, 1, 10)
    path = tmp_path_factory.mktemp("supernet") / "supernet.safetensors"
    save_supernet(supernet, _info(), path, half=True)
    return supernet, path


def test_a_saved_supernet_loads_with_its_header_and_half_precision_weights(saved):
    original, path = saved
    loaded, info = load_supernet(path)
    assert (info.space, info.dataset, info.resolutions, info.precision) == (
        "aebnas", "digits", (32,), "float16")
    assert len(info.sha256) == 64
    arch = sample_architectures(SPACE, 1, seed=0)[0]
    a, b = original.eval().extract(arch), loaded.extract(arch)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        for za, zb in zip(a(x), b(x), strict=True):
            torch.testing.assert_close(za, zb, rtol=2e-2, atol=2e-2)  # float16 storage


def _rewrite_header(src, dst, **changes):
    with safe_open(str(src), framework="pt") as f:
        header = {**f.metadata(), **changes}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    save_file(tensors, str(dst), metadata=header)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": "2"}, "format version 2"),
        ({"format": "something.else"}, "not an aebnas supernet"),
        ({"space": "aebnas-plus"}, "does not fit space 'aebnas-plus'"),
        ({"resolutions": "[32"}, "damaged header"),
    ],
)
def test_foreign_other_version_and_mismatched_files_are_refused(saved, tmp_path, change, message):
    _, path = saved
    other = tmp_path / "other.safetensors"
    _rewrite_header(path, other, **change)
    with pytest.raises(UserError, match=message):
        load_supernet(other)


def test_torn_and_missing_files_are_one_line_errors(saved, tmp_path, capsys):
    _, path = saved
    torn = tmp_path / "torn.safetensors"
    torn.write_bytes(path.read_bytes()[: 10_000])
    assert run_cli(main, ["info", str(torn)]) == 2
    assert run_cli(main, ["info", str(tmp_path / "missing.safetensors")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "torn or foreign" in lines[0] and "does not exist" in lines[1]


def test_training_refuses_to_overwrite_and_resume_needs_a_state(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "supernet.safetensors").write_bytes(b"trained weights")
    assert run_cli(main, ["train", "--dataset", "digits", "--out", str(out)]) == 2
    assert run_cli(main, ["train", "--dataset", "digits", "--out", str(tmp_path / "new"),
                          "--resume"]) == 2
    assert (out / "supernet.safetensors").read_bytes() == b"trained weights"
    err = capsys.readouterr().err
    assert "already exists; pass --resume" in err and "nothing to resume" in err
    assert json.dumps(err).count("Traceback") == 0
