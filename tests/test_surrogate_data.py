"""`python -m aebnas.surrogate_data`: real (tiny) training, killed with SIGKILL, resumed;
the same command gives the same records, with one worker or two."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from aebnas.archive import read_archive
from aebnas.space import Architecture

TINY = """version: 1
data:
  val_size: 300
low_fidelity:
  train_size: 128
  batch_size: 64
"""


#: Digits (offline, seconds per candidate): 2 steps of 64 images, 300 validation images.
TINY_DIGITS = """version: 1
data:
  dataset: digits
  val_size: 300
low_fidelity:
  train_size: 128
  batch_size: 64
"""
#: Record fields that measure time, not the result.
TIMING_FIELDS = ("train_seconds", "images_per_second", "eval_seconds", "finished")


def _command(config, out, n=4, workers=1):
    return [
        sys.executable,
        "-m",
        "aebnas.surrogate_data",
        "--config",
        str(config),
        "-n",
        str(n),
        "--workers",
        str(workers),
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


def _records_of_run(tmp_path, name, workers):
    config, out = tmp_path / "digits.yaml", tmp_path / f"{name}.jsonl"
    config.write_text(TINY_DIGITS)
    result = subprocess.run(
        _command(config, out, n=3, workers=workers), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    _, records = read_archive(out)
    assert len(records) == 3 and all(r["status"] == "ok" for r in records)
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]


@pytest.fixture(scope="module")
def one_worker_records(tmp_path_factory):
    return _records_of_run(tmp_path_factory.mktemp("one"), "one", workers=1)


@pytest.mark.slow
def test_same_command_and_seed_give_identical_records(one_worker_records, tmp_path):
    again = _records_of_run(tmp_path, "again", workers=1)
    assert again == one_worker_records  # every field but timing, outcomes included, same order
    assert {r["threads"] for r in again} == {1}  # the thread policy (it decides the numbers)


@pytest.mark.slow
def test_two_workers_killed_and_resumed_give_the_records_of_one(one_worker_records, tmp_path):
    """The driver of a 2-worker run is SIGKILLed after its first record; the same command
    resumes it (2 workers) to the records of an uninterrupted 1-worker run."""
    config, out = tmp_path / "digits.yaml", tmp_path / "two.jsonl"
    config.write_text(TINY_DIGITS)
    command = _command(config, out, n=3, workers=2)
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _count(out) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers die with it
    proc.wait()
    first = _count(out)
    assert 1 <= first < 3, "the driver must be killed mid-way"
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{first} of 3 candidates already done, {3 - first} to train" in resumed.stderr
    _, records = read_archive(out)
    two = [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]

    def by_hash(records):
        return sorted(records, key=lambda r: r["hash"])

    assert by_hash(two) == by_hash(one_worker_records)
