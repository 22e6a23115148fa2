"""Run every notebook for every tenant with papermill, in parallel, and collect what they glued.

Layout of a run's output folder::

    <output_dir>/data/<tenant>/...                 generated inputs of synthetic tenants
    <output_dir>/tenants/<tenant>/<notebook>.ipynb executed notebook (kept when it failed)
    <output_dir>/tenants/<tenant>/<notebook>.html  offline HTML export of it

One kernel per tenant × notebook, each in a worker process of a ``ProcessPoolExecutor``
(spawned, so no state leaks from the caller). Kernels get single-threaded BLAS, a fixed hash
seed and the inline matplotlib backend, so a rerun reproduces the same numbers.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import mmm_evidence
from mmm_evidence.config import ExperimentConfig
from mmm_evidence.pipeline.artifacts import compute_run_id, git_commit
from mmm_evidence.pipeline.collect import (
    REQUIRED_SCRAPS,
    VALIDATION_NOTEBOOK,
    CollectError,
    missing_scraps,
    read_scraps,
)
from mmm_evidence.pipeline.kernel import ensure_kernel, kernel_info

#: Environment of every notebook kernel (set in the worker processes, inherited by kernels).
KERNEL_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
}

OK = "ok"
ERROR = "error"

__all__ = ["KERNEL_ENV", "NotebookTask", "TaskResult", "RunResult", "run_experiment",
           "execute_notebook_task", "tenant_output_dir"]


def tenant_output_dir(output_dir: str | Path, tenant: str) -> Path:
    return Path(output_dir) / "tenants" / tenant


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


@dataclass(frozen=True)
class NotebookTask:
    """One notebook to execute for one tenant (picklable: sent to a worker process)."""

    tenant: str
    notebook: str
    source: Path
    ipynb: Path
    html: Path
    parameters: dict[str, Any]
    kernel_name: str
    timeout_seconds: int
    cwd: Path


@dataclass
class TaskResult:
    """What happened to one notebook task; ``seconds`` is wall-clock (manifest only)."""

    tenant: str
    notebook: str
    ipynb: Path
    html: Path
    status: str
    error: str | None = None
    seconds: float = 0.0
    execute_seconds: float = 0.0
    scraps: dict[str, Any] = field(default_factory=dict)

    @property
    def ipynb_exists(self) -> bool:
        return self.ipynb.is_file()

    @property
    def html_exists(self) -> bool:
        return self.html.is_file()


def _set_kernel_environment() -> None:
    os.environ.update(KERNEL_ENV)


@contextmanager
def _kernel_environment() -> Iterator[None]:
    """``KERNEL_ENV`` in os.environ (inherited by the kernel) for the duration; then restored."""
    saved = {key: os.environ.get(key) for key in KERNEL_ENV}
    os.environ.update(KERNEL_ENV)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def kernel_transport_config(socket_dir: str | Path):  # -> traitlets.config.Config
    """Traitlets config that makes the kernel talk over IPC sockets in ``socket_dir``.

    With TCP, kernels started at the same moment by different worker processes can pick the
    same free port ("Address already in use", then a 60 s start timeout); unix-domain sockets
    in a private folder cannot collide. Windows has no ZeroMQ IPC: TCP is kept there.
    """
    from traitlets.config import Config

    if os.name == "nt":
        return Config()
    return Config({"KernelManager": {"transport": "ipc",
                                     "ip": str(Path(socket_dir) / "kernel")}})


def execute_notebook_task(task: NotebookTask) -> TaskResult:
    """Execute one notebook with papermill, export it to HTML, read its scraps.

    Never raises for a failing notebook: the error (``ename: evalue``) is returned and the
    partial notebook and its HTML are kept.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from mmm_evidence.pipeline.export import export_notebook_html

    start = time.perf_counter()
    status, error = OK, None
    task.ipynb.parent.mkdir(parents=True, exist_ok=True)
    with _kernel_environment(), tempfile.TemporaryDirectory(prefix="mmm-kernel-") as sockets:
        try:
            papermill.execute_notebook(
                str(task.source), str(task.ipynb), parameters=task.parameters,
                kernel_name=task.kernel_name, language="python", progress_bar=False,
                log_output=False, execution_timeout=task.timeout_seconds, cwd=str(task.cwd),
                config=kernel_transport_config(sockets),
            )
        except PapermillExecutionError as exc:
            status, error = ERROR, f"{exc.ename}: {exc.evalue}"
        except Exception as exc:  # kernel died, timeout, bad notebook file, ...
            status, error = ERROR, f"{type(exc).__name__}: {exc}"
    execute_seconds = time.perf_counter() - start

    scraps: dict[str, Any] = {}
    if task.ipynb.is_file():
        try:
            export_notebook_html(task.ipynb, task.html)
        except Exception as exc:
            detail = f"HTML export failed: {type(exc).__name__}: {exc}"
            status, error = ERROR, error or detail
        try:
            scraps = read_scraps(task.ipynb)
        except CollectError as exc:
            status, error = ERROR, error or str(exc)
        if status == OK and task.notebook in REQUIRED_SCRAPS:
            missing = missing_scraps(scraps, REQUIRED_SCRAPS[task.notebook])
            if missing:
                status, error = ERROR, f"notebook did not glue: {', '.join(missing)}"
    return TaskResult(tenant=task.tenant, notebook=task.notebook, ipynb=task.ipynb,
                      html=task.html, status=status, error=error,
                      seconds=time.perf_counter() - start, execute_seconds=execute_seconds,
                      scraps=scraps)


@dataclass
class RunResult:
    """Everything a run produced; artifacts are built from it (see ``pipeline.artifacts``)."""

    exp: ExperimentConfig
    output_dir: Path
    run_id: str
    git_commit: str | None
    kernel: dict[str, Any]
    workers: int
    started: str
    finished: str
    seconds: float
    data_hashes: dict[str, dict[str, str]]
    data_errors: dict[str, str]
    data_seconds: dict[str, float]
    notebook_bytes: dict[str, bytes]
    tasks: list[TaskResult]
    kernel_env: dict[str, str] = field(default_factory=lambda: dict(KERNEL_ENV))

    def tasks_of(self, tenant: str) -> list[TaskResult]:
        return [t for t in self.tasks if t.tenant == tenant]

    def task(self, tenant: str, notebook: str) -> TaskResult | None:
        for t in self.tasks:
            if t.tenant == tenant and t.notebook == notebook:
                return t
        return None

    def scraps(self, tenant: str, notebook: str = VALIDATION_NOTEBOOK) -> dict[str, Any]:
        """What ``notebook`` glued for ``tenant`` ({} when it did not run)."""
        task = self.task(tenant, notebook)
        return dict(task.scraps) if task else {}

    def errors(self) -> list[dict[str, str | None]]:
        """[{tenant, notebook, error}]: data errors (notebook None) then notebook errors."""
        out: list[dict[str, str | None]] = []
        for tenant in self.exp.tenants:
            if tenant in self.data_errors:
                out.append({"tenant": tenant, "notebook": None,
                            "error": f"data: {self.data_errors[tenant]}"})
            for t in self.tasks_of(tenant):
                if t.status != OK:
                    out.append({"tenant": tenant, "notebook": t.notebook, "error": t.error})
        return out

    @property
    def errored(self) -> bool:
        return bool(self.data_errors) or any(t.status != OK for t in self.tasks)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _prepare_data(exp: ExperimentConfig, output_dir: Path, progress: Callable[[str], Any]
                  ) -> tuple[dict[str, dict[str, str]], dict[str, str], dict[str, float]]:
    from mmm_evidence.data import prepare_tenant_data

    hashes: dict[str, dict[str, str]] = {}
    errors: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for tenant in exp.tenants:
        start = time.perf_counter()
        try:
            hashes[tenant] = prepare_tenant_data(exp, tenant, output_dir)
        except (ValueError, OSError) as exc:  # DataError and ConfigError are ValueErrors
            errors[tenant] = str(exc) or type(exc).__name__
        except Exception as exc:  # a bug in a loader/generator: record it, keep going
            errors[tenant] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        seconds[tenant] = time.perf_counter() - start
        if tenant in errors:
            progress(f"data · {tenant} · ERROR: {_first_line(errors[tenant])}")
    return hashes, errors, seconds


def _tasks(exp: ExperimentConfig, output_dir: Path, tenants: list[str]) -> list[NotebookTask]:
    tasks = []
    for tenant in tenants:
        folder = tenant_output_dir(output_dir, tenant)
        for notebook in exp.notebooks:
            tasks.append(NotebookTask(
                tenant=tenant, notebook=notebook, source=exp.notebook_path(notebook),
                ipynb=folder / f"{notebook}.ipynb", html=folder / f"{notebook}.html",
                parameters={"experiment_config": str(exp.path), "tenant": tenant,
                            "output_dir": str(output_dir), "seed": exp.seed},
                kernel_name=exp.runner.kernel_name, timeout_seconds=exp.runner.timeout_seconds,
                cwd=exp.notebooks_dir,
            ))
    return tasks


def _progress_line(done: int, total: int, result: TaskResult) -> str:
    outcome = OK if result.status == OK else f"ERROR: {_first_line(result.error or '')}"
    return f"[{done}/{total}] {result.tenant} · {result.notebook} · {outcome} · " \
           f"{result.seconds:.1f} s"


def run_experiment(exp: ExperimentConfig, *, output_dir: str | Path | None = None,
                   workers: int | None = None, progress: Callable[[str], Any] = print
                   ) -> RunResult:
    """Prepare every tenant's data, execute every notebook × tenant, collect the scraps.

    A tenant whose data fails is recorded (its notebooks are skipped); a notebook that raises
    is recorded with its error and its partial notebook/HTML are kept; the others continue.
    """
    if exp.path is None:
        raise ValueError("the experiment config has no path; load it with load_experiment()")
    started, clock = _now(), time.perf_counter()
    output_dir = Path(output_dir or exp.output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)

    ensure_kernel(exp.runner.kernel_name)
    kernel = kernel_info(exp.runner.kernel_name)
    notebook_bytes = {nb: exp.notebook_path(nb).read_bytes() for nb in exp.notebooks}

    data_hashes, data_errors, data_seconds = _prepare_data(exp, output_dir, progress)
    for task in _tasks(exp, output_dir, exp.tenants):  # a previous run's evidence must not
        for stale in (task.ipynb, task.html):         # pass for this run's
            stale.unlink(missing_ok=True)
    runnable = [t for t in exp.tenants if t not in data_errors]
    tasks = _tasks(exp, output_dir, runnable)
    n_workers = max(1, min(workers or exp.runner.workers or os.cpu_count() or 1,
                           len(tasks) or 1))
    progress(f"running {len(tasks)} notebook(s) for {len(runnable)} tenant(s) with "
             f"{n_workers} worker(s) -> {output_dir}")

    results: dict[tuple[str, str], TaskResult] = {}
    if tasks:
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=get_context("spawn"),
                                 initializer=_set_kernel_environment) as pool:
            futures: dict[Future, NotebookTask] = {
                pool.submit(execute_notebook_task, task): task for task in tasks}
            try:
                for done, future in enumerate(as_completed(futures), start=1):
                    task = futures[future]
                    try:
                        result = future.result()
                    except Exception as exc:  # the worker process itself died
                        result = TaskResult(task.tenant, task.notebook, task.ipynb, task.html,
                                            ERROR, f"{type(exc).__name__}: {exc}")
                    results[(task.tenant, task.notebook)] = result
                    progress(_progress_line(done, len(tasks), result))
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    ordered = [results[(t.tenant, t.notebook)] for t in tasks]
    run_id = compute_run_id(exp.params_hash(), data_hashes, notebook_bytes,
                            mmm_evidence.__version__)
    return RunResult(
        exp=exp, output_dir=output_dir, run_id=run_id, git_commit=git_commit(exp.path),
        kernel=kernel, workers=n_workers, started=started, finished=_now(),
        seconds=time.perf_counter() - clock, data_hashes=data_hashes, data_errors=data_errors,
        data_seconds=data_seconds, notebook_bytes=notebook_bytes, tasks=ordered,
    )
