"""Where tenant × notebook tasks run: a local process pool, or a Dask distributed cluster.

Both executors take the same picklable task and the same task function
(``runner.execute_notebook_task``) and hand back the same ``TaskResult``; ``run_tasks`` schedules
tasks on either one and collects the results in one way.

Scheduling (``run_tasks``): at most ``capacity`` tasks are in flight (the pool's workers, or
the cluster's worker threads), so the order below is the order they start:

1. a tenant's *first* notebook (``validation``) before its other notebooks: it fits and caches
   the tenant's models, which the others then read instead of refitting;
2. among the tasks that may start, the longest expected first, so no long task is left for
   the end: expected are the seconds of the same task in the previous run's manifest, when
   there is one, else the mean seconds of the same notebook's tasks finished in this run
   (a cold run learns them as it goes), else in the previous run; a notebook with no time
   at all starts before those with one (in the experiment's order), so its time gets known;
3. when every task left waits for a first notebook that is still running and a worker is
   free, the next one starts anyway (it fits what is not cached yet): no core is left idle.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, Protocol

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "DaskExecutor", "ExecutorError",
           "make_executor", "run_tasks", "schedule_order"]

EXECUTORS = ("local", "dask")


class ExecutorError(RuntimeError):
    """The executor cannot be set up (Dask missing, scheduler unreachable, ...)."""


class Executor(Protocol):
    name: str
    capacity: int

    def submit(self, fn: Callable, task: Any) -> Any: ...

    def wait_any(self, futures: Sequence[Any], timeout: float | None = None) -> list[Any]: ...

    def result(self, future: Any) -> Any: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def _single_threaded_blas() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def exit_with_parent(parent: int) -> None:
    """On Linux, ask the kernel to send this process SIGTERM when its parent dies
    (``prctl(PR_SET_PDEATHSIG)``): a worker whose ``mmm-evidence run`` was killed outright
    (SIGKILL, no chance to shut the pool down) ends instead of idling forever, and its
    kernel template, reading the worker's socket, ends with it. ``parent``: the pid the
    parent had when it started this process. Elsewhere: nothing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _worker_init(parent: int) -> None:
    _single_threaded_blas()
    exit_with_parent(parent)


class LocalExecutor:
    """A ``ProcessPoolExecutor`` of ``workers`` spawned processes (no state leaks from the
    caller)."""

    name = "local"

    def __init__(self, workers: int):
        self.capacity = max(1, int(workers))
        self._pool = ProcessPoolExecutor(max_workers=self.capacity,
                                         mp_context=get_context("spawn"),
                                         initializer=_worker_init,
                                         initargs=(os.getpid(),))

    def submit(self, fn: Callable, task: Any) -> Future:
        return self._pool.submit(fn, task)

    def wait_any(self, futures: Sequence[Future], timeout: float | None = None
                 ) -> list[Future]:
        done, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        return list(done)

    def result(self, future: Future) -> Any:
        return future.result()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "workers": self.capacity}

    def close(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


class DaskExecutor:
    """Tasks submitted to a Dask distributed cluster: the scheduler at ``scheduler`` (e.g.
    ``tcp://10.0.0.5:8786``), or a ``LocalCluster`` of ``workers`` single-threaded worker
    processes when no address is given. The workers need this package, its Jupyter kernel and
    the run's folders at the same paths (a shared file system)."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ExecutorError("the Dask executor needs dask.distributed: pip install "
                                "'mmm-evidence[dask]'") from exc
        self.scheduler = scheduler
        self._cluster = None
        try:
            if scheduler:
                self._client = Client(scheduler, timeout="30s")
            else:
                self._cluster = LocalCluster(n_workers=max(1, int(workers or 1)),
                                             threads_per_worker=1, processes=True,
                                             dashboard_address=None,
                                             silence_logs=logging.WARNING)
                self._client = Client(self._cluster)
        except (OSError, TimeoutError) as exc:
            if self._cluster is not None:
                self._cluster.close()
            where = scheduler or "a LocalCluster"
            raise ExecutorError(f"cannot connect to the Dask scheduler {where}: {exc}") from exc
        threads = self._client.nthreads()
        if not threads:
            self._client.wait_for_workers(1, timeout=60)
            threads = self._client.nthreads()
        self.capacity = max(1, sum(threads.values()))
        self.address = self._client.scheduler.address

    def submit(self, fn: Callable, task: Any) -> Any:
        return self._client.submit(fn, task, pure=False)

    def wait_any(self, futures: Sequence[Any], timeout: float | None = None) -> list[Any]:
        from distributed import wait as dask_wait

        try:
            done, _ = dask_wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        return list(done)

    def result(self, future: Any) -> Any:
        return future.result()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "workers": self.capacity,
                "scheduler": self.scheduler or "LocalCluster"}

    def close(self, cancel: bool = False) -> None:
        try:
            self._client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()


def make_executor(name: str, workers: int, scheduler: str | None = None) -> Executor:
    """``local`` (a process pool of ``workers``) or ``dask`` (``scheduler``, or a LocalCluster
    of ``workers``)."""
    if name == "local":
        if scheduler:
            raise ExecutorError("--scheduler is for the Dask executor (--executor dask)")
        return LocalExecutor(workers)
    if name == "dask":
        return DaskExecutor(scheduler, workers)
    raise ExecutorError(f"unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}")


def schedule_order(tasks: Iterable[Any], first: str | None,
                   expected: Mapping[tuple[str, str], float] | None = None) -> list[Any]:
    """Tasks in start order: every tenant's ``first`` notebook, then the rest; longest
    ``expected`` seconds first within each group (ties keep the experiment's order)."""
    tasks = list(tasks)
    expected = expected or {}
    index = {id(t): i for i, t in enumerate(tasks)}

    def key(task: Any) -> tuple:
        return (task.notebook != first, -expected.get((task.tenant, task.notebook), 0.0),
                index[id(task)])

    return sorted(tasks, key=key)


def run_tasks(tasks: Sequence[Any], fn: Callable[[Any], Any], executor: Executor,
              on_result: Callable[[Any, Any], None],
              on_error: Callable[[Any, BaseException], Any],
              first: str | None = None,
              expected: Mapping[tuple[str, str], float] | None = None,
              clock: Callable[[], float] = time.perf_counter,
              on_wait: Callable[[list[tuple[Any, float]]], None] | None = None,
              wait_seconds: float = 60.0) -> None:
    """Run ``fn(task)`` for every task on ``executor`` in ``schedule_order``; call
    ``on_result(task, result)`` as each finishes (``on_error(task, exc)`` gives the result
    when the worker itself failed). Tasks without an ``expected`` time are ordered by the
    seconds (``clock``) the same notebook's tasks took so far in this run (see the module's
    docstring). ``on_wait([(task, seconds running), ...])`` is called whenever
    ``wait_seconds`` pass without a task finishing, so a long run is never silent."""
    expected = dict(expected or {})
    pending = schedule_order(tasks, first, expected)
    waiting_for = {t.tenant for t in pending if t.notebook == first}
    running: dict[Any, Any] = {}
    started: dict[Any, float] = {}
    took: dict[str, list[float]] = {}  # notebook -> seconds of its tasks finished in this run
    before: dict[str, list[float]] = {}  # notebook -> seconds of its tasks in the earlier run
    for (_, notebook), seconds in expected.items():
        before.setdefault(notebook, []).append(seconds)

    def estimate(task: Any) -> float | None:
        known = expected.get((task.tenant, task.notebook))
        if known is not None:
            return known
        seen = took.get(task.notebook) or before.get(task.notebook)
        return sum(seen) / len(seen) if seen else None

    def next_task() -> Any:
        ready = [i for i, task in enumerate(pending)
                 if task.notebook == first or task.tenant not in waiting_for]
        if not ready:
            return pending.pop(0)  # all blocked: start one anyway rather than idle
        firsts = [i for i in ready if pending[i].notebook == first]
        if firsts:
            return pending.pop(firsts[0])

        def key(i: int) -> tuple:
            seconds = estimate(pending[i])
            return (seconds is not None, -(seconds or 0.0), i)

        return pending.pop(min(ready, key=key))

    try:
        while pending or running:
            while pending and len(running) < executor.capacity:
                task = next_task()
                future = executor.submit(fn, task)
                running[future], started[future] = task, clock()
            done = executor.wait_any(list(running),
                                     timeout=wait_seconds if on_wait else None)
            if not done and on_wait is not None:
                now = clock()
                on_wait([(task, now - started[f]) for f, task in running.items()])
            for future in done:
                task = running.pop(future)
                took.setdefault(task.notebook, []).append(clock() - started.pop(future))
                if task.notebook == first:
                    waiting_for.discard(task.tenant)
                try:
                    result = executor.result(future)
                except Exception as exc:  # the worker process itself died
                    result = on_error(task, exc)
                on_result(task, result)
    except BaseException:
        executor.close(cancel=True)
        raise
