"""The predictor interface, its registry, and helpers shared by the models.

Every predictor maps features ``X (n, d)`` to a predictive mean and standard deviation
``(m,), (m,)`` of one target, exposes a fitted BoTorch model over the same float64 ``X`` (used by
the acquisition functions of the search), and saves to / loads from a directory holding only
JSON, safetensors and XGBoost JSON files (no pickle; loading runs no code from the files).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from aebnas.errors import UserError
from aebnas.registry import Registry

if TYPE_CHECKING:
    from botorch.models.model import Model

    from aebnas.predictors.usage import ExitUsage

#: ``model.json`` names the predictor class and holds its settings.
MODEL_FILE = "model.json"
#: z-value of the central 90% interval of a normal distribution.
Z90 = 1.6448536269514722


@runtime_checkable
class Predictor(Protocol):
    """A fitted-or-not regressor with uncertainty (see the module docstring)."""

    name: str

    def fit(self, X: np.ndarray, y: np.ndarray) -> Predictor:
        """Fit on ``X (n, d)``, ``y (n,)``; returns ``self``."""
        ...

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and standard deviation at ``X (m, d)``, each shape ``(m,)``."""
        ...

    def to_botorch(self) -> Model:
        """A fitted BoTorch model over the same (float64) ``X`` whose posterior matches predict."""
        ...

    def save(self, directory: Path) -> None:
        """Write the fitted model into ``directory`` (created if needed)."""
        ...

    @classmethod
    def load(cls, directory: Path) -> Predictor:
        """Rebuild a predictor saved by :meth:`save`."""
        ...


#: Kinds that are fit on features alone (``--model``, ``make_predictor``).
PREDICTORS: Registry[type[Predictor]] = Registry("predictor")
#: Every kind a saved folder can hold (``model.json``'s ``predictor``): those of
#: :data:`PREDICTORS` and wrappers that need more than features to build (``prior``).
SAVED_PREDICTORS: Registry[type[Predictor]] = Registry("saved predictor kind")


def register_predictor(
    name: str, *, standalone: bool = True
) -> Callable[[type[Predictor]], type[Predictor]]:
    """Class decorator: register a predictor kind for loading, and (``standalone``) for
    building from features.

    Args:
        name: The kind, written to ``model.json``.
        standalone: Whether ``make_predictor(name)`` can build it (false for wrappers).
    """

    def add(cls: type[Predictor]) -> type[Predictor]:
        SAVED_PREDICTORS.add(name, cls)
        if standalone:
            PREDICTORS.add(name, cls)
        return cls

    return add


def make_predictor(name: str, **kwargs: Any) -> Predictor:
    """A new (unfitted) predictor of the registered kind ``name`` (xgb, gp, mlp)."""
    return PREDICTORS.get(name)(**kwargs)


def predicts_target(name: str, target: str) -> bool:
    """Whether predictor kind ``name`` can learn ``target`` (a kind may restrict itself with a
    class attribute ``targets``, e.g. ``exits``: average MACs only)."""
    allowed = getattr(PREDICTORS.get(name), "targets", None)
    return allowed is None or target in allowed


def fit_predictor(
    predictor: Predictor, X: np.ndarray, y: np.ndarray, usage: ExitUsage | None = None
) -> Predictor:
    """``predictor.fit(X, y)``; a kind that learns from per-exit utilisation (class attribute
    ``uses_exit_usage``, e.g. ``exits``) also gets ``usage`` (``n`` rows, or ``None``)."""
    if getattr(predictor, "uses_exit_usage", False):
        fit: Callable[..., Predictor] = predictor.fit
        return fit(X, y, usage=usage)
    return predictor.fit(X, y)


def check_xy(X: np.ndarray, y: np.ndarray | None = None, *, min_rows: int = 1) -> None:
    """Raise ``ValueError`` unless ``X`` is ``(n, d)`` and finite and ``y`` is ``(n,)``."""
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, d), got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X holds NaN or infinite values")
    if y is None:
        return
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("y holds NaN or infinite values")
    if X.shape[0] < min_rows:
        raise UserError(f"a predictor needs at least {min_rows} training records, got {X.shape[0]}")


@dataclass(frozen=True)
class Standardizer:
    """Column-wise ``(x - mean) / scale``; constant columns get scale 1 (they map to 0).

    Args:
        mean: Shape ``(d,)``.
        scale: Shape ``(d,)``, positive.
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Standardizer:
        """Statistics of ``values``, shape ``(n, d)`` or ``(n,)``."""
        mean = values.mean(axis=0)
        scale = values.std(axis=0)
        scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(mean)), scale, 1.0)
        return cls(np.asarray(mean, dtype=np.float64), np.asarray(scale, dtype=np.float64))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.scale

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.scale + self.mean

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The statistics as named arrays (for safetensors)."""
        return {
            f"{prefix}.mean": np.atleast_1d(self.mean),
            f"{prefix}.scale": np.atleast_1d(self.scale),
        }

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], prefix: str, scalar: bool = False
    ) -> Standardizer:
        mean, scale = arrays[f"{prefix}.mean"], arrays[f"{prefix}.scale"]
        if scalar:  # statistics of a target vector: 0-d arrays
            return cls(np.asarray(mean[0]), np.asarray(scale[0]))
        return cls(mean, scale)


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    """Parse a JSON file; a missing or malformed one is a one-line :class:`UserError`."""
    if not path.is_file():
        raise UserError(f"{path} is missing; is {path.parent} a directory written by `fit`?")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(f"{path} is not valid JSON ({err.msg}, line {err.lineno})") from None


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Save named arrays as safetensors (contiguous copies)."""
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Load named arrays from safetensors (data only, no code)."""
    from safetensors.numpy import load_file

    if not path.is_file():
        raise UserError(f"{path} is missing; is {path.parent} a directory written by `fit`?")
    return load_file(str(path))


def write_model_config(directory: Path, name: str, settings: dict[str, Any], **extra: Any) -> None:
    """Write ``model.json``: the predictor kind, its constructor settings and fit state."""
    write_json(directory / MODEL_FILE, {"predictor": name, "settings": settings, **extra})


def read_model_config(directory: Path, name: str) -> dict[str, Any]:
    """Read ``model.json`` and check it was written by the predictor kind ``name``."""
    config = read_json(directory / MODEL_FILE)
    if config.get("predictor") != name:
        raise UserError(f"{directory} holds a {config.get('predictor')!r} predictor, not {name!r}")
    return config


def bootstrap_indices(n: int, members: int, seed: int) -> list[np.ndarray]:
    """One seeded bootstrap sample (``n`` row indices, with replacement) per member.

    Every sample holds at least two distinct rows, so a member always sees some variation.
    """
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(members):
        index = rng.integers(0, n, n)
        while n > 1 and len(np.unique(index)) < 2:
            index = rng.integers(0, n, n)
        samples.append(index)
    return samples


def in_bag_mask(samples: list[np.ndarray], n: int) -> np.ndarray:
    """Whether row ``i`` is in bootstrap sample ``k``, shape ``(len(samples), n)``."""
    mask = np.zeros((len(samples), n), dtype=bool)
    for k, index in enumerate(samples):
        mask[k, index] = True
    return mask


def spread_calibration(y: np.ndarray, member_predictions: np.ndarray, in_bag: np.ndarray) -> float:
    """Factor that inflates an ensemble's spread to match its out-of-bag errors.

    A bootstrap ensemble's spread reflects model uncertainty only; the noise of the target
    (e.g. seed-to-seed variation of accuracy) is missing, so its intervals under-cover. With
    ``c`` returned here, members ``mean + c * (member - mean)`` have a spread whose mean
    variance equals the mean squared out-of-bag error on the training rows.

    Args:
        y: Training targets, shape ``(n,)``.
        member_predictions: Each member's prediction at the training rows, shape ``(s, n)``.
        in_bag: Whether row ``i`` was in member ``k``'s bootstrap sample, shape ``(s, n)``.

    Returns:
        The factor ``c``, clipped to ``[1, 100]`` (1 when no row is out-of-bag twice).
    """
    oob = ~in_bag
    usable = oob.sum(axis=0) >= 2
    if not usable.any():
        return 1.0
    preds = np.where(oob, member_predictions, np.nan)[:, usable]
    residual2 = (y[usable] - np.nanmean(preds, axis=0)) ** 2
    spread2 = np.nanvar(preds, axis=0, ddof=1)
    c2 = residual2.mean() / max(spread2.mean(), 1e-24)
    return float(np.clip(np.sqrt(c2), 1.0, 100.0))


def ensemble_summary(members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (ddof 1, as BoTorch's ``EnsemblePosterior``) over axis 0.

    Args:
        members: Shape ``(s, m)``.

    Returns:
        ``(mean (m,), std (m,))``.
    """
    return members.mean(axis=0), members.std(axis=0, ddof=1)


def inflate(members: np.ndarray, factor: float) -> np.ndarray:
    """``mean + factor * (member - mean)`` per column; shape ``(s, m)`` kept."""
    mean = members.mean(axis=0, keepdims=True)
    return mean + factor * (members - mean)


MembersFn = Callable[[np.ndarray], np.ndarray]
