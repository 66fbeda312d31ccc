"""Evaluate one early-exit candidate: build (or inherit), cost, train, tune thresholds, record.

:func:`evaluate_architecture` returns the result record (format ``aebnas.evaluation`` version 1,
documented in the README) that the ``evaluate`` CLI (:mod:`aebnas.evaluate`), the surrogate-data
and search workers (:mod:`aebnas.execution.jobs`) and ``train_final`` share.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from aebnas import __version__
from aebnas.config import FidelityConfig, ThresholdConfig, fidelity_dict
from aebnas.costs import ExitCosts, exit_costs
from aebnas.data import Dataset
from aebnas.errors import UserError
from aebnas.models import EarlyExitNetwork, build_network, checkpoint_metadata, save_checkpoint
from aebnas.models.checkpoint import refuse_existing
from aebnas.space import Architecture, SearchSpace
from aebnas.supernet.inheritance import (
    cached_supernet,
    calibrate_batch_norm,
    check_dataset,
    inherit,
)
from aebnas.thresholds.operating import operating_point
from aebnas.thresholds.tuners import ExitOutcomes, Objective, OperatingPoint, TuningResult, tune
from aebnas.train import TrainResult, resolve_device, seed_everything, train_network
from aebnas.train.trainer import out_of_memory_reason

RESULT_FORMAT = "aebnas.evaluation"
RESULT_VERSION = 1
EVAL_BATCH = 1000


def objective_for(thresholds: ThresholdConfig, costs: ExitCosts) -> Objective:
    """Budget mode if ``max_macs`` is set, target mode if ``target_macs`` is, else no MAC limit
    (budget = the cost of the final exit with every exit on)."""
    if thresholds.max_macs is not None:
        return Objective("budget", thresholds.max_macs)
    if thresholds.target_macs is not None:
        return Objective("target", thresholds.target_macs)
    return Objective("budget", costs.final)


def check_objective(objective: Objective, costs: ExitCosts) -> None:
    """Fail before training when no operating point can meet the objective."""
    flag = "--max-macs" if objective.mode == "budget" else "--target-macs"
    if objective.macs <= 0:
        raise UserError(f"{flag} must be positive (MMACs), got {objective.macs:g}")
    cheapest = float(costs.cumulative()[0])
    if objective.mode == "budget" and objective.macs < cheapest:
        raise UserError(
            f"{flag} {objective.macs:g} MMACs is impossible for this architecture: its cheapest "
            f"operating point (every sample at the first exit) costs {cheapest:.3f} MMACs"
        )


@torch.no_grad()
def collect_logits(
    model: EarlyExitNetwork, dataset: Dataset, split: str, resolution: int, device: torch.device
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """One pass over ``split`` recording every exit's logits.

    Returns:
        ``(logits, labels)``: one ``(N, classes)`` CPU tensor per exit (final last), ``(N,)``.
    """
    model.eval()
    per_exit: list[list[torch.Tensor]] = [[] for _ in range(model.num_exits)]
    labels = []
    batches = dataset.batches(split, resolution, EVAL_BATCH, device=device, channels_last=True)
    for x, y in batches:
        for store, logits in zip(per_exit, model(x), strict=True):
            store.append(logits.float().cpu())
        labels.append(y.cpu())
    return [torch.cat(chunks) for chunks in per_exit], torch.cat(labels)


@torch.no_grad()
def test_report(
    model: EarlyExitNetwork,
    dataset: Dataset,
    point: OperatingPoint,
    costs: ExitCosts,
    confidence: str,
    device: torch.device,
) -> dict[str, Any]:
    """Accuracy and average MACs on the test split with real early-exit inference."""
    model.eval()
    correct, counts = 0, torch.zeros(model.num_exits, dtype=torch.long)
    batches = dataset.batches(
        "test", model.arch.resolution, EVAL_BATCH, device=device, channels_last=True
    )
    for x, y in batches:
        predictions, exit_index = model.infer(x, point.thresholds, confidence)
        correct += int((predictions == y).sum())
        counts += torch.bincount(exit_index.cpu(), minlength=model.num_exits)
    util = (counts / counts.sum()).tolist()
    cumulative = costs.cumulative(point.active)
    return {
        "accuracy": correct / int(counts.sum()),
        "avg_macs": float(sum(u * c for u, c in zip(util, cumulative, strict=True))),
        "util": util,
    }


def exit_table(
    costs: ExitCosts, outcomes: ExitOutcomes, point: OperatingPoint
) -> list[dict[str, Any]]:
    """Per exit (final last): position, cumulative MMACs, util, standalone accuracy, threshold."""
    cumulative = costs.cumulative(point.active)
    accuracy = outcomes.correct.mean(axis=0)
    thresholds = point.to_json()["thresholds"] + [None]
    return [
        {
            "position": costs.positions[k],
            "macs": float(cumulative[k]),
            "util": point.util[k],
            "accuracy": float(accuracy[k]),
            "threshold": thresholds[k],
        }
        for k in range(costs.num_exits)
    ]


def evaluate_architecture(
    arch: Architecture,
    space: SearchSpace,
    dataset: Dataset,
    fidelity: FidelityConfig,
    thresholds: ThresholdConfig,
    *,
    seed: int = 0,
    device: torch.device | None = None,
    test: bool = False,
    progress: bool = False,
    checkpoint: Path | None = None,
    force: bool = False,
    keep_outcomes: bool = False,
) -> dict[str, Any]:
    """Train ``arch`` at ``fidelity`` and tune its thresholds on the validation split.

    Args:
        arch: Architecture (validated against ``space``).
        space: Its search space.
        dataset: Loaded dataset (train/val/test).
        fidelity: Training settings.
        thresholds: Tuner, confidence measure and MAC objective.
        seed: Seed of weights, data order and subset.
        device: Where to train (``None``: GPU if present).
        test: Also report test-set accuracy/MACs at the tuned thresholds (final reports only).
        progress: Show a training progress bar.
        checkpoint: Save the trained network there (:mod:`aebnas.models.checkpoint`, with the
            chosen thresholds); an existing file is refused before training unless ``force``.
        force: Replace an existing ``checkpoint``.
        keep_outcomes: Put the validation :class:`ExitOutcomes` under ``"outcomes"`` (for
            re-tuning without retraining; not JSON-ready).

    Returns:
        The result record (see the README's "Result format"); a diverged training gives
        ``status="failed"`` and a ``reason`` instead of raising.
    """
    if checkpoint is not None:
        refuse_existing(Path(checkpoint), force)
    device = device or resolve_device("auto")
    costs = exit_costs(arch, space, dataset.channels, dataset.num_classes)
    objective = objective_for(thresholds, costs)
    check_objective(objective, costs)
    seed_everything(seed)
    record = _base_record(arch, space, dataset, fidelity, thresholds, objective, seed, costs)
    if fidelity.supernet is not None:
        model, record["supernet"] = _inherited(arch, dataset, fidelity, seed, device)
    else:
        model = build_network(arch, space, dataset.channels, dataset.num_classes)
    trained = _train(model, arch, dataset, fidelity, seed, device, progress)
    if fidelity.supernet is not None and trained.status == "ok" and fidelity.epochs > 0:
        calibrate_batch_norm(
            model, dataset, arch.resolution, fidelity.calibration_size, seed, device
        )
    record.update(
        status=trained.status,
        reason=trained.reason,
        train_seconds=round(trained.seconds, 3),
        images_per_second=round(trained.images_per_second, 1),
        train_loss=trained.final_loss,
    )
    if trained.status != "ok":
        return record
    start = time.perf_counter()
    try:
        logits, labels = collect_logits(model, dataset, "val", arch.resolution, device)
    except (RuntimeError, MemoryError) as err:
        reason = out_of_memory_reason(err)
        if reason is None:
            raise
        record.update(status="failed", reason=f"{reason} while evaluating the validation split")
        return record
    outcomes = ExitOutcomes.from_logits(logits, labels, thresholds.confidence)
    tuned = tune(outcomes, costs, objective, thresholds.tuner)
    chosen = operating_point(tuned, objective, thresholds.accuracy_tolerance)
    grid = tune(outcomes, costs, objective, "grid")
    record.update(_tuning_fields(costs, outcomes, chosen, tuned, grid))
    if test:
        record["test"] = test_report(model, dataset, chosen, costs, thresholds.confidence, device)
    record["eval_seconds"] = round(time.perf_counter() - start, 3)
    if keep_outcomes:
        record["outcomes"] = outcomes
    if checkpoint is not None:
        metadata = checkpoint_metadata(
            arch, space, dataset, thresholds.confidence, chosen.thresholds
        )
        save_checkpoint(model, checkpoint, metadata, force=force)
    return record


def _inherited(
    arch: Architecture, dataset: Dataset, fidelity: FidelityConfig, seed: int,
    device: torch.device,
) -> tuple[EarlyExitNetwork, dict[str, Any]]:
    """The candidate with the weights of ``fidelity.supernet`` (batch-norm recalibrated on a
    subset seeded by ``seed``) and the supernet's identity for the record."""
    assert fidelity.supernet is not None
    supernet, info = cached_supernet(fidelity.supernet, str(device))
    check_dataset(info, dataset, fidelity.supernet)
    start = time.perf_counter()
    model = inherit(supernet, arch, dataset, fidelity.calibration_size, seed, device)
    identity = {
        "file": fidelity.supernet,
        "sha256": info.sha256,
        "calibration_size": fidelity.calibration_size,
        "inherit_seconds": round(time.perf_counter() - start, 3),
    }
    return model, identity


def _train(
    model: EarlyExitNetwork, arch: Architecture, dataset: Dataset, fidelity: FidelityConfig,
    seed: int, device: torch.device, progress: bool,
) -> TrainResult:
    """``fidelity.epochs`` epochs of joint training (none: an inherited candidate as it is)."""
    if fidelity.epochs == 0:
        model.to(device).eval()
        return TrainResult("ok", None, 0.0, 0, math.nan)
    lr = fidelity.lr if fidelity.lr is not None else dataset.info.lr
    train_batches = dataset.batches(
        "train",
        arch.resolution,
        fidelity.batch_size,
        shuffle=True,
        seed=seed,
        device=device,
        augment=fidelity.augment,
        channels_last=True,
        subset=fidelity.train_size,
        drop_last=True,
    )
    return train_network(model, train_batches, fidelity, lr, device, progress=progress)


def _base_record(
    arch: Architecture,
    space: SearchSpace,
    dataset: Dataset,
    fidelity: FidelityConfig,
    thresholds: ThresholdConfig,
    objective: Objective,
    seed: int,
    costs: ExitCosts,
) -> dict[str, Any]:
    return {
        "format": RESULT_FORMAT,
        "version": RESULT_VERSION,
        "aebnas": __version__,
        "arch": arch.canonical,
        "hash": arch.hash,
        "space": space.name,
        "dataset": dataset.name,
        "seed": seed,
        "fidelity": fidelity_dict(fidelity),
        "tuner": thresholds.tuner,
        "confidence": thresholds.confidence,
        "objective": {
            "mode": objective.mode,
            "macs": objective.macs,
            "accuracy_tolerance": thresholds.accuracy_tolerance,
        },
        "static_macs": {
            "positions": list(costs.positions),
            "backbone": list(costs.backbone),
            "branch": list(costs.branch),
            "final": costs.final,
        },
        "test": None,
    }


def _tuning_fields(
    costs: ExitCosts,
    outcomes: ExitOutcomes,
    best: OperatingPoint,
    tuned: TuningResult,
    grid: TuningResult,
) -> dict[str, Any]:
    return {
        "accuracy": best.accuracy,
        "avg_macs": best.avg_macs,
        "final_accuracy": float(outcomes.correct[:, -1].mean()),
        "exits": exit_table(costs, outcomes, best),
        "grid": {
            "accuracy": grid.best.accuracy,
            "avg_macs": grid.best.avg_macs,
            "thresholds": grid.best.to_json()["thresholds"],
        },
        "curve": [
            {
                "accuracy": p.accuracy,
                "avg_macs": p.avg_macs,
                "thresholds": p.to_json()["thresholds"],
            }
            for p in tuned.curve
        ],
    }
