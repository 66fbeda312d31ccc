"""Exact Gaussian-process predictor (BoTorch ``SingleTaskGP``).

Inputs are mapped to the unit cube by a fixed ``Normalize`` input transform (bounds = the
training minimum and maximum; a constant column gets range 1), the outcome is standardised by
``Standardize``. Kernels (``kernel=``):

- ``matern``: Matern-5/2 with one lengthscale per feature (ARD) and BoTorch's
  dimension-scaled lengthscale prior. One-hot categorical genes are features like any other:
  ARD over one-hot columns is the usual continuous relaxation of a categorical kernel (a
  categorical Hamming kernel would need integer-coded genes, which the encoding does not have);
- ``matern+costs`` (default): that kernel plus a scaled Matern-5/2 ARD kernel on the
  low-dimensional summary columns (resolution, stage depths, exit activity and depths, static
  MACs; :func:`summary_columns`), meant to learn a smooth cost/depth trend from few records;
- ``summary``: only the summary-column Matern kernel (no gene-level part), meant for very few
  records; its 90% intervals under-cover.

The default kernel's ranking and coverage: ``benchmarks/results/predictors*.md`` (the kernels
were compared once, when the default was chosen; no benchmark repeats that comparison).

Hyper-parameters are fit by maximising the marginal likelihood
(:func:`botorch.fit.fit_gpytorch_mll`). ``predict`` returns the predictive std (observation noise
included, so the 90% interval is meant to cover measured values); ``to_botorch`` returns the
``SingleTaskGP`` itself: ``posterior(X).mean`` equals the predicted mean and
``posterior(X, observation_noise=True).variance`` the predicted std squared.

Saved as ``model.json`` (settings, feature count) + ``gp.safetensors`` (the state dict and the
training ``X``/``y``); loading rebuilds the model from those tensors (no pickle).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.kernels import AdditiveKernel, Kernel, ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood

from aebnas.errors import UserError
from aebnas.predictors.base import (
    check_xy,
    read_arrays,
    read_model_config,
    register_predictor,
    write_arrays,
    write_model_config,
)

KERNELS = ("matern", "matern+costs", "summary")
#: Default :attr:`GPSettings.hyper_rows`: an exact fit on every row of a 2,000-row archive takes
#: hours on 2 cores; the subset's ranking quality is measured in benchmarks/results/.
DEFAULT_HYPER_ROWS = 500
#: Summary columns of the ``matern+costs`` and ``summary`` kernels (matched against names).
SUMMARY_PATTERN = re.compile(r"^(resolution|s\d+\.depth|x\d+\.(active|depth)|.*_mmacs|prior\..*)$")
PREDICT_CHUNK = 1024


@dataclass(frozen=True)
class GPSettings:
    """GP settings.

    Args:
        kernel: One of :data:`KERNELS`.
        seed: Torch seed during the fit (restarts draw from the priors).
        summary_columns: Column indices of the summary kernel (``None``: all columns; set by
            :func:`summary_columns` from feature names).
        hyper_rows: Rows the hyper-parameters are fit on: a random subset (drawn with ``seed``)
            when there are more; the posterior still conditions on every row. The fit's cost
            grows with ``n^2 d`` per iteration over the ARD lengthscales. ``None``: all rows.
        maxiter: L-BFGS iterations of the hyper-parameter fit (``None``: BoTorch's default).
    """

    kernel: str = "matern+costs"
    seed: int = 0
    summary_columns: tuple[int, ...] | None = None
    hyper_rows: int | None = DEFAULT_HYPER_ROWS
    maxiter: int | None = None


def summary_columns(names: Sequence[str]) -> tuple[int, ...]:
    """Indices of the summary columns among feature ``names`` (see :data:`SUMMARY_PATTERN`)."""
    return tuple(i for i, name in enumerate(names) if SUMMARY_PATTERN.match(name))


def input_bounds(X: torch.Tensor) -> torch.Tensor:
    """``Normalize`` bounds of ``X (n, d)``: column min and max (constant columns get width 1),
    shape ``(2, d)``."""
    low, high = X.min(dim=0).values, X.max(dim=0).values
    high = torch.where(high - low > 1e-9, high, low + 1.0)
    return torch.stack([low, high])


def gp_kernel(settings: GPSettings, d: int) -> Kernel:
    """The kernel named by ``settings.kernel`` for ``d`` input columns."""
    full = get_covar_module_with_dim_scaled_prior(ard_num_dims=d, use_rbf_kernel=False)
    if settings.kernel == "matern":
        return full
    columns = settings.summary_columns or tuple(range(d))
    summary = get_covar_module_with_dim_scaled_prior(
        ard_num_dims=len(columns), use_rbf_kernel=False, active_dims=columns
    )
    if settings.kernel == "summary":
        return summary
    return AdditiveKernel(full, ScaleKernel(summary))


def hyper_subset(n: int, settings: GPSettings) -> torch.Tensor | None:
    """Row indices of the hyper-parameter fit (``None``: all ``n`` rows)."""
    if settings.hyper_rows is None or n <= settings.hyper_rows:
        return None
    generator = torch.Generator().manual_seed(settings.seed)
    return torch.randperm(n, generator=generator)[: settings.hyper_rows]


def build_gp(
    train_X: torch.Tensor, train_Y: torch.Tensor, bounds: torch.Tensor, settings: GPSettings
) -> SingleTaskGP:
    """An (unfitted) ``SingleTaskGP`` with our kernel and transforms.

    Args:
        train_X: Shape ``(n, d)``, float64.
        train_Y: Shape ``(n, 1)``, float64.
        bounds: Input bounds for ``Normalize``, shape ``(2, d)``.
        settings: Kernel choice.
    """
    d = train_X.shape[-1]
    return SingleTaskGP(
        train_X,
        train_Y,
        covar_module=gp_kernel(settings, d),
        input_transform=Normalize(d=d, bounds=bounds),
        outcome_transform=Standardize(m=1),
    )


@register_predictor("gp")
class GPPredictor:
    """Exact GP regressor (see the module docstring).

    Args:
        **settings: Fields of :class:`GPSettings`.
    """

    name = "gp"

    def __init__(self, **settings: Any) -> None:
        if "summary_columns" in settings and settings["summary_columns"] is not None:
            settings["summary_columns"] = tuple(int(i) for i in settings["summary_columns"])
        self.settings = GPSettings(**settings)
        if self.settings.kernel not in KERNELS:
            raise UserError(f"unknown GP kernel {self.settings.kernel!r}; choose one of: {KERNELS}")
        self.model: SingleTaskGP | None = None
        self._train: tuple[torch.Tensor, torch.Tensor] | None = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> GPPredictor:
        """Fit the hyper-parameters on ``X (n, d)``, ``y (n,)`` by marginal likelihood."""
        check_xy(X, y, min_rows=2)
        train_X = torch.as_tensor(X, dtype=torch.float64)
        train_Y = torch.as_tensor(y, dtype=torch.float64).unsqueeze(-1)
        bounds = input_bounds(train_X)
        subset = hyper_subset(len(train_X), self.settings)
        optimizer_kwargs: dict[str, Any] | None = (
            None
            if self.settings.maxiter is None
            else {"options": {"maxiter": self.settings.maxiter}}
        )
        with torch.random.fork_rng():
            torch.manual_seed(self.settings.seed)
            model = self.build(train_X, train_Y, bounds)
            fitted = (
                model if subset is None else self.build(train_X[subset], train_Y[subset], bounds)
            )
            mll = ExactMarginalLogLikelihood(fitted.likelihood, fitted)
            fit_gpytorch_mll(mll, optimizer_kwargs=optimizer_kwargs)
            if subset is not None:
                for part in ("covar_module", "likelihood", "mean_module"):
                    getattr(model, part).load_state_dict(getattr(fitted, part).state_dict())
        self.model = model.eval()
        self._train = (train_X, train_Y)
        return self

    def build(
        self, train_X: torch.Tensor, train_Y: torch.Tensor, bounds: torch.Tensor
    ) -> SingleTaskGP:
        """The unfitted model on ``train_X (n, d)``, ``train_Y (n, 1)`` (see :func:`build_gp`)."""
        return build_gp(train_X, train_Y, bounds, self.settings)

    def _fitted(self) -> SingleTaskGP:
        if self.model is None:
            raise RuntimeError("the predictor is not fitted")
        return self.model

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and std (noise included) at ``X (m, d)``, each ``(m,)``."""
        check_xy(X)
        model = self._fitted()
        means, stds = [], []
        for start in range(0, len(X), PREDICT_CHUNK):
            chunk = torch.as_tensor(X[start : start + PREDICT_CHUNK], dtype=torch.float64)
            with torch.no_grad():  # one joint posterior per chunk; only its diagonal is used
                post = model.posterior(chunk, observation_noise=True)
                means.append(post.mean.reshape(-1).numpy())
                stds.append(post.variance.clamp_min(0).sqrt().reshape(-1).numpy())
        if not means:
            return np.zeros(0), np.zeros(0)
        return np.concatenate(means), np.concatenate(stds)

    def to_botorch(self) -> SingleTaskGP:
        """The fitted ``SingleTaskGP`` (input and outcome transforms included)."""
        return self._fitted()

    def save(self, directory: Path) -> None:
        """``model.json`` + ``gp.safetensors`` (state dict, train X and y)."""
        model = self._fitted()
        assert self._train is not None
        train_X, train_Y = self._train
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {f"state.{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        tensors["train_X"] = train_X.numpy()
        tensors["train_Y"] = train_Y.numpy()
        write_arrays(directory / "gp.safetensors", tensors)
        settings = asdict(self.settings)
        write_model_config(directory, self.name, settings, num_features=int(train_X.shape[-1]))

    @classmethod
    def load(cls, directory: Path) -> GPPredictor:
        """Rebuild the GP from the stored training data and state dict."""
        config = read_model_config(directory, cls.name)
        arrays = read_arrays(directory / "gp.safetensors")
        predictor = cls(**config["settings"])
        state = {
            k.removeprefix("state."): torch.from_numpy(v.copy())
            for k, v in arrays.items()
            if k.startswith("state.")
        }
        train_X = torch.from_numpy(arrays["train_X"].copy())
        train_Y = torch.from_numpy(arrays["train_Y"].copy())
        offset = state["input_transform._offset"].reshape(-1)
        bounds = torch.stack([offset, offset + state["input_transform._coefficient"].reshape(-1)])
        model = build_gp(train_X, train_Y, bounds, predictor.settings)
        model.load_state_dict(state)
        predictor.model = model.eval()
        predictor._train = (train_X, train_Y)
        return predictor
