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


def test_exit_table_without_per_exit_accuracy_says_n_a() -> None:
    row = {"hash": "abc", "exits": [_exit(1, 0.25, 2.0), _exit(5, None, 8.0)]}
    row["exits"][0]["accuracy"] = None  # type: ignore[index]
    row["exits"][1]["accuracy"] = None  # type: ignore[index]
    body = [line for line in exit_tables([row]) if line.startswith("| ") and "stage" not in line]
    assert [line.split("|")[4].strip() for line in body] == ["n/a", "n/a"]


def test_pruning_deletes_only_checkpoints_the_run_wrote(tmp_path) -> None:
    from aebnas.report import prune_checkpoints
    from aebnas.search.evaluator import note_checkpoint

    folder = tmp_path / "checkpoints"
    for name in ("front.safetensors", "dominated.safetensors"):
        note_checkpoint(folder, name)
        (folder / name).write_bytes(b"weights")
    (folder / "users-own.safetensors").write_bytes(b"not ours")
    prune_checkpoints(tmp_path, [{"checkpoint": "checkpoints/front.safetensors"}])
    assert sorted(p.name for p in folder.glob("*.safetensors")) == [
        "front.safetensors",
        "users-own.safetensors",
    ]
