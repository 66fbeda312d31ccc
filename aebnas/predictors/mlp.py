"""MLP predictor: the reference implementation's surrogate, as a small seeded ensemble.

Each member is the reference MLP (3 hidden layers of 300 units, ReLU, SmoothL1 loss, Adam) fit
full-batch (float32) with a cosine learning-rate schedule on standardised inputs and target, on its
own bootstrap sample of the rows. The members' spread is inflated by a factor fit on out-of-bag
errors (as for :mod:`aebnas.predictors.xgb`). Saved as ``model.json`` + ``mlp.safetensors``
(every member's weights and the scaling statistics).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from botorch.models.model import Model
from torch import Tensor, nn

from aebnas.predictors.base import (
    Standardizer,
    bootstrap_indices,
    check_xy,
    ensemble_summary,
    in_bag_mask,
    read_arrays,
    read_model_config,
    register_predictor,
    spread_calibration,
    write_arrays,
    write_model_config,
)
from aebnas.predictors.botorch_models import MembersModel


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
class MLPPredictor:
    """Ensemble of reference MLP surrogates (see the module docstring).

    Args:
        **settings: Fields of :class:`MLPSettings`.
    """

    name = "mlp"

    def __init__(self, **settings: Any) -> None:
        self.settings = MLPSettings(**settings)
        self.nets: list[nn.Sequential] = []
        self.x_scaler: Standardizer | None = None
        self.y_scaler: Standardizer | None = None
        self.spread = 1.0
        self.num_features = 0

    def fit(self, X: np.ndarray, y: np.ndarray) -> MLPPredictor:
        """Fit every member on its bootstrap sample of ``X (n, d)``, ``y (n,)``."""
        check_xy(X, y, min_rows=2)
        self.num_features = X.shape[1]
        self.x_scaler, self.y_scaler = Standardizer.fit(X), Standardizer.fit(y)
        Xs = torch.as_tensor(self.x_scaler.transform(X), dtype=torch.float32)
        z = torch.as_tensor(self.y_scaler.transform(y), dtype=torch.float32)
        samples = bootstrap_indices(len(y), self.settings.members, self.settings.seed)
        self.nets = []
        with torch.random.fork_rng():
            for k, idx in enumerate(samples):
                torch.manual_seed(self.settings.seed * 1000 + k)
                net = build_mlp(X.shape[1], self.settings)
                index = torch.as_tensor(idx)
                self.nets.append(train_member(net, Xs[index], z[index], self.settings))
        in_bag = in_bag_mask(samples, len(y))
        self.spread = 1.0
        raw = self.members_tensor(torch.as_tensor(X, dtype=torch.float64)).detach().numpy()
        self.spread = spread_calibration(y, raw, in_bag)
        return self

    def members_tensor(self, X: Tensor) -> Tensor:
        """Calibrated member predictions at features ``X (N, d)`` (differentiable), ``(s, N)``."""
        if not self.nets or self.x_scaler is None or self.y_scaler is None:
            raise RuntimeError("the predictor is not fitted")
        mean = torch.as_tensor(self.x_scaler.mean, dtype=X.dtype, device=X.device)
        scale = torch.as_tensor(self.x_scaler.scale, dtype=X.dtype, device=X.device)
        Xs = ((X - mean) / scale).float()
        raw = torch.stack([net(Xs).squeeze(-1) for net in self.nets]).to(X.dtype)
        values = raw * float(self.y_scaler.scale) + float(self.y_scaler.mean)
        center = values.mean(dim=0, keepdim=True)
        return center + self.spread * (values - center)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std over the calibrated members at ``X (m, d)``, each ``(m,)``."""
        check_xy(X)
        with torch.no_grad():
            members = self.members_tensor(torch.as_tensor(X, dtype=torch.float64)).numpy()
        return ensemble_summary(members)

    def to_botorch(self) -> Model:
        """The calibrated members as a BoTorch ``EnsembleModel`` (differentiable in ``X``)."""
        return MembersModel(self.members_tensor, self.num_features)

    def save(self, directory: Path) -> None:
        """``model.json`` + ``mlp.safetensors`` (member weights, scaling statistics)."""
        if self.x_scaler is None or self.y_scaler is None:
            raise RuntimeError("the predictor is not fitted")
        arrays = {**self.x_scaler.arrays("x"), **self.y_scaler.arrays("y")}
        for k, net in enumerate(self.nets):
            for key, value in net.state_dict().items():
                arrays[f"member{k}.{key}"] = value.detach().numpy()
        write_arrays(directory / "mlp.safetensors", arrays)
        write_model_config(
            directory,
            self.name,
            asdict(self.settings),
            spread=self.spread,
            num_features=self.num_features,
            members=len(self.nets),
        )

    @classmethod
    def load(cls, directory: Path) -> MLPPredictor:
        """Rebuild the members from :meth:`save`'s files (safetensors, JSON; no code)."""
        config = read_model_config(directory, cls.name)
        arrays = read_arrays(directory / "mlp.safetensors")
        predictor = cls(**config["settings"])
        predictor.spread = float(config["spread"])
        predictor.num_features = int(config["num_features"])
        predictor.x_scaler = Standardizer.from_arrays(arrays, "x")
        predictor.y_scaler = Standardizer.from_arrays(arrays, "y", scalar=True)
        for k in range(int(config["members"])):
            prefix = f"member{k}."
            state = {
                key.removeprefix(prefix): torch.from_numpy(value.copy())
                for key, value in arrays.items()
                if key.startswith(prefix)
            }
            net = build_mlp(predictor.num_features, predictor.settings)
            net.load_state_dict(state)
            predictor.nets.append(net.eval())
        return predictor
