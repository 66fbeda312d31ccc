"""The one error boundary of every CLI (aebnas.errors.run_cli)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from aebnas.cli import ArgumentParser
from aebnas.errors import UserError, run_cli


def _main(failure: BaseException):
    def main(argv: Sequence[str] | None) -> int:
        parser = ArgumentParser(prog="tool")
        parser.add_argument("--x", type=int)
        parser.parse_args(argv)
        raise failure

    return main


def test_user_error_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(_main(UserError("bad thing\nacross lines; fix it")), []) == 2
    assert capsys.readouterr().err == "error: bad thing across lines; fix it\n"


def test_file_system_error_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(_main(PermissionError(13, "Permission denied", "/x/y")), []) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/x/y: Permission denied" in err and "Traceback" not in err


def test_internal_error_is_one_line_naming_debug(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(_main(ZeroDivisionError("division by zero")), ["--x", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: internal error (ZeroDivisionError: division by zero)")
    assert err.count("\n") == 1 and "--debug" in err


def test_debug_keeps_the_traceback() -> None:
    with pytest.raises(ZeroDivisionError):
        run_cli(_main(ZeroDivisionError("division by zero")), ["--debug"])
    with pytest.raises(PermissionError):
        run_cli(_main(PermissionError(13, "Permission denied", "/x")), ["--x", "2", "--debug"])


def test_parser_error_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(_main(ZeroDivisionError()), ["--x", "one"]) == 2
    assert "invalid int value" in capsys.readouterr().err
