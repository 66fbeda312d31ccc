"""Architecture search: problem, candidate pools, surrogates, acquisition, strategies, loop.

Layers (one job each): :mod:`~aebnas.search.problem` (objectives, MAC cap, hypervolume),
:mod:`~aebnas.search.pool` (candidates), :mod:`~aebnas.search.surrogates` (accuracy and MAC
models, fidelities), :mod:`~aebnas.search.acquisition` (BoTorch scoring, greedy batches),
:mod:`~aebnas.search.rounds` (what a strategy gets and returns, the registry),
:mod:`~aebnas.search.strategies` (``bo``, ``random``), :mod:`~aebnas.search.nsga2` (``nsga2``),
:mod:`~aebnas.search.evaluator` (training or archive look-up), :mod:`~aebnas.search.loop`
(rounds, archive, resume).
"""

from aebnas.search import nsga2, strategies  # noqa: F401  (register the strategies)
from aebnas.search.acquisition import ACQUISITIONS
from aebnas.search.loop import SearchResult, SearchSetup, execute, prepare, resume, start
from aebnas.search.problem import Outcome, SearchProblem, problem_from_config
from aebnas.search.rounds import STRATEGIES, Proposal, RoundInput, RoundPlan

__all__ = [
    "ACQUISITIONS",
    "STRATEGIES",
    "Outcome",
    "Proposal",
    "RoundInput",
    "RoundPlan",
    "SearchProblem",
    "SearchResult",
    "SearchSetup",
    "execute",
    "prepare",
    "problem_from_config",
    "resume",
    "start",
]
