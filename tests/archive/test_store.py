import json
import os
import signal
import subprocess
import sys
import time

import pytest

from aebnas.archive import Archive, read_archive
from aebnas.errors import UserError

META = {"dataset": "fashion-mnist", "space": "aebnas-plus"}


def _record(i: int) -> dict:
    return {
        "arch": f"a{i}",
        "hash": f"h{i}",
        "seed": 0,
        "fidelity_name": "low",
        "status": "ok",
        "accuracy": 0.5,
    }


def test_append_and_reopen(tmp_path):
    path = tmp_path / "a.jsonl"
    with Archive(path, META) as archive:
        archive.append(_record(1))
        archive.append(_record(2))
    with Archive(path, META) as archive:
        assert [r["hash"] for r in archive] == ["h1", "h2"]
        with pytest.raises(ValueError, match="already"):
            archive.append(_record(1))
    meta, records = read_archive(path)
    assert meta == META and len(records) == 2


def _archive_with_torn_tail(path):
    """An archive holding record h1 and half of record h2 (an interrupted write)."""
    with Archive(path, META) as archive:
        archive.append(_record(1))
    with open(path, "a") as f:
        f.write('{"hash": "h2", "se')
    return path


def test_torn_last_line_is_set_aside(tmp_path, capsys):
    path = _archive_with_torn_tail(tmp_path / "a.jsonl")
    _, records = read_archive(path)
    assert len(records) == 1
    with Archive(path, META) as archive:
        assert len(archive) == 1
        archive.append(_record(3))
    assert "torn last line" in capsys.readouterr().err
    assert (tmp_path / "a.jsonl.torn").read_text().startswith('{"hash": "h2"')
    assert [r["hash"] for r in read_archive(path)[1]] == ["h1", "h3"]


def test_torn_line_is_reported_once_per_process(tmp_path, capsys):
    path = _archive_with_torn_tail(tmp_path / "a.jsonl")
    for _ in range(3):
        assert len(read_archive(path)[1]) == 1
    assert capsys.readouterr().err.count("torn last line") == 1


def test_a_file_without_header_is_not_called_torn(tmp_path, capsys):
    path = tmp_path / "notes.jsonl"
    path.write_text("garbage\n")
    with pytest.raises(UserError, match="not an aebnas archive"):
        read_archive(path)
    assert capsys.readouterr().err == ""


def test_corrupt_middle_line_is_an_error(tmp_path):
    path = tmp_path / "a.jsonl"
    with Archive(path, META) as archive:
        archive.append(_record(1))
        archive.append(_record(2))
    lines = path.read_text().splitlines()
    lines[1] = "garbage"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match="line 2 is not valid JSON"):
        read_archive(path)


def test_mismatched_meta_is_refused(tmp_path):
    path = tmp_path / "a.jsonl"
    with Archive(path, META):
        pass
    with (
        pytest.raises(UserError, match="holds dataset='fashion-mnist'"),
        Archive(path, {**META, "dataset": "svhn"}),
    ):
        pass


def test_second_writer_is_refused(tmp_path):
    path = tmp_path / "a.jsonl"
    with Archive(path, META), pytest.raises(UserError, match="in use"), Archive(path, META):
        pass


WRITER = """
import sys, time
from aebnas.archive import Archive
with Archive(sys.argv[1], {"dataset": "x"}) as archive:
    for i in range(100000):
        archive.append(
            {"arch": "a", "hash": f"h{i}", "seed": 0, "fidelity_name": "low", "pad": "x" * 5000}
        )
"""


def test_kill_9_loses_no_finished_record(tmp_path):
    path = tmp_path / "a.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    deadline = time.time() + 30
    while time.time() < deadline and (not path.exists() or path.stat().st_size < 200_000):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Archive(path, {"dataset": "x"}) as archive:
        hashes = [r["hash"] for r in archive]
        assert hashes == [f"h{i}" for i in range(len(hashes))]
        assert len(hashes) > 10
        archive.append({"arch": "a", "hash": "new", "seed": 0, "fidelity_name": "low"})
    for line in path.read_text().splitlines():
        json.loads(line)
