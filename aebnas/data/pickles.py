"""A restricted unpickler for the CIFAR-10/100 batch files (Python pickles).

The real files hold only dicts, lists, strings, bytes, ints and NumPy arrays; an array is
rebuilt through ``numpy.core.multiarray._reconstruct`` (``numpy._core`` in NumPy 2),
``numpy.ndarray`` and ``numpy.dtype`` (and, in a file re-saved by Python 3 with pickle
protocol 2, raw bytes through ``_codecs.encode``, which only turns a string into bytes).
:class:`RestrictedUnpickler` resolves exactly these globals and refuses every other one, so a
crafted file cannot name a callable (``os.system``, ``builtins.eval``, ...) to run: nothing
from the file is executed.
"""

from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from aebnas.errors import UserError

#: NumPy's array rebuilder, the callable an array's pickle names (taken from NumPy's own
#: ``__reduce__`` rather than imported by its private name).
_RECONSTRUCT = np.zeros(0).__reduce__()[0]
#: ``(module, name)`` pairs a CIFAR batch file may reference.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only :data:`ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed in a dataset file"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed in a dataset file")


def load_restricted(path: Path, encoding: str = "latin1") -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`.

    Args:
        path: The pickle file.
        encoding: How Python 2 ``str`` objects are decoded (the CIFAR files are Python 2
            pickles; ``latin1`` keeps their bytes).

    Raises:
        UserError: The file names a global other than :data:`ALLOWED_GLOBALS`, or is not a
            readable pickle.
    """
    data = Path(path).read_bytes()
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()
    except pickle.UnpicklingError as err:
        raise UserError(
            f"{path} is not a plain dataset pickle ({err}); it was not loaded and nothing in it "
            "was run: replace it with the original file"
        ) from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as err:
        raise UserError(
            f"{path} is not a readable dataset pickle ({type(err).__name__}: {err}); replace it "
            "with the original file"
        ) from None
