"""Architecture search: problem, candidate pools, surrogates, acquisition, strategies, loop.

Layers (one job each): :mod:`~aebnas.search.problem` (objectives, MAC cap, hypervolume),
:mod:`~aebnas.search.pool` (candidates), :mod:`~aebnas.search.surrogates` (accuracy and MAC
models, fidelities), :mod:`~aebnas.search.acquisition` (BoTorch scoring, greedy batches),
:mod:`~aebnas.search.strategies` (``bo``, ``nsga2``, ``random``), :mod:`~aebnas.search.evaluator`
(training or archive look-up), :mod:`~aebnas.search.loop` (rounds, archive, resume).
"""

from aebnas.search.acquisition import ACQUISITIONS
from aebnas.search.loop import SearchResult, SearchSetup, execute, prepare, resume, start
from aebnas.search.problem import Outcome, SearchProblem, problem_from_config
from aebnas.search.strategies import STRATEGIES, Proposal, RoundInput, RoundPlan

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
