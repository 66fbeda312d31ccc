import subprocess
import sys

from aebnas.space import Architecture


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "aebnas.space", *args], capture_output=True, text=True
    )


def test_sample_prints_parseable_strings():
    result = _run("sample", "-n", "3", "--seed", "4", "--space", "aebnas")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert all(str(Architecture.parse(line)) == line for line in lines)
    assert (
        lines == _run("sample", "-n", "3", "--seed", "4", "--space", "aebnas").stdout.splitlines()
    )


def test_macs_prints_per_exit_table():
    arch = _run("sample", "-n", "1").stdout.strip()
    result = _run("macs", arch)
    assert result.returncode == 0
    assert "cumulative" in result.stdout and "final" in result.stdout


def test_bad_architecture_exits_2():
    result = _run("macs", "r28|nonsense")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "malformed" in result.stderr
