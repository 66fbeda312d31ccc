"""The ``ray`` executor: each job is a Ray task, on a local Ray instance or a running cluster.

- Cluster: ``execution.ray_address`` (``--ray-address``), else ``$RAY_ADDRESS``, else a local
  instance is started (and stopped on :meth:`RayExecutor.close`). A Ray session this process
  already opened (``ray.init`` by a library user or a test) is used as it is.
- Resources: every task reserves ``execution.num_cpus`` CPUs and ``execution.num_gpus`` GPUs
  (``num_gpus: 1`` on a GPU cluster gives each candidate its own GPU: Ray sets
  ``CUDA_VISIBLE_DEVICES`` and ``device: auto`` takes it); at most ``workers`` tasks run at once.
  A request no node can meet is refused before anything is submitted.
- Code: tasks run the driver's aebnas: on a local instance its folder is put on the workers'
  ``PYTHONPATH``; a remote cluster gets the package shipped (Ray ``py_modules``). The other
  dependencies (torch, ...) must be installed on every node.
- Faults: a task whose worker process dies (killed, out of memory, node lost) is retried by Ray
  up to ``execution.max_retries`` times, then recorded as failed (also for tasks Ray's memory
  monitor kills: ``RAY_task_oom_retries`` is set to the same bound unless already set);
  exceptions of the candidate itself are never retried (``retry_exceptions=False``: they are
  failed records already).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aebnas
from aebnas.errors import UserError
from aebnas.execution.executors import EXECUTORS, ExecutorBase, ExecutorSettings
from aebnas.execution.jobs import Job, JobResult, lost_result, run_job
from aebnas.execution.scheduling import longest_first

INSTALL_HINT = "pip install 'aebnas[ray]' (or pip install ray)"
#: Seconds to wait for a TCP connection to the cluster's address before giving up.
CONNECT_SECONDS = 5.0
#: Ray's setting of how often a task its memory monitor killed is retried (default: forever).
OOM_RETRIES_ENV = "RAY_task_oom_retries"
#: The default port of a Ray head (``ray start --head``).
DEFAULT_PORT = 6379


def import_ray() -> Any:
    """The ``ray`` module (not installed: one-line UserError naming the install command)."""
    try:
        import ray
    except ImportError:
        message = f"--executor ray needs Ray, which is not installed; {INSTALL_HINT}"
        raise UserError(message) from None
    return ray


def code_root() -> Path:
    """The folder holding the ``aebnas`` package this process runs."""
    return Path(aebnas.__file__).resolve().parent.parent


def runtime_env(remote: bool) -> dict[str, Any]:
    """Ray ``runtime_env`` that makes tasks import this process's aebnas.

    Args:
        remote: Shipping the package to other machines (``py_modules``) rather than pointing
            the workers of a local instance at its folder (``PYTHONPATH``).
    """
    if remote:
        return {"py_modules": [str(Path(aebnas.__file__).resolve().parent)]}
    path = os.pathsep.join(p for p in (str(code_root()), os.environ.get("PYTHONPATH")) if p)
    return {"env_vars": {"PYTHONPATH": path}}


def check_reachable(address: str) -> None:
    """Refuse (one line) an address nothing listens on, instead of Ray's minutes of retries."""
    if address in ("auto", "local"):
        return
    host_port = address.split("://", 1)[-1]
    host, _, port = host_port.rpartition(":")
    if not host:
        host, port = host_port, str(DEFAULT_PORT)
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS):
            pass
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise UserError(
            f"cannot reach the Ray cluster at {address} ({reason}); start it with `ray start "
            "--head` on that machine, or fix --ray-address / RAY_ADDRESS (host:6379)"
        ) from None


def execute_job(job: Job) -> JobResult:
    """The Ray task: evaluate one job in a Ray worker process."""
    return run_job(job)


class RayExecutor(ExecutorBase):
    """Ray tasks (see the module docstring).

    Args:
        settings: ``workers`` (tasks at once), ``execution`` (address, resources, retries).
    """

    name = "ray"

    def __init__(self, settings: ExecutorSettings) -> None:
        self.ray = import_ray()
        self.workers = settings.workers
        self.execution = settings.execution
        self.max_retries = settings.execution.max_retries
        self._owns_session = False
        if not self.ray.is_initialized():
            self._connect(settings.execution.ray_address or os.environ.get("RAY_ADDRESS"))
        self._check_resources()
        self._task = self.ray.remote(execute_job).options(
            num_cpus=settings.execution.num_cpus,
            num_gpus=settings.execution.num_gpus,
            max_retries=settings.execution.max_retries,
            retry_exceptions=False,
        )

    def _connect(self, address: str | None) -> None:
        # Ray retries tasks its memory monitor killed without limit by default; bound them like
        # other worker deaths (read when Ray starts in this process; a user's setting wins).
        os.environ.setdefault(OOM_RETRIES_ENV, str(self.max_retries))
        options: dict[str, Any] = {"logging_level": logging.WARNING, "include_dashboard": False}
        if address:
            check_reachable(address)
            options.update(address=address, runtime_env=runtime_env(remote=True))
        else:
            options.update(runtime_env=runtime_env(remote=False))
        try:
            self.ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(
                f"cannot start or join Ray ({first}); check --ray-address / RAY_ADDRESS (`ray "
                "status` on the cluster) and, for a cluster with token authentication, set "
                "RAY_AUTH_TOKEN to its token (`ray get-auth-token` there)"
            ) from None
        self._owns_session = True

    def _check_resources(self) -> None:
        """One line if no alive node has the CPUs or GPUs a task asks for."""
        nodes = [n.get("Resources", {}) for n in self.ray.nodes() if n.get("Alive")]
        for name, key in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
            want = getattr(self.execution, name)
            have = max((float(n.get(key, 0.0)) for n in nodes), default=0.0)
            if want > have:
                raise UserError(
                    f"each candidate asks for execution.{name} {want:g} but no node of the Ray "
                    f"cluster has more than {have:g} {key}(s); lower execution.{name} or add "
                    "nodes that have them"
                )

    def run(self, jobs: Sequence[Job]) -> Iterator[JobResult]:
        ray, queue = self.ray, list(reversed(longest_first(jobs)))
        running: dict[Any, Job] = {}
        try:
            while queue or running:
                while queue and len(running) < self.workers:
                    job = queue.pop()
                    running[self._task.remote(job)] = job
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    yield self._result(ref, running.pop(ref))
        finally:
            for ref in running:
                ray.cancel(ref, force=True)  # abandoned (the caller stopped early)

    def _result(self, ref: Any, job: Job) -> JobResult:
        exceptions = self.ray.exceptions
        try:
            result: JobResult = self.ray.get(ref)
        except exceptions.RayTaskError as err:
            cause = err.cause
            if isinstance(cause, UserError):
                raise UserError(str(cause)) from None
            raise RuntimeError(f"a Ray task failed on {job.arch}: {err}") from None
        except exceptions.RayError as err:  # the worker or node died, more than max_retries times
            attempts = self.max_retries + 1
            reason = (
                f"the Ray worker died in each of {attempts} attempts ({type(err).__name__}: "
                f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}); raise "
                "execution.max_retries or give the workers more memory"
            )
            return lost_result(job, attempts, reason)
        return result

    def close(self) -> None:
        if self._owns_session and self.ray.is_initialized():
            self.ray.shutdown()
        self._owns_session = False


EXECUTORS.add("ray", RayExecutor)
