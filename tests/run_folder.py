"""A run's output folder without kernels: the fake run of tests/pipeline/test_artifacts.py,
with reviewer exports beside every notebook's HTML, written by write_run_artifacts."""

from __future__ import annotations

from pathlib import Path

from mmm_evidence.evidence import write_run_artifacts
from mmm_evidence.pipeline.export import reviewer_html_path
from tests.pipeline.test_artifacts import fake_result


def make_run_folder(tmp_path: Path, name: str = "out") -> Path:
    """Write a complete fake run (tenants alpha, beta, gamma, baddata) into tmp_path/name."""
    out = tmp_path / name
    result = fake_result(tmp_path, out)
    for task in result.tasks:
        task.reviewer_html = reviewer_html_path(task.html)
        task.reviewer_html.write_text(f"<html>{task.tenant} {task.notebook}</html>",
                                      encoding="utf-8")
    write_run_artifacts(result)
    return out
