"""Supernet training: the sandwich rule with in-place distillation, resumable step by step.

One step: the sub-networks of :func:`~aebnas.supernet.sampling.sandwich` (largest, smallest,
random, each with random exits) run on the same batch, the largest first. Every exit's loss is
``(1 - w) * CE(z, y) + w * KL(teacher || z)`` where the teacher is the largest network's final
exit (detached) and ``w`` is ``distill_weight``; the teacher's own final exit learns from the
labels alone. The step's loss is the mean over sub-networks; gradients are accumulated
sub-network by sub-network (memory of one at a time), clipped, and applied by SGD with Nesterov
momentum under a linear warm-up + cosine schedule. CUDA mixed precision when a GPU is used.

Everything random in step ``s`` (the sub-networks, the batch, the flips) depends only on the
seed and ``s``, so training resumed from a checkpoint of step ``s`` equals an uninterrupted one.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from aebnas.config import SupernetConfig
from aebnas.data.multires import MultiResolutionBatches, step_seed
from aebnas.errors import UserError
from aebnas.supernet.elastic import EarlyExitSupernet
from aebnas.supernet.sampling import sandwich


def exit_losses(
    logits: list[torch.Tensor], labels: torch.Tensor, teacher: torch.Tensor | None,
    distill_weight: float,
) -> torch.Tensor:
    """Summed loss of one sub-network's exits.

    Args:
        logits: ``(B, classes)`` per exit, final head last.
        labels: ``(B,)`` class indices.
        teacher: Probabilities ``(B, classes)`` of the largest network's final exit, or
            ``None`` for the largest network itself (its final exit then learns from labels).
        distill_weight: Share of the distillation term.
    """
    if teacher is None:  # the largest network: its intermediate exits learn from its head
        teacher_head, teacher = len(logits) - 1, torch.softmax(logits[-1].detach().float(), -1)
    else:
        teacher_head = -1
    total = torch.zeros((), device=labels.device)
    for k, z in enumerate(logits):
        ce = F.cross_entropy(z, labels)
        if k == teacher_head:
            total = total + ce
            continue
        kd = F.kl_div(F.log_softmax(z.float(), dim=-1), teacher, reduction="batchmean")
        total = total + (1 - distill_weight) * ce + distill_weight * kd
    return total


def learning_rate(step: int, total: int, settings: SupernetConfig) -> float:
    """Linear warm-up to ``settings.lr`` over ``warmup_steps``, then cosine to 0 at ``total``."""
    warmup = min(settings.warmup_steps, max(total - 1, 0))
    if step < warmup:
        return settings.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return settings.lr * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass
class StepResult:
    """What one step did: mean loss over sub-networks, images seen per sub-network, seconds."""

    loss: float
    images: int
    seconds: float


class SupernetTrainer:
    """Trains an :class:`EarlyExitSupernet` step by step.

    Args:
        supernet: The supernet (moved to ``device``, channels_last).
        batches: Training batches at every resolution of the space.
        settings: Schedule and loss settings.
        device: Where to train.
        seed: Seed of the step streams.
    """

    def __init__(
        self,
        supernet: EarlyExitSupernet,
        batches: MultiResolutionBatches,
        settings: SupernetConfig,
        device: torch.device,
        seed: int,
    ) -> None:
        self.supernet = supernet.to(device).to(memory_format=torch.channels_last).train()
        self.batches = batches
        self.settings = settings
        self.device = device
        self.seed = seed
        self.total_steps = settings.epochs * batches.steps_per_epoch
        self.optimizer = torch.optim.SGD(
            supernet.parameters(),
            lr=settings.lr,
            momentum=settings.momentum,
            nesterov=True,
            weight_decay=settings.weight_decay,
        )
        self.scaler = torch.amp.GradScaler(enabled=device.type == "cuda")
        self._names = {id(p): n for n, p in supernet.named_parameters()}

    def momentum(self) -> dict[str, torch.Tensor]:
        """The optimiser's momentum buffers by parameter name."""
        return {
            self._names[id(p)]: state["momentum_buffer"]
            for p, state in self.optimizer.state.items()
            if state.get("momentum_buffer") is not None
        }

    def load_momentum(self, buffers: dict[str, torch.Tensor]) -> None:
        """Restore momentum buffers saved by :meth:`momentum`."""
        for name, param in self.supernet.named_parameters():
            if name in buffers:
                self.optimizer.state[param]["momentum_buffer"] = buffers[name].to(
                    self.device, param.dtype
                )

    def step(self, step: int) -> StepResult:
        """Run optimiser step ``step`` (0-based) of the schedule."""
        start = time.perf_counter()
        settings = self.settings
        epoch, index = divmod(step, self.batches.steps_per_epoch)
        labels, images = self.batches.batch(epoch, index)
        rng = random.Random(step_seed(self.seed, 1_000_003, step))
        archs = sandwich(self.supernet.space, rng, settings.random_subnets,
                         settings.exit_probability)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(step, self.total_steps, settings)
        self.optimizer.zero_grad(set_to_none=True)
        teacher: torch.Tensor | None = None
        losses = []
        for arch in archs:
            with torch.autocast(self.device.type, enabled=self.scaler.is_enabled()):
                logits = self.supernet(arch, images[arch.resolution])
                loss = exit_losses(logits, labels, teacher, settings.distill_weight) / len(archs)
            if teacher is None:
                teacher = torch.softmax(logits[-1].detach().float(), dim=-1)
            value = float(loss.detach()) * len(archs)
            if not math.isfinite(value):
                raise UserError(
                    f"supernet training diverged at step {step} (loss {value}) on {arch}; "
                    "lower supernet.lr and resume from the last checkpoint with --resume"
                )
            losses.append(value)
            self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        nn.utils.clip_grad_norm_(self.supernet.parameters(), settings.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return StepResult(sum(losses) / len(losses), len(labels), time.perf_counter() - start)

    def run(
        self,
        start_step: int,
        checkpoint: Callable[[int], None],
        stop_after: int | None = None,
        progress: bool | None = None,
    ) -> float:
        """Steps ``start_step .. total_steps - 1``; ``checkpoint(steps_done)`` every
        ``checkpoint_every`` steps and at the end. Returns the mean loss of the last 50 steps.

        Args:
            start_step: First step to run (the step reached by a resumed state).
            checkpoint: Called with the number of steps done.
            stop_after: Stop after this many steps in all (tests; ``None``: the schedule).
            progress: Show a progress bar (``None``: when stderr is a terminal; else a log
                line per checkpoint).
        """
        end = self.total_steps if stop_after is None else min(stop_after, self.total_steps)
        show = sys.stderr.isatty() if progress is None else progress
        recent: list[float] = []
        images, seconds = 0, 0.0
        with _progress(show) as bar:
            task = bar.add_task("supernet", total=self.total_steps, completed=start_step,
                                loss=0.0, ips=0.0)
            for step in range(start_step, end):
                result = self.step(step)
                recent = [*recent[-49:], result.loss]
                images, seconds = images + result.images, seconds + result.seconds
                ips = images / seconds
                bar.update(task, advance=1, loss=sum(recent) / len(recent), ips=ips)
                done = step + 1
                if done % self.settings.checkpoint_every == 0 or done == end:
                    checkpoint(done)
                    if not show:
                        eta = (self.total_steps - done) * seconds / max(1, done - start_step)
                        print(
                            f"step {done}/{self.total_steps}  loss {sum(recent) / len(recent):.3f}"
                            f"  {ips:.1f} img/s  eta {eta / 60:.0f} min",
                            file=sys.stderr, flush=True,
                        )
        return sum(recent) / max(1, len(recent))


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]supernet[/] step {task.completed}/{task.total}"),
        BarColumn(),
        TextColumn("loss {task.fields[loss]:.3f}  {task.fields[ips]:.1f} img/s"),
        TimeRemainingColumn(),
        disable=not enabled,
    )
