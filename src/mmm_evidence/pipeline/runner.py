"""Run every notebook for every tenant with papermill, in parallel, and collect what they glued.

Layout of a run's output folder::

    <output_dir>/data/<tenant>/...                 generated inputs of synthetic tenants
    <output_dir>/tenants/<tenant>/<notebook>.ipynb executed notebook (kept when it failed)
    <output_dir>/tenants/<tenant>/<notebook>.html  offline HTML export of it (and .reviewer.html)
    <output_dir>/.cache/tasks/<key>/               executed notebooks by content key (cache.py)
    <output_dir>/.cache/models/<tenant>/           the tenants' fitted models (models.py)

One fresh kernel per tenant × notebook. Tasks run on an executor (``executors.py``): a local
pool of spawned worker processes (default), or a Dask cluster; a tenant's validation notebook
is scheduled before its other notebooks, which then reuse the models it fitted. Kernels are
forked from a template process per worker that has already imported what the notebooks
import (``forkserver.py``, Linux), and get single-threaded BLAS, a fixed hash seed and the
inline matplotlib backend (``KERNEL_ENV``), so a rerun reproduces the same numbers. A task whose
inputs did not change since a run into the same folder is not executed: its notebook, HTML
and scraps come from the cache (``cache.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmm_evidence.config import ExperimentConfig
from mmm_evidence.pipeline.collect import (
    REQUIRED_SCRAPS,
    VALIDATION_NOTEBOOK,
    CollectError,
    missing_scraps,
    read_scraps,
)
from mmm_evidence.pipeline.files import MANIFEST_FILE, compute_run_id, git_commit
from mmm_evidence.pipeline.kernel import ensure_kernel, kernel_info
from mmm_evidence.pipeline.tasks import (
    ERROR,
    OK,
    NotebookTask,
    TaskResult,
    task_outputs,
    tenant_output_dir,
)

#: Environment of every notebook kernel (passed to the kernel; the caller's is not changed).
KERNEL_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
}

#: The papermill engine of the runner (``_register_engine``).
ENGINE_NAME = "mmm-evidence"
#: Set to 0 to start every kernel cold instead of forking it from a template (forkserver.py).
FORK_ENV = "MMM_EVIDENCE_FORK_KERNELS"

__all__ = ["KERNEL_ENV", "check_source_date_epoch", "NotebookTask", "TaskResult", "RunResult",
           "run_experiment", "execute_notebook_task", "tenant_output_dir", "task_outputs",
           "notebook_scraps"]


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


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


_ENGINE_REGISTERED = False


def _register_engine() -> None:
    """Register papermill engine ``ENGINE_NAME``: papermill's nbclient engine, except that
    the output notebook is written when the run ends (finished, failed or timed out) instead
    of after every cell — each save serialises the whole notebook, images included."""
    global _ENGINE_REGISTERED
    if _ENGINE_REGISTERED:
        return
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class FinalSaveManager(NotebookExecutionManager):
        _final = False

        def save(self, **kwargs: Any) -> None:
            if self._final:
                super().save(**kwargs)

        def notebook_complete(self, **kwargs: Any) -> None:
            self._final = True
            super().notebook_complete(**kwargs)

    class Engine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True,
                             log_output=False, autosave_cell_every=30, **kwargs):
            nb_man = FinalSaveManager(nb, output_path=output_path, progress_bar=progress_bar,
                                      log_output=log_output,
                                      autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output,
                                             **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(ENGINE_NAME, Engine)
    _ENGINE_REGISTERED = True


def execute_notebook_task(task: NotebookTask) -> TaskResult:
    """Execute one notebook with papermill, export it to HTML, read its scraps.

    Never raises for a failing notebook: the error (``ename: evalue``) is returned and the
    partial notebook and its HTML are kept. The kernel gets ``KERNEL_ENV`` explicitly (this
    process's environment is not changed) and is shut down at once when the notebook ends.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from mmm_evidence.pipeline.export import (
        EVIDENCE_LINKS,
        export_notebook_html,
        export_reviewer_html,
        reviewer_html_path,
    )
    from mmm_evidence.pipeline.forkserver import kernel_manager_class

    _register_engine()
    start = time.perf_counter()
    status, error = OK, None
    task.ipynb.parent.mkdir(parents=True, exist_ok=True)
    manager = kernel_manager_class(KERNEL_ENV, task.preload, fork=task.fork_kernels)
    with tempfile.TemporaryDirectory(prefix="mmm-kernel-") as sockets:
        try:
            papermill.execute_notebook(
                str(task.source), str(task.ipynb), parameters=task.parameters,
                engine_name=ENGINE_NAME, kernel_name=task.kernel_name, language="python",
                progress_bar=False, log_output=False, execution_timeout=task.timeout_seconds,
                cwd=str(task.cwd), config=kernel_transport_config(sockets),
                kernel_manager_class=manager, shutdown_kernel="immediate",
            )
        except PapermillExecutionError as exc:
            status, error = ERROR, f"{exc.ename}: {exc.evalue}"
        except Exception as exc:  # kernel died, timeout, bad notebook file, ...
            status, error = ERROR, f"{type(exc).__name__}: {exc}"
            if type(exc).__name__ == "CellTimeoutError":  # nbclient's, raised per cell
                error += (f" (runner.timeout_seconds = {task.timeout_seconds}: the longest "
                          f"any one cell of a notebook may run; raise it in the experiment's "
                          f"parameter file for a larger tenant)")
    execute_seconds = time.perf_counter() - start

    scraps: dict[str, Any] = {}
    reviewer_html: Path | None = None
    if task.ipynb.is_file():
        try:
            title = f"{task.tenant} · {task.notebook}"  # tell 20 open tabs apart
            export_notebook_html(task.ipynb, task.html, title=title, links=EVIDENCE_LINKS)
            reviewer_html = export_reviewer_html(task.ipynb, reviewer_html_path(task.html),
                                                 title=title, links=EVIDENCE_LINKS)
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
        if status == OK and "tenant" in scraps and scraps["tenant"] != task.tenant:
            # an edited parameters cell can leave the notebook computing another tenant
            status, error = ERROR, (f"the notebook glued results for tenant "
                                    f"{scraps['tenant']!r}, but it ran for {task.tenant!r}: "
                                    f"is its parameters cell still tagged 'parameters' and "
                                    f"does it still define 'tenant'?")
    return TaskResult(tenant=task.tenant, notebook=task.notebook, ipynb=task.ipynb,
                      html=task.html, status=status, error=error,
                      seconds=time.perf_counter() - start, execute_seconds=execute_seconds,
                      scraps=scraps, reviewer_html=reviewer_html)


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
    executor: dict[str, Any] = field(default_factory=lambda: {"name": "local"})
    cache: dict[str, Any] = field(default_factory=lambda: {"enabled": False})

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


def notebook_scraps(result: RunResult, tenant: str, notebook: str) -> tuple[dict | None, str]:
    """A notebook's scraps for ``tenant`` — or None and why they are missing."""
    if notebook not in result.exp.notebooks:
        return None, f"the {notebook} notebook is not in this experiment's notebooks"
    if tenant in result.data_errors:
        return None, f"the tenant's data errored: the {notebook} notebook did not run"
    task = result.task(tenant, notebook)
    if task is None:
        return None, f"the {notebook} notebook did not run"
    if task.status != "ok":
        return None, f"the {notebook} notebook errored (see errors)"
    return dict(task.scraps), ""


def _now() -> str:
    """The current UTC time, or the time SOURCE_DATE_EPOCH fixes (reproducible-builds.org):
    the run's recorded times and the date on the model card then come from that variable,
    so that two runs on different days give byte-identical cards."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not epoch:
        return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    problem = (None if epoch.isascii() and epoch.isdigit()  # '²' is a digit to str.isdigit
               else "expected a whole number of seconds since 1970-01-01 UTC")
    if problem is None:
        try:
            return dt.datetime.fromtimestamp(int(epoch), dt.UTC).isoformat(timespec="seconds")
        except (OverflowError, OSError, ValueError):
            problem = "beyond the dates a clock can show"
    raise ValueError(f"environment variable SOURCE_DATE_EPOCH={epoch!r}: {problem}")


def check_source_date_epoch() -> str | None:
    """What is wrong with the environment's SOURCE_DATE_EPOCH (None: unset or fine), so a
    run can refuse it before it starts."""
    try:
        _now()
    except ValueError as exc:
        return str(exc)
    return None


def _prepare_data(exp: ExperimentConfig, output_dir: Path, progress: Callable[[str], Any],
                  cache: bool = True
                  ) -> tuple[dict[str, dict[str, str]], dict[str, str], dict[str, float]]:
    from mmm_evidence.pipeline.cache import DataStamps

    stamps = DataStamps(output_dir)
    hashes: dict[str, dict[str, str]] = {}
    errors: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for tenant in exp.tenants:
        start = time.perf_counter()
        if tenant in exp.tenant_errors:  # its tenant file could not be loaded
            errors[tenant] = exp.tenant_errors[tenant]
            seconds[tenant] = 0.0
            progress(f"data · {tenant} · ERROR: {_first_line(errors[tenant])}")
            continue
        known = stamps.lookup(exp, tenant) if cache else None
        if known is not None:  # generated/validated by an earlier run, files unchanged
            hashes[tenant] = known
            seconds[tenant] = time.perf_counter() - start
            continue
        try:
            from mmm_evidence.data import prepare_tenant_data
            from mmm_evidence.evaluation.splits import check_split_sizes

            cfg = exp.tenant(tenant)

            def check(panel, cfg=cfg):
                check_split_sizes(panel, exp.evaluation, str(cfg.data.source.csv), cfg.kpi)

            hashes[tenant] = prepare_tenant_data(exp, tenant, output_dir, check)
            stamps.store(exp, tenant, hashes[tenant])
        except (ValueError, OSError) as exc:  # DataError and ConfigError are ValueErrors
            errors[tenant] = str(exc) or type(exc).__name__
        except Exception as exc:  # a bug in a loader/generator: record it, keep going
            errors[tenant] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        seconds[tenant] = time.perf_counter() - start
        if tenant in errors:
            progress(f"data · {tenant} · ERROR: {_first_line(errors[tenant])}")
    return hashes, errors, seconds


def _tasks(exp: ExperimentConfig, output_dir: Path, tenants: list[str],
           preload: tuple[str, ...] = (), fork_kernels: bool = True) -> list[NotebookTask]:
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
                cwd=exp.notebooks_dir, preload=preload, fork_kernels=fork_kernels,
            ))
    return tasks


def _progress_line(done: int, total: int, result: TaskResult) -> str:
    outcome = OK if result.status == OK else f"ERROR: {_first_line(result.error or '')}"
    timing = "cached" if result.cached else f"{result.seconds:.1f} s"
    return f"[{done}/{total}] {result.tenant} · {result.notebook} · {outcome} · {timing}"


#: Seconds without a finished notebook after which the run says what it is still running.
WAITING_LINE_SECONDS = 60.0


def waiting_line(done: int, total: int, running: list[tuple[Any, float]]) -> str:
    """The progress line of a run that waits: what runs, longest first, and for how long."""
    def duration(seconds: float) -> str:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"

    shown = ", ".join(f"{task.tenant} · {task.notebook} ({duration(seconds)})"
                      for task, seconds in sorted(running, key=lambda item: -item[1]))
    return f"[{done}/{total}] still running: {shown}"


def previous_task_seconds(output_dir: Path) -> dict[tuple[str, str], float]:
    """{(tenant, notebook): seconds} executed in the last run into ``output_dir`` (from its
    ``run_manifest.json``; {} when there is none): the scheduler starts long tasks first."""
    try:
        manifest = json.loads((output_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        return {(t["tenant"], t["notebook"]): float(t["seconds"])
                for t in manifest.get("tasks", [])
                if not t.get("cached") and t.get("seconds")}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _worker_failure(task: NotebookTask, exc: BaseException) -> TaskResult:
    return TaskResult(task.tenant, task.notebook, task.ipynb, task.html, ERROR,
                      f"{type(exc).__name__}: {exc}")


def run_experiment(exp: ExperimentConfig, *, output_dir: str | Path | None = None,
                   workers: int | None = None, progress: Callable[[str], Any] = print,
                   cache: bool = True, executor: str = "local", scheduler: str | None = None,
                   fork_kernels: bool | None = None,
                   task_function: Callable[[NotebookTask], TaskResult] | None = None
                   ) -> RunResult:
    """Prepare every tenant's data, execute every notebook × tenant, collect the scraps.

    A tenant whose data fails is recorded (its notebooks are skipped); a notebook that raises
    is recorded with its error and its partial notebook/HTML are kept; the others continue.

    ``cache``: a task whose key (``cache.task_key``) has an entry in ``<output_dir>/.cache``
    is restored instead of executed; ``cache=False`` executes everything, refits every model
    and refreshes the entries. ``executor``: ``local`` (a pool of ``workers`` processes) or
    ``dask`` (the cluster at ``scheduler``, or a LocalCluster of ``workers``).
    ``fork_kernels=False`` starts every kernel cold (default: forked where possible, unless
    the environment sets ``MMM_EVIDENCE_FORK_KERNELS=0``). ``task_function`` replaces
    ``execute_notebook_task`` (the benchmark's in-process floor).
    """
    from mmm_evidence.pipeline.cache import (
        TaskCache,
        cache_dir,
        model_cache_dir,
        notebook_environment,
        package_fingerprint,
        task_key,
    )
    from mmm_evidence.pipeline.executors import make_executor, run_tasks
    from mmm_evidence.pipeline.forkserver import kernel_preload

    if exp.path is None:
        raise ValueError("the experiment config has no path; load it with load_experiment()")
    if fork_kernels is None:
        fork_kernels = os.environ.get(FORK_ENV, "1").strip().lower() not in ("0", "false", "no")
    started, clock = _now(), time.perf_counter()
    output_dir = Path(output_dir or exp.output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)

    ensure_kernel(exp.runner.kernel_name, KERNEL_ENV)
    kernel = kernel_info(exp.runner.kernel_name)
    notebook_bytes = {nb: exp.notebook_path(nb).read_bytes() for nb in exp.notebooks}

    data_hashes, data_errors, data_seconds = _prepare_data(exp, output_dir, progress, cache)
    for task in _tasks(exp, output_dir, exp.tenants):  # a previous run's evidence must not
        for stale in task_outputs(task):              # pass for this run's
            stale.unlink(missing_ok=True)
    runnable = [t for t in exp.tenants if t not in data_errors]
    tasks = _tasks(exp, output_dir, runnable, fork_kernels=fork_kernels)
    task_cache = TaskCache(output_dir)
    keys = {(t.tenant, t.notebook): task_key(t, exp, data_hashes.get(t.tenant, {}), kernel,
                                             KERNEL_ENV) for t in tasks}
    results: dict[tuple[str, str], TaskResult] = {}
    done = 0
    to_run: list[NotebookTask] = []
    for task in tasks:
        key = keys[(task.tenant, task.notebook)]
        record = task_cache.lookup(key) if cache else None
        result = task_cache.restore(key, record, task) if record is not None else None
        if result is None:
            if key in task_cache.rejected:
                progress(f"cache: the entry of {task.tenant} · {task.notebook} is not used "
                         f"({task_cache.rejected[key]}): executing it again")
            to_run.append(task)
            continue
        results[(task.tenant, task.notebook)] = result
        done += 1
        progress(_progress_line(done, len(tasks), result))
    if not cache:  # refit every model of the tenants run
        for tenant in runnable:
            shutil.rmtree(model_cache_dir(output_dir, tenant), ignore_errors=True)

    n_workers = max(1, min(workers or exp.runner.workers or os.cpu_count() or 1,
                           len(to_run) or 1))
    executor_info: dict[str, Any] = {"name": executor, "workers": n_workers}
    if to_run:
        if fork_kernels:  # what the kernels' template imports (parsed from the sources)
            preload = tuple(kernel_preload(exp.notebook_path(nb) for nb in exp.notebooks))
            to_run = [dataclasses.replace(t, preload=preload) for t in to_run]
        pool = make_executor(executor, n_workers, scheduler)
        executor_info = pool.describe()
        progress(f"running {len(to_run)} notebook(s) for {len(runnable)} tenant(s) "
                 f"({len(tasks) - len(to_run)} cached) on {executor_info['workers']} "
                 f"{pool.name} worker(s) -> {output_dir}")

        def collected(task: NotebookTask, result: TaskResult) -> None:
            nonlocal done
            key = keys[(task.tenant, task.notebook)]
            result.cache_key = key
            result.cache_rejected = task_cache.rejected.get(key)
            task_cache.store(key, result)
            results[(task.tenant, task.notebook)] = result
            done += 1
            progress(_progress_line(done, len(tasks), result))

        try:
            run_tasks(to_run, task_function or execute_notebook_task, pool, collected,
                      _worker_failure, first=VALIDATION_NOTEBOOK,
                      expected=previous_task_seconds(output_dir),
                      on_wait=lambda running: progress(waiting_line(done, len(tasks), running)),
                      wait_seconds=WAITING_LINE_SECONDS)
        finally:
            pool.close()
    elif tasks:
        progress(f"all {len(tasks)} notebook(s) of {len(runnable)} tenant(s) are cached "
                 f"-> {output_dir}")
    ordered = [results[(t.tenant, t.notebook)] for t in tasks]
    limit = exp.runner.cache_max_mb
    pruned = task_cache.prune(None if limit is None else limit * 2**20, keep=set(keys.values()))
    if pruned["removed"]:
        progress(f"cache: removed {pruned['removed']} least recently used entr"
                 f"{'y' if pruned['removed'] == 1 else 'ies'} "
                 f"({pruned['removed_bytes'] / 2**20:.0f} MB; runner.cache_max_mb {limit}), "
                 f"{pruned['entries']} left ({pruned['bytes'] / 2**20:.0f} MB)")
    commit = git_commit(exp.path)
    run_id = compute_run_id(exp.params_hash(), data_hashes, notebook_bytes,
                            package_fingerprint(), commit,
                            environment=notebook_environment(kernel, KERNEL_ENV))
    hits = sum(r.cached for r in ordered)
    return RunResult(
        exp=exp, output_dir=output_dir, run_id=run_id, git_commit=commit,
        kernel=kernel, workers=int(executor_info.get("workers") or n_workers), started=started,
        finished=_now(), seconds=time.perf_counter() - clock, data_hashes=data_hashes,
        data_errors=data_errors, data_seconds=data_seconds, notebook_bytes=notebook_bytes,
        tasks=ordered, executor=executor_info,
        cache={"enabled": cache, "folder": str(cache_dir(output_dir)), "hits": hits,
               "executed": len(ordered) - hits, "entries": pruned["entries"],
               "megabytes": round(pruned["bytes"] / 2**20, 1),
               "pruned": pruned["removed"]},
    )
