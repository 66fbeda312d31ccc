"""Checks of output paths, done before anything is computed or written.

A command that would fail only at the end (an ``--out`` whose parent is a file, a folder where
a file belongs, another tool's file) is refused at the start with one line, so no training is
lost and no existing file is touched.
"""

from __future__ import annotations

import os
from pathlib import Path

from aebnas.errors import UserError


def _nearest_existing(path: Path) -> Path:
    for candidate in [path, *path.parents]:
        if candidate.exists():
            return candidate
    return Path(".")


def check_creatable(path: str | Path, flag: str = "--out") -> Path:
    """``path`` can be created (or written) by this process: the nearest existing ancestor of
    its parent is a writable folder.

    Raises:
        UserError: An ancestor is a file, or the folder is not writable.
    """
    path = Path(path)
    parent = _nearest_existing(path.parent)
    if not parent.is_dir():
        raise UserError(
            f"{flag} {path} cannot be created: {parent} is a file, not a folder; choose another "
            f"{flag}"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(
            f"{flag} {path} cannot be created: {parent} is not writable; choose another {flag}"
        )
    return path


def check_output_file(path: str | Path, flag: str = "--out") -> Path:
    """``path`` is a file that may be (over)written: not a folder, and creatable."""
    path = check_creatable(path, flag)
    if path.exists() and not path.is_file():
        raise UserError(f"{flag} {path} is a folder, not a file; pass a file path")
    return path


def check_output_folder(path: str | Path, marker: str, what: str, flag: str = "--out") -> Path:
    """``path`` is a folder a new ``what`` may be written into: missing or empty (a folder
    holding ``marker`` is an earlier one, refused with the caller's message elsewhere).

    Raises:
        UserError: ``path`` is a file, a non-empty folder without ``marker``, or not creatable.
    """
    path = check_creatable(path, flag)
    if path.exists() and not path.is_dir():
        raise UserError(
            f"{flag} {path} is a file, not a folder; choose a new folder for the {what}"
        )
    if path.is_dir() and not (path / marker).exists() and any(path.iterdir()):
        raise UserError(
            f"{flag} {path} is a non-empty folder that holds no {what} ({marker} is missing); "
            f"choose a new or empty folder, nothing in it is overwritten"
        )
    return path
