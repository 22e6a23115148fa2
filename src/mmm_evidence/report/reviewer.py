"""Everything a reviewer reads, written from a run's output folder alone.

``write_reviewer_outputs(folder)`` reads the run's artifacts (``validation_report.json`` and,
when present, ``run_manifest.json``, ``baseline_metrics.json``, ``robustness_report.json``,
``fairness_report.json``, ``feature_importance.csv``) and writes ``model_card.html``,
``model_card.md``, ``index.html``, ``defects.md`` and ``SUMMARY.md`` beside them. The run calls
it last; ``mmm-evidence package`` calls it again before bundling (same artifacts, same bytes).

A JSON artifact whose ``run_id`` is not the report's (left over from an earlier run) is
*stale*: it is left out of the reviewer outputs, and packaging refuses to bundle it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmm_evidence.pipeline.cache import ReviewerStamp
from mmm_evidence.pipeline.feature_importance import (
    FEATURE_IMPORTANCE_FILE,
    FeatureImportanceError,
    read_feature_importance_csv,
)
from mmm_evidence.pipeline.files import (
    BASELINES_FILE,
    FAIRNESS_FILE,
    MANIFEST_FILE,
    REPORT_FILE,
    ROBUSTNESS_FILE,
)
from mmm_evidence.report.defects import DEFECTS_FILE, write_defects
from mmm_evidence.report.index_page import INDEX_FILE, write_index
from mmm_evidence.report.model_card import MODEL_CARD_FILE, MODEL_CARD_MD_FILE, write_model_card
from mmm_evidence.report.robustness_log import ROBUSTNESS_LOG_FILE
from mmm_evidence.report.summary import SUMMARY_FILE, write_summary

BUNDLE_PREFIX = "validation_bundle_"

#: What ``write_reviewer_outputs`` writes (file names in the run's output folder).
REVIEWER_OUTPUTS = (MODEL_CARD_FILE, MODEL_CARD_MD_FILE, INDEX_FILE, DEFECTS_FILE, SUMMARY_FILE)

__all__ = ["REVIEWER_OUTPUTS", "RunArtifacts", "ArtifactError", "load_run_artifacts",
           "evidence_files", "write_reviewer_outputs", "write_reviewer_outputs_if_changed",
           "BUNDLE_PREFIX"]


class ArtifactError(ValueError):
    """A run's artifacts are missing or unreadable (the message names the file)."""


@dataclass
class RunArtifacts:
    """The artifacts of one run, read from its output folder."""

    folder: Path
    report: dict[str, Any]
    manifest: dict[str, Any] | None = None
    baselines: dict[str, Any] | None = None
    robustness: dict[str, Any] | None = None
    fairness: dict[str, Any] | None = None
    importance: list[dict[str, Any]] | None = None
    stale: dict[str, str] = field(default_factory=dict)  # file name -> its run id

    @property
    def run_id(self) -> str:
        return str(self.report.get("run_id"))

    @property
    def date(self) -> str | None:
        """The run's date (UTC day), from the manifest."""
        finished = (self.manifest or {}).get("finished") or (self.manifest or {}).get("started")
        return str(finished)[:10] if finished else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot read JSON artifact: {exc}") from exc
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def load_run_artifacts(folder: str | Path) -> RunArtifacts:
    """Read the artifacts of the run in ``folder`` (``validation_report.json`` is required)."""
    folder = Path(folder)
    report_path = folder / REPORT_FILE
    if not report_path.is_file():
        raise ArtifactError(f"{report_path}: not found — run `mmm-evidence run` into "
                            f"{folder} first")
    arts = RunArtifacts(folder=folder, report=_read_json(report_path))
    for attr, name in (("manifest", MANIFEST_FILE), ("baselines", BASELINES_FILE),
                       ("robustness", ROBUSTNESS_FILE), ("fairness", FAIRNESS_FILE)):
        path = folder / name
        if not path.is_file():
            continue
        data = _read_json(path)
        if str(data.get("run_id")) != arts.run_id:
            arts.stale[name] = str(data.get("run_id"))
            continue
        setattr(arts, attr, data)
    importance = folder / FEATURE_IMPORTANCE_FILE
    if importance.is_file():
        try:
            arts.importance = read_feature_importance_csv(importance)
        except FeatureImportanceError as exc:
            raise ArtifactError(str(exc)) from exc
    return arts


#: The top-level files a run writes (beside the reviewer outputs); only these are evidence:
#: anything else in the folder (an export, notes, a copy of the input rows) is not bundled.
RUN_FILES = (REPORT_FILE, MANIFEST_FILE, BASELINES_FILE, ROBUSTNESS_FILE, FAIRNESS_FILE,
             FEATURE_IMPORTANCE_FILE, ROBUSTNESS_LOG_FILE)


def evidence_files(arts: RunArtifacts) -> list[str]:
    """Every file of the run a bundle must hold, as sorted relative POSIX paths: the run's
    top-level files that exist (``RUN_FILES``; not stale), the reviewer outputs, and each
    tenant's executed notebooks and HTML exports named in the report — listed whether or not
    they are still there, so packaging notices a missing one. Input data (``data/``) is left
    out: the manifest holds its hashes."""
    files = set(REVIEWER_OUTPUTS)
    for name in RUN_FILES:
        path = arts.folder / name
        if name not in arts.stale and path.is_file() and not path.is_symlink():
            files.add(name)
    tenants: Mapping[str, Mapping] = arts.report.get("tenants") or {}
    for section in tenants.values():
        for entry in (section.get("notebooks") or {}).values():
            if not isinstance(entry, Mapping):
                continue
            for key in ("ipynb", "html", "reviewer_html"):
                rel = entry.get(key)
                if rel:
                    files.add(Path(rel).as_posix())
    return sorted(files)


def write_reviewer_outputs(folder: str | Path) -> dict[str, Path]:
    """Write the model card (HTML + Markdown), index.html, defects.md and SUMMARY.md into
    ``folder`` from the artifacts there; return their paths by label."""
    arts = load_run_artifacts(folder)
    folder = arts.folder
    files = evidence_files(arts)
    card = write_model_card(arts.report, folder / MODEL_CARD_FILE,
                            baseline_metrics=arts.baselines, robustness_report=arts.robustness,
                            run_manifest=arts.manifest, fairness_report=arts.fairness,
                            feature_importance=arts.importance,
                            markdown_path=folder / MODEL_CARD_MD_FILE)
    return {
        "model_card": card,
        "model_card_md": folder / MODEL_CARD_MD_FILE,
        "index": write_index(arts.report, folder / INDEX_FILE, files, arts.date),
        "defects": write_defects(arts.report, folder / DEFECTS_FILE),
        "summary": write_summary(arts.report, folder / SUMMARY_FILE, files, arts.date),
    }


def write_reviewer_outputs_if_changed(folder: str | Path) -> dict[str, Path]:
    """``write_reviewer_outputs(folder)``, unless the outputs it would write are already there
    for byte-identical inputs (``pipeline.cache.ReviewerStamp``). The caller records the stamp
    (``ReviewerStamp(folder).record(paths)``) once every artifact is final."""
    paths = ReviewerStamp(folder).current()
    return write_reviewer_outputs(folder) if paths is None else paths
