"""Train one Pareto member of a search run further, then re-tune and report it.

    python -m aebnas.train_final RUN_DIR --member K [--epochs N] [--out DIR] [--resume]

Member ``K`` is row ``K`` (0-based) of ``RUN_DIR/pareto.json``; its checkpoint is the start.
Training: the whole training split of the run's dataset (the run's validation split stays out),
SGD/Nesterov with a cosine schedule over all ``N`` epochs (the run's optimiser settings), a
progress bar, and after every epoch a training state ``DIR/state.pt`` (weights, optimiser,
schedule, epoch; written atomically) from which ``--resume`` continues after any interruption,
kill -9 included, to the same weights as an uninterrupted run (CPU; every epoch's order is
seeded by the epoch). Then thresholds are re-tuned on the validation split at the run's
objective (MACs: ``thresholds.max_macs`` / ``target_macs``; a run searched with
``--objective latency``: its latency profile and ``search.max_latency`` /
``target_latency``), and ``DIR/final.safetensors`` (a self-describing checkpoint) and
``DIR/report.json`` (validation and test accuracy as fractions, average MMACs, average ms for
a latency run, and the per-exit table) are written. An existing ``DIR`` is only replaced with
``--force``.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from aebnas.cli import ArgumentParser
from aebnas.config import Config, load_config
from aebnas.costs import ExitCosts, exit_costs
from aebnas.costs.latency import latency_costs, load_profile
from aebnas.data import Dataset, load_dataset
from aebnas.errors import UserError, run_cli
from aebnas.evaluation import (
    collect_logits,
    exit_table,
    objective_for,
    test_report,
)
from aebnas.models import EarlyExitNetwork, checkpoint_metadata, load_checkpoint, save_checkpoint
from aebnas.search.loop import CONFIG_FILE
from aebnas.thresholds import operating_point, tune
from aebnas.thresholds.evaluation import evaluate_thresholds
from aebnas.thresholds.outcomes import ExitOutcomes, Objective
from aebnas.train import resolve_device, seed_everything
from aebnas.train.trainer import joint_loss, make_optimizer

STATE_FORMAT, STATE_VERSION = "aebnas.train-final-state", 1
STATE_FILE, FINAL_FILE, REPORT_FILE = "state.pt", "final.safetensors", "report.json"
#: Default epochs of the final training, measured on Fashion-MNIST (a Pareto member, 0 / 1 / 3 /
#: 6 / 10 epochs: validation 87.60 / 90.16 / 91.82 / 92.64 / 92.68%): the accuracy has flattened
#: at 6 (benchmarks/results/train_final.md).
DEFAULT_EPOCHS = 6


@dataclass(frozen=True)
class Member:
    """A Pareto member of a run: its network, the run's config and dataset."""

    net: EarlyExitNetwork
    config: Config
    dataset: Dataset
    row: dict[str, Any]


def load_member(run_dir: Path, index: int, data_root: str | None = None) -> Member:
    """Row ``index`` of ``run_dir/pareto.json`` with its network and the run's dataset.

    Raises:
        UserError: Not a run folder, index out of range, missing or foreign checkpoint.
    """
    front_path, config_path = run_dir / "pareto.json", run_dir / CONFIG_FILE
    if not front_path.is_file() or not config_path.is_file():
        raise UserError(
            f"{run_dir} is not a search run folder (pareto.json or config.yaml missing)"
        )
    try:
        rows = json.loads(front_path.read_text(encoding="utf-8"))["front"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UserError(f"{front_path} is not a Pareto front file; re-run the search") from None
    if not 0 <= index < len(rows):
        raise UserError(f"--member must be in 0..{len(rows) - 1} (the run's front), got {index}")
    row = rows[index]
    if not row.get("checkpoint"):
        raise UserError(f"member {index} has no checkpoint (a benchmark run trains nothing)")
    net, _ = load_checkpoint(run_dir / row["checkpoint"])
    if net.arch.canonical != row["arch"]:
        raise UserError(f"checkpoint of member {index} holds {net.arch.canonical}, not its row")
    config = load_config(config_path)
    data = config.data
    dataset = load_dataset(data.dataset, data_root or data.root, data.val_size, seed=config.seed)
    return Member(net, config, dataset, row)


def _atomic_save(obj: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _read_state(path: Path, arch: str, epochs: int) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises several types for torn or foreign files
        raise UserError(
            f"{path} is not a readable training state; start again with --force"
        ) from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise UserError(f"{path} is not an aebnas train_final state; start again with --force")
    if state.get("version") != STATE_VERSION or state.get("arch") != arch:
        raise UserError(f"{path} belongs to another member or version; start again with --force")
    if state.get("epochs") != epochs:
        raise UserError(
            f"{path} was started with --epochs {state.get('epochs')}; resume with that value"
        )
    return state


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]final[/] epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TimeRemainingColumn(),
        transient=True,
    )


def train_member(
    member: Member,
    out: Path,
    epochs: int,
    *,
    resume: bool = False,
    train_size: int | None = None,
    device: torch.device | None = None,
    stop_after: int | None = None,
) -> EarlyExitNetwork:
    """Train ``member.net`` in place for ``epochs`` epochs with a state after each.

    Args:
        member: The member.
        out: Output folder (holds :data:`STATE_FILE`).
        epochs: Total epochs of the schedule.
        resume: Continue from ``out``'s state.
        train_size: Train on a seeded subset of this many images (``None``: all).
        device: Where to train (default: the run's device setting).
        stop_after: Return after this epoch (as an interruption would; for tests).
    """
    config, net = member.config, member.net
    fidelity = config.full_fidelity
    device = device or resolve_device(config.device)
    lr = fidelity.lr if fidelity.lr is not None else member.dataset.info.lr
    resolution = net.arch.resolution

    def loader(epoch: int) -> Any:
        return member.dataset.batches(
            "train",
            resolution,
            fidelity.batch_size,
            shuffle=True,
            seed=config.seed + epoch,
            device=device,
            augment=fidelity.augment,
            channels_last=True,
            subset=train_size,
        )

    steps = len(loader(0))
    net.to(device).train()
    optimizer, scheduler = make_optimizer(net, fidelity, lr, epochs * steps)
    start = 0
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / STATE_FILE
    if resume:
        state = _read_state(state_path, net.arch.canonical, epochs)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start = int(state["epoch"])
    with _progress() as bar:
        task = bar.add_task("final", total=(epochs - start) * steps, epoch=start + 1, loss=0.0)
        for epoch in range(start, epochs):
            seed_everything(config.seed + epoch)
            net.train()
            losses = []
            for x, y in loader(epoch):
                loss = joint_loss(net(x), y, fidelity.exit_weights)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise UserError(f"training diverged (non-finite loss) at epoch {epoch + 1}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), fidelity.grad_clip)
                optimizer.step()
                scheduler.step()
                losses.append(value)
                bar.update(task, advance=1, epoch=epoch + 1, loss=sum(losses) / len(losses))
            state = {
                "format": STATE_FORMAT,
                "version": STATE_VERSION,
                "arch": net.arch.canonical,
                "epochs": epochs,
                "epoch": epoch + 1,
                "model": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
            }
            _atomic_save(state, state_path)
            print(
                f"epoch {epoch + 1}/{epochs}: loss {sum(losses) / len(losses):.4f}", file=sys.stderr
            )
            if stop_after is not None and epoch + 1 >= stop_after:
                break
    return net


def objective_costs(
    member: Member, space: Any, mac_costs: ExitCosts
) -> tuple[ExitCosts, Objective]:
    """The per-exit costs and the tuner objective of the run: MACs, or with
    ``search.objective: latency`` the host profile's per-exit latency (ms) and its cap/target."""
    config, net, dataset = member.config, member.net, member.dataset
    search = config.search
    if search.objective != "latency":
        return mac_costs, objective_for(config.thresholds, mac_costs)
    if not search.latency_profile:
        raise UserError("the run's objective is latency but its config names no latency profile")
    profile = load_profile(search.latency_profile)
    costs = latency_costs(net.arch, space, dataset.channels, dataset.num_classes, profile)
    if search.max_latency is not None:
        return costs, Objective("budget", search.max_latency)
    if search.target_latency is not None:
        return costs, Objective("target", search.target_latency)
    return costs, Objective("budget", costs.final)


def retune_and_report(member: Member, out: Path, device: torch.device) -> dict[str, Any]:
    """Re-tune thresholds on validation at the run's objective; test; write the files."""
    net, config, dataset = member.net, member.config, member.dataset
    space = get_run_space(member)
    macs = exit_costs(net.arch, space, dataset.channels, dataset.num_classes)
    costs, objective = objective_costs(member, space, macs)
    th = config.thresholds
    logits, labels = collect_logits(net, dataset, "val", net.arch.resolution, device)
    outcomes = ExitOutcomes.from_logits(logits, labels, th.confidence)
    point = operating_point(
        tune(outcomes, costs, objective, th.tuner), objective, th.accuracy_tolerance
    )
    thresholds = point.to_json()["thresholds"]
    at_macs = evaluate_thresholds(outcomes, macs, thresholds)
    test = test_report(net, dataset, at_macs, macs, th.confidence, device)
    metadata = checkpoint_metadata(net.arch, space, dataset, th.confidence, point.thresholds)
    save_checkpoint(net, out / FINAL_FILE, metadata, force=True)
    report: dict[str, Any] = {
        "arch": net.arch.canonical,
        "objective": {
            "cost": config.search.objective,
            "mode": objective.mode,
            "value": objective.macs,
            "unit": "ms" if costs is not macs else "MMACs",
        },
        "val_accuracy": at_macs.accuracy,
        "val_avg_macs": at_macs.avg_macs,
        "test_accuracy": test["accuracy"],
        "test_avg_macs": test["avg_macs"],
        "thresholds": thresholds,
        "exits": exit_table(macs, outcomes, at_macs),
        "checkpoint": FINAL_FILE,
    }
    if costs is not macs:
        cumulative = costs.cumulative(point.active)
        report["val_avg_latency_ms"] = point.avg_macs
        paid = [u * c for u, c in zip(test["util"], cumulative, strict=True)]
        report["test_avg_latency_ms"] = float(sum(paid))
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def get_run_space(member: Member) -> Any:
    from aebnas.space import get_space

    return get_space(member.config.space, member.dataset.info.resolutions)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m aebnas.train_final", description=__doc__)
    parser.add_argument("run_dir", help="a search run folder")
    parser.add_argument("--member", type=int, required=True, help="row of pareto.json (0-based)")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--out", help="output folder (default RUN_DIR/final/member-K)")
    parser.add_argument("--resume", action="store_true", help="continue from --out's state")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    parser.add_argument("--train-size", type=int, help="seeded subset of the training split")
    parser.add_argument("--data-root", help="folder with the dataset files")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for flag, value in (
        ("--epochs", args.epochs),
        ("--train-size", args.train_size),
        ("--threads", args.threads),
    ):
        if value is not None and value < 1:
            raise UserError(f"{flag} must be at least 1, got {value}")
    run_dir = Path(args.run_dir)
    out = Path(args.out) if args.out else run_dir / "final" / f"member-{args.member}"
    if args.resume and not (out / STATE_FILE).is_file():
        raise UserError(f"nothing to resume: {out / STATE_FILE} does not exist")
    if not args.resume and out.exists() and any(out.iterdir()) and not args.force:
        raise UserError(f"{out} already exists; pass --resume to continue it or --force")
    if args.threads:
        torch.set_num_threads(args.threads)
    member = load_member(run_dir, args.member, args.data_root)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(member.config.device)
    train_member(
        member, out, args.epochs, resume=args.resume, train_size=args.train_size, device=device
    )
    report = retune_and_report(member, out, device)
    print(
        f"member {args.member}: val {100 * report['val_accuracy']:.2f}% at "
        f"{report['val_avg_macs']:.3f} MMACs; test {100 * report['test_accuracy']:.2f}% at "
        f"{report['test_avg_macs']:.3f} MMACs; {out / FINAL_FILE}"
    )
    for k, row in enumerate(report["exits"]):
        print(
            f"  exit {k}: position {row['position']}, {row['macs']:.3f} MMACs, "
            f"util {row['util']:.3f}, accuracy {row['accuracy']:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
