"""``python -m aebnas.supernet``: train a supernet, or describe a supernet file.

- ``train --config C [--out DIR] [--resume] [--force] [--max-steps N]``: trains the early-exit
  supernet of the config's space on its dataset into ``DIR`` (default
  ``supernets/<dataset>-<space>/``): ``training-state.safetensors`` every
  ``supernet.checkpoint_every`` steps, ``supernet.safetensors`` (float16) at the end. Killed at
  any moment (``kill -9`` included), ``--resume`` continues from the last checkpoint and ends
  with the same weights as an uninterrupted run.
- ``info PATH``: the header of a supernet file and its SHA-256.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from aebnas.cli import ArgumentParser
from aebnas.config import Config, SupernetConfig, apply_overrides, load_config
from aebnas.data import dataset_info, load_dataset
from aebnas.data.multires import MultiResolutionBatches
from aebnas.errors import UserError
from aebnas.space import get_space
from aebnas.supernet.checkpoint import (
    STATE_FILE,
    WEIGHTS_FILE,
    SupernetInfo,
    load_supernet,
    load_training_state,
    save_supernet,
    save_training_state,
)
from aebnas.supernet.elastic import EarlyExitSupernet, count_parameters
from aebnas.supernet.training import SupernetTrainer
from aebnas.train import configure_threads, resolve_device, seed_everything

#: Settings that do not change the trained weights (may differ between a run and its resume).
RUNTIME_ONLY = ("threads", "checkpoint_every")


def default_folder(dataset: str, space: str) -> Path:
    safe = dataset.replace(":", "_").replace("/", "_")
    return Path("supernets") / f"{safe}-{space}"


def training_fingerprint(settings: SupernetConfig) -> dict[str, Any]:
    """The settings that decide the weights (recorded in the file, compared on resume)."""
    return {k: v for k, v in dataclasses.asdict(settings).items() if k not in RUNTIME_ONLY}


def prepare_out(out: Path, resume: bool, force: bool) -> None:
    """Refuse to overwrite a trained supernet or a training state unless told."""
    weights, state = out / WEIGHTS_FILE, out / STATE_FILE
    if resume:
        if not state.is_file():
            raise UserError(f"nothing to resume in {out} (no {STATE_FILE}); start without --resume")
        return
    existing = [p for p in (weights, state) if p.exists()]
    if existing and not force:
        raise UserError(
            f"{existing[0]} already exists; pass --resume to continue that training, --force to "
            "start over (it is overwritten), or another --out"
        )
    out.mkdir(parents=True, exist_ok=True)


def train(args: Any, config: Config) -> Path:
    settings = config.supernet
    if args.max_steps is not None and args.max_steps < 1:
        raise UserError(f"--max-steps must be at least 1, got {args.max_steps}")
    info = dataset_info(config.data.dataset)
    space = get_space(config.space, info.resolutions)
    out = Path(args.out) if args.out else default_folder(config.data.dataset, space.name)
    prepare_out(out, args.resume, args.force)
    configure_threads(settings.threads)
    device = resolve_device(config.device)
    dataset = load_dataset(config.data.dataset, config.data.root, config.data.val_size,
                           seed=config.seed)
    seed_everything(config.seed)
    supernet = EarlyExitSupernet(space, dataset.channels, dataset.num_classes)
    batches = MultiResolutionBatches(dataset, space.resolutions, settings.batch_size, config.seed,
                                     subset=settings.train_size, flip=settings.flip, device=device)
    trainer = SupernetTrainer(supernet, batches, settings, device, config.seed)
    meta = SupernetInfo(
        space=space.name, dataset=dataset.name, in_channels=dataset.channels,
        num_classes=dataset.num_classes, resolutions=space.resolutions, data_seed=config.seed,
        val_size=len(dataset.val), epochs=settings.epochs, steps=trainer.total_steps,
        precision="float32", config=training_fingerprint(settings),
    )
    start_step = 0
    if args.resume:
        momentum, start_step = load_training_state(out / STATE_FILE, supernet, meta)
        trainer.load_momentum(momentum)
    print(
        f"{out}: supernet of {space.name} on {dataset.name} "
        f"({count_parameters(supernet) / 1e6:.1f} M parameters), {batches.size} training images, "
        f"step {start_step} of {trainer.total_steps} ({settings.random_subnets + 2} sub-networks "
        f"per step, {torch.get_num_threads()} thread(s), {device})",
        file=sys.stderr, flush=True,
    )
    started = time.perf_counter()

    def checkpoint(done: int) -> None:
        save_training_state(supernet, trainer.momentum(), done, meta, out / STATE_FILE)

    loss = trainer.run(start_step, checkpoint, stop_after=args.max_steps)
    wall = time.perf_counter() - started
    if args.max_steps is not None and args.max_steps < trainer.total_steps:
        print(f"stopped after step {args.max_steps} ({wall:.0f} s); continue with --resume",
              file=sys.stderr)
        return out
    save_supernet(supernet, meta, out / WEIGHTS_FILE, half=True)
    size = (out / WEIGHTS_FILE).stat().st_size / 1e6
    print(
        f"trained {trainer.total_steps - start_step} steps in {wall:.0f} s (final loss {loss:.3f});"
        f" wrote {out / WEIGHTS_FILE} ({size:.1f} MB)",
        file=sys.stderr,
    )
    return out


def info_command(args: Any) -> None:
    _, info = load_supernet(args.path)
    for key, value in dataclasses.asdict(info).items():
        print(f"{key:12} {value}")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m aebnas.supernet", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train_parser = commands.add_parser("train", help="train a supernet")
    train_parser.add_argument("--config", help="YAML config (its supernet: section)")
    train_parser.add_argument("--dataset")
    train_parser.add_argument("--data-root")
    train_parser.add_argument("--space")
    train_parser.add_argument("--seed", type=int, help="data split and training seed")
    train_parser.add_argument("--epochs", type=int)
    train_parser.add_argument("--threads", type=int, help="torch CPU threads")
    train_parser.add_argument("--device", help="auto, cpu or cuda[:N]")
    train_parser.add_argument("--out", help="folder (default supernets/<dataset>-<space>)")
    train_parser.add_argument("--resume", action="store_true", help="continue a killed training")
    train_parser.add_argument("--force", action="store_true", help="overwrite an existing one")
    train_parser.add_argument("--max-steps", type=int, help="stop after this step (resume later)")
    info_parser = commands.add_parser("info", help="describe a supernet file")
    info_parser.add_argument("path")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "info":
        info_command(args)
        return 0
    config = apply_overrides(
        load_config(args.config),
        {
            "data.dataset": args.dataset,
            "data.root": args.data_root,
            "space": args.space,
            "seed": args.seed,
            "device": args.device,
            "supernet.epochs": args.epochs,
            "supernet.threads": args.threads,
        },
    )
    train(args, config)
    return 0
