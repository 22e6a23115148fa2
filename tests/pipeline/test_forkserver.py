"""Kernels forked from a pre-imported template: what it imports, and that a forked kernel is a
working, fresh kernel (its environment, figures, the same scraps as a cold kernel)."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from mmm_evidence.pipeline import forkserver
from mmm_evidence.pipeline.forkserver import (
    fork_supported,
    kernel_manager_class,
    kernel_preload,
    launcher_options,
    notebook_imports,
)
from mmm_evidence.pipeline.runner import (
    KERNEL_ENV,
    NotebookTask,
    execute_notebook_task,
    kernel_transport_config,
)
from tests.fixtures.pipeline import experiment as builder
from tests.paths import NOTEBOOKS

linux_only = pytest.mark.skipif(not fork_supported(), reason="kernels are forked on Linux only")


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_notebook_imports_are_read_from_code_cells(tmp_path: Path) -> None:
    path = _notebook(tmp_path / "a.ipynb", "import json, os.path\nfrom decimal import Decimal",
                     "%matplotlib inline", "from mmm_evidence.report import plots\n"
                     "def f():\n    import fractions")
    assert notebook_imports([path]) == ["json", "os.path", "decimal", "mmm_evidence.report",
                                        "mmm_evidence.report.plots", "fractions"]


def test_kernel_preload_follows_the_package_to_its_lazy_imports() -> None:
    preload = kernel_preload([NOTEBOOKS / "baselines.ipynb"])
    assert "mmm_evidence.evaluation.baselines" in preload
    assert "lightgbm" in preload  # imported inside a function of evaluation.baselines
    assert {"scipy.optimize", "scipy.signal"} <= set(preload)  # imported on first call
    assert "scrapbook" in preload and "pandas" in preload
    assert not any(m.startswith(("mmm_evidence.pipeline.runner", "distributed", "dask",
                                 "nbconvert")) for m in preload)


def test_launcher_options_accept_only_this_interpreters_kernel_launcher() -> None:
    assert launcher_options([sys.executable, "-m", "ipykernel_launcher", "-f", "c.json"]) == ()
    assert launcher_options([sys.executable, "-Xfrozen_modules=off", "-m",
                             "ipykernel_launcher", "-f", "c.json"]) == ("-Xfrozen_modules=off",)
    assert launcher_options(["/usr/bin/python2", "-m", "ipykernel_launcher"]) is None
    assert launcher_options([sys.executable, "-m", "other_kernel"]) is None
    assert launcher_options([sys.executable, "-E", "-m", "ipykernel_launcher"]) is None


async def _run_code(manager_class, code: str, cwd: str) -> tuple[list[dict], object]:
    with tempfile.TemporaryDirectory() as sockets:
        km = manager_class(kernel_name="mmm-evidence", config=kernel_transport_config(sockets))
        await km.start_kernel(cwd=cwd)
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=120)
            msg_id = kc.execute(code)
            outputs = []
            while True:
                msg = await kc.get_iopub_msg(timeout=60)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] in ("stream", "display_data", "execute_result", "error"):
                    outputs.append(msg)
                if (msg["msg_type"] == "status"
                        and msg["content"]["execution_state"] == "idle"):
                    break
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)
        return outputs, km.provisioner


CODE = """\
import os, sys
import matplotlib.pyplot as plt
print(os.getpid(), os.getppid(), os.environ.get("PYTHONHASHSEED"), os.environ.get("MARK"),
      "colorsys" in sys.modules, os.getcwd())
plt.plot([1, 2, 3], [3, 1, 2])
plt.show()
"""


@linux_only
@pytest.mark.slow
def test_a_forked_kernel_is_a_fresh_working_kernel(tmp_path: Path) -> None:
    manager = kernel_manager_class({**KERNEL_ENV, "MARK": "forked"}, ["colorsys"], fork=True)
    outputs, provisioner = asyncio.run(_run_code(manager, CODE, str(tmp_path)))
    assert provisioner.forked
    text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
    pid, ppid, hash_seed, mark, preloaded, cwd = text.split()
    assert int(ppid) != os.getpid()  # the template's child, not ours
    assert (hash_seed, mark, preloaded, cwd) == ("0", "forked", "True", str(tmp_path))
    assert any("image/png" in m["content"].get("data", {}) for m in outputs), outputs
    os.environ.pop("MARK", None)
    assert "MARK" not in os.environ  # the caller's environment was never changed


@linux_only
@pytest.mark.slow
def test_kernels_started_cold_still_work() -> None:
    manager = kernel_manager_class({**KERNEL_ENV, "MARK": "cold"}, (), fork=False)
    outputs, provisioner = asyncio.run(_run_code(manager, CODE, os.getcwd()))
    assert not getattr(provisioner, "forked", False)
    text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
    assert text.split()[2:5] == ["0", "cold", "False"]
    assert any("image/png" in m["content"].get("data", {}) for m in outputs)


@linux_only
@pytest.mark.slow
def test_kernels_go_when_their_template_goes() -> None:
    server = forkserver.ForkServer({**os.environ, **KERNEL_ENV}, ["json"])
    assert server.start(), server.reason
    kernel = server.spawn([sys.executable, "-c", "unused"], dict(os.environ), None)
    # argv is not a kernel launcher here: the child fails to start a kernel and exits
    assert kernel.wait(timeout=60) != 0
    sleeper = server.spawn([sys.executable, "-m", "ipykernel_launcher", "-f",
                            "/nonexistent/conn.json"], dict(os.environ), None)
    server.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(sleeper.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the kernel outlived its template")


def _task(tmp_path: Path, fork: bool) -> NotebookTask:
    out = tmp_path / ("forked" if fork else "cold")
    source = builder.NOTEBOOKS_DIR / "validation.ipynb"
    return NotebookTask(
        tenant="alpha", notebook="validation", source=source, ipynb=out / "validation.ipynb",
        html=out / "validation.html",
        parameters={"experiment_config": "", "tenant": "alpha", "output_dir": str(out),
                    "seed": 7},
        kernel_name="mmm-evidence", timeout_seconds=120, cwd=tmp_path,
        preload=tuple(kernel_preload([source])), fork_kernels=fork)


@linux_only
@pytest.mark.slow
def test_forked_and_cold_kernels_glue_the_same_scraps(tmp_path: Path) -> None:
    forked = execute_notebook_task(_task(tmp_path, True))
    cold = execute_notebook_task(_task(tmp_path, False))
    assert forked.status == cold.status == "ok", (forked.error, cold.error)
    assert forked.scraps == cold.scraps
    for result in (forked, cold):
        assert 'src="data:image/png;base64,' in result.html.read_text(encoding="utf-8")
    assert any(s.available and "scrapbook" in s.preloaded
               for s in forkserver._SERVERS.values())  # this process forked the first one


@pytest.mark.skipif(not forkserver.fork_supported(), reason="no fork here")
def test_ctrl_c_ends_the_template_quietly() -> None:
    """Ctrl-C reaches the whole process group: the template ends without a traceback (the
    runner reports the interruption once)."""
    import signal
    import socket
    import subprocess

    ours, theirs = socket.socketpair()
    # a shell's background job starts with SIGINT ignored, and Python keeps it so: give the
    # template the terminal's default, as a run started at a prompt has
    proc = subprocess.Popen([sys.executable, "-m", "mmm_evidence.pipeline.forkserver",
                             str(theirs.fileno())], pass_fds=(theirs.fileno(),),
                            stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    theirs.close()
    ours.sendall(b'{"op": "status", "pid": 1}\n')  # served: the loop is running
    assert ours.makefile("r").readline()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    ours.close()
    assert proc.returncode == 130
    assert b"Traceback" not in stderr and b"KeyboardInterrupt" not in stderr
