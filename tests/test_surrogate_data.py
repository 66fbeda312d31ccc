"""`python -m aebnas.surrogate_data`: real (tiny) training, killed with SIGKILL, resumed."""

import json
import os
import signal
import subprocess
import sys
import time

from aebnas.archive import read_archive
from aebnas.space import Architecture

TINY = """version: 1
data:
  val_size: 300
low_fidelity:
  train_size: 128
  batch_size: 64
"""


def _command(config, out, n=4):
    return [
        sys.executable,
        "-m",
        "aebnas.surrogate_data",
        "--config",
        str(config),
        "-n",
        str(n),
        "--workers",
        "1",
        "--out",
        str(out),
    ]


def _count(path):
    if not path.exists():
        return 0
    return max(0, path.read_bytes().count(b"\n") - 1)


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path):
    config, out = tmp_path / "tiny.yaml", tmp_path / "archive.jsonl"
    config.write_text(TINY)
    proc = subprocess.Popen(
        _command(config, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 240
    while _count(out) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = out.read_bytes()
    _, first = read_archive(out)
    assert 2 <= len(first) < 4

    resumed = subprocess.run(_command(config, out), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(first)} of 4 candidates already done" in resumed.stderr
    meta, records = read_archive(out)
    assert out.read_bytes().startswith(before.rsplit(b"\n", 1)[0])  # finished lines untouched
    assert len(records) == 4
    assert len({r["hash"] for r in records}) == 4
    assert meta["fidelity_name"] == "low" and meta["fidelity"]["train_size"] == 128
    for record in records:
        assert record["status"] == "ok", record.get("reason")
        assert Architecture.parse(record["arch"]).hash == record["hash"]
        assert {
            "accuracy",
            "avg_macs",
            "exits",
            "curve",
            "grid",
            "outcomes",
            "encoding_version",
            "packages",
            "fidelity_name",
            "seed",
        } <= set(record)

    again = subprocess.run(_command(config, out), capture_output=True, text=True, timeout=300)
    assert "4 of 4 candidates already done, 0 to train" in again.stderr
    assert len(read_archive(out)[1]) == 4
    json.loads(out.read_text().splitlines()[-1])


def test_failing_worker_initialiser_ends_the_run_with_one_line(tmp_path):
    import pytest

    from aebnas.config import apply_overrides, load_config
    from aebnas.errors import UserError
    from aebnas.surrogate_data import build_parser, run

    out = tmp_path / "a.jsonl"
    args = build_parser().parse_args(["-n", "2", "--workers", "2", "--out", str(out)])
    args.threads = 0  # past main's check: torch.set_num_threads(0) fails in every worker
    config = apply_overrides(load_config(None), {"data.dataset": "digits"})
    start = time.time()
    with pytest.raises(UserError, match="a worker process could not start") as err:
        run(args, config)
    assert "\n" not in str(err.value) and time.time() - start < 120
    assert len(read_archive(out)[1]) == 0
