"""Set-up of a worker process that trains candidates (``surrogate_data``, ``bo_search``).

A worker dies with its parent (a SIGKILLed run must not leave orphans training), leaves Ctrl-C
to the parent (which stops the pool) and takes the thread policy of
:func:`aebnas.train.threads.configure_threads`.
"""

from __future__ import annotations

import ctypes
import signal

from aebnas.train.threads import configure_threads

#: ``prctl`` option: the signal a process gets when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux only; best effort)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def init_training_worker(threads: int | None) -> None:
    """First call of a training worker process.

    Args:
        threads: Torch intra-op threads (``None``: the policy's default).
    """
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_threads(threads)
