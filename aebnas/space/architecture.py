"""The :class:`Architecture` value object and its canonical string.

Canonical string (version 1), parts separated by ``|``::

    r32|k3e4,k5e6|k3e3,k3e3,k7e6|k5e4,k5e4|k3e6,k3e6,k3e6,k3e6|k7e3,k7e3|x2:r8_conv3_c2_pmax

- ``r32``: input resolution (pixels per side);
- five stage parts, one ``k{kernel}e{expansion}`` token per MBConv block (the count is the depth);
- one ``x{position}:`` part per active exit, after stage ``position``, its branch modules joined
  by ``+``; a module is ``r{resize}_{op}{kernel}_c{width}_p{pool}``.

Inactive exits are absent. ``Architecture.parse(str(arch)) == arch`` always holds.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property

from aebnas.errors import UserError

#: Every number of an architecture string has 1 to this many digits (a longer one is malformed,
#: not a 5,000-digit integer to parse).
MAX_DIGITS = 6
_N = rf"(\d{{1,{MAX_DIGITS}}})"
_BLOCK_RE = re.compile(rf"^k{_N}e{_N}$")
_MODULE_RE = re.compile(rf"^r{_N}_([a-z]+){_N}_c{_N}_p([a-z]+)$")
_EXIT_RE = re.compile(rf"^x{_N}:(.+)$")
_RESOLUTION_RE = re.compile(rf"r{_N}")
#: Longest excerpt of a bad string quoted in an error message.
MAX_SHOWN = 120


def _shown(text: str) -> str:
    """``text`` quoted for an error message, cut to :data:`MAX_SHOWN` characters."""
    if len(text) <= MAX_SHOWN:
        return repr(text)
    return repr(text[:MAX_SHOWN]) + f" (cut, {len(text)} characters)"


@dataclass(frozen=True, order=True)
class Block:
    """One MBConv block: depthwise ``kernel`` and expansion ratio ``expand``."""

    kernel: int
    expand: int

    def __str__(self) -> str:
        return f"k{self.kernel}e{self.expand}"


@dataclass(frozen=True, order=True)
class BranchModule:
    """One exit-branch module (see :class:`aebnas.space.spaces.BranchSpace`)."""

    resize: int
    op: str
    kernel: int
    width: int
    pool: str

    def __str__(self) -> str:
        return f"r{self.resize}_{self.op}{self.kernel}_c{self.width}_p{self.pool}"


@dataclass(frozen=True, order=True)
class Exit:
    """An active exit after backbone stage ``position`` (1-based) with its branch modules."""

    position: int
    modules: tuple[BranchModule, ...]

    def __str__(self) -> str:
        return f"x{self.position}:" + "+".join(str(m) for m in self.modules)


@dataclass(frozen=True)
class Architecture:
    """An early-exit network's genes: resolution, backbone stages, active exits.

    Args:
        resolution: Input resolution (pixels per side).
        stages: Per backbone stage, its MBConv blocks (the stage depth is ``len``).
        exits: Active intermediate exits sorted by position; the final head is implicit.
    """

    resolution: int
    stages: tuple[tuple[Block, ...], ...]
    exits: tuple[Exit, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "exits", tuple(sorted(self.exits, key=lambda e: e.position)))

    def __str__(self) -> str:
        return self.canonical

    @cached_property
    def canonical(self) -> str:
        parts = [f"r{self.resolution}"]
        parts += [",".join(str(b) for b in stage) for stage in self.stages]
        parts += [str(e) for e in self.exits]
        return "|".join(parts)

    @cached_property
    def hash(self) -> str:
        """A stable 12-hex-digit id of the canonical string."""
        return hashlib.sha1(self.canonical.encode()).hexdigest()[:12]

    @property
    def exit_positions(self) -> tuple[int, ...]:
        return tuple(e.position for e in self.exits)

    @property
    def depths(self) -> tuple[int, ...]:
        return tuple(len(s) for s in self.stages)

    @classmethod
    def parse(cls, text: str) -> Architecture:
        """Parse a canonical string; a malformed one raises :class:`UserError` naming the part."""
        text = text.strip()
        parts = text.split("|")
        if len(parts) < 2 or not _RESOLUTION_RE.fullmatch(parts[0]):
            raise UserError(
                f"malformed architecture string {_shown(text)}: it must start with "
                "'r<resolution>|' "
                "(e.g. 'r32|k3e4,k5e6|...|x2:r8_conv3_c2_pmax'; "
                "see `python -m aebnas.space sample`)"
            )
        resolution = int(parts[0][1:])
        stage_parts = [p for p in parts[1:] if not p.startswith("x")]
        exit_parts = [p for p in parts[1:] if p.startswith("x")]
        if parts[1 : 1 + len(stage_parts)] != stage_parts:
            raise UserError(
                f"malformed architecture string {_shown(text)}: stage parts must come before "
                "exit parts"
            )
        stages = tuple(tuple(_parse_block(tok, text) for tok in p.split(",")) for p in stage_parts)
        exits = tuple(_parse_exit(p, text) for p in exit_parts)
        positions = [e.position for e in exits]
        if len(set(positions)) != len(positions):
            raise UserError(
                f"malformed architecture string {_shown(text)}: an exit position repeats"
            )
        return cls(resolution=resolution, stages=stages, exits=exits)


def _parse_block(token: str, text: str) -> Block:
    match = _BLOCK_RE.match(token)
    if not match:
        raise UserError(
            f"malformed block {_shown(token)} in architecture {_shown(text)}: "
            "expected 'k<kernel>e<expansion>', e.g. 'k3e4'"
        )
    return Block(kernel=int(match[1]), expand=int(match[2]))


def _parse_exit(part: str, text: str) -> Exit:
    match = _EXIT_RE.match(part)
    if not match:
        raise UserError(
            f"malformed exit {_shown(part)} in architecture {_shown(text)}: expected "
            "'x<position>:<module>+...'"
        )
    modules = []
    for token in match[2].split("+"):
        mod = _MODULE_RE.match(token)
        if not mod:
            raise UserError(
                f"malformed branch module {_shown(token)} in architecture {_shown(text)}: expected "
                "'r<resize>_<op><kernel>_c<width>_p<pool>', e.g. 'r8_conv3_c2_pmax'"
            )
        modules.append(
            BranchModule(
                resize=int(mod[1]), op=mod[2], kernel=int(mod[3]), width=int(mod[4]), pool=mod[5]
            )
        )
    return Exit(position=int(match[1]), modules=tuple(modules))
