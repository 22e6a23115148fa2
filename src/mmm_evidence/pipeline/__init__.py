"""Run the notebooks (papermill, in parallel), collect scraps, apply gates, write artifacts.

``run_experiment(exp)`` executes every notebook × tenant and returns a ``RunResult``;
``mmm_evidence.evidence.write_run_artifacts(result)`` writes its artifacts and reviewer
outputs into the run's output folder.
"""

from mmm_evidence.pipeline.artifacts import (
    build_run_manifest,
    build_validation_report,
    canonical_json,
    write_canonical_json,
)
from mmm_evidence.pipeline.gates import FAIL, NOT_ASSESSABLE, PASS
from mmm_evidence.pipeline.kernel import KernelSetupError, ensure_kernel
from mmm_evidence.pipeline.runner import RunResult, TaskResult, run_experiment

__all__ = [
    "FAIL", "NOT_ASSESSABLE", "PASS", "KernelSetupError", "RunResult", "TaskResult",
    "build_run_manifest", "build_validation_report", "canonical_json", "ensure_kernel",
    "run_experiment", "write_canonical_json",
]
