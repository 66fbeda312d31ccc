"""The elastic early-exit MobileNetV3: one set of weights for every architecture of a space.

Every backbone block slot holds the weights of the largest block (largest kernel and expansion);
a sub-network takes the first ``d`` blocks of a stage, the centre ``k x k`` of each depthwise
kernel and the first ``C * e`` expanded channels (BigNAS/Once-for-All weight sharing). Every exit
position holds, per branch module slot and layer type (``conv``, ``dw``), the weights of the
widest module with the largest kernel, and one classifier per branch depth; a branch takes the
centre kernel and the leading channels of its width. Batch-norm layers are per block slot and
per (branch slot, layer type).

A sub-network's parameters are *views* (slices) of these tensors, so
:meth:`EarlyExitSupernet.forward` runs the standalone :class:`~aebnas.models.EarlyExitNetwork`
module graph with its tensors bound to them (gradients flow into the shared weights), and
:meth:`EarlyExitSupernet.extract` copies the same slices into a real network. What trains is
therefore exactly what is extracted, counted (MACs) and deployed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from aebnas.errors import UserError
from aebnas.models import EarlyExitNetwork, build_network
from aebnas.models.branches import BranchStage, branch_classifier
from aebnas.models.network import NetworkParts
from aebnas.space.architecture import Architecture, Block, BranchModule, Exit
from aebnas.space.spaces import SearchSpace
from aebnas.space.validation import validate

#: Module graphs (on the meta device) kept for recently used architectures.
SKELETON_CACHE_SIZE = 64
#: Storage-free network parts kept (every block variant fits; exit branches are dropped LRU).
PART_CACHE_SIZE = 4096


def slice_like(source: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The part of a shared tensor a sub-network uses: a view of ``source`` of ``shape``.

    Leading entries along channel dimensions; the centre along the two spatial (kernel)
    dimensions of a 4-D weight, so a 3x3 kernel is the middle of the 7x7 one.

    Args:
        source: Shared tensor, e.g. a conv weight ``(C_out, C_in, k, k)``.
        shape: Target shape; every dimension at most ``source``'s.
    """
    if source.shape == shape:
        return source
    if source.dim() != len(shape) or any(t > s for t, s in zip(shape, source.shape, strict=True)):
        raise ValueError(f"cannot take {tuple(shape)} out of {tuple(source.shape)}")
    index: list[slice] = []
    for dim, (s, t) in enumerate(zip(source.shape, shape, strict=True)):
        start = (s - t) // 2 if source.dim() == 4 and dim >= 2 else 0
        index.append(slice(start, start + t))
    return source[tuple(index)]


class SkeletonParts(NetworkParts):
    """Storage-free (meta device) network parts, each built once: one module per block slot
    and block genes, per exit genes (least recently used dropped), one stem, one head.

    Modules are shared between skeletons but never within one (a block's key includes its
    index in the stage), as ``functional_call`` substitutes tensors by module path.
    """

    def __init__(self, space: SearchSpace, in_channels: int, num_classes: int) -> None:
        super().__init__(space, in_channels, num_classes)
        self._cache: OrderedDict[tuple[object, ...], nn.Module] = OrderedDict()

    def _cached(self, key: tuple[object, ...], build: Callable[[], nn.Module]) -> nn.Module:
        module = self._cache.get(key)
        if module is None:
            with torch.device("meta"):
                module = build()
            self._cache[key] = module
            while len(self._cache) > PART_CACHE_SIZE:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return module

    def stem(self) -> nn.Module:
        return self._cached(("stem",), super().stem)

    def block(self, stage: int, index: int, block: Block) -> nn.Module:
        return self._cached(("block", stage, index, block),
                            lambda: super(SkeletonParts, self).block(stage, index, block))

    def branch(self, gene: Exit) -> nn.Module:
        return self._cached(("branch", gene), lambda: super(SkeletonParts, self).branch(gene))

    def head(self) -> nn.Module:
        return self._cached(("head",), super().head)


@dataclass(frozen=True)
class TensorSlot:
    """Where one tensor of a skeleton lives and what it is cut from.

    Args:
        table: The owning module's ``_parameters`` or ``_buffers`` dict.
        attr: Its key there.
        name: Its name in the network's state dict.
        source: Name of the supernet tensor it is a slice of.
        placeholder: The storage-free tensor the skeleton was built with.
    """

    table: dict[str, torch.Tensor | None]
    attr: str
    name: str
    source: str
    placeholder: torch.Tensor


class Skeleton:
    """A storage-free :class:`EarlyExitNetwork` whose tensors are bound to supernet slices for
    the duration of a call.

    Binding writes the slices straight into the modules' tensor dicts: unlike
    ``torch.func.functional_call`` it does no per-tensor ``isinstance(Parameter)`` checks,
    whose cost is a sizeable part of a small network's training step.

    Args:
        net: The network built on the meta device.
        arch: Its architecture.
        source_name: Maps a state-dict name of ``net`` to the supernet tensor's name.
    """

    def __init__(self, net: EarlyExitNetwork, arch: Architecture,
                 source_name: Callable[[str, Architecture], str]) -> None:
        self.net = net
        self.slots = [
            TensorSlot(table, attr, f"{prefix}.{attr}" if prefix else attr,
                       source_name(f"{prefix}.{attr}" if prefix else attr, arch), tensor)
            for prefix, module in net.named_modules(remove_duplicate=False)
            for table in (module._parameters, module._buffers)
            for attr, tensor in table.items()
            if tensor is not None
        ]

    def views(self, shared: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each tensor of the network as a view of its supernet tensor, by state-dict name."""
        return {s.name: slice_like(shared[s.source], s.placeholder.shape) for s in self.slots}

    @contextmanager
    def bound(self, shared: dict[str, torch.Tensor]) -> Iterator[None]:
        """Run the body with the network's tensors bound to slices of ``shared``."""
        for slot in self.slots:
            slot.table[slot.attr] = slice_like(shared[slot.source], slot.placeholder.shape)
        try:
            yield
        finally:
            for slot in self.slots:
                slot.table[slot.attr] = slot.placeholder


class ElasticBranch(nn.Module):
    """The shared weights of one exit position.

    Args:
        in_channels: Channels ``C`` of the stage output the exit reads.
        space: The search space (branch genes).
        num_classes: Classes.

    ``slots[j][op]`` is module slot ``j`` with layer type ``op`` at its widest (input
    ``C * W**j``, output ``C * W**(j+1)``, ``W`` the largest width) and largest kernel;
    ``classifiers[d - 1]`` is the classifier of a ``d``-module branch (input ``C * W**d``).
    """

    def __init__(self, in_channels: int, space: SearchSpace, num_classes: int) -> None:
        super().__init__()
        genes = space.branch
        width, kernel = max(genes.widths), max(genes.kernels)
        self.slots = nn.ModuleList(
            nn.ModuleDict(
                {
                    op: BranchStage(
                        in_channels * width**j,
                        BranchModule(genes.resizes[0], op, kernel, width, "none"),
                    )
                    for op in genes.ops
                }
            )
            for j in range(genes.max_depth)
        )
        self.classifiers = nn.ModuleList(
            branch_classifier(in_channels * width**d, num_classes)
            for d in range(1, genes.max_depth + 1)
        )


class EarlyExitSupernet(nn.Module):
    """Elastic backbone and elastic exit branches over a whole search space.

    Args:
        space: The search space (its resolutions are the ones the supernet trains at).
        in_channels: Image channels of the dataset.
        num_classes: Classes of the dataset.

    Sub-network tensors are named as in :class:`~aebnas.models.EarlyExitNetwork`'s state dict
    and mapped here by :meth:`source_name`.
    """

    def __init__(self, space: SearchSpace, in_channels: int, num_classes: int) -> None:
        super().__init__()
        spec = space.backbone
        self.space = space
        self.in_channels = in_channels
        self.num_classes = num_classes
        largest = Block(kernel=max(spec.kernels), expand=max(spec.expansions))
        parts = NetworkParts(space, in_channels, num_classes)
        self.stem = parts.stem()
        self.stages = nn.ModuleList(
            nn.ModuleList(parts.block(s, b, largest) for b in range(spec.max_depth))
            for s in range(spec.num_stages)
        )
        self.branches = nn.ModuleDict(
            {
                str(p): ElasticBranch(spec.stage_widths[p - 1], space, num_classes)
                for p in space.exit_positions
            }
        )
        self.head = parts.head()
        self._skeletons: OrderedDict[str, Skeleton] = OrderedDict()
        self._parts = SkeletonParts(space, in_channels, num_classes)
        self._shared: dict[str, torch.Tensor] | None = None

    def check(self, arch: Architecture) -> Architecture:
        """``arch`` if the supernet covers it; else a :class:`UserError` naming the gene."""
        return validate(arch, self.space)

    @staticmethod
    def source_name(name: str, arch: Architecture) -> str:
        """The supernet tensor a sub-network tensor is sliced from.

        Args:
            name: A key of ``EarlyExitNetwork(arch).state_dict()``.
            arch: The sub-network.
        """
        parts = name.split(".")
        if parts[0] != "branches":
            return name  # stem, stages.<s>.<b>, head: same layout in both
        position = int(parts[1])
        if parts[2] == "classifier":
            depth = len(next(e for e in arch.exits if e.position == position).modules)
            return ".".join(["branches", parts[1], "classifiers", str(depth - 1), *parts[3:]])
        slot = int(parts[3])  # branches.<p>.stages.<j>.<layer|norm>...
        op = next(e for e in arch.exits if e.position == position).modules[slot].op
        return ".".join(["branches", parts[1], "slots", str(slot), op, *parts[4:]])

    def skeleton(self, arch: Architecture) -> Skeleton:
        """The storage-free module graph of ``arch`` and its tensor slots, cached."""
        key = arch.canonical
        skeleton = self._skeletons.get(key)
        if skeleton is None:
            net = EarlyExitNetwork(arch, self.space, self.in_channels, self.num_classes,
                                   parts=self._parts)
            skeleton = Skeleton(net, arch, self.source_name)
            self._skeletons[key] = skeleton
            while len(self._skeletons) > SKELETON_CACHE_SIZE:
                self._skeletons.popitem(last=False)
        self._skeletons.move_to_end(key)
        return skeleton

    def shared_tensors(self) -> dict[str, torch.Tensor]:
        """Every parameter and buffer of the supernet by name (cached until moved)."""
        if self._shared is None:
            self._shared = dict(self.state_dict(keep_vars=True))
        return self._shared

    def _apply(self, fn: Callable[..., object], recurse: bool = True) -> EarlyExitSupernet:
        self._shared = None  # .to() / .half() may replace buffers
        return super()._apply(fn, recurse)  # type: ignore[return-value]

    def sub_state(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """Every parameter and buffer of sub-network ``arch`` as a view of the shared tensors,
        named as in ``EarlyExitNetwork(arch).state_dict()``."""
        return self.skeleton(arch).views(self.shared_tensors())

    def forward(self, arch: Architecture, x: torch.Tensor) -> list[torch.Tensor]:  # type: ignore[override]
        """Logits of every exit of sub-network ``arch``, final head last.

        Args:
            arch: An architecture of the supernet's space.
            x: Images ``(N, C, R, R)``, ``R`` = ``arch.resolution``.

        Returns:
            One ``(N, classes)`` tensor per active exit and the final head. In training mode
            batch-norm uses batch statistics and updates the shared running statistics.
        """
        skeleton = self.skeleton(arch)
        skeleton.net.train(self.training)
        with skeleton.bound(self.shared_tensors()):
            return skeleton.net(x)  # type: ignore[no-any-return]

    @torch.no_grad()
    def extract(self, arch: Architecture) -> EarlyExitNetwork:
        """A standalone network of ``arch`` holding copies of its inherited weights.

        Raises:
            UserError: ``arch`` is outside the supernet's space.
        """
        self.check(arch)
        state = {
            name: tensor.detach().clone(memory_format=torch.contiguous_format)
            for name, tensor in self.sub_state(arch).items()
        }
        with torch.device("meta"):
            net = build_network(arch, self.space, self.in_channels, self.num_classes)
        net.load_state_dict(state, assign=True)
        return net.train(self.training)


def count_parameters(module: nn.Module) -> int:
    """Number of parameter elements (not bytes)."""
    return sum(p.numel() for p in module.parameters())


def check_resolution(supernet: EarlyExitSupernet, resolution: int) -> None:
    """Refuse a resolution the supernet was not trained at, naming the ones it was."""
    if resolution not in supernet.space.resolutions:
        known = ", ".join(str(r) for r in supernet.space.resolutions)
        raise UserError(
            f"resolution {resolution} is not one the supernet was trained at ({known}); "
            "choose one of those or train a supernet with that resolution"
        )
