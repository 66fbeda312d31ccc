"""report.md tables."""

from __future__ import annotations

from aebnas.report.markdown import exit_tables


def _exit(position: int, threshold: float | None, macs: float) -> dict[str, object]:
    return {
        "position": position,
        "macs": macs,
        "util": 0.5,
        "accuracy": 0.8,
        "threshold": threshold,
    }


def test_exit_table_tells_switched_off_exits_from_the_final_head() -> None:
    row = {
        "hash": "abc",
        "exits": [_exit(1, 0.25, 2.0), _exit(3, None, 9.0), _exit(5, None, 8.0)],
    }
    body = [line for line in exit_tables([row]) if line.startswith("| ") and "stage" not in line]
    assert [line.rsplit("|", 2)[-2].strip() for line in body] == ["0.2500", "off", "-"]
