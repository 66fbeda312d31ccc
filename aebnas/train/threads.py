"""How many CPU threads one aebnas process gives torch: the one place that decides it.

Policy: one intra-op and one inter-op thread per process; parallelism comes from running
candidates in parallel worker processes (``surrogate_data --workers``), not from splitting one
small network's ops across threads. Why (``benchmarks/train_throughput.py --load 1``):

- Speed under load: with torch's default (one thread per core) every op of a small network is
  split across all cores and waits at a barrier for the slowest part; when another process takes
  a core, each op waits for a descheduled thread and training runs at a fraction of its idle
  speed (``benchmarks/results/train_throughput_load.md``). One thread per process only loses
  the CPU share the other process takes.
- Reproducibility: the result of a training depends on the thread count (reductions are split
  differently), so the count is fixed by this policy, never chosen from the machine's current
  load; the same command and seed then give the same records whatever else runs.

Override with ``--threads N`` (``search.threads`` in a search config).
"""

from __future__ import annotations

import contextlib

import torch

from aebnas.errors import UserError

#: Intra-op threads of a process when none are asked for.
DEFAULT_THREADS = 1
#: Inter-op threads (torch's pool for parallel independent ops; aebnas has none to run).
INTEROP_THREADS = 1


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op (``threads``, default :data:`DEFAULT_THREADS`) and inter-op threads.

    Call it once at the start of every CLI and every worker process, before any training.

    Args:
        threads: Intra-op threads (``None``: the policy's default); at least 1, else a
            :class:`~aebnas.errors.UserError`.

    Returns:
        The intra-op thread count now in effect.
    """
    count = DEFAULT_THREADS if threads is None else threads
    if count < 1:
        raise UserError(f"--threads must be at least 1, got {count}")
    torch.set_num_threads(count)
    if torch.get_num_interop_threads() != INTEROP_THREADS:
        # torch allows it only before the first inter-op work; a late call leaves the pool idle
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(INTEROP_THREADS)
    return torch.get_num_threads()
