"""The reference implementation's search loop as a strategy (``--strategy nsga2``, registered
here in :data:`aebnas.search.rounds.STRATEGIES`).

Per round, as in AEBNAS / NSGANetV2: fit one MLP surrogate for accuracy and one for average
MACs (the reference's 300-300-300 MLP, SmoothL1, Adam; here :mod:`aebnas.predictors.mlp` with
one member), run NSGA-II (pymoo) on the surrogates' predictions with the reference objectives,
both minimised,

    MAPE = 100 * |c - T| / T,   f1 = e + 0.1 * MAPE,   f2 = MAPE

(``e`` predicted error in %, ``c`` predicted average MMACs, ``T`` the target: ``target_macs``,
else the cap, else the dataset's default target), population 40, 20 generations, crossover
probability 0.9, and take 8 (``n``) not yet evaluated members of the final population in
NSGA-II order (non-domination rank, then crowding distance).

Differences from the reference, on purpose: the genome is our :class:`Architecture` with its
own operators (:func:`aebnas.space.crossover`: uniform over whole stages / exit slots;
:func:`aebnas.space.mutate` with gene probability 0.1) instead of an integer vector with
two-point crossover and polynomial mutation; the initial population is the 40 best evaluated
candidates by the same objectives on their measured values (filled with random ones). In
benchmark mode every offspring is snapped to the nearest archive row
(:meth:`aebnas.search.pool.FixedDomain.snap`).
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2, binary_tournament
from pymoo.core.crossover import Crossover
from pymoo.core.duplicate import ElementwiseDuplicateElimination
from pymoo.core.mating import Mating
from pymoo.core.mutation import Mutation
from pymoo.core.problem import Problem
from pymoo.core.sampling import Sampling
from pymoo.operators.selection.tournament import TournamentSelection
from pymoo.optimize import minimize

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
from aebnas.space import Architecture, crossover, mutate

POPULATION = 40
GENERATIONS = 20
CROSSOVER_PROB = 0.9
MUTATION_P = 0.1
PENALTY = 0.1
#: Mating rounds per generation while offspring are duplicates (pymoo's default is 100; in
#: benchmark mode the snapped offspring of a converged population are mostly duplicates, and
#: 100 re-draws per generation made a round slow for no new candidates).
MATING_ATTEMPTS = 10


def reference_objectives(accuracy: np.ndarray, avg_macs: np.ndarray, target: float) -> np.ndarray:
    """``[f1, f2]`` per candidate (both minimised), shape ``(n, 2)``.

    Args:
        accuracy: Fraction, shape ``(n,)``.
        avg_macs: MMACs, shape ``(n,)``.
        target: Target MMACs.
    """
    mape = 100.0 * np.abs(avg_macs - target) / target
    error = 100.0 * (1.0 - accuracy)
    return np.stack([error + PENALTY * mape, mape], axis=1)


def _py_rng(random_state: np.random.Generator) -> random.Random:
    return random.Random(int(random_state.integers(2**31)))


class _ArchProblem(Problem):
    """One object variable (an :class:`Architecture`), objectives from the surrogates."""

    def __init__(self, inputs: RoundInput, surrogates: Surrogates, target: float) -> None:
        super().__init__(n_var=1, n_obj=2, vtype=object)
        self.inputs = inputs
        self.surrogates = surrogates
        self.target = target

    def _evaluate(self, x: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        X = featurize(list(x[:, 0]), self.inputs.costs)
        means, _ = self.surrogates.predict(X)
        out["F"] = reference_objectives(means[:, 0], means[:, 1], self.target)


class _Initial(Sampling):
    def __init__(self, archs: Sequence[Architecture]) -> None:
        super().__init__()
        self.archs = list(archs)

    def _do(self, problem: Problem, n_samples: int, *args: Any, **kwargs: Any) -> np.ndarray:
        return np.array([[a] for a in self.archs[:n_samples]], dtype=object)


class _Crossover(Crossover):
    def __init__(self, inputs: RoundInput) -> None:
        super().__init__(n_parents=2, n_offsprings=2, prob=CROSSOVER_PROB)
        self.inputs = inputs

    def _do(
        self, problem: Problem, X: np.ndarray, *args: Any, random_state: Any = None, **kw: Any
    ) -> np.ndarray:
        rng = _py_rng(random_state)
        _, n_matings, _ = X.shape
        Y = np.empty((2, n_matings, 1), dtype=object)
        for k in range(n_matings):
            a, b = X[0, k, 0], X[1, k, 0]
            Y[0, k, 0], Y[1, k, 0] = self.inputs.domain.snap(
                [crossover(a, b, rng), crossover(b, a, rng)]
            )
        return Y


class _Mutation(Mutation):
    def __init__(self, inputs: RoundInput) -> None:
        super().__init__()
        self.inputs = inputs

    def _do(
        self, problem: Problem, X: np.ndarray, *args: Any, random_state: Any = None, **kw: Any
    ) -> np.ndarray:
        rng = _py_rng(random_state)
        space = self.inputs.costs.space
        mutants = [mutate(x[0], space, rng, MUTATION_P) for x in X]
        return np.array([[a] for a in self.inputs.domain.snap(mutants)], dtype=object)


class _Duplicates(ElementwiseDuplicateElimination):
    def is_equal(self, a: Any, b: Any) -> bool:
        return bool(a.X[0].canonical == b.X[0].canonical)


def _initial_population(inputs: RoundInput, target: float) -> list[Architecture]:
    """The best evaluated candidates by the reference objectives (non-dominated sorting on
    measured values), filled with random domain members up to :data:`POPULATION`."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    pairs = [
        (r, o) for r, o in ((r, inputs.problem.outcome(r)) for r in inputs.records) if o is not None
    ]
    chosen: list[Architecture] = []
    if pairs:
        F = reference_objectives(
            np.array([o.accuracy for _, o in pairs]),
            np.array([o.avg_macs for _, o in pairs]),
            target,
        )
        for front in NonDominatedSorting().do(F):
            for i in sorted(front, key=lambda i: tuple(F[i])):
                chosen.append(Architecture.parse(pairs[i][0]["arch"]))
    chosen = list({a.canonical: a for a in chosen}.values())[:POPULATION]
    exclude = inputs.exclude | {a.canonical for a in chosen}
    fill = inputs.domain.random(POPULATION - len(chosen), inputs.rng("nsga2-fill"), exclude)
    return chosen + fill


@STRATEGIES.register("nsga2")
def nsga2_strategy(inputs: RoundInput) -> RoundPlan:
    """The reference loop after the shared random initial design."""
    if inputs.needs_initial_design:
        return random_plan(inputs, "initial")
    return reference_plan(inputs)


def reference_plan(inputs: RoundInput) -> RoundPlan:
    """One round of the reference loop (see the module docstring)."""
    start = time.perf_counter()
    surrogates, _ = fit_round_surrogates(inputs, "mlp", {"members": 1})
    if surrogates is None:
        return random_plan(inputs, "initial")
    target = inputs.problem.target_macs(inputs.reference_target)
    problem = _ArchProblem(inputs, surrogates, target)
    population = _initial_population(inputs, target)
    duplicates = _Duplicates()
    algorithm = NSGA2(
        pop_size=len(population),
        sampling=_Initial(population),
        mating=Mating(
            TournamentSelection(func_comp=binary_tournament),
            _Crossover(inputs),
            _Mutation(inputs),
            eliminate_duplicates=duplicates,
            n_max_iterations=MATING_ATTEMPTS,
        ),
        eliminate_duplicates=duplicates,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = minimize(
            problem,
            algorithm,
            ("n_gen", GENERATIONS),
            seed=inputs.round_seed("nsga2"),
            verbose=False,
        )
    final = result.pop if result.pop is not None else []
    ranked = sorted(
        range(len(final)),
        key=lambda i: (final[i].get("rank"), -(final[i].get("crowding") or 0.0), i),
    )
    exclude, picked = inputs.exclude, list[Architecture]()
    for i in ranked:
        arch = final[i].X[0]
        if arch.canonical not in exclude and len(picked) < inputs.n:
            picked.append(arch)
            exclude = exclude | {arch.canonical}
    if len(picked) < inputs.n:
        picked += inputs.domain.random(inputs.n - len(picked), inputs.rng("nsga2-extra"), exclude)
    X = featurize(picked, inputs.costs)
    means, stds = surrogates.predict(X)
    proposals = [Proposal(a, "nsga2", predicted(means, stds, i)) for i, a in enumerate(picked)]
    info = {
        "surrogates": surrogates.how,
        "target_macs": target,
        "seconds": round(time.perf_counter() - start, 3),
    }
    return RoundPlan(proposals, info)
