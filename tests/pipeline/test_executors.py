"""Scheduling tasks on an executor, and the Dask executor on a LocalCluster giving the evidence
the local process pool gives."""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import pytest

from mmm_evidence.pipeline.executors import (
    ExecutorError,
    make_executor,
    run_tasks,
    schedule_order,
)
from tests.fixtures.pipeline import experiment as builder


@dataclass(frozen=True)
class Task:
    tenant: str
    notebook: str


class FakeExecutor:
    """Runs nothing until asked: records the order tasks start and what runs together."""

    name = "fake"

    def __init__(self, capacity: int, finish_order=None, seconds=None):
        self.capacity = capacity
        self.seconds = seconds or {}  # notebook -> how long its tasks take on the fake clock
        self.now = 0.0
        self.started: list[Task] = []
        self.max_running = 0
        self.running: list[tuple[Future, Task]] = []
        self.finish_order = finish_order
        self.quiet = 0  # how many waits end without a finished task

    def submit(self, fn, task):
        future: Future = Future()
        self.started.append(task)
        self.running.append((future, task))
        self.max_running = max(self.max_running, len(self.running))
        return future

    def wait_any(self, futures, timeout=None):
        if self.quiet and timeout is not None:  # nothing finishes within the timeout
            self.quiet -= 1
            self.now += timeout
            return []
        pick = 0
        if self.finish_order:
            names = [t for _, t in self.running]
            for wanted in self.finish_order:
                if wanted in names:
                    pick = names.index(wanted)
                    break
        future, task = self.running.pop(pick)
        self.now += self.seconds.get(task.notebook, 1.0)
        if task.notebook == "boom":
            future.set_exception(RuntimeError("worker died"))
        else:
            future.set_result(f"{task.tenant}/{task.notebook}")
        return [future]

    def result(self, future):
        return future.result()

    def close(self, cancel: bool = False) -> None:
        pass


TASKS = [Task(t, nb) for t in ("a", "b") for nb in ("validation", "baselines", "robustness")]


def test_first_notebooks_start_first_then_the_longest() -> None:
    expected = {("a", "baselines"): 5.0, ("b", "robustness"): 9.0, ("a", "robustness"): 7.0}
    order = schedule_order(TASKS, "validation", expected)
    assert [(t.tenant, t.notebook) for t in order] == [
        ("a", "validation"), ("b", "validation"), ("b", "robustness"), ("a", "robustness"),
        ("a", "baselines"), ("b", "baselines")]
    assert schedule_order(TASKS, None) == TASKS  # no first notebook, no timings: as listed


def test_run_tasks_respects_capacity_and_collects_every_result() -> None:
    executor = FakeExecutor(capacity=2)
    seen = {}
    run_tasks(TASKS, str, executor, lambda task, result: seen.update({task: result}),
              lambda task, exc: "failed", first="validation")
    assert executor.max_running == 2
    assert seen == {t: f"{t.tenant}/{t.notebook}" for t in TASKS}
    assert executor.started[:2] == [Task("a", "validation"), Task("b", "validation")]


def test_a_long_wait_reports_what_is_running() -> None:
    # a big tenant's notebook can run for minutes: the run says what it is waiting for
    executor = FakeExecutor(capacity=2)
    executor.quiet = 2
    waits = []
    run_tasks(TASKS[:3], str, executor, lambda task, result: None, lambda task, exc: None,
              first="validation", clock=lambda: executor.now,
              on_wait=lambda running: waits.append(running), wait_seconds=60.0)
    assert [[(t.tenant, t.notebook, s) for t, s in w] for w in waits] == [
        [("a", "validation", 60.0), ("a", "baselines", 60.0)],
        [("a", "validation", 120.0), ("a", "baselines", 120.0)]]
    # without on_wait, nothing waits with a timeout
    quiet = FakeExecutor(capacity=2)
    quiet.quiet = 5
    run_tasks(TASKS[:3], str, quiet, lambda task, result: None, lambda task, exc: None)
    assert quiet.quiet == 5


def test_a_tenants_notebooks_wait_for_its_first_unless_a_worker_would_idle() -> None:
    executor = FakeExecutor(capacity=2, finish_order=[Task("b", "validation")])
    run_tasks(TASKS, str, executor, lambda task, result: None, lambda task, exc: None,
              first="validation")
    # b's validation finishes first: b's notebooks go before a's, whose validation still runs
    assert executor.started[2] == Task("b", "baselines")
    single = FakeExecutor(capacity=2)
    one_tenant = [t for t in TASKS if t.tenant == "a"]
    run_tasks(one_tenant, str, single, lambda task, result: None, lambda task, exc: None,
              first="validation")
    # one tenant: the second worker starts its baselines rather than idle
    assert single.started[:2] == [Task("a", "validation"), Task("a", "baselines")]


def test_a_cold_run_learns_which_notebooks_are_long() -> None:
    """No earlier timings: once a notebook's first task has finished, its other tenants'
    tasks are ordered by how long it took, longest first, so short ones are left for the end
    (where one worker would otherwise idle behind a long one)."""
    tasks = [Task(t, nb) for t in ("a", "b", "c") for nb in ("validation", "short", "long")]
    executor = FakeExecutor(capacity=1, seconds={"validation": 5.0, "short": 1.0,
                                                 "long": 9.0})
    run_tasks(tasks, str, executor, lambda task, result: None, lambda task, exc: None,
              first="validation", clock=lambda: executor.now)
    assert [f"{t.tenant}/{t.notebook}" for t in executor.started] == [
        "a/validation", "b/validation", "c/validation",  # first notebooks first
        "a/short", "a/long",  # not timed yet: in order, and now their times are known
        "b/long", "c/long", "b/short", "c/short"]  # the longest first
    # timings from an earlier run still come first, and order the untimed ones too
    executor = FakeExecutor(capacity=1, seconds={"validation": 5.0, "short": 1.0,
                                                 "long": 9.0})
    run_tasks(tasks, str, executor, lambda task, result: None, lambda task, exc: None,
              first="validation", expected={("a", "short"): 20.0},
              clock=lambda: executor.now)
    assert [f"{t.tenant}/{t.notebook}" for t in executor.started][3:6] == [
        "a/long", "a/short", "b/long"]


def test_a_dead_worker_becomes_a_result() -> None:
    executor = FakeExecutor(capacity=1)
    seen = {}
    run_tasks([Task("a", "boom")], str, executor, lambda task, result: seen.update({task: result}),
              lambda task, exc: f"error: {exc}")
    assert seen == {Task("a", "boom"): "error: worker died"}


def test_unknown_executor_and_misplaced_scheduler_are_refused() -> None:
    with pytest.raises(ExecutorError, match="unknown executor 'spark'"):
        make_executor("spark", 2)
    with pytest.raises(ExecutorError, match="--scheduler is for the Dask executor"):
        make_executor("local", 2, "tcp://127.0.0.1:8786")


# --------------------------------------------------------------------------- Dask


ARTIFACTS = ("validation_report.json", "baseline_metrics.json", "robustness_report.json",
             "robustness_suite.log")


@pytest.mark.slow
def test_dask_local_cluster_gives_the_local_executors_evidence(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    from mmm_evidence.config import load_experiment
    from mmm_evidence.evidence import write_run_artifacts
    from mmm_evidence.pipeline import run_experiment

    params = builder.build_experiment(tmp_path, ["alpha", "beta", "gamma"],
                                         notebooks=("validation", "baselines", "robustness"))
    runs = {}
    for name in ("local", "dask"):
        out = tmp_path / name
        result = run_experiment(load_experiment(params), output_dir=out, workers=2,
                                progress=lambda line: None, executor=name)
        write_run_artifacts(result)
        runs[name] = (result, out)
    (local, local_out), (dask, dask_out) = runs["local"], runs["dask"]
    assert dask.executor == {"name": "dask", "workers": 2, "scheduler": "LocalCluster"}
    assert local.executor == {"name": "local", "workers": 2}
    assert not any(t.cached for t in dask.tasks)
    for name in ARTIFACTS:
        assert (local_out / name).read_bytes() == (dask_out / name).read_bytes(), name
    assert [(t.tenant, t.notebook, t.status, t.error) for t in dask.tasks] == \
        [(t.tenant, t.notebook, t.status, t.error) for t in local.tasks]
    assert (dask_out / "tenants" / "gamma" / "validation.html").is_file()  # failed, kept


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_end_when_the_run_is_killed_outright(tmp_path: Path) -> None:
    """SIGKILL leaves the pool no chance to shut down: the workers must notice on their own."""
    import signal
    import subprocess
    import textwrap

    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import os, time
        from mmm_evidence.pipeline.executors import LocalExecutor
        if __name__ == "__main__":
            pool = LocalExecutor(1)
            print(pool._pool.submit(os.getpid).result(), flush=True)
            pool._pool.submit(time.sleep, 60)
            time.sleep(60)
    """), encoding="utf-8")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        if Path(f"/proc/{worker}/stat").is_file() and \
                Path(f"/proc/{worker}/stat").read_text().split()[2] == "Z":
            return  # ended, not yet reaped by its new parent
        time.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    pytest.fail(f"worker {worker} outlived its killed parent by 10 s")


def test_the_waiting_line_names_what_runs_longest_first() -> None:
    from mmm_evidence.pipeline.runner import waiting_line

    line = waiting_line(7, 20, [(Task("big", "validation"), 61.4),
                                (Task("big", "robustness"), 250.0)])
    assert line == ("[7/20] still running: big · robustness (4 min 10 s), "
                    "big · validation (1 min 01 s)")
    assert waiting_line(0, 1, [(Task("a", "fairness"), 42.0)]).endswith("a · fairness (42 s)")
