"""Search strategies: given what is known, propose the next batch of candidates.

Registered in :data:`aebnas.search.rounds.STRATEGIES` (``--strategy``), each where it is defined:

- ``bo`` (default): surrogates (:mod:`aebnas.search.surrogates`, GP by default) + BoTorch
  acquisition (:mod:`aebnas.search.acquisition`) over a candidate pool
  (:mod:`aebnas.search.pool`) refined by local search; candidates whose predicted average MACs
  exceed the cap are never proposed;
- ``nsga2`` (in :mod:`aebnas.search.nsga2`): the reference loop: MLP surrogates, NSGA-II on
  ``f1 = error% + 0.1 * MAPE``, ``f2 = MAPE``;
- ``random``: uniform random candidates from the domain.

Every strategy starts with the same random initial design: while fewer than ``search.initial``
target-fidelity candidates are evaluated and there is no prior (low-fidelity) knowledge, a round
proposes random candidates drawn from ``(seed, round)``, so strategies compared with one seed
share their first evaluations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from aebnas.search.acquisition import AcquisitionContext, Scorer, screen
from aebnas.search.rounds import (
    STRATEGIES,
    Proposal,
    RoundInput,
    RoundPlan,
    fit_round_surrogates,
    predicted,
    random_plan,
)
from aebnas.search.surrogates import Surrogates, featurize
from aebnas.space import Architecture


@STRATEGIES.register("random")
def random_strategy(inputs: RoundInput) -> RoundPlan:
    """Uniform random search (the initial design is the same draw)."""
    return random_plan(inputs, "initial" if inputs.needs_initial_design else "random")


@dataclass
class Candidates:
    """A scored pool.

    Args:
        archs: Candidates, ``m``.
        X: Features, shape ``(m, d)``.
        means: Predicted means ``[accuracy, avg_macs]``, shape ``(m, 2)``.
        stds: Predicted standard deviations, shape ``(m, 2)``.
        allowed: Predicted mean MACs meet the cap, shape ``(m,)``.
    """

    archs: list[Architecture]
    X: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    allowed: np.ndarray

    @classmethod
    def of(
        cls, archs: list[Architecture], inputs: RoundInput, surrogates: Surrogates
    ) -> Candidates:
        X = featurize(archs, inputs.costs)
        means, stds = surrogates.predict(X)
        cap = inputs.problem.cap
        allowed = np.ones(len(archs), dtype=bool) if cap is None else means[:, 1] <= cap
        return cls(archs, X, means, stds, allowed)

    def take(self, index: np.ndarray) -> Candidates:
        index = np.asarray(index, dtype=int)
        return Candidates(
            [self.archs[i] for i in index],
            self.X[index],
            self.means[index],
            self.stds[index],
            self.allowed[index],
        )

    def __add__(self, other: Candidates) -> Candidates:
        return Candidates(
            self.archs + other.archs,
            np.vstack([self.X, other.X]),
            np.vstack([self.means, other.means]),
            np.vstack([self.stds, other.stds]),
            np.concatenate([self.allowed, other.allowed]),
        )


def _screened(inputs: RoundInput, pool: Candidates) -> Candidates:
    return pool.take(screen(inputs.problem, pool.means, pool.stds, pool.allowed))


def _refine(
    inputs: RoundInput, pool: Candidates, scorer: Scorer, surrogates: Surrogates
) -> tuple[Candidates, np.ndarray]:
    """Local search: add single-gene neighbours of the best-scored candidates, a few steps.

    Args:
        inputs: The round.
        pool: Pre-screened candidates.
        scorer: The round's acquisition.
        surrogates: For the neighbours' predictions.

    Returns:
        The grown candidates (each step's neighbours pre-screened too) and their q=1
        acquisition values, shape ``(m,)``.
    """
    values = scorer.score(pool.X) if len(pool.archs) else np.zeros(0)
    settings, rng = inputs.pool, inputs.rng("local-search")
    seen = {a.canonical for a in pool.archs} | inputs.exclude
    for _ in range(settings.local_search_steps):
        best = np.argsort(-values, kind="stable")[: settings.local_search_top]
        new = inputs.domain.neighbours([pool.archs[i] for i in best], rng, seen)
        if not new:
            break
        seen |= {a.canonical for a in new}
        found = _screened(inputs, Candidates.of(new, inputs, surrogates))
        if not found.archs:
            continue
        pool = pool + found
        values = np.concatenate([values, scorer.score(found.X)])
    return pool, values


@STRATEGIES.register("bo")
def bo_strategy(inputs: RoundInput) -> RoundPlan:
    """Surrogates + acquisition over the pre-screened, locally refined pool; greedy batch."""
    if inputs.needs_initial_design:
        return random_plan(inputs, "initial")
    start = time.perf_counter()
    surrogates, data = fit_round_surrogates(inputs, inputs.surrogate)
    if surrogates is None:
        return random_plan(inputs, "initial")
    fit_seconds = time.perf_counter() - start
    archs = inputs.domain.pool(inputs.pareto_archs(), inputs.rng("pool"), inputs.exclude)
    pool = Candidates.of(archs, inputs, surrogates)
    allowed = int(pool.allowed.sum())
    pool_seconds = time.perf_counter() - start - fit_seconds
    context = AcquisitionContext(
        surrogates.model(), inputs.problem, torch.as_tensor(data.X), inputs.round_seed("acq")
    )
    scorer = Scorer(inputs.acquisition, context)
    pool, first = _refine(inputs, _screened(inputs, pool), scorer, surrogates)
    refine_seconds = time.perf_counter() - start - fit_seconds - pool_seconds
    picks, values = scorer.select(pool.X, inputs.n, pool.allowed, first)
    proposals = [
        Proposal(pool.archs[i], "bo", predicted(pool.means, pool.stds, i), v)
        for i, v in zip(picks, values, strict=True)
    ]
    info = {
        "surrogates": surrogates.how,
        "pool": len(archs),
        "allowed": allowed,
        "scored": len(pool.archs),
        "fit_seconds": round(fit_seconds, 3),
        "pool_seconds": round(pool_seconds, 3),
        "local_search_seconds": round(refine_seconds, 3),
        "seconds": round(time.perf_counter() - start, 3),
    }
    return RoundPlan(proposals, info)

