"""Bad inputs across the five CLIs: one stderr line, exit 2, no traceback, no file changed.

Every case runs a CLI's ``main`` in this process through :func:`aebnas.errors.run_cli` (fast),
except the few that need a process of their own (worker pools that could hang); those run as a
subprocess with a timeout. Each case gets a fresh folder (also the working directory) holding
the files it needs; the whole folder is hashed before and after the run, so a file modified,
created (a stray ``.lock``, a ``.torn``), or deleted fails the case.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from aebnas.errors import run_cli

REPO = Path(__file__).resolve().parents[1]
DIGITS_ARCHIVE = REPO / "data" / "surrogates" / "digits-aebnas-plus-low.jsonl"
FMNIST_ARCHIVE = REPO / "data" / "surrogates" / "fashion-mnist-aebnas-plus-low.jsonl"
SAVED_GP = REPO / "predictors" / "fashion-mnist-aebnas-plus-low" / "gp-accuracy"

#: A valid aebnas-plus architecture at a digits resolution.
DIGITS_ARCH = (
    "r40|k3e4,k7e4,k5e4|k5e6,k3e6,k3e4|k3e6,k5e6|k7e3,k5e3,k7e3,k7e4|k7e3,k5e4,k5e6|"
    "x2:r10_conv3_c1_pavg+r10_conv5_c2_pnone+r10_conv3_c1_pnone|x4:r10_conv3_c2_pavg"
)
HUGE = "9" * 5000
EVAL = ("--arch", DIGITS_ARCH, "--dataset", "digits", "--train-size", "64")
SURR = ("--dataset", "digits", "-n", "1", "--workers", "1")
BENCH = ("--benchmark", "{d}/a.jsonl", "--budget", "2", "--batch-size", "2")

MODULES = {
    "evaluate": "aebnas.evaluate",
    "surrogate_data": "aebnas.surrogate_data",
    "bo_search": "aebnas.bo_search",
    "space": "aebnas.space",
    "predictors": "aebnas.predictors",
}
MAINS = {
    "evaluate": "aebnas.evaluate",
    "surrogate_data": "aebnas.surrogate_data",
    "bo_search": "aebnas.bo_search",
    "space": "aebnas.space.__main__",
    "predictors": "aebnas.predictors.cli",
}


def _lines(path: Path, count: int) -> bytes:
    with open(path, "rb") as f:
        return b"".join(next(f) for _ in range(count))


def _header(**meta: object) -> bytes:
    line = {"format": "aebnas.archive", "version": 1, "meta": {"dataset": "digits", **meta}}
    return (json.dumps(line) + "\n").encode()


def _digits_head(records: int = 6) -> bytes:
    return _lines(DIGITS_ARCHIVE, 1 + records)


def _fmnist_head(records: int = 30) -> bytes:
    return _lines(FMNIST_ARCHIVE, 1 + records)


def _record_without(key: str) -> bytes:
    record = json.loads(_lines(DIGITS_ARCHIVE, 2).splitlines()[1])
    del record[key]
    return _lines(DIGITS_ARCHIVE, 1) + (json.dumps(record) + "\n").encode()


HELLO = b"hello world\n"
LIST = b"[1,2,3]\n"
BINARY = b"\x80\x81\xfe\xff\x00\x01binary\n\xc3\x28\n"
LIST_RECORD = _header(space="aebnas-plus") + b"[1, 2, 3]\n"
NO_HASH = _record_without("hash")
NO_ARCH = _record_without("arch")
VERSION_2 = b'{"format": "aebnas.archive", "version": 2, "meta": {}}\n'
CORRUPT_MIDDLE = _digits_head(2) + b"{not json\n" + _lines(DIGITS_ARCHIVE, 4).splitlines(True)[3]
OTHER_DATASET = _header(space="aebnas-plus").replace(b'"digits"', b'"cifar10"')
NON_STRING_ARCH = _header(space="aebnas-plus") + b'{"arch": 5, "hash": "x", "seed": 0}\n'


def _prior_with_source(target: str) -> Callable[[Path], None]:
    """A saved ``prior`` predictor folder ``pred/`` whose ``source`` is a symlink to ``target``
    (relative to ``pred/``); ``elsewhere/src`` is a real saved GP outside the folder."""

    def setup(d: Path) -> None:
        shutil.copytree(SAVED_GP, d / "elsewhere" / "src")
        pred = d / "pred"
        shutil.copytree(SAVED_GP, pred / "base")
        shutil.copy(SAVED_GP / "metadata.json", pred / "metadata.json")
        model = {"predictor": "prior", "settings": {}, "a": 0.0, "b": 1.0, "extra_std": 0.0}
        (pred / "model.json").write_text(json.dumps(model))
        (pred / "source").symlink_to(target)

    return setup


def _prior_with_base_outside(d: Path) -> None:
    _prior_with_source("../elsewhere/src")(d)
    shutil.rmtree(d / "pred" / "base")
    (d / "pred" / "source").unlink()
    shutil.copytree(SAVED_GP, d / "pred" / "source")
    (d / "pred" / "base").symlink_to("../elsewhere/src")


def _file_symlinked_out(d: Path) -> None:
    shutil.copytree(SAVED_GP, d / "pred")
    (d / "secret.json").write_text((SAVED_GP / "model.json").read_text())
    (d / "pred" / "model.json").unlink()
    (d / "pred" / "model.json").symlink_to("../secret.json")


def _predictors_folder_symlinked_out(d: Path) -> None:
    _file_symlinked_out(d)
    (d / "preds").mkdir()
    (d / "pred").rename(d / "preds" / "accuracy")
    (d / "preds" / "accuracy" / "model.json").unlink()
    (d / "preds" / "accuracy" / "model.json").symlink_to("../../secret.json")
    shutil.copytree(SAVED_GP.parent / "gp-avg_macs", d / "preds" / "avg_macs")


def _search_run_folder(d: Path) -> None:
    (d / "run").mkdir()
    (d / "run" / "archive.jsonl").write_bytes(_digits_head(1))
    (d / "run" / "config.yaml").write_text("version: 1\n")


@dataclass(frozen=True)
class Case:
    """One bad input.

    Args:
        id: Test id.
        cli: Key of :data:`MODULES`.
        argv: Arguments; ``{d}`` is the case folder.
        files: Files written into the case folder first (relative path -> bytes).
        setup: Further preparation of the case folder.
        subprocess: Run as its own process (with a timeout) instead of in-process.
    """

    id: str
    cli: str
    argv: tuple[str, ...]
    files: dict[str, bytes] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None
    subprocess: bool = False


def C(id: str, cli: str, *argv: str, **kw: object) -> Case:
    return Case(id, cli, tuple(argv), **kw)  # type: ignore[arg-type]


def _yaml(text: str) -> dict[str, bytes]:
    return {"c.yaml": ("version: 1\n" + text).encode()}


# fmt: off
CASES = [
    # ------------------------------------------------------------------ space
    C("space-sample-n-negative", "space", "sample", "-n", "-3"),
    C("space-sample-n-zero", "space", "sample", "-n", "0"),
    C("space-sample-n-not-int", "space", "sample", "-n", "abc"),
    C("space-sample-unknown-space", "space", "sample", "--space", "nope"),
    C("space-sample-unknown-dataset", "space", "sample", "--dataset", "imagenet"),
    C("space-no-command", "space"),
    C("space-unknown-flag", "space", "sample", "--bogus"),
    C("space-macs-garbage", "space", "macs", "garbage"),
    C("space-macs-classes-negative", "space", "macs", DIGITS_ARCH, "--dataset", "digits",
      "--classes", "-4"),
    C("space-macs-classes-zero", "space", "macs", DIGITS_ARCH, "--dataset", "digits",
      "--classes", "0"),
    C("space-macs-huge-resolution", "space", "macs", f"r{HUGE}|k3e4"),
    C("space-macs-huge-kernel", "space", "macs", DIGITS_ARCH.replace("k3e4", f"k{HUGE}e4", 1),
      "--dataset", "digits"),
    C("space-macs-huge-exit-position", "space", "macs",
      DIGITS_ARCH.replace("x4:", f"x{HUGE}:"), "--dataset", "digits"),
    C("space-macs-resolution-not-in-space", "space", "macs", DIGITS_ARCH.replace("r40", "r41"),
      "--dataset", "digits"),
    C("space-macs-only-resolution", "space", "macs", "r32"),
    C("space-macs-repeated-exit", "space", "macs",
      DIGITS_ARCH + "|x4:r10_conv3_c2_pavg", "--dataset", "digits"),
    C("space-macs-exit-before-stage", "space", "macs",
      "r40|x2:r10_conv3_c1_pavg|k3e4", "--dataset", "digits"),
    C("space-macs-bad-module", "space", "macs", DIGITS_ARCH.replace("pavg", "p", 1),
      "--dataset", "digits"),
    # ------------------------------------------------------------------ evaluate
    C("eval-batch-size-zero", "evaluate", *EVAL, "--batch-size", "0"),
    C("eval-batch-size-negative", "evaluate", *EVAL, "--batch-size", "-5"),
    C("eval-config-batch-size-zero", "evaluate", *EVAL, "--config", "{d}/c.yaml",
      files=_yaml("low_fidelity:\n  batch_size: 0\n")),
    C("eval-lr-negative", "evaluate", *EVAL, "--lr", "-1"),
    C("eval-lr-zero", "evaluate", *EVAL, "--lr", "0"),
    C("eval-lr-nan", "evaluate", *EVAL, "--lr", "nan"),
    C("eval-lr-inf", "evaluate", *EVAL, "--lr", "inf"),
    C("eval-config-lr-nan", "evaluate", *EVAL, "--config", "{d}/c.yaml",
      files=_yaml("low_fidelity:\n  lr: .nan\n")),
    C("eval-epochs-zero", "evaluate", *EVAL, "--epochs", "0"),
    C("eval-epochs-negative", "evaluate", *EVAL, "--epochs", "-1"),
    C("eval-epochs-not-int", "evaluate", *EVAL, "--epochs", "many"),
    C("eval-train-size-zero", "evaluate", *EVAL[:-1], "0"),
    C("eval-train-size-negative", "evaluate", *EVAL[:-1], "-5"),
    C("eval-tolerance-negative", "evaluate", *EVAL, "--accuracy-tolerance", "-1"),
    C("eval-tolerance-nan", "evaluate", *EVAL, "--accuracy-tolerance", "nan"),
    C("eval-tolerance-above-one", "evaluate", *EVAL, "--accuracy-tolerance", "2"),
    C("eval-max-macs-zero", "evaluate", *EVAL, "--max-macs", "0"),
    C("eval-max-macs-nan", "evaluate", *EVAL, "--max-macs", "nan"),
    C("eval-max-macs-impossible", "evaluate", *EVAL, "--max-macs", "0.01"),
    C("eval-target-macs-negative", "evaluate", *EVAL, "--target-macs", "-1"),
    C("eval-target-macs-inf", "evaluate", *EVAL, "--target-macs", "inf"),
    C("eval-arch-garbage", "evaluate", "--arch", "r40|garbage", "--dataset", "digits"),
    C("eval-arch-huge-resolution", "evaluate", "--arch", f"r{HUGE}|k3e4", "--dataset", "digits"),
    C("eval-arch-bad-gene", "evaluate", "--arch", DIGITS_ARCH.replace("k3e4", "k4e4", 1),
      "--dataset", "digits"),
    C("eval-no-arch", "evaluate", "--dataset", "digits"),
    C("eval-unknown-dataset", "evaluate", "--arch", DIGITS_ARCH, "--dataset", "imagenet"),
    C("eval-cifar-missing-files", "evaluate", "--arch", DIGITS_ARCH.replace("r40", "r32"),
      "--dataset", "cifar10", "--data-root", "{d}"),
    C("eval-unknown-device", "evaluate", *EVAL, "--device", "tpu"),
    C("eval-config-missing", "evaluate", *EVAL, "--config", "{d}/missing.yaml"),
    C("eval-config-not-yaml", "evaluate", *EVAL, "--config", "{d}/c.yaml",
      files={"c.yaml": b"a: [1,\n"}),
    C("eval-config-unknown-key", "evaluate", *EVAL, "--config", "{d}/c.yaml",
      files=_yaml("bogus: 1\n")),
    C("eval-config-wrong-type", "evaluate", *EVAL, "--config", "{d}/c.yaml",
      files=_yaml("low_fidelity:\n  epochs: one\n")),
    C("eval-config-version-2", "evaluate", *EVAL, "--config", "{d}/c.yaml",
      files={"c.yaml": b"version: 2\n"}),
    C("eval-config-top-level-list", "evaluate", *EVAL, "--config", "{d}/c.yaml",
      files={"c.yaml": b"- 1\n- 2\n"}),
    C("eval-config-val-size-zero", "evaluate", *EVAL, "--config", "{d}/c.yaml",
      files=_yaml("data:\n  val_size: 0\n")),
    C("eval-config-momentum-negative", "evaluate", *EVAL, "--config", "{d}/c.yaml",
      files=_yaml("low_fidelity:\n  momentum: -0.5\n")),
    C("eval-config-weight-decay-negative", "evaluate", *EVAL, "--config", "{d}/c.yaml",
      files=_yaml("low_fidelity:\n  weight_decay: -1\n")),
    C("eval-config-grad-clip-zero", "evaluate", *EVAL, "--config", "{d}/c.yaml",
      files=_yaml("low_fidelity:\n  grad_clip: 0\n")),
    C("eval-config-exit-weights-negative", "evaluate", *EVAL, "--config", "{d}/c.yaml",
      files=_yaml("low_fidelity:\n  exit_weights: -1\n")),
    C("eval-config-unknown-tuner", "evaluate", *EVAL, "--config", "{d}/c.yaml",
      files=_yaml("thresholds:\n  tuner: magic\n")),
    C("eval-config-unknown-confidence", "evaluate", *EVAL, "--config", "{d}/c.yaml",
      files=_yaml("thresholds:\n  confidence: vibes\n")),
    C("eval-out-parent-is-file", "evaluate", *EVAL, "--out", "{d}/file/result.json",
      files={"file": b"keep me\n"}),
    C("eval-out-is-directory", "evaluate", *EVAL, "--out", "{d}/folder",
      files={"folder/x.txt": b"keep me\n"}),
    C("eval-out-foreign-file", "evaluate", *EVAL, "--out", "{d}/notes.txt",
      files={"notes.txt": b"my notes\n"}),
    C("eval-seed-huge", "evaluate", *EVAL, "--seed", "1" + "0" * 27),
    C("eval-config-seed-negative", "evaluate", *EVAL, "--config", "{d}/c.yaml",
      files=_yaml("seed: -1\n")),
    C("eval-config-is-folder", "evaluate", *EVAL, "--config", "{d}"),
    C("eval-data-root-is-file", "evaluate", "--arch", DIGITS_ARCH.replace("r40", "r32"),
      "--dataset", "fashion-mnist", "--data-root", "{d}/f.txt", files={"f.txt": b"keep\n"}),
    C("eval-folder-dataset-missing", "evaluate", "--arch", DIGITS_ARCH.replace("r40", "r32"),
      "--dataset", "folder:{d}/none"),
    C("eval-folder-dataset-no-path", "evaluate", "--arch", DIGITS_ARCH, "--dataset", "folder:"),
    # ------------------------------------------------------------------ surrogate_data
    C("surr-n-zero", "surrogate_data", *SURR, "-n", "0", "--out", "{d}/a.jsonl"),
    C("surr-n-negative", "surrogate_data", *SURR, "-n", "-3", "--out", "{d}/a.jsonl"),
    C("surr-workers-zero", "surrogate_data", *SURR, "--workers", "0", "--out", "{d}/a.jsonl"),
    C("surr-executor-unknown", "surrogate_data", *SURR, "--executor", "magic",
      "--out", "{d}/a.jsonl"),
    C("surr-max-retries-negative", "surrogate_data", *SURR, "--max-retries", "-1",
      "--out", "{d}/a.jsonl"),
    C("surr-storage-missing", "surrogate_data", *SURR, "--storage", "{d}/none",
      "--out", "{d}/a.jsonl"),
    C("surr-limit-negative", "surrogate_data", *SURR, "--limit", "-1", "--out", "{d}/a.jsonl"),
    C("surr-limit-zero", "surrogate_data", *SURR, "--limit", "0", "--out", "{d}/a.jsonl"),
    C("surr-threads-zero-1-worker", "surrogate_data", *SURR, "--threads", "0",
      "--out", "{d}/a.jsonl"),
    C("surr-threads-zero-2-workers", "surrogate_data", "--dataset", "digits", "-n", "1",
      "--workers", "2", "--threads", "0", "--out", "{d}/a.jsonl", subprocess=True),
    C("surr-threads-negative", "surrogate_data", *SURR, "--threads", "-2",
      "--out", "{d}/a.jsonl"),
    C("surr-out-hello-world", "surrogate_data", *SURR, "--out", "{d}/x.txt",
      files={"x.txt": HELLO}),
    C("surr-out-list-header", "surrogate_data", *SURR, "--out", "{d}/a.jsonl",
      files={"a.jsonl": LIST}),
    C("surr-out-binary", "surrogate_data", *SURR, "--out", "{d}/a.jsonl",
      files={"a.jsonl": BINARY}),
    C("surr-out-record-without-hash", "surrogate_data", *SURR, "--out", "{d}/a.jsonl",
      files={"a.jsonl": NO_HASH}),
    C("surr-out-record-is-list", "surrogate_data", *SURR, "--out", "{d}/a.jsonl",
      files={"a.jsonl": LIST_RECORD}),
    C("surr-out-version-2", "surrogate_data", *SURR, "--out", "{d}/a.jsonl",
      files={"a.jsonl": VERSION_2}),
    C("surr-out-other-dataset", "surrogate_data", *SURR, "--out", "{d}/a.jsonl",
      files={"a.jsonl": OTHER_DATASET}),
    C("surr-out-corrupt-middle", "surrogate_data", *SURR, "--out", "{d}/a.jsonl",
      files={"a.jsonl": CORRUPT_MIDDLE}),
    C("surr-out-torn-other-meta", "surrogate_data", *SURR, "--out", "{d}/a.jsonl",
      files={"a.jsonl": OTHER_DATASET + b'{"arch": "r3'}),
    C("surr-out-is-directory", "surrogate_data", *SURR, "--out", "{d}/folder",
      files={"folder/x.txt": b"keep me\n"}),
    C("surr-out-parent-is-file", "surrogate_data", *SURR, "--out", "{d}/file/a.jsonl",
      files={"file": b"keep me\n"}),
    C("surr-from-archive-missing", "surrogate_data", *SURR, "--from-archive", "{d}/none.jsonl",
      "--out", "{d}/a.jsonl"),
    C("surr-from-archive-hello", "surrogate_data", *SURR, "--from-archive", "{d}/x.txt",
      "--out", "{d}/a.jsonl", files={"x.txt": HELLO}),
    C("surr-from-archive-non-string-arch", "surrogate_data", *SURR, "--from-archive",
      "{d}/b.jsonl", "--out", "{d}/a.jsonl", files={"b.jsonl": NON_STRING_ARCH}),
    C("surr-unknown-dataset", "surrogate_data", *SURR, "--dataset", "imagenet",
      "--out", "{d}/a.jsonl"),
    C("surr-unknown-space", "surrogate_data", *SURR, "--space", "nope", "--out", "{d}/a.jsonl"),
    C("surr-fidelity-choice", "surrogate_data", *SURR, "--fidelity", "medium",
      "--out", "{d}/a.jsonl"),
    C("surr-cifar-missing-files", "surrogate_data", "--dataset", "cifar10", "--data-root", "{d}",
      "-n", "1", "--workers", "1", "--out", "{d}/a.jsonl"),
    C("surr-config-epochs-zero", "surrogate_data", *SURR, "--config", "{d}/c.yaml",
      "--out", "{d}/a.jsonl", files=_yaml("low_fidelity:\n  epochs: 0\n")),
    C("surr-config-full-batch-negative", "surrogate_data", *SURR, "--fidelity", "full",
      "--config", "{d}/c.yaml", "--out", "{d}/a.jsonl",
      files=_yaml("full_fidelity:\n  batch_size: -1\n")),
    C("surr-config-tolerance-negative", "surrogate_data", *SURR, "--config", "{d}/c.yaml",
      "--out", "{d}/a.jsonl", files=_yaml("thresholds:\n  accuracy_tolerance: -1\n")),
    C("surr-seed-offset-huge", "surrogate_data", *SURR, "--seed-offset", "1" + "0" * 27,
      "--out", "{d}/a.jsonl"),
    C("surr-seed-offset-below-zero", "surrogate_data", *SURR, "--seed-offset", "-1",
      "--out", "{d}/a.jsonl"),
    # ------------------------------------------------------------------ bo_search
    C("bo-budget-zero", "bo_search", *BENCH, "--budget", "0", "--out", "{d}/run",
      files={"a.jsonl": _digits_head()}),
    C("bo-batch-size-zero", "bo_search", *BENCH, "--batch-size", "0", "--out", "{d}/run",
      files={"a.jsonl": _digits_head()}),
    C("bo-pool-size-zero", "bo_search", *BENCH, "--pool-size", "0", "--out", "{d}/run",
      files={"a.jsonl": _digits_head()}),
    C("bo-workers-zero", "bo_search", *BENCH, "--workers", "0", "--out", "{d}/run",
      files={"a.jsonl": _digits_head()}),
    C("bo-executor-unknown", "bo_search", *BENCH, "--executor", "magic", "--out", "{d}/run",
      files={"a.jsonl": _digits_head()}),
    C("bo-storage-missing", "bo_search", *BENCH, "--storage", "{d}/none", "--out", "{d}/run",
      files={"a.jsonl": _digits_head()}),
    C("bo-threads-zero", "bo_search", *BENCH, "--threads", "0", "--out", "{d}/run",
      files={"a.jsonl": _digits_head()}),
    C("bo-initial-negative", "bo_search", *BENCH, "--initial", "-1", "--out", "{d}/run",
      files={"a.jsonl": _digits_head()}),
    C("bo-unknown-strategy", "bo_search", *BENCH, "--strategy", "magic", "--out", "{d}/run",
      files={"a.jsonl": _digits_head()}),
    C("bo-unknown-surrogate", "bo_search", *BENCH, "--surrogate", "magic", "--out", "{d}/run",
      files={"a.jsonl": _digits_head()}),
    C("bo-unknown-acquisition", "bo_search", *BENCH, "--acquisition", "magic",
      "--out", "{d}/run", files={"a.jsonl": _digits_head()}),
    C("bo-max-macs-negative", "bo_search", *BENCH, "--max-macs", "-1", "--out", "{d}/run",
      files={"a.jsonl": _digits_head()}),
    C("bo-max-macs-nan", "bo_search", *BENCH, "--max-macs", "nan", "--out", "{d}/run",
      files={"a.jsonl": _digits_head()}),
    C("bo-both-macs", "bo_search", *BENCH, "--max-macs", "5", "--target-macs", "5",
      "--out", "{d}/run", files={"a.jsonl": _digits_head()}),
    C("bo-benchmark-missing", "bo_search", *BENCH, "--out", "{d}/run"),
    C("bo-benchmark-hello", "bo_search", *BENCH, "--out", "{d}/run", files={"a.jsonl": HELLO}),
    C("bo-benchmark-list-header", "bo_search", *BENCH, "--out", "{d}/run",
      files={"a.jsonl": LIST}),
    C("bo-benchmark-binary", "bo_search", *BENCH, "--out", "{d}/run", files={"a.jsonl": BINARY}),
    C("bo-benchmark-no-hash", "bo_search", *BENCH, "--out", "{d}/run",
      files={"a.jsonl": NO_HASH}),
    C("bo-benchmark-no-arch", "bo_search", *BENCH, "--out", "{d}/run",
      files={"a.jsonl": NO_ARCH}),
    C("bo-benchmark-list-record", "bo_search", *BENCH, "--out", "{d}/run",
      files={"a.jsonl": LIST_RECORD}),
    C("bo-benchmark-version-2", "bo_search", *BENCH, "--out", "{d}/run",
      files={"a.jsonl": VERSION_2}),
    C("bo-benchmark-empty", "bo_search", *BENCH, "--out", "{d}/run",
      files={"a.jsonl": _header(space="aebnas-plus")}),
    C("bo-out-existing-file", "bo_search", *BENCH, "--out", "{d}/run",
      files={"a.jsonl": _digits_head(), "run": b"keep me\n"}),
    C("bo-out-parent-is-file", "bo_search", *BENCH, "--out", "{d}/file/run",
      files={"a.jsonl": _digits_head(), "file": b"keep me\n"}),
    C("bo-out-foreign-folder", "bo_search", *BENCH, "--out", "{d}/run",
      files={"a.jsonl": _digits_head(), "run/report.md": b"mine\n", "run/config.yaml": b"x\n"}),
    C("bo-out-holds-search", "bo_search", *BENCH, "--out", "{d}/run",
      files={"a.jsonl": _digits_head()}, setup=_search_run_folder),
    C("bo-resume-missing", "bo_search", "--resume", "{d}/none"),
    C("bo-resume-extra-flags", "bo_search", "--resume", "{d}/run", "--seed", "3",
      setup=_search_run_folder),
    C("bo-resume-not-a-search", "bo_search", "--resume", "{d}/run", setup=_search_run_folder),
    C("bo-archive-missing", "bo_search", "--archive", "{d}/none.jsonl", "--out", "{d}/run",
      "--dataset", "digits"),
    C("bo-predictors-missing", "bo_search", "--predictors", "{d}/none", "--out", "{d}/run"),
    C("bo-predictors-outside", "bo_search", "--predictors", "{d}/preds", "--out", "{d}/run",
      "--budget", "1", "--pool-size", "4", "--config", "{d}/c.yaml",
      files=_yaml("data:\n  val_size: 100\nfull_fidelity:\n  train_size: 64\n"),
      setup=_predictors_folder_symlinked_out),
    C("bo-config-budget-negative", "bo_search", "--benchmark", "{d}/a.jsonl", "--config",
      "{d}/c.yaml", "--out", "{d}/run",
      files={"a.jsonl": _digits_head(), **_yaml("search:\n  budget: -1\n")}),
    C("bo-config-full-lr-negative", "bo_search", "--dataset", "digits", "--config",
      "{d}/c.yaml", "--out", "{d}/run", files=_yaml("full_fidelity:\n  lr: -1\n")),
    C("bo-config-hv-ref-macs-negative", "bo_search", *BENCH, "--config", "{d}/c.yaml",
      "--out", "{d}/run", files={"a.jsonl": _digits_head(),
                                 **_yaml("search:\n  hv_ref_macs: -3\n")}),
    C("bo-unknown-dataset", "bo_search", "--dataset", "imagenet", "--out", "{d}/run"),
    C("bo-unknown-device", "bo_search", "--dataset", "digits", "--device", "tpu",
      "--out", "{d}/run"),
    C("bo-cifar-missing-files", "bo_search", "--dataset", "cifar10", "--data-root", "{d}",
      "--out", "{d}/run"),
    C("bo-resume-file", "bo_search", "--resume", "{d}/f.txt", files={"f.txt": b"keep\n"}),
    # ------------------------------------------------------------------ predictors
    C("pred-threads-zero", "predictors", "--threads", "0", "noise-ceiling", "--data", "{d}/a"),
    C("pred-no-command", "predictors"),
    C("pred-fit-missing-data-flag", "predictors", "fit", "--model", "gp", "--target",
      "accuracy", "--out", "{d}/p"),
    C("pred-fit-data-missing", "predictors", "fit", "--data", "{d}/none.jsonl", "--model", "gp",
      "--target", "accuracy", "--out", "{d}/p"),
    C("pred-fit-unknown-model", "predictors", "fit", "--data", "{d}/a.jsonl", "--model", "svm",
      "--target", "accuracy", "--out", "{d}/p"),
    C("pred-fit-data-hello", "predictors", "fit", "--data", "{d}/a.jsonl", "--model", "gp",
      "--target", "accuracy", "--out", "{d}/p", files={"a.jsonl": HELLO}),
    C("pred-fit-data-list-record", "predictors", "fit", "--data", "{d}/a.jsonl", "--model",
      "gp", "--target", "accuracy", "--out", "{d}/p", files={"a.jsonl": LIST_RECORD}),
    C("pred-fit-cv-folds-negative", "predictors", "fit", "--data", "{d}/a.jsonl", "--model",
      "gp", "--target", "accuracy", "--out", "{d}/p", "--cv-folds", "-1",
      files={"a.jsonl": _fmnist_head()}),
    C("pred-fit-cv-folds-one", "predictors", "fit", "--data", "{d}/a.jsonl", "--model",
      "gp", "--target", "accuracy", "--out", "{d}/p", "--cv-folds", "1",
      files={"a.jsonl": _fmnist_head()}),
    C("pred-fit-out-not-empty", "predictors", "fit", "--data", "{d}/a.jsonl", "--model",
      "gp", "--target", "accuracy", "--out", "{d}/p", "--cv-folds", "0",
      files={"a.jsonl": _fmnist_head(), "p/mine.txt": b"keep\n"}),
    C("pred-fit-out-is-file", "predictors", "fit", "--data", "{d}/a.jsonl", "--model",
      "gp", "--target", "accuracy", "--out", "{d}/p", "--cv-folds", "0",
      files={"a.jsonl": _fmnist_head(), "p": b"keep\n"}),
    C("pred-fit-out-parent-is-file", "predictors", "fit", "--data", "{d}/a.jsonl", "--model",
      "gp", "--target", "accuracy", "--out", "{d}/f/p", "--cv-folds", "0",
      files={"a.jsonl": _fmnist_head(), "f": b"keep\n"}),
    C("pred-fit-prior-source-outside", "predictors", "fit", "--data", "{d}/a.jsonl", "--model",
      "gp", "--target", "accuracy", "--out", "{d}/new", "--cv-folds", "0", "--prior",
      "{d}/pred", files={"a.jsonl": _fmnist_head()},
      setup=_prior_with_source("../elsewhere/src")),
    C("pred-fit-prior-source-loop", "predictors", "fit", "--data", "{d}/a.jsonl", "--model",
      "gp", "--target", "accuracy", "--out", "{d}/new", "--cv-folds", "0", "--prior",
      "{d}/pred", files={"a.jsonl": _fmnist_head()}, setup=_prior_with_source(".")),
    C("pred-fit-prior-base-outside", "predictors", "fit", "--data", "{d}/a.jsonl", "--model",
      "gp", "--target", "accuracy", "--out", "{d}/new", "--cv-folds", "0", "--prior",
      "{d}/pred", files={"a.jsonl": _fmnist_head()}, setup=_prior_with_base_outside),
    C("pred-fit-prior-file-outside", "predictors", "fit", "--data", "{d}/a.jsonl", "--model",
      "gp", "--target", "accuracy", "--out", "{d}/new", "--cv-folds", "0", "--prior",
      "{d}/pred", files={"a.jsonl": _fmnist_head()}, setup=_file_symlinked_out),
    C("pred-evaluate-folds-zero", "predictors", "evaluate", "--data", "{d}/a.jsonl",
      "--folds", "0", files={"a.jsonl": _fmnist_head()}),
    C("pred-evaluate-sizes-not-int", "predictors", "evaluate", "--data", "{d}/a.jsonl",
      "--train-sizes", "a,b", files={"a.jsonl": _fmnist_head()}),
    C("pred-evaluate-sizes-one", "predictors", "evaluate", "--data", "{d}/a.jsonl",
      "--train-sizes", "1", files={"a.jsonl": _fmnist_head()}),
    C("pred-evaluate-unknown-model", "predictors", "evaluate", "--data", "{d}/a.jsonl",
      "--models", "svm", files={"a.jsonl": _fmnist_head()}),
    C("pred-evaluate-data-binary", "predictors", "evaluate", "--data", "{d}/a.jsonl",
      files={"a.jsonl": BINARY}),
    C("pred-fit-data-is-folder", "predictors", "fit", "--data", "{d}", "--model", "gp",
      "--target", "accuracy", "--out", "{d}/p"),
    C("pred-fit-seed-huge", "predictors", "fit", "--data", "{d}/a.jsonl", "--model", "gp",
      "--target", "accuracy", "--out", "{d}/p", "--cv-folds", "0", "--seed", "1" + "0" * 24,
      files={"a.jsonl": _fmnist_head()}),
    C("pred-evaluate-seed-negative", "predictors", "evaluate", "--data", "{d}/a.jsonl",
      "--train-sizes", "5", "--folds", "1", "--models", "gp", "--seed", "-1",
      files={"a.jsonl": _fmnist_head()}),
    C("pred-noise-data-missing", "predictors", "noise-ceiling", "--data", "{d}/none.jsonl"),
    C("pred-noise-data-no-hash", "predictors", "noise-ceiling", "--data", "{d}/a.jsonl",
      files={"a.jsonl": NO_HASH}),
    C("pred-noise-other-list-header", "predictors", "noise-ceiling", "--data", "{d}/a.jsonl",
      "--other", "{d}/b.jsonl", files={"a.jsonl": _fmnist_head(), "b.jsonl": LIST}),
]
# fmt: on


def _snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: file content hash, symlink target or ``dir``."""
    state = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                state[key] = "link:" + os.readlink(path)
            elif path.is_dir():
                state[key] = "dir"
            else:
                state[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def _prepare(case: Case, d: Path) -> list[str]:
    for name, content in case.files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(content)
    if case.setup is not None:
        case.setup(d)
    return [a.replace("{d}", str(d)) for a in case.argv]


def run_in_process(
    cli: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """Run the CLI's ``main`` through ``run_cli``; ``(exit status, stderr)``."""
    main = importlib.import_module(MAINS[cli]).main
    threads = torch.get_num_threads()
    try:
        status = run_cli(main, argv)
    except BaseException as err:  # the boundary let something through
        status = -1
        print(f"uncaught {type(err).__name__}: {err}\nTraceback (uncaught)", file=sys.stderr)
    finally:
        torch.set_num_threads(threads)
    return status, capsys.readouterr().err


def run_subprocess(cli: str, argv: list[str], cwd: Path, timeout: float = 120) -> tuple[int, str]:
    """Run ``python -m MODULE`` in its own session; a hang is killed (group) after ``timeout``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", MODULES[cli], *argv],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        return -9, err + f"\nhung for {timeout} s"
    return proc.returncode, err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _prepare(case, tmp_path)
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path)
    if case.subprocess:
        status, err = run_subprocess(case.cli, argv, tmp_path)
    else:
        status, err = run_in_process(case.cli, argv, capsys)
    lines = err.splitlines()
    assert "Traceback" not in err, err
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert _snapshot(tmp_path) == before, "files changed"


def test_table_is_large_and_covers_every_cli() -> None:
    assert len(CASES) >= 80
    assert {c.cli for c in CASES} == set(MODULES)
    assert len({c.id for c in CASES}) == len(CASES)
