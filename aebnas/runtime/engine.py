"""The early-exit runtime: run segments in order, stop each input at its first confident exit.

A model (from an export folder or a checkpoint, see :mod:`aebnas.runtime.backends`) is a list of
:class:`RuntimeSegment` in the order of :func:`aebnas.models.segments.network_segments`, plus a
:class:`ModelCard` describing its input, classes, exit policy and per-exit MACs.
:meth:`EarlyExitRuntime.predict` follows the same rule as :meth:`EarlyExitNetwork.infer`: an input
leaves at the first active exit whose confidence is ``>= threshold``; exits that are off are not
computed; rows that have left are dropped before the next segment runs, so at batch 1 nothing
after the taken exit runs. :class:`Shortcuts` (the fused and whole-network graphs of an export)
let it make one call where the segments would make two or more.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from aebnas.confidence import CONFIDENCES
from aebnas.costs import ExitCosts
from aebnas.models.segments import EXIT, FINAL, FUSED, TRUNK


@dataclass(frozen=True)
class ModelCard:
    """What a deployed model is, independent of the backend running it.

    Args:
        arch: Canonical architecture string.
        dataset: Dataset it was trained on.
        in_channels: Input channels ``C``.
        resolution: Input side ``R``; inputs are float32 ``(N, C, R, R)``.
        mean: Per-channel mean (0..1 pixel scale) of the input normalisation.
        std: Per-channel standard deviation of the input normalisation.
        class_names: Class names in label order.
        confidence: Confidence measure name.
        thresholds: Per intermediate exit, ``None`` = off.
        costs: Static per-exit MACs (MMACs).
    """

    arch: str
    dataset: str
    in_channels: int
    resolution: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...]
    confidence: str
    thresholds: tuple[float | None, ...]
    costs: ExitCosts

    @property
    def num_exits(self) -> int:
        return self.costs.num_exits

    @property
    def active(self) -> tuple[bool, ...]:
        """Which intermediate exits are on."""
        return tuple(is_on(t) for t in self.thresholds)

    def exit_macs(self) -> np.ndarray:
        """MMACs of leaving at each exit with the current thresholds, ``(K,)``."""
        return self.costs.cumulative(self.active)

    @property
    def macs_no_exits(self) -> float:
        """MMACs of the whole backbone and the final head with every exit off."""
        return float(self.costs.backbone[-1] + self.costs.branch[-1])

    def average_macs(self, exit_counts: Sequence[int]) -> float:
        """Average MMACs per input for a histogram of exits taken, ``(K,)`` counts."""
        counts = np.asarray(exit_counts, dtype=float)
        return float((counts * self.exit_macs()).sum() / counts.sum())


def is_on(threshold: float | None) -> bool:
    """Whether an exit with this threshold can be taken (``None`` or above 1: off)."""
    return threshold is not None and threshold <= 1.0


ArrayRunner = Callable[[np.ndarray], Sequence[np.ndarray]]
"""A graph on a C-contiguous float32 array, every output as an array (batch-1 fast path)."""


@dataclass(frozen=True)
class RuntimeSegment:
    """One graph as the runtime calls it.

    Args:
        name: Segment name (``trunk0``, ``exit0``, ..., ``final``; ``trunk<k>+exit<k>`` and
            ``network`` for the shortcuts).
        role: ``trunk`` (features out), ``exit`` or ``final`` (logits out), ``trunk+exit``
            (the tuple ``(features, logits, confidence)`` out) or ``network`` (final logits out).
        run: ``(N, ...) float32 tensor ->`` its output(s).
        exit_index: The exit whose logits come out; ``None`` for trunks.
        arrays: The same graph on arrays (:data:`ArrayRunner`); ``None``: tensors only.
    """

    name: str
    role: str
    run: Callable[[torch.Tensor], Any]
    exit_index: int | None = None
    arrays: ArrayRunner | None = None


@dataclass(frozen=True)
class Shortcuts:
    """Graphs over the same weights that save calls (see :mod:`aebnas.models.segments`).

    Args:
        fused: Per intermediate exit ``k``, trunk ``k``, exit ``k`` and its confidence in one
            call (role ``trunk+exit``); empty: none.
        network: The whole network with every exit off in one call (role ``network``).
    """

    fused: tuple[RuntimeSegment, ...] = ()
    network: RuntimeSegment | None = None


@dataclass(frozen=True)
class Step:
    """One call of the runtime's plan.

    Args:
        segment: The graph it calls.
        role: ``trunk``, ``exit``, ``trunk+exit`` or ``final`` (the final logits out: the final
            segment or the network).
        exit_index: The exit whose logits come out; -1 for a trunk.
        threshold: The exit's threshold (inputs leave at confidence ``>=`` it); infinite for a
            trunk and the final segment.
    """

    segment: RuntimeSegment
    role: str
    exit_index: int = -1
    threshold: float = math.inf

    @property
    def name(self) -> str:
        return self.segment.name

    @property
    def run(self) -> Callable[[torch.Tensor], Any]:
        return self.segment.run


class EarlyExitRuntime:
    """Early-exit inference over registered segment runners (see the module docstring).

    The calls the runtime makes (:attr:`plan`) follow the thresholds: an exit that is off costs
    nothing; an exit that is on runs with its trunk in one call when ``shortcuts`` has the fused
    graph, which also computes the exit's confidence (else as two calls and the confidence in
    torch); with every exit off the network runs in one call when ``shortcuts`` has it (else as
    the trunks and the final segment). At batch 1, when every call of the plan runs on arrays,
    the input stays an array from call to call.

    Args:
        segments: Segments in execution order.
        card: The model's description (thresholds and confidence are taken from it).
        backend: Name of the backend that built the runners (for reports).
        settings: Backend settings worth reporting (threads, providers).
        shortcuts: Graphs that save calls (none: every segment is its own call).
    """

    def __init__(
        self,
        segments: Sequence[RuntimeSegment],
        card: ModelCard,
        backend: str,
        settings: dict[str, object] | None = None,
        shortcuts: Shortcuts | None = None,
    ) -> None:
        roles = [s.role for s in segments]
        if roles != [TRUNK, EXIT] * (card.num_exits - 1) + [FINAL]:
            raise ValueError(f"segment roles {roles} do not fit {card.num_exits} exits")
        self.shortcuts = shortcuts or Shortcuts()
        fused = [(s.role, s.exit_index) for s in self.shortcuts.fused]
        if fused and fused != [(FUSED, k) for k in range(card.num_exits - 1)]:
            raise ValueError(f"fused graphs {fused} do not fit {card.num_exits} exits")
        self.segments = tuple(segments)
        self.card = card
        self.backend = backend
        self.settings = dict(settings or {})
        self.measure = CONFIDENCES.get(card.confidence)
        self.plan = self._plan()

    def _plan(self) -> tuple[Step, ...]:
        last = self.card.num_exits - 1
        network = self.shortcuts.network
        if not any(self.card.active) and network is not None:
            return (Step(network, FINAL, last),)
        steps = []
        for k, threshold in enumerate(self.card.thresholds):
            trunk, branch = self.segments[2 * k], self.segments[2 * k + 1]
            if threshold is None or not is_on(threshold):
                steps.append(Step(trunk, TRUNK))
            elif self.shortcuts.fused:
                steps.append(Step(self.shortcuts.fused[k], FUSED, k, threshold))
            else:
                steps += [Step(trunk, TRUNK), Step(branch, EXIT, k, threshold)]
        return (*steps, Step(self.segments[-1], FINAL, last))

    @property
    def plan(self) -> tuple[Step, ...]:
        """The calls :meth:`predict` makes, in order (for the current thresholds)."""
        return self._steps

    @plan.setter
    def plan(self, steps: Sequence[Step]) -> None:
        self._steps = tuple(steps)
        self._arrays_only = all(step.segment.arrays is not None for step in self._steps)

    @property
    def on_arrays(self) -> bool:
        """Whether every call of :attr:`plan` runs on arrays (the batch-1 path of
        :meth:`predict` then passes arrays from call to call)."""
        return self._arrays_only

    def with_thresholds(self, thresholds: Sequence[float | None]) -> EarlyExitRuntime:
        """The same runners with other thresholds (one per intermediate exit)."""
        if len(thresholds) != self.card.num_exits - 1:
            expected = self.card.num_exits - 1
            raise ValueError(f"expected {expected} thresholds, got {len(thresholds)}")
        card = replace(self.card, thresholds=tuple(thresholds))
        return EarlyExitRuntime(self.segments, card, self.backend, self.settings, self.shortcuts)

    def without_exits(self) -> EarlyExitRuntime:
        """The same network with every intermediate exit off (backbone + final head only)."""
        return self.with_thresholds([None] * (self.card.num_exits - 1))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Classify a batch with early exits.

        Args:
            x: Normalised inputs, float32 ``(N, C, R, R)`` on the CPU.

        Returns:
            ``(predictions, exit_index)``, int64 ``(N,)`` each; the final head is exit
            ``num_exits - 1``.
        """
        n = x.shape[0]
        if n == 1:
            if self._arrays_only:
                return self._predict_array(np.ascontiguousarray(x.numpy(), dtype=np.float32))
            return self._predict_one(x)
        predictions = torch.empty(n, dtype=torch.long)
        exit_index = torch.empty(n, dtype=torch.long)
        remaining = torch.arange(n)
        features = x
        for step in self.plan:
            if step.role == TRUNK:
                features = step.run(features)
                continue
            if step.role == FINAL:
                predictions[remaining] = step.run(features).argmax(dim=-1)
                exit_index[remaining] = step.exit_index
                break
            if step.role == FUSED:
                features, logits, confidence = step.run(features)
            else:
                logits = step.run(features)
                confidence = self.measure(logits)
            leave = confidence >= step.threshold
            predictions[remaining[leave]] = logits[leave].argmax(dim=-1)
            exit_index[remaining[leave]] = step.exit_index
            if bool(leave.all()):
                break
            if bool(leave.any()):
                stay = ~leave
                remaining, features = remaining[stay], features[stay]
        return predictions, exit_index

    def _predict_one(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`predict` for one input without the row bookkeeping (at batch 1 the batched
        decision costs more than the confidence itself); the same decision rule, so the same
        answers."""
        features = x
        for step in self.plan:
            if step.role == TRUNK:
                features = step.run(features)
                continue
            if step.role == FINAL:
                return step.run(features).argmax(dim=-1), torch.tensor([step.exit_index])
            if step.role == FUSED:
                features, logits, confidence = step.run(features)
            else:
                logits = step.run(features)
                confidence = self.measure(logits)
            if bool(confidence[0] >= step.threshold):
                return logits.argmax(dim=-1), torch.tensor([step.exit_index])
        raise AssertionError("the final segment always answers")

    def _predict_array(self, x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`_predict_one` on arrays from call to call (every step has an array runner):
        no tensor conversions between the calls, the decision a float comparison."""
        features = x
        for step in self.plan:
            run = step.segment.arrays
            assert run is not None  # _arrays_only
            outputs = run(features)
            if step.role == TRUNK:
                features = outputs[0]
                continue
            if step.role == FINAL:
                return _answer(outputs[0], step.exit_index)
            if step.role == FUSED:
                features, logits, confidence = outputs
                leaves = float(confidence[0]) >= step.threshold
            else:
                logits = outputs[0]
                leaves = bool(self.measure(torch.from_numpy(logits))[0] >= step.threshold)
            if leaves:
                return _answer(logits, step.exit_index)
        raise AssertionError("the final segment always answers")


def _answer(logits: np.ndarray, exit_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(prediction, exit)`` as int64 ``(1,)`` tensors from logits ``(1, classes)``."""
    return torch.tensor([int(logits[0].argmax())]), torch.tensor([exit_index])
