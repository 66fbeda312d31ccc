"""``python -m aebnas.export CHECKPOINT --format onnx --out DIR [--force] [--data-root PATH]``.

Writes one graph per segment and ``DIR/manifest.json`` (see :mod:`aebnas.export.manifest`) after
checking on 256 validation images of the checkpoint's dataset that every exit's logits equal the
PyTorch network's within 1e-4; a failed check writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from aebnas.cli import ArgumentParser
from aebnas.errors import UserError
from aebnas.export.exporter import CHECK_IMAGES, export_checkpoint
from aebnas.export.formats import EXPORT_FORMATS


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m aebnas.export", description=__doc__)
    parser.add_argument("checkpoint", help="a .safetensors checkpoint written by aebnas")
    parser.add_argument("--format", default="onnx", choices=EXPORT_FORMATS.names())
    parser.add_argument("--out", required=True, help="export folder to create")
    parser.add_argument("--force", action="store_true", help="replace an existing --out folder")
    parser.add_argument("--data-root", help="folder with the dataset files (check images)")
    parser.add_argument(
        "--check-images", type=int, default=CHECK_IMAGES, help="validation images of the check"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.check_images < 1:
        raise UserError(f"--check-images must be positive, got {args.check_images}")
    result = export_checkpoint(
        args.checkpoint,
        args.out,
        export_format=args.format,
        force=args.force,
        data_root=args.data_root,
        check_count=args.check_images,
    )
    manifest = result.manifest
    print(f"arch     {manifest.arch}")
    print(f"{'graph':>12} {'role':>10} {'file':>17}")
    for graph in manifest.graphs:
        print(f"{graph.name:>12} {graph.role:>10} {graph.file:>17}")
    print(f"{'exit':>6} {'pos':>4} {'MMACs':>8} {'threshold':>10} {'max |diff|':>11}")
    for entry, diff in zip(manifest.exits, result.max_abs_diff, strict=True):
        threshold = "-" if entry.threshold is None else f"{entry.threshold:.4f}"
        print(f"{entry.index:>6} {entry.position:>4} {entry.macs:>8.3f} {threshold:>10} "
              f"{diff:>11.2e}")
    check = manifest.verification
    print(f"check    {check['images']} {check['split']} images: max |logit diff| "
          f"{max(result.max_abs_diff):.2e} <= {check['tolerance']:g}")
    print(f"wrote {result.folder}")
    return 0
