"""BoTorch views of the predictors (what the acquisition functions of the search consume).

- :class:`MembersModel`: an :class:`~botorch.models.ensemble.EnsembleModel` whose members are an
  ensemble predictor's (calibrated) members; its ``EnsemblePosterior`` mean and variance are the
  predictor's ``predict`` mean and std squared.
- :class:`ShiftedModel`: a base model over augmented inputs plus a deterministic mean shift (the
  source-predictor prior of :mod:`aebnas.predictors.prior`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from botorch.models.ensemble import EnsembleModel
from botorch.models.model import Model
from botorch.posteriors import GPyTorchPosterior
from botorch.posteriors.ensemble import EnsemblePosterior
from botorch.posteriors.posterior import Posterior
from gpytorch.distributions import MultivariateNormal
from torch import Tensor

TensorFn = Callable[[Tensor], Tensor]


def numpy_members(fn: Callable[[np.ndarray], np.ndarray]) -> TensorFn:
    """Wrap a numpy ``(N, d) -> (s, N)`` member function as a tensor function (no gradient)."""

    def members(X: Tensor) -> Tensor:
        values = fn(X.detach().cpu().numpy().astype(np.float64))
        return torch.as_tensor(values, dtype=X.dtype, device=X.device)

    return members


class MembersModel(EnsembleModel):
    """An ensemble predictor as a BoTorch ensemble model (one output).

    Args:
        members: Maps features ``(N, d)`` (float64 tensor) to member predictions ``(s, N)``.
        num_features: ``d``.
    """

    def __init__(self, members: TensorFn, num_features: int) -> None:
        super().__init__()
        self._members = members
        self._num_outputs = 1
        self.num_features = num_features

    def forward(self, X: Tensor) -> Tensor:
        """Member predictions at ``X`` (``batch x q x d``) as ``batch x s x q x 1``."""
        batch, q = X.shape[:-2], X.shape[-2]
        values = self._members(X.reshape(-1, X.shape[-1]))
        values = values.reshape(values.shape[0], *batch, q)
        return values.movedim(0, -2).unsqueeze(-1)


class ShiftedModel(Model):
    """``base`` evaluated on augmented inputs, its posterior mean shifted.

    Args:
        base: A fitted one-output BoTorch model over the augmented features.
        augment: Maps features ``(N, d)`` to ``(augmented (N, d'), shift (N,))``.
        extra_variance: Independent variance added to each point of a GP base's posterior
            (ignored for an ensemble base).
    """

    def __init__(
        self,
        base: Model,
        augment: Callable[[Tensor], tuple[Tensor, Tensor]],
        extra_variance: float = 0.0,
    ) -> None:
        super().__init__()
        self.base = base
        self._augment = augment
        self.extra_variance = extra_variance

    @property
    def num_outputs(self) -> int:
        return 1

    @property
    def batch_shape(self) -> torch.Size:
        return self.base.batch_shape

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: Any = None,
        **kwargs: Any,
    ) -> Posterior:
        """The base posterior at the augmented ``X`` with ``shift`` added to its mean.

        Args:
            X: ``batch x q x d`` features.
            observation_noise: Passed to a GP base (ignored by an ensemble base).
        """
        if posterior_transform is not None:
            raise NotImplementedError("ShiftedModel does not take a posterior_transform")
        batch, q = X.shape[:-2], X.shape[-2]
        augmented, shift = self._augment(X.reshape(-1, X.shape[-1]))
        augmented = augmented.reshape(*batch, q, augmented.shape[-1])
        shift = shift.reshape(*batch, q)
        if isinstance(self.base, EnsembleModel):
            members = self.base.posterior(augmented)
            return EnsemblePosterior(values=members.values + shift[..., None, :, None])
        post = self.base.posterior(augmented, observation_noise=observation_noise, **kwargs)
        if not isinstance(post, GPyTorchPosterior):
            raise NotImplementedError(f"cannot shift a {type(post).__name__}")
        mvn = post.distribution
        covariance = mvn.lazy_covariance_matrix
        if self.extra_variance > 0:
            covariance = covariance.add_diagonal(torch.full_like(mvn.mean, self.extra_variance))
        return GPyTorchPosterior(MultivariateNormal(mvn.mean + shift, covariance))
