"""Everything a run leaves for its readers, written in one go: the JSON artifacts and logs
(``pipeline.artifacts``: validation_report.json, run_manifest.json, baseline_metrics.json,
robustness_report.json and robustness_suite.log, fairness_report.json,
feature_importance.csv), then the reviewer outputs made from those files alone
(``report.reviewer``: model_card.html/.md, index.html, defects.md, SUMMARY.md).

It sits above both: the pipeline builds the artifacts without knowing how they are shown, the
report reads the files without knowing how they were built.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmm_evidence.pipeline.artifacts import (
    build_baseline_metrics,
    build_fairness_report,
    build_robustness_report,
    build_run_manifest,
    build_validation_report,
    leak_findings,
)
from mmm_evidence.pipeline.cache import ReviewerStamp
from mmm_evidence.pipeline.collect import (
    BASELINES_NOTEBOOK,
    FAIRNESS_NOTEBOOK,
    IMPORTANCE_NOTEBOOK,
    ROBUSTNESS_NOTEBOOK,
)
from mmm_evidence.pipeline.feature_importance import (
    FEATURE_IMPORTANCE_FILE,
    build_feature_importance_rows,
    write_feature_importance_csv,
)
from mmm_evidence.pipeline.files import (
    BASELINES_FILE,
    FAIRNESS_FILE,
    MANIFEST_FILE,
    REPORT_FILE,
    ROBUSTNESS_FILE,
    write_canonical_json,
)
from mmm_evidence.pipeline.runner import RunResult
from mmm_evidence.report.reviewer import write_reviewer_outputs_if_changed
from mmm_evidence.report.robustness_log import ROBUSTNESS_LOG_FILE, write_robustness_log

__all__ = ["write_run_artifacts"]


def write_run_artifacts(result: RunResult, output_dir: str | Path | None = None, *,
                        leaks: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write validation_report.json, run_manifest.json and — when the experiment runs the
    baselines notebook — baseline_metrics.json, and — when it runs the robustness notebook —
    robustness_report.json and robustness_suite.log, and — when it runs the fairness notebook
    — fairness_report.json, and — when it runs the importance notebook —
    feature_importance.csv (pipeline/feature_importance.py); then, from those files, the
    reviewer outputs (model_card.html/.md, index.html, defects.md, SUMMARY.md); return their
    paths.

    With the fairness notebook, the leak scan (``leak_findings``) runs over the executed
    notebooks and exports first, and again over everything once written: when that finds more
    (an artifact leaked what no notebook showed), every artifact is written once more with the
    findings (which hold no values, so they cannot leak); when only the number of files
    scanned grew, fairness_report.json alone is rewritten with it. ``leaks``: findings to use
    as given (no rescan).
    """
    folder = Path(output_dir or result.output_dir)
    first_pass = leaks is None
    scanned: dict[bytes, list[str]] = {}  # the scans below read each unchanged file once
    if first_pass:
        leaks = leak_findings(result, folder, scanned)
    report = build_validation_report(result, leaks=leaks)
    baselines = (build_baseline_metrics(result) if BASELINES_NOTEBOOK in result.exp.notebooks
                 else None)
    paths = {
        "validation_report": write_canonical_json(report, folder / REPORT_FILE),
        "run_manifest": write_canonical_json(build_run_manifest(result), folder / MANIFEST_FILE),
    }
    if baselines is not None:
        paths["baseline_metrics"] = write_canonical_json(baselines, folder / BASELINES_FILE)
    else:  # a previous run's file must not pass for this run's
        (folder / BASELINES_FILE).unlink(missing_ok=True)
    robustness = None
    if ROBUSTNESS_NOTEBOOK in result.exp.notebooks:
        robustness = build_robustness_report(result)
        paths["robustness_report"] = write_canonical_json(robustness, folder / ROBUSTNESS_FILE)
        paths["robustness_log"] = write_robustness_log(robustness, folder / ROBUSTNESS_LOG_FILE)
    else:  # likewise
        (folder / ROBUSTNESS_FILE).unlink(missing_ok=True)
        (folder / ROBUSTNESS_LOG_FILE).unlink(missing_ok=True)
    if FAIRNESS_NOTEBOOK in result.exp.notebooks:
        paths["fairness_report"] = write_canonical_json(build_fairness_report(result, leaks),
                                                        folder / FAIRNESS_FILE)
    else:  # likewise
        (folder / FAIRNESS_FILE).unlink(missing_ok=True)
    if IMPORTANCE_NOTEBOOK in result.exp.notebooks:
        paths["feature_importance"] = write_feature_importance_csv(
            build_feature_importance_rows(result), folder / FEATURE_IMPORTANCE_FILE)
    else:  # likewise
        (folder / FEATURE_IMPORTANCE_FILE).unlink(missing_ok=True)
    # last: the reviewer outputs are made from every artifact written above (not redrawn
    # when those are byte-identical to the last run's: report/reviewer.py)
    reviewer = write_reviewer_outputs_if_changed(folder)
    paths.update(reviewer)
    if first_pass and leaks is not None:  # the leak scan must cover what was just written
        rescanned = leak_findings(result, folder, scanned)
        if [rescanned[k] for k in ("tenants", "notes")] != [leaks[k] for k in ("tenants",
                                                                             "notes")]:
            return write_run_artifacts(result, output_dir, leaks=rescanned)
        if rescanned != leaks:  # only the number of files scanned grew: no gate changes
            paths["fairness_report"] = write_canonical_json(
                build_fairness_report(result, rescanned), folder / FAIRNESS_FILE)
            leak_findings(result, folder, scanned)  # remembered for the final folder: a rerun with
    ReviewerStamp(folder).record(reviewer)  # nothing changed scans nothing (pipeline/cache.py)
    return paths
