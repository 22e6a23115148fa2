"""One notebook task of a run and what became of it: the types the runner, the executors and
the task cache share (below all three), and where a task's outputs go."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OK = "ok"
ERROR = "error"

__all__ = ["OK", "ERROR", "NotebookTask", "TaskResult", "tenant_output_dir", "task_outputs"]


def tenant_output_dir(output_dir: str | Path, tenant: str) -> Path:
    return Path(output_dir) / "tenants" / tenant


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
    preload: tuple[str, ...] = ()  # modules the kernel template imports (forkserver.py)
    fork_kernels: bool = True  # fork kernels from a pre-imported template where possible


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
    reviewer_html: Path | None = None  # <notebook>.reviewer.html (no code cells), if written
    cached: bool = False  # restored from the task cache, not executed
    cache_key: str | None = None
    cache_rejected: str | None = None  # why the cache's entry for this task was not used

    @property
    def ipynb_exists(self) -> bool:
        return self.ipynb.is_file()

    @property
    def html_exists(self) -> bool:
        return self.html.is_file()


def task_outputs(task: NotebookTask) -> list[Path]:
    """The files executing ``task`` writes: the notebook and its HTML exports."""
    from mmm_evidence.pipeline.export import reviewer_html_path

    return [task.ipynb, task.html, reviewer_html_path(task.html)]
