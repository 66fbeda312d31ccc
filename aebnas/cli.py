"""Shared command-line plumbing: an argparse parser whose errors are one line and exit 2."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from aebnas.errors import DEBUG_FLAG, UserError


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` that raises :class:`UserError` instead of printing usage,
    and accepts ``--debug`` (read by :func:`aebnas.errors.run_cli`: internal errors keep
    their traceback)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument(
            DEBUG_FLAG,
            action="store_true",
            default=argparse.SUPPRESS,
            help="show the traceback of an internal error",
        )

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{message} (see `{self.prog} --help`)")
