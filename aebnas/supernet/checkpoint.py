"""Supernet files: weights as safetensors, what they are in the header (format version 1).

A supernet folder holds:

- ``supernet.safetensors``: the trained weights (float16 or float32) and a string header
  ``{"format": "aebnas.supernet", "version": "1", "space", "dataset", "in_channels",
  "num_classes", "resolutions", "data_seed", "val_size", "epochs", "steps", "precision",
  "config", "packages"}`` (lists and mappings as JSON);
- ``training-state.safetensors`` while training: float32 weights, the optimiser's momentum
  buffers (``momentum/<name>``) and the step reached, so ``--resume`` continues exactly.

Both are written to a temporary file and renamed, so a kill leaves the previous file intact.
Nothing is ever executed from a file: safetensors holds tensors and strings only.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from aebnas.errors import UserError
from aebnas.space import get_space
from aebnas.supernet.elastic import EarlyExitSupernet
from aebnas.versions import package_versions

SUPERNET_FORMAT = "aebnas.supernet"
SUPERNET_VERSION = 1
WEIGHTS_FILE = "supernet.safetensors"
STATE_FILE = "training-state.safetensors"
MOMENTUM_PREFIX = "momentum/"
#: Packages whose versions a supernet file records.
SUPERNET_PACKAGES = ("aebnas", "torch", "torchvision", "numpy")


@dataclass(frozen=True)
class SupernetInfo:
    """What a supernet file holds (its header).

    Args:
        space: Search space name.
        dataset: Dataset it was trained on.
        in_channels: Image channels.
        num_classes: Classes.
        resolutions: Input resolutions it was trained at.
        data_seed: Seed of the validation split carved from the training set (the supernet
            never saw those images).
        val_size: Size of that validation split.
        epochs: Training epochs.
        steps: Optimiser steps.
        precision: ``float16`` or ``float32``.
        config: The effective training settings.
        sha256: Hash of the file (its identity in evaluation records).
    """

    space: str
    dataset: str
    in_channels: int
    num_classes: int
    resolutions: tuple[int, ...]
    data_seed: int
    val_size: int
    epochs: int
    steps: int
    precision: str
    config: dict[str, Any]
    sha256: str = ""

    def header(self) -> dict[str, str]:
        """The safetensors string header."""
        return {
            "format": SUPERNET_FORMAT,
            "version": str(SUPERNET_VERSION),
            "space": self.space,
            "dataset": self.dataset,
            "in_channels": str(self.in_channels),
            "num_classes": str(self.num_classes),
            "resolutions": json.dumps(list(self.resolutions)),
            "data_seed": str(self.data_seed),
            "val_size": str(self.val_size),
            "epochs": str(self.epochs),
            "steps": str(self.steps),
            "precision": self.precision,
            "config": json.dumps(self.config, sort_keys=True),
            "packages": json.dumps(package_versions(SUPERNET_PACKAGES), sort_keys=True),
        }

    @classmethod
    def from_header(cls, header: dict[str, str], path: Path) -> SupernetInfo:
        """Parse a header; a foreign or other-version file raises :class:`UserError`."""
        if header.get("format") != SUPERNET_FORMAT:
            raise UserError(
                f"{path} is not an aebnas supernet (no '{SUPERNET_FORMAT}' header); pass a file "
                "written by `python -m aebnas.supernet train`"
            )
        if header.get("version") != str(SUPERNET_VERSION):
            raise UserError(
                f"supernet {path} has format version {header.get('version')}; this aebnas reads "
                f"version {SUPERNET_VERSION}: retrain it with `python -m aebnas.supernet train`"
            )
        try:
            return cls(
                space=header["space"],
                dataset=header["dataset"],
                in_channels=int(header["in_channels"]),
                num_classes=int(header["num_classes"]),
                resolutions=tuple(int(r) for r in json.loads(header["resolutions"])),
                data_seed=int(header["data_seed"]),
                val_size=int(header["val_size"]),
                epochs=int(header["epochs"]),
                steps=int(header["steps"]),
                precision=header["precision"],
                config=json.loads(header["config"]),
                sha256=file_sha256(path),
            )
        except (KeyError, ValueError, TypeError) as err:
            raise UserError(
                f"supernet {path} has a damaged header ({type(err).__name__}: {err}); retrain it "
                "or restore the file"
            ) from None


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(tensors: dict[str, torch.Tensor], path: Path, header: dict[str, str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=header)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read(
    path: Path, what: str, weights: bool = True
) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """Header and (if ``weights``) tensors of a safetensors file; one-line errors."""
    if not path.is_file():
        raise UserError(
            f"{what} {path} does not exist; train one with `python -m aebnas.supernet train` "
            "(or `make supernet`)"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()} if weights else {}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(
            f"{what} {path} is not a readable safetensors file ({err}); it is torn or foreign: "
            "restore it or retrain"
        ) from None
    return header, tensors


def read_info(path: str | Path) -> SupernetInfo:
    """The header of a supernet file (validated; the weights are not read).

    Raises:
        UserError: Missing, torn, foreign or other-version file.
    """
    header, _ = _read(Path(path), "supernet", weights=False)
    return SupernetInfo.from_header(header, Path(path))


def save_supernet(
    supernet: EarlyExitSupernet, info: SupernetInfo, path: Path, half: bool = True
) -> None:
    """Write the trained weights (float16 if ``half``) with ``info`` as header."""
    dtype = torch.float16 if half else torch.float32
    tensors = {
        k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).contiguous().cpu()
        for k, v in supernet.state_dict().items()
    }
    header = SupernetInfo(**{**info.__dict__, "precision": str(dtype).removeprefix("torch.")})
    _write_atomic(tensors, path, header.header())


def load_supernet(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[EarlyExitSupernet, SupernetInfo]:
    """Load a supernet file into float32 weights on ``device``.

    Raises:
        UserError: Missing, torn, foreign or other-version file, or tensors that do not fit
            the space it names.
    """
    path = Path(path)
    header, tensors = _read(path, "supernet")
    info = SupernetInfo.from_header(header, path)
    supernet = build_supernet(info)
    state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    _load_state(supernet, state, path)
    return supernet.to(device).eval(), info


def build_supernet(info: SupernetInfo) -> EarlyExitSupernet:
    """An untrained supernet of the space, resolutions and dataset shape of ``info``."""
    space = get_space(info.space, info.resolutions)
    return EarlyExitSupernet(space, info.in_channels, info.num_classes)


def _load_state(supernet: EarlyExitSupernet, state: dict[str, torch.Tensor], path: Path) -> None:
    expected = supernet.state_dict()
    missing = sorted(set(expected) - set(state))
    bad = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or bad:
        name = (missing or bad)[0]
        raise UserError(
            f"supernet {path} does not fit space {supernet.space.name!r} (tensor {name!r} "
            f"{'missing' if missing else 'of another shape'}); it was written by another "
            "aebnas version: retrain it"
        )
    supernet.load_state_dict({k: state[k] for k in expected})


def save_training_state(
    supernet: EarlyExitSupernet,
    momentum: dict[str, torch.Tensor],
    step: int,
    info: SupernetInfo,
    path: Path,
) -> None:
    """Everything ``--resume`` needs: float32 weights, momentum buffers and the step done."""
    tensors = {k: v.detach().float().contiguous().cpu() if v.is_floating_point()
               else v.detach().contiguous().cpu() for k, v in supernet.state_dict().items()}
    tensors.update(
        {MOMENTUM_PREFIX + k: v.detach().contiguous().cpu() for k, v in momentum.items()}
    )
    header = info.header()
    header["step"] = str(step)
    _write_atomic(tensors, path, header)


def load_training_state(
    path: Path, supernet: EarlyExitSupernet, expected: SupernetInfo
) -> tuple[dict[str, torch.Tensor], int]:
    """Load weights into ``supernet``; return the momentum buffers and the step reached.

    Raises:
        UserError: The state belongs to another space, dataset or training setting.
    """
    header, tensors = _read(path, "training state")
    info = SupernetInfo.from_header(header, path)
    for key in ("space", "dataset", "resolutions", "data_seed", "val_size", "config"):
        if getattr(info, key) != getattr(expected, key):
            raise UserError(
                f"training state {path} was made with {key}={getattr(info, key)!r}, this run "
                f"has {getattr(expected, key)!r}; resume with the same config or use another --out"
            )
    momentum = {k[len(MOMENTUM_PREFIX):]: v for k, v in tensors.items()
                if k.startswith(MOMENTUM_PREFIX)}
    weights = {k: v for k, v in tensors.items() if not k.startswith(MOMENTUM_PREFIX)}
    _load_state(supernet, weights, path)
    return momentum, int(header.get("step", "0"))
