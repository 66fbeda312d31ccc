"""Shared command-line plumbing: an argparse parser whose errors are one line and exit 2."""

from __future__ import annotations

import argparse
from typing import NoReturn

from aebnas.errors import UserError


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` that raises :class:`UserError` instead of printing usage."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{message} (see `{self.prog} --help`)")
