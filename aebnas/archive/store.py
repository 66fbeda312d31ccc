"""A crash-safe, resumable JSON Lines archive of evaluated candidates.

Layout (format ``aebnas.archive`` version 1): the first line is a header object
``{"format": "aebnas.archive", "version": 1, "meta": {...}}``; every further line is one record
(an evaluation result, see :mod:`aebnas.evaluate`). Records are appended one line at a time,
flushed and fsync'ed, so a kill (``kill -9`` included) loses at most the line being written.
On opening, the file is first validated without modifying it (header line, every complete
record a JSON object with ``arch``, ``hash`` and ``seed``, the header's meta matching the run);
only then is a torn last line (no newline or not JSON) reported in one warning line, moved to
``<archive>.torn`` and cut off. A corrupt line elsewhere is an error, never silently skipped. A
lock file (``<archive>.lock``, created only once the archive is known good) keeps two writers
off one archive.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aebnas.errors import UserError

ARCHIVE_FORMAT = "aebnas.archive"
ARCHIVE_VERSION = 1
#: Keys every record must have (its identity, see :func:`record_key`).
RECORD_KEYS = ("arch", "hash", "seed")


def record_key(record: dict[str, Any]) -> str:
    """What makes a record unique: architecture hash, seed and fidelity name."""
    return f"{record['hash']}:{record['seed']}:{record.get('fidelity_name', '')}"


def _parse_lines(path: Path, data: bytes) -> tuple[list[Any], int]:
    """Parsed JSON values and the byte length of the intact prefix."""
    objects: list[Any] = []
    offset = 0
    lines = data.split(b"\n")
    for number, line in enumerate(lines[:-1], start=1):
        try:
            objects.append(json.loads(line))
        except ValueError:  # JSONDecodeError, or UnicodeDecodeError for binary bytes
            if number == len(lines) - 1 and not lines[-1]:
                return objects, offset  # the last complete line is torn (e.g. NUL-filled)
            raise UserError(
                f"archive {path} line {number} is not valid JSON; restore the file from a backup "
                "or delete that line"
            ) from None
        offset += len(line) + 1
    return objects, offset


def read_archive(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read an archive without modifying it: ``(header meta, records)``; torn tail ignored."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise UserError(f"archive {path} is not a file; pass the path of a .jsonl archive")
    if not path.is_file():
        raise UserError(f"archive {path} does not exist; create it with `make surrogate-data`")
    data = path.read_bytes()
    meta, records, intact = _validated(path, data)
    if intact < len(data):
        _warn_once(f"warning: {path}: ignoring a torn last line")
    return meta, records


def _validated(path: Path, data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """Header meta, records and intact length of archive bytes ``data``; anything that is not
    an aebnas archive (header, record shapes) raises a one-line :class:`UserError`."""
    objects, intact = _parse_lines(path, data)
    header = objects[0] if objects else None
    if not isinstance(header, dict) or header.get("format") != ARCHIVE_FORMAT:
        raise UserError(
            f"{path} is not an aebnas archive (no '{ARCHIVE_FORMAT}' header line); pass an "
            "archive written by aebnas or another --out path"
        )
    if header.get("version") != ARCHIVE_VERSION:
        raise UserError(
            f"archive {path} has version {header.get('version')!r}; this aebnas reads "
            f"version {ARCHIVE_VERSION}"
        )
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise UserError(f"archive {path} has a header whose meta is not an object; restore it")
    for number, record in enumerate(objects[1:], start=2):
        _check_record(record, path, number)
    return meta, objects[1:], intact


def _check_record(record: Any, path: Path, number: int) -> None:
    problem = None
    if not isinstance(record, dict):
        problem = f"is a JSON {type(record).__name__}, not an object"
    elif missing := [k for k in RECORD_KEYS if k not in record]:
        problem = f"has no {', '.join(repr(k) for k in missing)}"
    elif not isinstance(record["arch"], str) or not isinstance(record["hash"], str):
        problem = "has an 'arch' or 'hash' that is not a string"
    if problem is not None:
        raise UserError(
            f"archive {path} line {number} {problem} (every record needs "
            f"{', '.join(RECORD_KEYS)}); restore the file from a backup or delete that line"
        )


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    """Print ``message`` to stderr the first time this process sees it (an archive is often
    read several times by one command)."""
    if message not in _WARNED:
        _WARNED.add(message)
        print(message, file=sys.stderr)


class Archive:
    """An append-only archive open for writing (use as a context manager).

    Args:
        path: The ``.jsonl`` file (created with ``meta`` in its header if missing).
        meta: What the archive holds (dataset, space, fidelity, ...). When the file exists,
            these keys must match its header, else :class:`UserError` (no mixing of runs).
    """

    def __init__(self, path: str | Path, meta: dict[str, Any]) -> None:
        self.path = Path(path)
        self.meta = meta
        self.records: list[dict[str, Any]] = []
        self._lock_file: Any = None

    def __enter__(self) -> Archive:
        self.check()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._open_locked()
        except BaseException:
            self.__exit__()
            raise
        return self

    def check(self) -> None:
        """Refuse (one-line :class:`UserError`) a path that is not a file, an archive of
        other settings, or a file that is not an aebnas archive, without modifying anything."""
        if self.path.exists() and not self.path.is_file():
            raise UserError(f"--out {self.path} is not a file; pass the path of a .jsonl archive")
        if self.path.is_file() and self.path.stat().st_size > 0:
            meta, _, _ = _validated(self.path, self.path.read_bytes())
            self._check_meta(meta)

    def _open_locked(self) -> None:
        if self.path.exists() and self.path.stat().st_size > 0:
            self._check_meta(_validated(self.path, self.path.read_bytes())[0])
            self._repair_tail()
            meta, self.records = read_archive(self.path)
            self._check_meta(meta)
        else:
            header = {"format": ARCHIVE_FORMAT, "version": ARCHIVE_VERSION, "meta": self.meta}
            self._append_line(header)

    def __exit__(self, *exc: object) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _lock(self) -> None:
        self._lock_file = open(self.path.with_suffix(self.path.suffix + ".lock"), "w")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                f"archive {self.path} is in use by another aebnas process; wait for it or "
                "write to another --out"
            ) from None

    def _repair_tail(self) -> None:
        data = self.path.read_bytes()
        _, intact = _parse_lines(self.path, data)
        if intact == len(data):
            return
        torn = self.path.with_suffix(self.path.suffix + ".torn")
        with open(torn, "ab") as f:
            f.write(data[intact:] + b"\n")
        print(
            f"warning: {self.path}: torn last line ({len(data) - intact} bytes, an interrupted "
            f"write) moved to {torn}; resuming after the last complete record",
            file=sys.stderr,
        )
        with open(self.path, "r+b") as f:
            f.truncate(intact)
            os.fsync(f.fileno())

    def _check_meta(self, meta: dict[str, Any]) -> None:
        for key, value in self.meta.items():
            if key in meta and meta[key] != value:
                raise UserError(
                    f"archive {self.path} holds {key}={meta[key]!r}, this run has {value!r}; "
                    "use another --out or the same settings"
                )

    def _append_line(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, separators=(",", ":"), allow_nan=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def keys(self) -> set[str]:
        return {record_key(r) for r in self.records}

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably; a record whose key is already stored is refused."""
        if record_key(record) in self.keys():
            raise ValueError(f"record {record_key(record)} is already in {self.path}")
        self._append_line(record)
        self.records.append(record)
