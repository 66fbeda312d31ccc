"""An early-exit network cut into the pieces an early-exit runtime runs one after another.

Order (``K`` exits, final head last)::

    trunk0 (stem + stages up to exit 0) -> exit0 (its branch) -> trunk1 (next stages) -> exit1
    -> ... -> final (stages after the last intermediate exit + the final head)

A trunk maps features to features, an exit and the final segment map features to logits
``(N, classes)``. Running the trunks and the final segment in order gives the final head's
logits; each exit segment applied to the features before the next trunk gives that exit's logits
(exactly what :meth:`EarlyExitNetwork.forward` computes).

Two shortcuts over the same weights let a runtime make fewer calls (each call of an exported
graph has a fixed cost that weighs more than the MACs of a small segment):

- :func:`fused_segments`: per intermediate exit ``k``, ``trunk<k>`` and ``exit<k>`` as one module
  returning ``(features, logits, confidence)``: an input leaving at exit ``k`` makes ``k + 1``
  calls instead of ``2k + 2``, and the exit decision is one comparison;
- :func:`network_without_exits`: the whole network with every exit off (stem, stages, head) as one
  module, for a model whose exits are all off.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from aebnas.confidence import CONFIDENCES, Confidence
from aebnas.models.network import EarlyExitNetwork

TRUNK, EXIT, FINAL = "trunk", "exit", "final"
FUSED, NETWORK = "trunk+exit", "network"


@dataclass(frozen=True)
class Segment:
    """One piece of the network.

    Args:
        name: ``trunk<k>``, ``exit<k>`` or ``final``.
        role: :data:`TRUNK` (features -> features), :data:`EXIT` or :data:`FINAL`
            (features -> logits); :data:`FUSED` (features -> ``(features, logits, confidence)``) or
            :data:`NETWORK` (image -> final logits) for the shortcuts.
        module: The PyTorch module (shares the network's parameters).
        exit_index: Index of the exit an exit/final/fused segment computes (final and network:
            ``num_exits - 1``); ``None`` for trunks.
    """

    name: str
    role: str
    module: nn.Module
    exit_index: int | None = None


def network_segments(net: EarlyExitNetwork) -> list[Segment]:
    """Cut ``net`` at its exits (see the module docstring); modules share ``net``'s weights."""
    segments: list[Segment] = []
    stages = list(net.stages)
    done = 0
    for k, position in enumerate(net.exit_positions):
        trunk = [net.stem] if k == 0 else []
        segments.append(Segment(f"trunk{k}", TRUNK, nn.Sequential(*trunk, *stages[done:position])))
        segments.append(Segment(f"exit{k}", EXIT, net.branches[str(position)], k))
        done = position
    first = [net.stem] if not net.exit_positions else []
    final = nn.Sequential(*first, *stages[done:], net.head)
    segments.append(Segment("final", FINAL, final, net.num_exits - 1))
    return segments


class TrunkWithExit(nn.Module):
    """A trunk, the exit branch after it and the exit's confidence: ``(N, ...) -> ((N, ...)
    features, (N, classes) logits, (N,) confidence)``.

    Args:
        trunk: Features -> features (the trunk segment's module).
        branch: Features -> logits (the exit segment's module).
        confidence: A measure of :data:`aebnas.confidence.CONFIDENCES`, logits -> ``(N,)``.
    """

    def __init__(self, trunk: nn.Module, branch: nn.Module, confidence: Confidence) -> None:
        super().__init__()
        self.trunk = trunk
        self.branch = branch
        self.confidence = confidence

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.trunk(x)
        logits = self.branch(features)
        return features, logits, self.confidence(logits)


def fused_segments(net: EarlyExitNetwork, confidence: str) -> list[Segment]:
    """Per intermediate exit ``k``, ``trunk<k>`` and ``exit<k>`` of :func:`network_segments` and
    the ``confidence`` measure (a name in :data:`aebnas.confidence.CONFIDENCES`) as one
    :data:`FUSED` segment ``trunk<k>+exit<k>`` (shared weights)."""
    measure = CONFIDENCES.get(confidence)
    segments = network_segments(net)
    return [
        Segment(
            f"{trunk.name}+{branch.name}",
            FUSED,
            TrunkWithExit(trunk.module, branch.module, measure),
            branch.exit_index,
        )
        for trunk, branch in zip(segments[:-1:2], segments[1::2], strict=True)
    ]


def network_without_exits(net: EarlyExitNetwork) -> Segment:
    """The whole network with every exit off as one :data:`NETWORK` segment: image -> final
    logits ``(N, classes)`` (shared weights)."""
    module = nn.Sequential(net.stem, *net.stages, net.head)
    return Segment("network", NETWORK, module, net.num_exits - 1)
