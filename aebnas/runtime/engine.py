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


@dataclass(frozen=True)
class RuntimeSegment:
    """One segment as the runtime calls it.

    Args:
        name: Segment name (``trunk0``, ``exit0``, ..., ``final``).
        role: ``trunk``, ``exit`` or ``final``.
        run: ``(N, ...) float32 -> (N, ...)``: features for a trunk, logits otherwise.
        exit_index: The exit an exit/final segment computes; ``None`` for trunks.
    """

    name: str
    role: str
    run: Callable[[torch.Tensor], torch.Tensor]
    exit_index: int | None = None


FusedRunner = Callable[[torch.Tensor], tuple[torch.Tensor, ...]]
"""Trunk ``k`` and exit ``k`` in one call: features ``(N, ...)`` -> ``(features, logits)``."""


@dataclass(frozen=True)
class Shortcuts:
    """Runners over the same weights that save calls (see :mod:`aebnas.models.segments`).

    Args:
        fused: Per intermediate exit ``k``, trunk ``k`` and exit ``k`` in one call; empty: none.
        network: The whole network with every exit off in one call (image -> final logits).
    """

    fused: tuple[FusedRunner, ...] = ()
    network: Callable[[torch.Tensor], torch.Tensor] | None = None


@dataclass(frozen=True)
class Step:
    """One call of the runtime's plan.

    Args:
        name: What runs (a segment name, ``trunk<k>+exit<k>`` or ``network``).
        role: ``trunk`` (features out), ``exit`` (logits out), ``trunk+exit`` (features and
            logits out) or ``final`` (the final logits out).
        run: The runner.
        exit_index: The exit whose logits come out; -1 for a trunk.
        threshold: The exit's threshold (inputs leave at confidence ``>=`` it); infinite for a
            trunk and the final segment.
    """

    name: str
    role: str
    run: Callable[[torch.Tensor], Any]
    exit_index: int = -1
    threshold: float = math.inf


class EarlyExitRuntime:
    """Early-exit inference over registered segment runners (see the module docstring).

    The calls the runtime makes (:attr:`plan`) follow the thresholds: an exit that is off costs
    nothing; an exit that is on runs with its trunk in one call when ``shortcuts`` has the fused
    graph (else as two calls); with every exit off the network runs in one call when
    ``shortcuts`` has it (else as the trunks and the final segment).

    Args:
        segments: Segments in execution order.
        card: The model's description (thresholds and confidence are taken from it).
        backend: Name of the backend that built the runners (for reports).
        settings: Backend settings worth reporting (threads, providers).
        shortcuts: Runners that save calls (none: every segment is its own call).
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
        if self.shortcuts.fused and len(self.shortcuts.fused) != card.num_exits - 1:
            count = len(self.shortcuts.fused)
            raise ValueError(f"{count} fused runners for {card.num_exits} exits")
        self.segments = tuple(segments)
        self.card = card
        self.backend = backend
        self.settings = dict(settings or {})
        self.measure = CONFIDENCES.get(card.confidence)
        self.plan = self._plan()

    def _plan(self) -> tuple[Step, ...]:
        active = self.card.active
        final = self.segments[-1]
        last = Step(final.name, FINAL, final.run, self.card.num_exits - 1)
        if not any(active) and self.shortcuts.network is not None:
            return (Step("network", FINAL, self.shortcuts.network, self.card.num_exits - 1),)
        steps = []
        for k, on in enumerate(active):
            trunk, branch = self.segments[2 * k], self.segments[2 * k + 1]
            threshold = self.card.thresholds[k]
            if threshold is None or not on:
                steps.append(Step(trunk.name, TRUNK, trunk.run))
            elif self.shortcuts.fused:
                name = f"{trunk.name}+{branch.name}"
                steps.append(Step(name, FUSED, self.shortcuts.fused[k], k, threshold))
            else:
                steps.append(Step(trunk.name, TRUNK, trunk.run))
                steps.append(Step(branch.name, EXIT, branch.run, k, threshold))
        return (*steps, last)

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
                features, logits = step.run(features)
            else:
                logits = step.run(features)
            leave = self.measure(logits) >= step.threshold
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
                features, logits = step.run(features)
            else:
                logits = step.run(features)
            if bool(self.measure(logits)[0] >= step.threshold):
                return logits.argmax(dim=-1), torch.tensor([step.exit_index])
        raise AssertionError("the final segment always answers")
