"""The model files of a saved predictor folder: containment check, loading by kind, copying.

A folder's ``model.json`` names its kind; :func:`load_model` rebuilds it through
:data:`aebnas.predictors.base.SAVED_PREDICTORS`, where every kind registers itself (wrappers
such as ``prior`` load their nested folders through the same function).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from aebnas.errors import UserError
from aebnas.predictors.base import MODEL_FILE, SAVED_PREDICTORS, Predictor, read_json


def check_contained(directory: Path) -> None:
    """Refuse (one-line :class:`UserError`) a predictor folder from which loading could read
    elsewhere: a symlinked folder (a loop like ``source -> .`` included), a broken or looping
    symlink, or a symlinked file that resolves outside ``directory``."""
    root = Path(directory).resolve()
    for folder, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(folder) / name
            if not path.is_symlink():
                continue
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):
                problem = "is a broken or looping symlink"
            else:
                if target.is_dir():
                    problem = "is a symlink to a folder"
                elif not target.is_relative_to(root):
                    problem = f"is a symlink to {target}, outside the predictor folder"
                else:
                    continue
            raise UserError(
                f"predictor {directory}: {path} {problem}; a saved predictor is read only from "
                "inside its folder, copy the real files in (or refit it)"
            )


def load_model(directory: Path) -> Predictor:
    """Load the model files in ``directory`` (kind named by its ``model.json``), after
    :func:`check_contained`."""
    check_contained(Path(directory))
    kind = read_json(Path(directory) / MODEL_FILE).get("predictor")
    return SAVED_PREDICTORS.get(str(kind)).load(Path(directory))


def copy_predictor_dir(source: Path, destination: Path) -> None:
    """Copy a saved predictor directory (only regular files and folders)."""
    shutil.copytree(source, destination, symlinks=False)
