"""The benchmark's floor: a notebook's code run in this process glues what the notebook glues."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mmm_evidence.pipeline.inprocess import execute_in_process
from mmm_evidence.pipeline.runner import NotebookTask, execute_notebook_task
from tests.fixtures.pipeline import experiment as builder


def _task(tmp_path: Path, tenant: str, where: str) -> NotebookTask:
    out = tmp_path / where
    return NotebookTask(
        tenant=tenant, notebook="validation", source=builder.NOTEBOOKS_DIR / "validation.ipynb",
        ipynb=out / "validation.ipynb", html=out / "validation.html",
        parameters={"experiment_config": "", "tenant": tenant, "output_dir": str(out),
                    "seed": 7},
        kernel_name="mmm-evidence", timeout_seconds=120, cwd=tmp_path)


@pytest.mark.slow
def test_in_process_glues_what_the_notebook_glues(tmp_path: Path) -> None:
    notebook = execute_notebook_task(_task(tmp_path, "alpha", "kernel"))
    main = sys.modules["__main__"]
    direct = execute_in_process(_task(tmp_path, "alpha", "direct"))
    assert sys.modules["__main__"] is main  # the shell's namespace does not stay behind
    assert direct.status == notebook.status == "ok"
    # the fixture glues its kernel's environment too: not the same in this process
    environment = ("omp_threads", "hash_seed", "mpl_backend")
    for scraps in (direct.scraps, notebook.scraps):
        scraps["fit"] = {k: v for k, v in scraps["fit"].items() if k not in environment}
    assert direct.scraps == notebook.scraps
    assert direct.scraps["metrics"]["holdout"]["nrmse"] is None  # NaN, as collected
    assert not direct.ipynb.exists()  # no notebook written


@pytest.mark.slow
def test_in_process_reports_the_notebooks_error(tmp_path: Path) -> None:
    notebook = execute_notebook_task(_task(tmp_path, "gamma", "kernel"))
    direct = execute_in_process(_task(tmp_path, "gamma", "direct"))
    assert direct.status == notebook.status == "error"
    assert direct.error == notebook.error == ("ValueError: fixture failure for tenant gamma\n"
                                              "second line of the message")
    assert direct.scraps == notebook.scraps  # glued before the failure
