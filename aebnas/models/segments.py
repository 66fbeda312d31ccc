"""An early-exit network cut into the pieces an early-exit runtime runs one after another.

Order (``K`` exits, final head last)::

    trunk0 (stem + stages up to exit 0) -> exit0 (its branch) -> trunk1 (next stages) -> exit1
    -> ... -> final (stages after the last intermediate exit + the final head)

A trunk maps features to features, an exit and the final segment map features to logits
``(N, classes)``. Running the trunks and the final segment in order gives the final head's
logits; each exit segment applied to the features before the next trunk gives that exit's logits
(exactly what :meth:`EarlyExitNetwork.forward` computes).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from aebnas.models.network import EarlyExitNetwork

TRUNK, EXIT, FINAL = "trunk", "exit", "final"


@dataclass(frozen=True)
class Segment:
    """One piece of the network.

    Args:
        name: ``trunk<k>``, ``exit<k>`` or ``final``.
        role: :data:`TRUNK` (features -> features), :data:`EXIT` or :data:`FINAL`
            (features -> logits).
        module: The PyTorch module (shares the network's parameters).
        exit_index: Index of the exit an exit/final segment computes (final: ``num_exits - 1``);
            ``None`` for trunks.
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
