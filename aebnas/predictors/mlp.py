"""MLP predictor: the reference implementation's surrogate, as a small seeded ensemble.

Each member is the reference MLP (3 hidden layers of 300 units, ReLU, SmoothL1 loss, Adam) fit
full-batch (float32) with a cosine learning-rate schedule on standardised inputs and target, on its
own bootstrap sample of the rows. The members' spread is inflated by a factor fit on out-of-bag
errors (:class:`aebnas.predictors.ensemble.BootstrapEnsemble`, as for
:mod:`aebnas.predictors.xgb`). Saved as ``model.json`` + ``mlp.safetensors``
(every member's weights and the scaling statistics).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from botorch.models.model import Model
from torch import Tensor, nn

from aebnas.predictors.base import (
    Standardizer,
    read_arrays,
    register_predictor,
    write_arrays,
)
from aebnas.predictors.botorch_models import MembersModel
from aebnas.predictors.ensemble import BootstrapEnsemble


@dataclass(frozen=True)
class MLPSettings:
    """Network and training settings.

    Args:
        members: Ensemble members (each on a bootstrap sample).
        seed: Seed of the samples and the weight initialisation.
        hidden: Units per hidden layer.
        layers: Hidden layers.
        epochs: Full-batch Adam steps.
        lr: Initial learning rate (cosine schedule to 0).
        weight_decay: Adam weight decay.
    """

    members: int = 5
    seed: int = 0
    hidden: int = 300
    layers: int = 3
    epochs: int = 200
    lr: float = 8e-4
    weight_decay: float = 0.0


def build_mlp(d: int, settings: MLPSettings) -> nn.Sequential:
    """``d -> hidden (x layers, ReLU) -> 1`` (float32; inputs are standardised first)."""
    modules: list[nn.Module] = []
    width = d
    for _ in range(settings.layers):
        modules += [nn.Linear(width, settings.hidden), nn.ReLU()]
        width = settings.hidden
    modules.append(nn.Linear(width, 1))
    return nn.Sequential(*modules)


def train_member(net: nn.Sequential, X: Tensor, z: Tensor, settings: MLPSettings) -> nn.Sequential:
    """Full-batch training with SmoothL1 on standardised data; returns ``net`` in eval mode."""
    optimizer = torch.optim.Adam(
        net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, settings.epochs))
    loss_fn = nn.SmoothL1Loss()
    net.train()
    for _ in range(settings.epochs):
        optimizer.zero_grad()
        loss = loss_fn(net(X).squeeze(-1), z)
        loss.backward()
        optimizer.step()
        schedule.step()
    return net.eval()


@register_predictor("mlp")
class MLPPredictor(BootstrapEnsemble):
    """Ensemble of reference MLP surrogates (see the module docstring).

    Args:
        **settings: Fields of :class:`MLPSettings`.
    """

    name = "mlp"
    settings_type = MLPSettings
    settings: MLPSettings

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.nets: list[nn.Sequential] = []
        self.x_scaler: Standardizer | None = None
        self.y_scaler: Standardizer | None = None

    @property
    def fitted(self) -> bool:
        return bool(self.nets) and self.x_scaler is not None and self.y_scaler is not None

    def fit_members(
        self, X: np.ndarray, y: np.ndarray, samples: list[np.ndarray], **context: Any
    ) -> None:
        """Train one network per bootstrap sample of the standardised ``X (n, d)``, ``y (n,)``."""
        self.x_scaler, self.y_scaler = Standardizer.fit(X), Standardizer.fit(y)
        Xs = torch.as_tensor(self.x_scaler.transform(X), dtype=torch.float32)
        z = torch.as_tensor(self.y_scaler.transform(y), dtype=torch.float32)
        self.nets = []
        with torch.random.fork_rng():
            for k, idx in enumerate(samples):
                torch.manual_seed(self.settings.seed * 1000 + k)
                net = build_mlp(X.shape[1], self.settings)
                index = torch.as_tensor(idx)
                self.nets.append(train_member(net, Xs[index], z[index], self.settings))

    def members_tensor(self, X: Tensor) -> Tensor:
        """Calibrated member predictions at features ``X (N, d)`` (differentiable), ``(s, N)``."""
        return self._inflated(X, self.spread)

    def _inflated(self, X: Tensor, spread: float) -> Tensor:
        if not self.fitted:
            raise RuntimeError("the predictor is not fitted")
        assert self.x_scaler is not None and self.y_scaler is not None
        mean = torch.as_tensor(self.x_scaler.mean, dtype=X.dtype, device=X.device)
        scale = torch.as_tensor(self.x_scaler.scale, dtype=X.dtype, device=X.device)
        Xs = ((X - mean) / scale).float()
        raw = torch.stack([net(Xs).squeeze(-1) for net in self.nets]).to(X.dtype)
        values = raw * float(self.y_scaler.scale) + float(self.y_scaler.mean)
        center = values.mean(dim=0, keepdim=True)
        return center + spread * (values - center)

    def raw_members(self, X: np.ndarray) -> np.ndarray:
        """Uncalibrated member predictions at ``X (m, d)``, ``(s, m)``."""
        with torch.no_grad():
            return self._inflated(torch.as_tensor(X, dtype=torch.float64), 1.0).numpy()

    def members(self, X: np.ndarray) -> np.ndarray:
        """Calibrated member predictions at ``X (m, d)``, ``(s, m)``."""
        with torch.no_grad():
            return self.members_tensor(torch.as_tensor(X, dtype=torch.float64)).numpy()

    def to_botorch(self) -> Model:
        """The calibrated members as a BoTorch ``EnsembleModel`` (differentiable in ``X``)."""
        return MembersModel(self.members_tensor, self.num_features)

    def save_members(self, directory: Path) -> dict[str, Any]:
        """``mlp.safetensors``: member weights, scaling statistics."""
        assert self.x_scaler is not None and self.y_scaler is not None
        arrays = {**self.x_scaler.arrays("x"), **self.y_scaler.arrays("y")}
        for k, net in enumerate(self.nets):
            for key, value in net.state_dict().items():
                arrays[f"member{k}.{key}"] = value.detach().numpy()
        write_arrays(directory / "mlp.safetensors", arrays)
        return {"members": len(self.nets)}

    def load_members(self, directory: Path, config: dict[str, Any]) -> None:
        arrays = read_arrays(directory / "mlp.safetensors")
        self.x_scaler = Standardizer.from_arrays(arrays, "x")
        self.y_scaler = Standardizer.from_arrays(arrays, "y", scalar=True)
        for k in range(int(config["members"])):
            prefix = f"member{k}."
            state = {
                key.removeprefix(prefix): torch.from_numpy(value.copy())
                for key, value in arrays.items()
                if key.startswith(prefix)
            }
            net = build_mlp(self.num_features, self.settings)
            net.load_state_dict(state)
            self.nets.append(net.eval())
