"""Search strategies: given what is known, propose the next batch of candidates.

Registered in :data:`STRATEGIES` (``--strategy``):

- ``bo`` (default): surrogates (:mod:`aebnas.search.surrogates`, GP by default) + BoTorch
  acquisition (:mod:`aebnas.search.acquisition`) over a candidate pool
  (:mod:`aebnas.search.pool`) refined by local search; candidates whose predicted average MACs
  exceed the cap are never proposed;
- ``nsga2``: the reference loop (:mod:`aebnas.search.nsga2`): MLP surrogates, NSGA-II on
  ``f1 = error% + 0.1 * MAPE``, ``f2 = MAPE``;
- ``random``: uniform random candidates from the domain.

Every strategy starts with the same random initial design: while fewer than ``search.initial``
target-fidelity candidates are evaluated and there is no prior (low-fidelity) knowledge, a round
proposes random candidates drawn from ``(seed, round)``, so strategies compared with one seed
share their first evaluations.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from aebnas.predictors.base import Predictor
from aebnas.registry import Registry
from aebnas.search.acquisition import AcquisitionContext, Scorer, screen
from aebnas.search.pool import CostTable, Domain, PoolSettings, round_rng, round_seed
from aebnas.search.problem import Outcome, SearchProblem
from aebnas.search.surrogates import Surrogates, featurize, fit_surrogates, training_set
from aebnas.space import Architecture


@dataclass(frozen=True)
class Proposal:
    """One proposed candidate.

    Args:
        arch: The architecture.
        origin: ``initial``, ``random``, ``bo``, ``nsga2`` ...
        predicted: Predicted ``{"accuracy": [mean, std], "avg_macs": [mean, std]}`` or None.
        acquisition: Its acquisition value when picked (``None`` if none was used).
    """

    arch: Architecture
    origin: str
    predicted: dict[str, list[float]] | None = None
    acquisition: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "arch": self.arch.canonical,
            "origin": self.origin,
            "predicted": self.predicted,
            "acquisition": self.acquisition,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Proposal:
        return cls(
            Architecture.parse(data["arch"]),
            data["origin"],
            data.get("predicted"),
            data.get("acquisition"),
        )


@dataclass
class RoundInput:
    """Everything a strategy may use to propose round ``round_index``.

    Args:
        round_index: 0-based round.
        seed: The run's seed (draws use ``(seed, round_index)``).
        n: Candidates wanted.
        problem: Objectives and constraint.
        domain: Where candidates come from.
        costs: Static MAC lookup.
        records: The run's records so far (target fidelity, evaluation order).
        prior_records: Other-fidelity records (e.g. the low-fidelity archive).
        prior: Prior predictors per target (fit on ``prior_records`` or loaded), or None.
        surrogate: Predictor kind of the ``bo`` surrogates.
        acquisition: Acquisition name of ``bo``.
        pool: Pool settings.
        initial: Size of the random initial design.
        reference_target: MAC target of the reference loop when the problem names none.
    """

    round_index: int
    seed: int
    n: int
    problem: SearchProblem
    domain: Domain
    costs: CostTable
    records: list[dict[str, Any]]
    prior_records: list[dict[str, Any]] = field(default_factory=list)
    prior: dict[str, Predictor] | None = None
    surrogate: str = "gp"
    acquisition: str = "qlognehvi"
    pool: PoolSettings = field(default_factory=PoolSettings)
    initial: int = 8
    reference_target: float = 6.0

    @property
    def exclude(self) -> set[str]:
        """Canonical strings of every architecture evaluated in this run (ok or failed)."""
        return {r["arch"] for r in self.records}

    def rng(self, stream: str) -> Any:
        return round_rng(self.seed, self.round_index, stream)

    def round_seed(self, stream: str) -> int:
        return round_seed(self.seed, self.round_index, stream)

    def outcomes(self, records: Sequence[dict[str, Any]]) -> list[Outcome | None]:
        return [self.problem.outcome(r) for r in records]

    def pareto_archs(self) -> list[Architecture]:
        """Pareto members of the run's records and of the prior records (each set's own front,
        fidelities not compared)."""
        archs: dict[str, Architecture] = {}
        for records in (self.records, self.prior_records):
            mask = self.problem.pareto_mask(self.outcomes(records))
            for record, on in zip(records, mask, strict=True):
                if on:
                    archs.setdefault(record["arch"], Architecture.parse(record["arch"]))
        return list(archs.values())

    @property
    def needs_initial_design(self) -> bool:
        ok = sum(o is not None for o in self.outcomes(self.records))
        return self.prior is None and ok < self.initial


@dataclass
class RoundPlan:
    """A strategy's answer: the proposals and what it did (for logs and the report)."""

    proposals: list[Proposal]
    info: dict[str, Any] = field(default_factory=dict)


Strategy = Callable[[RoundInput], RoundPlan]
STRATEGIES: Registry[Strategy] = Registry("search strategy")


def random_plan(inputs: RoundInput, origin: str = "random") -> RoundPlan:
    """``n`` uniform random candidates from the domain, drawn from ``(seed, round)``."""
    archs = inputs.domain.random(inputs.n, inputs.rng("random"), inputs.exclude)
    return RoundPlan([Proposal(a, origin) for a in archs], {"pool": len(archs)})


@STRATEGIES.register("random")
def random_strategy(inputs: RoundInput) -> RoundPlan:
    """Uniform random search (the initial design is the same draw)."""
    return random_plan(inputs, "initial" if inputs.needs_initial_design else "random")


def _predicted(means: np.ndarray, stds: np.ndarray, i: int) -> dict[str, list[float]]:
    return {
        "accuracy": [float(means[i, 0]), float(stds[i, 0])],
        "avg_macs": [float(means[i, 1]), float(stds[i, 1])],
    }


def fit_round_surrogates(
    inputs: RoundInput, kind: str, settings: dict[str, Any] | None = None
) -> tuple[Surrogates | None, Any]:
    """Surrogates of kind ``kind`` on the run's records (+ prior); and the training rows."""
    data = training_set(inputs.records, inputs.problem, inputs.costs)
    with torch.random.fork_rng():
        torch.manual_seed(inputs.round_seed("fit"))
        surrogates = fit_surrogates(
            kind, data, inputs.prior, inputs.costs.space, inputs.round_seed("fit"), settings
        )
    return surrogates, data


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
        Proposal(pool.archs[i], "bo", _predicted(pool.means, pool.stds, i), v)
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


@STRATEGIES.register("nsga2")
def nsga2_strategy(inputs: RoundInput) -> RoundPlan:
    """The reference loop (see :mod:`aebnas.search.nsga2`)."""
    from aebnas.search.nsga2 import reference_plan

    if inputs.needs_initial_design:
        return random_plan(inputs, "initial")
    return reference_plan(inputs)
