"""Self-describing network checkpoints: safetensors weights + typed metadata in the header.

File format ``aebnas.checkpoint`` version 1: a safetensors file holding the network's state dict;
its header's ``__metadata__`` maps ``format`` to ``"aebnas.checkpoint"``, ``version`` to ``"1"``
and every other :class:`CheckpointMetadata` field to its value as a JSON string (e.g.
``"arch": "\\"r28|k3e3,...\\""``, ``"thresholds": "[0.31, null]"``). Loading parses JSON and
tensors only: nothing from the file is executed.

``save_checkpoint(model, path, metadata)`` writes one (atomically, refusing to overwrite
unless ``force``); ``load_checkpoint(path) -> (EarlyExitNetwork, CheckpointMetadata)``
rebuilds the network in eval mode. Old checkpoints (written before this format), foreign or torn
files and other format versions raise a one-line :class:`~aebnas.errors.UserError`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aebnas.confidence import CONFIDENCES
from aebnas.errors import UserError
from aebnas.models.network import EarlyExitNetwork, build_network
from aebnas.space.architecture import Architecture
from aebnas.space.spaces import SearchSpace, get_space
from aebnas.space.validation import parse_architecture

if TYPE_CHECKING:
    from aebnas.data import Dataset

CHECKPOINT_FORMAT = "aebnas.checkpoint"
CHECKPOINT_VERSION = 1
#: Header keys that carry the format itself rather than a metadata field.
_FORMAT_KEYS = ("format", "version")


@dataclass(frozen=True)
class CheckpointMetadata:
    """Everything needed to rebuild and run a saved network.

    Args:
        arch: Canonical architecture string.
        space: Search-space name (``aebnas``, ``aebnas-plus``).
        in_channels: Image channels ``C`` of the input ``(N, C, R, R)``.
        resolution: Input side length ``R`` (equals the architecture's resolution).
        num_classes: Classes of the classifier heads.
        class_names: Name of each class in label order (``num_classes`` entries).
        mean: Per-channel mean (0..1 pixel scale) inputs are normalised with.
        std: Per-channel standard deviation inputs are normalised with.
        confidence: Confidence measure of the exit policy (see
            :data:`aebnas.confidence.CONFIDENCES`).
        thresholds: One per intermediate exit (position order); ``None`` = exit off.
        dataset: Dataset name the network was trained on (as given to ``load_dataset``).
        format: Always :data:`CHECKPOINT_FORMAT`.
        version: Always :data:`CHECKPOINT_VERSION` when written by this code.
    """

    arch: str
    space: str
    in_channels: int
    resolution: int
    num_classes: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    confidence: str
    thresholds: tuple[float | None, ...]
    dataset: str
    format: str = CHECKPOINT_FORMAT
    version: int = CHECKPOINT_VERSION

    @property
    def infer_thresholds(self) -> tuple[float, ...]:
        """Thresholds as :meth:`EarlyExitNetwork.infer` takes them (``inf`` = exit off)."""
        return tuple(math.inf if t is None else float(t) for t in self.thresholds)

    def architecture(self) -> tuple[Architecture, SearchSpace]:
        """The parsed, validated architecture and its space (at the saved resolution)."""
        space = get_space(self.space, (self.resolution,))
        return parse_architecture(self.arch, space), space

    def to_header(self) -> dict[str, str]:
        """The safetensors ``__metadata__`` (string -> string) of this metadata."""
        fields = dataclasses.asdict(self)
        header = {key: str(fields.pop(key)) for key in _FORMAT_KEYS}
        header.update({key: json.dumps(value) for key, value in fields.items()})
        return header

    @classmethod
    def from_header(cls, header: dict[str, str] | None, source: str) -> CheckpointMetadata:
        """Parse and check a header written by :meth:`to_header`.

        Args:
            header: The safetensors ``__metadata__`` (``None`` if the file has none).
            source: File name for error messages.

        Raises:
            UserError: Not an aebnas checkpoint, an old one, another version or a bad field.
        """
        header = header or {}
        fields = [f.name for f in dataclasses.fields(cls) if f.name not in _FORMAT_KEYS]
        if "format" not in header:
            if "arch" not in header:
                raise UserError(
                    f"{source} is not an aebnas checkpoint (its safetensors header has no "
                    f"'format' {CHECKPOINT_FORMAT!r}); pass a checkpoint written by aebnas"
                )
            missing = [name for name in fields if name not in header]
            raise UserError(
                f"{source} is an old aebnas checkpoint without {CHECKPOINT_FORMAT} metadata "
                f"(missing: {', '.join(['format', 'version', *missing])}); re-create it with "
                "`python -m aebnas.evaluate --arch ARCH --checkpoint PATH`"
            )
        if header["format"] != CHECKPOINT_FORMAT:
            raise UserError(
                f"{source} has format {header['format']!r}, not {CHECKPOINT_FORMAT!r}; "
                "pass an aebnas network checkpoint"
            )
        if header.get("version") != str(CHECKPOINT_VERSION):
            raise UserError(
                f"{source} is {CHECKPOINT_FORMAT} version {header.get('version')!r}; this aebnas "
                f"reads version {CHECKPOINT_VERSION}: use the aebnas version that wrote it"
            )
        missing = [name for name in fields if name not in header]
        if missing:
            raise UserError(
                f"{source} lacks checkpoint metadata {', '.join(missing)}; re-create it with "
                "`python -m aebnas.evaluate --arch ARCH --checkpoint PATH`"
            )
        values: dict[str, Any] = {}
        for name in fields:
            try:
                values[name] = json.loads(header[name])
            except json.JSONDecodeError:
                raise UserError(
                    f"{source}: checkpoint metadata {name!r} is not valid JSON "
                    f"({header[name][:40]!r}); the file is damaged, re-create it"
                ) from None
        return cls._checked(values, source)

    @classmethod
    def _checked(cls, values: dict[str, Any], source: str) -> CheckpointMetadata:
        try:
            metadata = cls(
                arch=str(values["arch"]),
                space=str(values["space"]),
                in_channels=int(values["in_channels"]),
                resolution=int(values["resolution"]),
                num_classes=int(values["num_classes"]),
                class_names=tuple(str(c) for c in values["class_names"]),
                mean=tuple(float(m) for m in values["mean"]),
                std=tuple(float(s) for s in values["std"]),
                confidence=str(values["confidence"]),
                thresholds=tuple(None if t is None else float(t) for t in values["thresholds"]),
                dataset=str(values["dataset"]),
            )
        except (TypeError, ValueError) as err:
            raise UserError(
                f"{source}: checkpoint metadata has a field of the wrong type ({err}); "
                "the file is damaged, re-create it"
            ) from None
        metadata.check(source)
        return metadata

    def check(self, source: str) -> None:
        """Consistency of the fields with each other and the architecture.

        Raises:
            UserError: Naming the inconsistent field.
        """
        try:
            arch, _ = self.architecture()
        except UserError as err:
            raise UserError(f"{source}: {err}") from None
        problems = []
        if arch.resolution != self.resolution:
            problems.append(f"resolution {self.resolution} != architecture's {arch.resolution}")
        if len(self.thresholds) != len(arch.exits):
            problems.append(f"{len(self.thresholds)} thresholds for {len(arch.exits)} exits")
        if len(self.class_names) != self.num_classes:
            problems.append(f"{len(self.class_names)} class names for {self.num_classes} classes")
        if not len(self.mean) == len(self.std) == self.in_channels:
            problems.append(f"mean/std lengths differ from in_channels {self.in_channels}")
        if self.confidence not in CONFIDENCES:
            problems.append(f"unknown confidence {self.confidence!r}")
        if problems:
            raise UserError(f"{source}: inconsistent checkpoint metadata: {'; '.join(problems)}")


def checkpoint_metadata(
    arch: Architecture,
    space: SearchSpace,
    dataset: Dataset,
    confidence: str,
    thresholds: Sequence[float | None],
) -> CheckpointMetadata:
    """Metadata of a network of ``arch`` trained on ``dataset``.

    Args:
        arch: The architecture.
        space: Its search space.
        dataset: The :class:`aebnas.data.Dataset` it was trained on.
        confidence: Confidence measure name.
        thresholds: Tuned thresholds, one per intermediate exit; ``None`` or ``inf`` = off.
    """
    names = tuple(dataset.class_names) or tuple(str(c) for c in range(dataset.num_classes))
    return CheckpointMetadata(
        arch=arch.canonical,
        space=space.name,
        in_channels=int(dataset.channels),
        resolution=arch.resolution,
        num_classes=int(dataset.num_classes),
        class_names=names,
        mean=tuple(float(m) for m in dataset.mean),
        std=tuple(float(s) for s in dataset.std),
        confidence=confidence,
        thresholds=tuple(
            None if t is None or not math.isfinite(t) else float(t) for t in thresholds
        ),
        dataset=dataset.name,
    )


def save_checkpoint(
    model: EarlyExitNetwork,
    path: str | Path,
    metadata: CheckpointMetadata,
    *,
    force: bool = False,
) -> Path:
    """Write ``model``'s weights and ``metadata`` to ``path`` (atomically).

    Args:
        model: The network (its architecture must be ``metadata.arch``).
        path: Destination ``.safetensors`` file; parent folders are created.
        metadata: What the file describes.
        force: Replace an existing file.

    Returns:
        The path written.

    Raises:
        UserError: ``path`` exists and ``force`` is False.
        ValueError: ``model`` is not the network ``metadata`` describes.
    """
    from safetensors.torch import save_file

    path = Path(path)
    refuse_existing(path, force)
    if model.arch.canonical != metadata.arch:
        raise ValueError(f"model is {model.arch.canonical}, metadata says {metadata.arch}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata.to_header())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def refuse_existing(path: Path, force: bool) -> None:
    """Raise the one-line "exists" error unless ``force`` (call before any work is done)."""
    if path.exists() and not force:
        raise UserError(f"{path} already exists; choose another path or pass --force to replace it")


def read_metadata(path: str | Path) -> CheckpointMetadata:
    """The metadata of a checkpoint file, without loading its weights.

    Raises:
        UserError: Missing, foreign, torn, old or other-version file.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; pass a .safetensors checkpoint file")
    try:
        with safe_open(str(path), "pt") as f:
            header = f.metadata()
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(
            f"{path} is not a readable safetensors file ({_first_line(err)}); it is foreign or "
            "torn: pass an aebnas checkpoint"
        ) from None
    return CheckpointMetadata.from_header(header, str(path))


def load_checkpoint(path: str | Path) -> tuple[EarlyExitNetwork, CheckpointMetadata]:
    """Rebuild the saved network (eval mode, CPU) and its metadata.

    Args:
        path: A file written by :func:`save_checkpoint`.

    Returns:
        ``(network, metadata)``.

    Raises:
        UserError: Missing, foreign, torn, old or other-version file, or weights that do not fit
            the architecture in the header.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    metadata = read_metadata(path)
    arch, space = metadata.architecture()
    model = build_network(arch, space, metadata.in_channels, metadata.num_classes)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(
            f"{path}: the weights cannot be read ({_first_line(err)}); the file is torn, "
            "re-create it"
        ) from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise UserError(
            f"{path}: the weights do not fit the architecture in its header "
            f"({_first_line(err)}); the file is damaged, re-create it"
        ) from None
    return model.eval(), metadata


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    text = " ".join(line.strip() for line in lines[:3])
    return text[:200]


__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CheckpointMetadata",
    "checkpoint_metadata",
    "load_checkpoint",
    "read_metadata",
    "refuse_existing",
    "save_checkpoint",
]
