"""A notebook's analyses run in this process, without a notebook: the benchmark's floor.

``execute_in_process(task)`` runs the notebook's code cells, with the task's parameters
injected after the ``parameters`` cell as papermill would, in an IPython shell inside the
calling process: the same code, the same rich display formatting of results and the same
figures rendered by matplotlib's inline backend — but no kernel process, no papermill, no
executed notebook written, no HTML export and no scraps read back from a file. The glued
scraps are captured as they are displayed, so the floor can be checked to compute the same
numbers as the notebooks. ``benchmarks/bench_evidence.py`` runs it with the runner's own
scheduler and executor (``run_experiment(..., task_function=execute_in_process)``).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from mmm_evidence.pipeline.collect import clean_scrap_data
from mmm_evidence.pipeline.tasks import ERROR, OK, NotebookTask, TaskResult

__all__ = ["execute_in_process", "SCRAP_MIMETYPE"]

#: The mimetypes scrapbook glues scraps with: ``application/scrapbook.scrap.<encoder>+json``.
SCRAP_MIMETYPE = "application/scrapbook.scrap."

_SHELL = None


def _shell():
    """This process's IPython shell (created once), with the inline matplotlib backend."""
    global _SHELL
    if _SHELL is None:
        from IPython.core.displaypub import DisplayPublisher
        from IPython.core.interactiveshell import InteractiveShell

        class Capture(DisplayPublisher):
            """Keeps what the cells display (nothing is printed)."""

            def __init__(self, **kwargs: Any):
                super().__init__(**kwargs)
                self.published: list[dict] = []

            def publish(self, data, metadata=None, source=None, *, transient=None,
                        update=False, **kwargs):
                self.published.append(dict(data or {}))

        class Shell(InteractiveShell):
            def enable_gui(self, gui=None):  # the inline backend needs no GUI event loop
                return None

        shell = Shell.instance()
        shell.display_pub = Capture(shell=shell)
        with contextlib.redirect_stdout(io.StringIO()):
            shell.enable_matplotlib("inline")
        _SHELL = shell
    return _SHELL


def _parameters_source(parameters: dict[str, Any]) -> str:
    return "\n".join(f"{name} = {value!r}" for name, value in parameters.items())


def _as_collected(value: Any) -> Any:
    """A scrap's data as the collector reads it back from a notebook file: JSON types, and
    non-finite floats as None (scrapbook sends them as "nan"/"inf" strings)."""
    def finite(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return None
        if isinstance(item, dict):
            return {key: finite(v) for key, v in item.items()}
        if isinstance(item, list):
            return [finite(v) for v in item]
        return item

    return clean_scrap_data(finite(json.loads(json.dumps(value, default=str))))


def execute_in_process(task: NotebookTask) -> TaskResult:
    """Run ``task``'s notebook code in this process; a ``TaskResult`` with the glued scraps
    (no files: ``ipynb`` and ``html`` are not written)."""
    import nbformat

    start = time.perf_counter()
    main = sys.modules.get("__main__")  # an IPython shell installs its own: keep the caller's
    try:
        return _execute(task, start, nbformat)
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _execute(task: NotebookTask, start: float, nbformat: Any) -> TaskResult:
    shell = _shell()
    sys.modules["__main__"] = shell.user_module  # as in a kernel, while the cells run
    shell.reset(new_session=False)
    shell.display_pub.published.clear()
    status, error = OK, None
    cells = []
    for cell in nbformat.read(str(task.source), as_version=4).cells:
        if cell.cell_type != "code":
            continue
        cells.append(cell.source)
        if "parameters" in cell.metadata.get("tags", []):
            cells.append(_parameters_source(task.parameters))
    cwd = os.getcwd()
    try:
        os.chdir(task.cwd)
        with contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
            # scrapbook warns that glue runs outside a kernel: that is the point here
            warnings.filterwarnings("ignore", message="No kernel detected for 'glue'")
            for source in cells:
                outcome = shell.run_cell(source, store_history=False)
                failure = outcome.error_before_exec or outcome.error_in_exec
                if failure is not None:
                    status, error = ERROR, f"{type(failure).__name__}: {failure}"
                    break
    finally:
        os.chdir(cwd)
        import matplotlib.pyplot as plt

        plt.close("all")
    scraps: dict[str, Any] = {}
    for data in shell.display_pub.published:
        for mimetype, payload in data.items():
            if not (mimetype.startswith(SCRAP_MIMETYPE) and isinstance(payload, dict)
                    and "name" in payload):
                continue
            scraps[payload["name"]] = _as_collected(payload.get("data"))
    seconds = time.perf_counter() - start
    return TaskResult(tenant=task.tenant, notebook=task.notebook, ipynb=Path(task.ipynb),
                      html=Path(task.html), status=status, error=error, seconds=seconds,
                      execute_seconds=seconds, scraps=scraps)
