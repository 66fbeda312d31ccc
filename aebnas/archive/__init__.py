"""Crash-safe JSON Lines archives of evaluated candidates."""

from aebnas.archive.store import ARCHIVE_FORMAT, ARCHIVE_VERSION, Archive, read_archive, record_key

__all__ = ["ARCHIVE_FORMAT", "ARCHIVE_VERSION", "Archive", "read_archive", "record_key"]
