"""The ``local`` executor: worker processes on this machine (one torch thread each by default).

With one worker the jobs run in the calling process (no start-up, the driver's dataset is
reused). With more, each worker is a spawned process holding one pipe to the driver (started
side by side); the driver hands a job to each idle worker, longest first
(:mod:`~aebnas.execution.scheduling`), and waits on the pipes and on the processes' exit
sentinels, so it knows which job a dying worker held: that job is started again on a fresh
worker, up to ``max_retries`` times, then recorded as failed. Workers die with the driver
(:func:`aebnas.train.workers.die_with_parent`) and leave Ctrl-C to it.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from aebnas.errors import UserError
from aebnas.execution.executors import EXECUTORS, ExecutorBase, ExecutorSettings
from aebnas.execution.jobs import Job, JobResult, lost_result, run_job
from aebnas.execution.scheduling import longest_first
from aebnas.train.threads import configure_threads
from aebnas.train.workers import init_training_worker

#: Seconds a worker gets to exit after the driver asks it to.
STOP_SECONDS = 5.0


def _worker_main(conn: Connection, threads: int | None) -> None:
    """A worker process: set up, then evaluate the jobs the driver sends until ``None``."""
    try:
        init_training_worker(threads)
    except Exception as err:  # reported by the driver as one line; the worker ends
        conn.send(("init", f"{type(err).__name__}: {err}"))
        return
    conn.send(("ready", None))
    while (job := conn.recv()) is not None:
        try:
            conn.send(("ok", run_job(job)))
        except UserError as err:
            conn.send(("user", str(err)))
        except Exception as err:
            conn.send(("error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    job: Job | None = None
    attempts: int = 0


class LocalExecutor(ExecutorBase):
    """Worker processes on this machine (see the module docstring).

    Args:
        settings: ``workers``, ``threads`` and ``execution.max_retries``.
    """

    name = "local"

    def __init__(self, settings: ExecutorSettings) -> None:
        self.workers = settings.workers
        self.threads = settings.threads
        self.max_retries = settings.execution.max_retries
        self._pool: list[_Worker] = []
        self._context = mp.get_context("spawn")

    def run(self, jobs: Sequence[Job]) -> Iterator[JobResult]:
        if self.workers <= 1:
            configure_threads(self.threads)
            yield from map(run_job, jobs)
            return
        yield from self._run_in_pool(jobs)

    def running(self) -> dict[int, str]:
        """Process id -> architecture of each worker busy with a job (for monitoring)."""
        return {w.process.pid or 0: w.job.arch for w in self._pool if w.job is not None}

    def worker_pids(self) -> list[int]:
        """Process ids of the live worker processes."""
        return [w.process.pid or 0 for w in self._pool if w.process.is_alive()]

    def _run_in_pool(self, jobs: Sequence[Job]) -> Iterator[JobResult]:
        queue: deque[tuple[Job, int]] = deque((job, 0) for job in longest_first(jobs))
        self._pool.extend(self._start_workers(min(self.workers, len(jobs)) - len(self._pool)))
        try:
            while queue or any(w.job is not None for w in self._pool):
                for worker in self._pool:
                    if worker.job is None and queue:
                        worker.job, worker.attempts = queue.popleft()
                        worker.attempts += 1
                        with contextlib.suppress(OSError):  # died idle: its sentinel tells
                            worker.conn.send(worker.job)
                yield from self._collect(queue)
        finally:
            for worker in [w for w in self._pool if w.job is not None]:
                self._discard(worker)  # abandoned mid-job (the caller stopped early)

    def _collect(self, queue: deque[tuple[Job, int]]) -> Iterator[JobResult]:
        """Wait for busy workers; yield finished results and requeue the jobs of dead ones."""
        busy = [w for w in self._pool if w.job is not None]
        ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
        for worker in busy:
            if worker.conn not in ready and worker.process.sentinel not in ready:
                continue
            message = self._receive(worker)
            job, attempts = worker.job, worker.attempts
            assert job is not None
            if message is not None:
                worker.job = None
                result: JobResult = message
                result.attempts = attempts
                yield result
                continue
            self._replace(worker)
            if attempts > self.max_retries:
                yield lost_result(job, attempts, _death_reason(attempts))
            else:
                queue.appendleft((job, attempts))

    def _receive(self, worker: _Worker) -> Any:
        """The worker's result, or ``None`` if it died (its pipe closed)."""
        try:
            if not worker.conn.poll():
                return None
            kind, payload = worker.conn.recv()
        except (EOFError, OSError):
            return None
        if kind == "ok":
            return payload
        if kind == "user":
            raise UserError(payload)
        arch = worker.job.arch if worker.job else "?"
        raise RuntimeError(f"a worker failed on {arch}: {payload}")

    def _start_workers(self, count: int) -> list[_Worker]:
        """``count`` new workers, started side by side (their imports overlap), once ready."""
        started = [self._spawn() for _ in range(count)]
        return [self._await_ready(process, conn) for process, conn in started]

    def _start_worker(self) -> _Worker:
        return self._await_ready(*self._spawn())

    def _spawn(self) -> tuple[BaseProcess, Connection]:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main, args=(child, self.threads), daemon=True
        )
        process.start()
        child.close()
        return process, parent

    def _await_ready(self, process: BaseProcess, parent: Connection) -> _Worker:
        try:
            kind, payload = parent.recv()
        except EOFError:
            kind, payload = "init", f"it exited with status {process.exitcode}"
        if kind != "ready":
            process.join(STOP_SECONDS)
            raise UserError(
                f"a worker process could not start ({payload}); fix the cause or run with "
                "--workers 1 to see it directly"
            )
        return _Worker(process, parent)

    def _replace(self, worker: _Worker) -> None:
        index = self._pool.index(worker)
        self._discard(worker)
        self._pool.insert(index, self._start_worker())

    def _discard(self, worker: _Worker) -> None:
        worker.process.kill()
        worker.process.join(STOP_SECONDS)
        worker.conn.close()
        self._pool.remove(worker)

    def close(self) -> None:
        for worker in list(self._pool):
            with contextlib.suppress(OSError):
                worker.conn.send(None)
            worker.process.join(STOP_SECONDS)
            self._discard(worker)


def _death_reason(attempts: int) -> str:
    return (
        f"the worker process died in each of {attempts} attempts (killed, or out of memory); "
        "raise execution.max_retries or give the workers more memory"
    )


EXECUTORS.add("local", LocalExecutor)
