"""Search spaces: the genes an early-exit architecture is made of, as registered data.

A :class:`SearchSpace` describes the MobileNetV3 backbone (5 searchable stages), the exit
positions (after stages 1-4), and the exit-branch genes. Presets are registered by name in
:data:`SPACES`; adding a space is adding data, not code paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from aebnas.registry import Registry


@dataclass(frozen=True)
class BackboneSpec:
    """The OFA MobileNetV3 backbone (width 1.0) of the reference implementation.

    Args:
        stem_channels: Output channels of the 3x3 stride-2 stem conv (and of the first MBConv).
        stage_widths: Output channels of the 5 searchable stages.
        stage_strides: Stride of each stage's first block.
        stage_activations: ``relu`` or ``hardswish`` per stage.
        stage_squeeze_excite: Whether each stage's blocks use squeeze-and-excitation.
        depths: Allowed blocks per stage.
        kernels: Allowed depthwise kernel sizes per block.
        expansions: Allowed expansion ratios per block.
        head_channels: Final head: 1x1 conv to ``head_channels[0]``, GAP, 1x1 conv to
            ``head_channels[1]``, then a linear classifier.
    """

    stem_channels: int = 16
    stage_widths: tuple[int, ...] = (24, 40, 80, 112, 160)
    stage_strides: tuple[int, ...] = (2, 2, 2, 1, 2)
    stage_activations: tuple[str, ...] = ("relu", "relu", "hardswish", "hardswish", "hardswish")
    stage_squeeze_excite: tuple[bool, ...] = (False, True, False, True, True)
    depths: tuple[int, ...] = (2, 3, 4)
    kernels: tuple[int, ...] = (3, 5, 7)
    expansions: tuple[int, ...] = (3, 4, 6)
    head_channels: tuple[int, int] = (960, 1280)

    @property
    def num_stages(self) -> int:
        return len(self.stage_widths)

    @property
    def max_depth(self) -> int:
        return max(self.depths)


@dataclass(frozen=True)
class BranchSpace:
    """Genes of one exit branch: 1..max(depths) modules, then global pooling and a linear layer.

    Each module: bicubic resize to ``resize x resize`` -> ``op`` with kernel ``kernel``,
    stride 2, no padding, channels ``C -> C * width`` -> BatchNorm -> ReLU -> optional 2x2 pool.

    Args:
        depths: Allowed number of modules.
        ops: Allowed layer types (``conv``: dense conv; ``dw``: depthwise-separable conv).
        kernels: Allowed kernel sizes.
        widths: Allowed channel multipliers.
        resizes: Allowed resize targets (pixels per side).
        pools: Allowed pooling after the module (``none``, ``max``, ``avg``).
    """

    depths: tuple[int, ...] = (1, 2)
    ops: tuple[str, ...] = ("conv",)
    kernels: tuple[int, ...] = (3, 5)
    widths: tuple[int, ...] = (1, 2)
    resizes: tuple[int, ...] = (8, 10)
    pools: tuple[str, ...] = ("none", "max")

    @property
    def max_depth(self) -> int:
        return max(self.depths)


@dataclass(frozen=True)
class SearchSpace:
    """A named search space.

    Args:
        name: Registry name.
        backbone: Backbone genes.
        branch: Exit-branch genes.
        exit_positions: Stages after which an exit may sit (1-based); the final head is always on.
        resolutions: Allowed input resolutions (set per dataset with :meth:`with_resolutions`).
        min_exits: Least number of active intermediate exits.
    """

    name: str
    backbone: BackboneSpec = field(default_factory=BackboneSpec)
    branch: BranchSpace = field(default_factory=BranchSpace)
    exit_positions: tuple[int, ...] = (1, 2, 3, 4)
    resolutions: tuple[int, ...] = tuple(range(32, 73, 4))
    min_exits: int = 1

    def with_resolutions(self, resolutions: tuple[int, ...]) -> SearchSpace:
        """The same space with another set of input resolutions (dataset-specific)."""
        return replace(self, resolutions=tuple(sorted(resolutions)))


SPACES: Registry[SearchSpace] = Registry("search space")

SPACES.add("aebnas", SearchSpace(name="aebnas"))
SPACES.add(
    "aebnas-plus",
    SearchSpace(
        name="aebnas-plus",
        branch=BranchSpace(
            depths=(1, 2, 3),
            ops=("conv", "dw"),
            kernels=(3, 5),
            widths=(1, 2),
            resizes=(8, 10),
            pools=("none", "max", "avg"),
        ),
    ),
)


def get_space(name: str, resolutions: tuple[int, ...] | None = None) -> SearchSpace:
    """Look up a registered space, optionally with a dataset's resolutions."""
    space = SPACES.get(name)
    return space.with_resolutions(resolutions) if resolutions else space
