"""What a search strategy gets and returns, the strategy registry, and the helpers strategies
share.

A strategy is a function ``RoundInput -> RoundPlan`` registered in :data:`STRATEGIES` where it is
defined (:mod:`aebnas.search.strategies`: ``random``, ``bo``; :mod:`aebnas.search.nsga2`:
``nsga2``); :mod:`aebnas.search` imports those modules so that all are registered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from aebnas.predictors.base import Predictor
from aebnas.registry import Registry
from aebnas.search.pool import CostTable, Domain, PoolSettings, round_rng, round_seed
from aebnas.search.problem import Outcome, SearchProblem
from aebnas.search.surrogates import Surrogates, fit_surrogates, training_set
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


def predicted(means: np.ndarray, stds: np.ndarray, i: int) -> dict[str, list[float]]:
    """Candidate ``i``'s prediction as a :class:`Proposal` stores it.

    Args:
        means: Predicted ``[accuracy, avg_macs]`` means, shape ``(m, 2)``.
        stds: Their standard deviations, shape ``(m, 2)``.
        i: Row of the candidate.
    """
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
