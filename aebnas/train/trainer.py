"""Joint training of every exit of an early-exit network.

Loss = sum over exits of ``weight_i * CE(logits_i, y)`` (intermediate exits weighted by
``FidelityConfig.exit_weights``, the final head by 1); SGD with Nesterov momentum, weight decay,
a per-step cosine schedule and gradient-norm clipping. channels_last on every device (faster on
the CPU as well); CUDA mixed precision when a GPU is used. A non-finite loss or an
out-of-memory error ends training with ``status="failed"`` and a reason, never an exception.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sized
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from aebnas.config import FidelityConfig

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]

#: Messages of out-of-memory errors torch raises as a plain ``RuntimeError`` (the CPU allocator
#: and some CUDA paths do not use ``torch.OutOfMemoryError``).
OOM_MARKERS = (
    "can't allocate memory",
    "not enough memory",
    "out of memory",
    "cuda error: out of memory",
)


def out_of_memory_reason(err: BaseException) -> str | None:
    """``"out of memory (...)"`` if ``err`` is an out-of-memory error on any device, else None.

    Args:
        err: An exception raised by a forward/backward pass or a tensor allocation.
    """
    if isinstance(err, torch.OutOfMemoryError | MemoryError):
        kind = "GPU" if isinstance(err, torch.OutOfMemoryError) else "CPU"
    elif isinstance(err, RuntimeError) and any(m in str(err).lower() for m in OOM_MARKERS):
        kind = "CPU" if "cpu" in str(err).lower() else "device"
    else:
        return None
    first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
    return f"out of memory ({kind}: {first})"


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train_network`.

    Args:
        status: ``ok`` or ``failed``.
        reason: Why it failed (``None`` when ok).
        seconds: Wall time of the training loop.
        images: Images processed.
        final_loss: Mean joint loss over the last epoch (``nan`` when failed early).
    """

    status: str
    reason: str | None
    seconds: float
    images: int
    final_loss: float

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


def joint_loss(
    logits: list[torch.Tensor], target: torch.Tensor, exit_weight: float
) -> torch.Tensor:
    """Weighted sum of the exits' cross-entropies; ``logits`` ends with the final head."""
    losses = [F.cross_entropy(lg, target) for lg in logits]
    return exit_weight * sum(losses[:-1], torch.zeros((), device=target.device)) + losses[-1]


def make_optimizer(
    model: nn.Module, fidelity: FidelityConfig, lr: float, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD (Nesterov) with a cosine schedule over ``total_steps`` optimiser steps."""
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=lr,
        momentum=fidelity.momentum,
        nesterov=True,
        weight_decay=fidelity.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps))
    return optimizer, scheduler


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]train[/] epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("loss {task.fields[loss]:.3f}  {task.fields[ips]:.0f} img/s"),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=True,
    )


class _Diverged(Exception):
    """A non-finite loss: the candidate fails, the caller gets a TrainResult."""


@dataclass
class _Step:
    """Everything one optimisation step needs."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    fidelity: FidelityConfig
    device: torch.device

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One step on batch ``x (B, C, R, R)``, ``y (B,)``; returns the joint loss."""
        with torch.autocast(self.device.type, enabled=self.scaler.is_enabled()):
            loss = joint_loss(self.model(x), y, self.fidelity.exit_weights)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise _Diverged(f"non-finite loss ({value})")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        nn.utils.clip_grad_norm_(self.model.parameters(), self.fidelity.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return value


def train_network(
    model: nn.Module,
    batches: Batches,
    fidelity: FidelityConfig,
    lr: float,
    device: torch.device,
    progress: bool = False,
) -> TrainResult:
    """Train ``model`` in place for ``fidelity.epochs`` passes over ``batches``.

    Args:
        model: Network whose ``forward`` returns a list of exit logits, final last.
        batches: Re-iterable ``(x (B, C, R, R) float, y (B,) int64)`` batches on ``device``;
            iterated once per epoch (it reshuffles itself).
        fidelity: Epochs, optimiser and loss settings.
        lr: Peak learning rate.
        device: Where to train.
        progress: Show a progress bar with loss and images/s.
    """
    model.to(device).to(memory_format=torch.channels_last).train()
    steps_per_epoch = len(batches) if isinstance(batches, Sized) else 1
    optimizer, scheduler = make_optimizer(model, fidelity, lr, fidelity.epochs * steps_per_epoch)
    scaler = torch.amp.GradScaler(enabled=device.type == "cuda")
    step = _Step(model, optimizer, scheduler, scaler, fidelity, device)
    images, epoch_loss, start = 0, math.nan, time.perf_counter()
    with _progress(progress) as bar:
        task = bar.add_task(
            "train", total=fidelity.epochs * steps_per_epoch, epoch=1, loss=0.0, ips=0.0
        )
        for epoch in range(1, fidelity.epochs + 1):
            losses = []
            for x, y in batches:
                try:
                    losses.append(step(x, y))
                except _Diverged as err:
                    return _failed(f"{err} at epoch {epoch}, step {len(losses) + 1}", start, images)
                except (RuntimeError, MemoryError) as err:
                    reason = out_of_memory_reason(err)
                    if reason is None:
                        raise
                    _release_memory(device)
                    return _failed(f"{reason} at epoch {epoch}", start, images)
                images += y.shape[0]
                ips = images / (time.perf_counter() - start)
                bar.update(task, advance=1, epoch=epoch, loss=sum(losses) / len(losses), ips=ips)
            epoch_loss = sum(losses) / max(len(losses), 1)
    return TrainResult("ok", None, time.perf_counter() - start, images, epoch_loss)


def _release_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _failed(reason: str, start: float, images: int) -> TrainResult:
    return TrainResult("failed", reason, time.perf_counter() - start, images, math.nan)
