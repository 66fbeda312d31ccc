"""Score a discrete candidate pool with BoTorch and pick a batch greedily.

Outputs of the surrogate model: ``[accuracy, avg_macs]``. The MC objective maps samples to the
maximised pair ``[accuracy, -cost(avg_macs)]`` (cost = MACs, or the MAPE to the target in target
mode, :meth:`aebnas.search.problem.SearchProblem.cost`); in budget mode the cap is an outcome
constraint ``avg_macs - cap <= 0`` (a sample above the cap adds no volume). Registered
acquisition functions (:data:`ACQUISITIONS`):

- ``qlognehvi`` (default): ``qLogNoisyExpectedHypervolumeImprovement`` over the evaluated
  target-fidelity candidates as ``X_baseline`` (``qLogExpectedHypervolumeImprovement`` over an
  empty front when none is evaluated yet), reference point = the problem's;
- ``qlognparego``: ``qLogNParEGO`` (random Chebyshev scalarisation), new weights per pick.

Pre-screen: the MC acquisition costs a joint posterior per candidate, so a large pool is first
cut to the :data:`SCREEN_SIZE` candidates that are best on optimistic objectives (mean +
``SCREEN_KAPPA`` std of accuracy, mean - ``SCREEN_KAPPA`` std of cost; successive
non-dominated fronts), among those whose predicted mean MACs meet the cap.

The baseline (evaluated candidates) is pruned once per round to the :data:`MAX_BASELINE` most
likely Pareto-optimal ones (``prune_inferior_points_multi_objective``), since every
acquisition value needs a joint posterior over the baseline and the candidate.

Batch selection is greedy-sequential over the discrete pool: pick the best candidate, add it to
``X_pending``, re-score, repeat (as ``optimize_acqf_discrete`` does, with the acquisition
rebuilt per pick so ParEGO draws new weights); picks after the first re-score only the
:data:`RESCORE_TOP` candidates with the best first-pick values. The pool is scored in chunks of
:data:`SCORE_CHUNK` candidates under ``torch.no_grad``. Every random draw (MC base samples,
ParEGO weights) is seeded from ``seed`` and the pick's index.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.cached_cholesky import supports_cache_root
from botorch.acquisition.multi_objective.logei import (
    qLogExpectedHypervolumeImprovement,
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.acquisition.multi_objective.objective import GenericMCMultiOutputObjective
from botorch.acquisition.multi_objective.parego import qLogNParEGO
from botorch.acquisition.multi_objective.utils import prune_inferior_points_multi_objective
from botorch.models.model import Model
from botorch.sampling.base import MCSampler
from botorch.sampling.get_sampler import get_sampler
from botorch.utils.multi_objective.box_decompositions.non_dominated import (
    FastNondominatedPartitioning,
)
from botorch.utils.multi_objective.pareto import is_non_dominated
from torch import Tensor

from aebnas.registry import Registry
from aebnas.search.problem import SearchProblem

#: Candidates scored per forward pass.
SCORE_CHUNK = 256
#: Monte-Carlo samples of the acquisition functions.
MC_SAMPLES = 128
#: Candidates kept by the optimistic pre-screen before the MC acquisition is computed.
SCREEN_SIZE = 96
#: Standard deviations of optimism in the pre-screen.
SCREEN_KAPPA = 1.0
#: Evaluated candidates kept as qLogNEHVI / qLogNParEGO baseline (most likely Pareto-optimal).
MAX_BASELINE = 24
#: Candidates re-scored for the second and later picks of a batch (best first-pick values).
RESCORE_TOP = 64


@dataclass(frozen=True)
class AcquisitionContext:
    """What every acquisition function is built from.

    Args:
        model: Two-output BoTorch model (accuracy, avg_macs) over float64 features.
        problem: Objectives, constraint and reference point.
        X_baseline: Features of the evaluated target-fidelity candidates, shape ``(n, d)``.
        seed: Seed of this round's draws.
    """

    model: Model
    problem: SearchProblem
    X_baseline: Tensor
    seed: int


AcquisitionFactory = Callable[[AcquisitionContext, int, Tensor | None], AcquisitionFunction]
ACQUISITIONS: Registry[AcquisitionFactory] = Registry("acquisition function")


def mc_objective(problem: SearchProblem) -> GenericMCMultiOutputObjective:
    """Samples ``(..., 2)`` of ``[accuracy, avg_macs]`` -> maximised ``[accuracy, -cost]``."""

    def objective(samples: Tensor, X: Tensor | None = None) -> Tensor:
        return torch.stack([samples[..., 0], -problem.cost(samples[..., 1])], dim=-1)

    return GenericMCMultiOutputObjective(objective)


def mc_constraints(problem: SearchProblem) -> list[Callable[[Tensor], Tensor]] | None:
    """``avg_macs - cap`` (feasible where ``<= 0``) in budget mode, else ``None``."""
    cap = problem.cap
    if cap is None:
        return None
    return [lambda samples: samples[..., 1] - cap]


def _sampler(context: AcquisitionContext, step: int) -> MCSampler:
    """Seeded MC sampler matching the model's posterior type (GP, ensemble or a list)."""
    if len(context.X_baseline) == 0:
        raise ValueError("a sampler needs one feature row")
    posterior = context.model.posterior(context.X_baseline[:1])
    seed = context.seed + step
    return get_sampler(posterior, sample_shape=torch.Size([MC_SAMPLES]), seed=seed)  # type: ignore[arg-type]


@ACQUISITIONS.register("qlognehvi")
def qlognehvi(
    context: AcquisitionContext, step: int, pending: Tensor | None
) -> AcquisitionFunction:
    """qLogNEHVI over the evaluated candidates (qLogEHVI over an empty front if none)."""
    problem, ref = context.problem, torch.as_tensor(context.problem.ref_point)
    if len(context.X_baseline) == 0:
        partitioning = FastNondominatedPartitioning(ref_point=ref, Y=torch.zeros(0, 2).to(ref))
        return qLogExpectedHypervolumeImprovement(
            context.model,
            ref_point=ref,
            partitioning=partitioning,  # type: ignore[arg-type]
            objective=mc_objective(problem),
            constraints=mc_constraints(problem),
            X_pending=pending,
        )
    return qLogNoisyExpectedHypervolumeImprovement(
        context.model,
        ref_point=ref,
        X_baseline=context.X_baseline,
        sampler=_sampler(context, step),
        objective=mc_objective(problem),
        constraints=mc_constraints(problem),
        X_pending=pending,
        prune_baseline=False,
        cache_root=supports_cache_root(context.model),
    )


@ACQUISITIONS.register("qlognparego")
def qlognparego(
    context: AcquisitionContext, step: int, pending: Tensor | None
) -> AcquisitionFunction:
    """qLogNParEGO with Chebyshev weights drawn per pick (seeded)."""
    generator = torch.Generator().manual_seed(context.seed + 7919 * (step + 1))
    u = float(torch.rand(1, generator=generator, dtype=torch.float64))
    weights = torch.tensor([u, 1.0 - u], dtype=torch.float64)  # uniform on the 2-simplex
    baseline = context.X_baseline
    if len(baseline) == 0:
        raise ValueError("qlognparego needs at least one evaluated candidate")
    return qLogNParEGO(
        context.model,
        X_baseline=baseline,
        scalarization_weights=weights,
        sampler=_sampler(context, step),
        objective=mc_objective(context.problem),
        constraints=mc_constraints(context.problem),
        X_pending=pending,
        prune_baseline=False,
        cache_root=supports_cache_root(context.model),
    )


def screen(
    problem: SearchProblem,
    means: np.ndarray,
    stds: np.ndarray,
    allowed: np.ndarray,
    k: int = SCREEN_SIZE,
    kappa: float = SCREEN_KAPPA,
) -> np.ndarray:
    """Indices of at most ``k`` allowed candidates, best first on optimistic objectives.

    Args:
        problem: Gives the cost of MACs.
        means: Predicted means ``[accuracy, avg_macs]``, shape ``(m, 2)``.
        stds: Predicted standard deviations, shape ``(m, 2)``.
        allowed: Candidates that may be picked, shape ``(m,)``.
        k: How many to keep.
        kappa: Optimism in standard deviations.

    Returns:
        Indices, shape ``(<= k,)``: whole non-dominated fronts first, the last front cut by
        optimistic accuracy.
    """
    stds = np.nan_to_num(stds, nan=0.0)
    accuracy = means[:, 0] + kappa * stds[:, 0]
    cost = problem.cost(np.maximum(means[:, 1] - kappa * stds[:, 1], 0.0))
    left = np.flatnonzero(allowed)
    Y = torch.as_tensor(np.stack([accuracy, -cost], axis=1))
    chosen: list[int] = []
    while len(left) and len(chosen) < k:
        front = left[is_non_dominated(Y[left], deduplicate=False).numpy()]
        front = front[np.argsort(-accuracy[front], kind="stable")]
        chosen += front[: k - len(chosen)].tolist()
        left = np.setdiff1d(left, front)
    return np.asarray(chosen, dtype=int)


@torch.no_grad()
def pruned_baseline(context: AcquisitionContext, limit: int = MAX_BASELINE) -> Tensor:
    """The at most ``limit`` evaluated candidates most likely to be Pareto-optimal (seeded)."""
    X = context.X_baseline
    if len(X) <= 1:
        return X
    with warnings.catch_warnings(), torch.random.fork_rng():
        warnings.simplefilter("ignore")
        torch.manual_seed(context.seed)
        return prune_inferior_points_multi_objective(
            context.model,
            X,
            ref_point=torch.as_tensor(context.problem.ref_point),
            objective=mc_objective(context.problem),
            constraints=mc_constraints(context.problem),
            max_frac=min(1.0, limit / len(X)),
        )


@torch.no_grad()
def score(acquisition: AcquisitionFunction, X: Tensor) -> np.ndarray:
    """Acquisition value of every candidate alone (q = 1, plus any pending points).

    Args:
        acquisition: A built acquisition function.
        X: Candidate features, shape ``(m, d)``.

    Returns:
        Values, shape ``(m,)`` (log-scale for the log acquisition functions).
    """
    values = [
        acquisition(X[i : i + SCORE_CHUNK].unsqueeze(-2)).detach()
        for i in range(0, len(X), SCORE_CHUNK)
    ]
    return torch.cat(values).numpy() if values else np.zeros(0)


class Scorer:
    """Builds and evaluates one round's acquisition function.

    Args:
        name: Registered acquisition name.
        context: Model, problem, baseline, seed.
    """

    def __init__(self, name: str, context: AcquisitionContext) -> None:
        self.factory = ACQUISITIONS.get(name)
        self.context = replace(context, X_baseline=pruned_baseline(context))

    def build(self, step: int, pending: Tensor | None) -> AcquisitionFunction:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.manual_seed(self.context.seed + step)
            return self.factory(self.context, step, pending)

    def score(self, X: np.ndarray, step: int = 0, pending: Tensor | None = None) -> np.ndarray:
        """Values of candidates ``X (m, d)`` alone; shape ``(m,)``."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return score(self.build(step, pending), torch.as_tensor(X, dtype=torch.float64))

    def select(
        self, X: np.ndarray, q: int, allowed: np.ndarray, first: np.ndarray | None = None
    ) -> tuple[list[int], list[float]]:
        """Greedy-sequential batch of ``q`` distinct rows of ``X (m, d)`` among ``allowed (m,)``.

        Args:
            X: Candidate features.
            q: Batch size.
            allowed: Rows that may be picked.
            first: Already computed values of the first pick (no pending point), ``(m,)``.

        Returns:
            ``(indices, values)``: picked rows in pick order and each one's acquisition value
            given the earlier picks as pending.
        """
        X_t = torch.as_tensor(X, dtype=torch.float64)
        chosen: list[int] = []
        values: list[float] = []
        rows = np.flatnonzero(allowed)
        for step in range(min(q, len(rows))):
            pending = X_t[chosen] if chosen else None
            if step == 0:
                v = first[rows] if first is not None else self.score(X[rows], step, pending)
                v = np.nan_to_num(v, nan=-np.inf)
                order = np.argsort(-v, kind="stable")
                top = rows[order[: max(RESCORE_TOP, q)]]
                v = v[order[: len(top)]]
            else:
                v = np.nan_to_num(self.score(X[top], step, pending), nan=-np.inf)
            v[np.isin(top, chosen)] = -np.inf
            best = int(np.argmax(v))
            chosen.append(int(top[best]))
            values.append(float(v[best]))
        return chosen, values
