"""The JSON artifacts of a finished run, built from its ``RunResult``: ``validation_report.json``,
``run_manifest.json``, ``baseline_metrics.json``, ``robustness_report.json``,
``fairness_report.json`` (with the leak scan of everything the run wrote). Their file names and
the canonical JSON they are written in are ``pipeline.files``; ``mmm_evidence.evidence`` writes
them with the reviewer outputs.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mmm_evidence
from mmm_evidence.pipeline.collect import (
    BASELINES_NOTEBOOK,
    FAIRNESS_NOTEBOOK,
    IMPORTANCE_NOTEBOOK,
    ROBUSTNESS_NOTEBOOK,
    VALIDATION_NOTEBOOK,
    extra_scraps,
)
from mmm_evidence.pipeline.files import (
    BASELINES_FILE,
    FAIRNESS_FILE,
    MANIFEST_FILE,
    REPORT_FILE,
    ROBUSTNESS_FILE,
    SCHEMA_VERSION,
    canonical,
    canonical_json,
    compute_run_id,
    git_commit,
    git_dirty,
    package_versions,
    write_canonical_json,
)
from mmm_evidence.pipeline.gates import (
    ELASTICITY_MEDIAN_ERROR,
    ELASTICITY_NO_MISSED_CHANNEL,
    HOLDOUT_R2,
    beats_baselines_gate,
    count_gates,
    elasticity_table,
    evaluate_gates,
    experiment_verdict,
    fairness_error_parity_gate,
    fairness_uplift_gap_gate,
    flat_responses,
    identification,
    parity_checks,
    privacy_k_anonymity_gate,
    privacy_no_pii_gate,
    privacy_no_raw_rows_gate,
    robustness_gate,
    tenant_verdict,
)
from mmm_evidence.pipeline.runner import RunResult, notebook_scraps

if TYPE_CHECKING:
    from mmm_evidence.config import ExperimentConfig

__all__ = [
    "SCHEMA_VERSION", "REPORT_FILE", "MANIFEST_FILE", "canonical", "canonical_json",
    "write_canonical_json", "compute_run_id", "git_commit", "git_dirty", "build_validation_report",
    "build_run_manifest", "package_versions", "GATE_NAMES",
    "BASELINES_FILE", "build_baseline_metrics", "ROBUSTNESS_FILE", "build_robustness_report",
    "FAIRNESS_FILE", "build_fairness_report", "leak_findings",
]

GATE_NAMES = (HOLDOUT_R2, ELASTICITY_MEDIAN_ERROR, ELASTICITY_NO_MISSED_CHANNEL)


# --------------------------------------------------------------------------- validation report


def _relative(path: Path | None, output_dir: Path) -> str | None:
    if path is None:
        return None
    try:
        return path.resolve().relative_to(output_dir.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _has_truth(exp: ExperimentConfig, tenant: str) -> bool:
    """Whether the tenant's config gives it ground truth (synthetic, or a truth file)."""
    config = exp.tenant_configs.get(tenant)
    if config is None:
        return False
    data = config.data
    return data.synthetic is not None or (data.source is not None
                                          and data.source.truth is not None)


def build_validation_report(result: RunResult, leaks: Mapping[str, Any] | None = None) -> dict:
    """The ``validation_report.json`` content of a finished run (a ``RunResult``); ``leaks``
    is the run's leak scan (``leak_findings``; scanned now when not given).

    Contains no wall-clock time and no absolute path, so an identical rerun (even into another
    output folder) gives identical bytes.
    """
    exp = result.exp
    output_dir = Path(result.output_dir)
    leaks = leak_findings(result) if leaks is None else leaks

    def scrub(text: str | None) -> str | None:
        """Error text with the output folder's absolute path made relative."""
        if text is None:
            return None
        return text.replace(f"{output_dir}{os.sep}", "").replace(str(output_dir), ".")

    errors = [{**e, "error": scrub(e["error"])} for e in result.errors()]
    tenants: dict[str, dict] = {}
    for tenant in exp.tenants:
        scraps = result.scraps(tenant)
        validation, validation_why = notebook_scraps(result, tenant, VALIDATION_NOTEBOOK)
        robustness, robustness_why = _robustness_scraps(result, tenant)
        fairness, fairness_why = notebook_scraps(result, tenant, FAIRNESS_NOTEBOOK)
        tenant_leaks, leaks_why = _tenant_leaks(leaks, tenant)
        importance, importance_why = notebook_scraps(result, tenant, IMPORTANCE_NOTEBOOK)
        gates = evaluate_gates(scraps, exp.gates, *_baseline_scraps(result, tenant),
                               robustness=robustness, robustness_unavailable=robustness_why,
                               fairness=fairness, fairness_unavailable=fairness_why,
                               leaks=tenant_leaks, leaks_unavailable=leaks_why,
                               importance=importance, importance_unavailable=importance_why,
                               validation_unavailable=None if validation is not None
                               else validation_why,
                               has_truth=None if validation is not None
                               else _has_truth(exp, tenant))
        notebooks: dict[str, dict] = {}
        for nb in exp.notebooks:
            task = result.task(tenant, nb)
            if task is None:
                notebooks[nb] = {"status": "skipped", "ipynb": None, "html": None,
                                 "reviewer_html": None, "error": None}
                continue
            notebooks[nb] = {
                "status": task.status,
                "ipynb": _relative(task.ipynb, output_dir) if task.ipynb_exists else None,
                "html": _relative(task.html, output_dir) if task.html_exists else None,
                "reviewer_html": (_relative(task.reviewer_html, output_dir)
                                  if task.reviewer_html and task.reviewer_html.is_file()
                                  else None),
                "error": scrub(task.error),
            }
        errored = any(e["tenant"] == tenant for e in errors)
        truth = scraps.get("truth")
        extra = {t.notebook: extra_scraps(t.notebook, t.scraps) for t in result.tasks_of(tenant)
                 if t.status == "ok"}
        tenants[tenant] = {
            "display_name": exp.label(tenant),
            "status": "error" if errored else "ok",
            "data_error": scrub(result.data_errors.get(tenant)),
            "verdict": tenant_verdict(gates, errored=errored),
            "data": scraps.get("data_summary"),
            "weekly_totals": scraps.get("weekly_totals") or None,
            "metrics": scraps.get("metrics"),
            "elasticities": elasticity_table(scraps, exp.gates.elasticity),
            "contribution_shares": scraps.get("contribution_shares"),
            "roi": scraps.get("roi"),
            "uncertainty": scraps.get("uncertainty") or None,
            "lift_tests": scraps.get("lift_tests") or None,
            "identification": identification(scraps, exp.gates.identification) or None,
            # judged channels' contribution slopes; flat: share and ROI not identified
            "flat_responses": flat_responses(scraps, exp.gates.identification) or None,
            "truth": truth if truth else None,
            "model": scraps.get("model"),
            "fit": scraps.get("fit"),
            "gates": gates,
            "notebooks": notebooks,
            "extra_scraps": {nb: values for nb, values in sorted(extra.items()) if values},
        }
    all_gates = [g for t in tenants.values() for g in t["gates"]]
    report = {
        "schema_version": SCHEMA_VERSION,
        "artifact": "validation_report",
        "experiment": exp.experiment,
        "run_id": result.run_id,
        "package_version": mmm_evidence.__version__,
        "git_commit": result.git_commit,
        "verdict": experiment_verdict([t["verdict"] for t in tenants.values()],
                                      errored=bool(errors)),
        "gate_counts": count_gates(all_gates),
        "notebooks": list(exp.notebooks),
        "tenant_order": list(exp.tenants),
        "tenants_not_run": list(exp.tenants_not_run),
        "errors": errors,
        "tenants": tenants,
    }
    return canonical(report)


# --------------------------------------------------------------------------- baseline metrics


def _baseline_scraps(result: RunResult, tenant: str) -> tuple[dict | None, str]:
    return notebook_scraps(result, tenant, BASELINES_NOTEBOOK)


def build_baseline_metrics(result: RunResult) -> dict:
    """The ``baseline_metrics.json`` content: per tenant, the MMM's and every baseline's metrics
    on the same splits (holdout, rolling-origin folds, their mean), the MMM's skill against each
    baseline per split, the elasticities the spend baselines imply beside the MMM's and the
    truth's, and the beats_baselines gate. No wall-clock time, no absolute path."""
    exp = result.exp
    output_dir = Path(result.output_dir)
    tenants: dict[str, dict] = {}
    for tenant in exp.tenants:
        scraps, why = _baseline_scraps(result, tenant)
        task = result.task(tenant, BASELINES_NOTEBOOK)
        error = task.error if task is not None and task.status != "ok" else None
        if error:
            error = error.replace(f"{output_dir}{os.sep}", "").replace(str(output_dir), ".")
        section: dict[str, Any] = {
            "display_name": exp.label(tenant),
            "status": "ok" if scraps is not None else ("error" if error else "not run"),
            "error": error if scraps is None else None,
            "note": why or None,
            "gate": beats_baselines_gate(scraps, exp.gates.beats_baselines, why),
        }
        if scraps is not None:
            metrics = scraps.get("metrics") or {}
            skill = scraps.get("skill") or {}
            names = list(scraps.get("baselines") or [m for m in metrics if m != "mmm"])
            section.update({
                "splits": scraps.get("splits"),
                "mmm": metrics.get("mmm"),
                "baselines": {b: {split: {"metrics": values,
                                          "skill": (skill.get(b) or {}).get(split)}
                                  for split, values in (metrics.get(b) or {}).items()}
                              for b in names},
                "elasticities": scraps.get("elasticities"),
                "settings": scraps.get("baseline_settings"),
            })
        tenants[tenant] = section
    return canonical({
        "schema_version": SCHEMA_VERSION,
        "artifact": "baseline_metrics",
        "experiment": exp.experiment,
        "run_id": result.run_id,
        "package_version": mmm_evidence.__version__,
        "git_commit": result.git_commit,
        "gate_settings": exp.gates.beats_baselines.model_dump(mode="json"),
        "tenant_order": list(exp.tenants),
        "tenants": tenants,
    })


# --------------------------------------------------------------------------- robustness report


def _robustness_scraps(result: RunResult, tenant: str) -> tuple[dict | None, str]:
    return notebook_scraps(result, tenant, ROBUSTNESS_NOTEBOOK)


def build_robustness_report(result: RunResult) -> dict:
    """The ``robustness_report.json`` content: per tenant every robustness check (name,
    category, description, comparison, threshold, measured value, passed, detail, data), the
    tenant's totals and its robustness gate; the run's totals. No wall-clock time, no path."""
    from mmm_evidence.evaluation.robustness import summarise

    exp = result.exp
    output_dir = Path(result.output_dir)
    tenants: dict[str, dict] = {}
    every: list[dict] = []
    for tenant in exp.tenants:
        scraps, why = _robustness_scraps(result, tenant)
        task = result.task(tenant, ROBUSTNESS_NOTEBOOK)
        error = task.error if task is not None and task.status != "ok" else None
        if error:
            error = error.replace(f"{output_dir}{os.sep}", "").replace(str(output_dir), ".")
        checks = list((scraps or {}).get("checks") or [])
        every.extend(checks)
        tenants[tenant] = {
            "display_name": exp.label(tenant),
            "status": "ok" if scraps is not None else ("error" if error else "not run"),
            "error": error if scraps is None else None,
            "note": why or None,
            "summary": summarise(checks),
            "gate": robustness_gate(scraps, why),
            "checks": checks,
            "thresholds": (scraps or {}).get("thresholds"),
            "reference": (scraps or {}).get("reference"),
            "settings": (scraps or {}).get("robustness_settings"),
        }
    return canonical({
        "schema_version": SCHEMA_VERSION,
        "artifact": "robustness_report",
        "experiment": exp.experiment,
        "run_id": result.run_id,
        "package_version": mmm_evidence.__version__,
        "git_commit": result.git_commit,
        "settings": exp.robustness.model_dump(mode="json"),
        "seed": exp.seed,
        "totals": summarise(every),
        "tenant_order": list(exp.tenants),
        "tenants": tenants,
    })


# --------------------------------------------------------------------------- fairness report


def leak_findings(result: RunResult, folder: str | Path | None = None,
                  scanned: dict[bytes, list[str]] | None = None) -> dict | None:
    """The run's leak scan (evaluation/privacy.py): every text file under ``folder`` (default:
    the output folder; its ``data/`` inputs and the run cache left out) and every executed
    notebook and export, searched for rows of each tenant's input data. None when the
    experiment does not run the fairness notebook. Returns {"files": files scanned,
    "min_values", "tenants": {tenant: findings}, "notes": {tenant: why not scanned}};
    findings name files and input line numbers, never a value. ``scanned``: a memo shared by
    the scans of one run, which then read each unchanged file's numbers once
    (``scan_files_for_raw_rows``)."""
    from mmm_evidence.evaluation.privacy import (
        TEXT_SUFFIXES,
        input_files,
        raw_rows,
        read_input_tables,
        scan_files_for_raw_rows,
    )
    from mmm_evidence.pipeline.cache import FolderMemo

    exp = result.exp
    if FAIRNESS_NOTEBOOK not in exp.notebooks:
        return None
    folder = Path(folder or result.output_dir)
    memo = FolderMemo(folder, "leak_scan", {  # the same files and inputs: the same findings
        "params": exp.params_hash(), "data": result.data_hashes, "errors": result.data_errors,
        "tasks": sorted(str(p) for t in result.tasks for p in (t.ipynb, t.html))})
    remembered = memo.get()
    if remembered is not None:
        return remembered
    inputs, notes = {}, {}
    for tenant in exp.tenants:
        if tenant in result.data_errors:
            notes[tenant] = "the tenant's data errored: its rows were not scanned for"
            continue
        data = input_files(exp, tenant, result.output_dir).get("data")
        if data is None:
            notes[tenant] = "the tenant's data file is missing: its rows were not scanned for"
            continue
        try:
            inputs[tenant] = raw_rows(read_input_tables({"data": data})["data"])
        except ValueError:
            notes[tenant] = f"{data.name} cannot be read: its rows were not scanned for"
    inputs_dir = (folder / "data").resolve()
    cache_folder = (folder / ".cache").resolve()  # pipeline/cache.py: copies, not outputs
    produced = {p.resolve() for p in folder.rglob("*") if p.is_file()
                and p.name.lower().endswith(TEXT_SUFFIXES)
                and inputs_dir not in p.resolve().parents
                and cache_folder not in p.resolve().parents}
    produced |= {p.resolve() for t in result.tasks for p in (t.ipynb, t.html) if p.is_file()}
    paths = sorted(produced)
    found = scan_files_for_raw_rows(paths, inputs, folder, exp.privacy.leak_min_values,
                                    memo=scanned)
    return memo.put(canonical({
        "files": len(paths), "min_values": exp.privacy.leak_min_values,
        "tenants": {t: found[t] for t in exp.tenants if t in found}, "notes": notes}))


def _tenant_leaks(leaks: Mapping[str, Any] | None, tenant: str) -> tuple[list | None, str]:
    """A tenant's leak-scan findings — or None and why there are none."""
    if leaks is None:
        return None, "the fairness notebook is not in this experiment's notebooks: no leak scan"
    if tenant in (leaks.get("notes") or {}):
        return None, leaks["notes"][tenant]
    findings = (leaks.get("tenants") or {}).get(tenant)
    return (None, "the tenant was not scanned for") if findings is None else (findings, "")


def build_fairness_report(result: RunResult, leaks: Mapping[str, Any] | None = None) -> dict:
    """The ``fairness_report.json`` content: per tenant the fairness notebook's per-segment and
    per-attribute-group metrics (small cells suppressed), their gaps against the thresholds,
    the uplift vs truth, the privacy findings (PII, k-anonymity, the run's leak scan) and the
    fairness and privacy gates. ``leaks``: the run's leak scan (scanned now when not given).
    No wall-clock time, no absolute path."""
    exp = result.exp
    output_dir = Path(result.output_dir)
    leaks = leak_findings(result) if leaks is None else leaks
    settings = exp.gates.fairness
    tenants: dict[str, dict] = {}
    for tenant in exp.tenants:
        scraps, why = notebook_scraps(result, tenant, FAIRNESS_NOTEBOOK)
        task = result.task(tenant, FAIRNESS_NOTEBOOK)
        error = task.error if task is not None and task.status != "ok" else None
        if error:
            error = error.replace(f"{output_dir}{os.sep}", "").replace(str(output_dir), ".")
        fairness = None if scraps is None else scraps.get("fairness")
        privacy = None if scraps is None else scraps.get("privacy")
        findings, leaks_why = _tenant_leaks(leaks, tenant)
        tenants[tenant] = {
            "display_name": exp.label(tenant),
            "status": "ok" if scraps is not None else ("error" if error else "not run"),
            "error": error if scraps is None else None,
            "note": why or None,
            "fairness": fairness,
            "parity": parity_checks(fairness, settings,
                                    ("mape", "normalised_bias", "uplift_error")),
            "privacy": {**(privacy or {}),
                        "leak_scan": {"findings": findings, "note": leaks_why or None}},
            "gates": [
                fairness_error_parity_gate(fairness, settings, why),
                fairness_uplift_gap_gate(fairness, settings, why),
                privacy_no_pii_gate(privacy, why),
                privacy_k_anonymity_gate(privacy, why),
                privacy_no_raw_rows_gate(findings, leaks_why),
            ],
        }
    return canonical({
        "schema_version": SCHEMA_VERSION,
        "artifact": "fairness_report",
        "experiment": exp.experiment,
        "run_id": result.run_id,
        "package_version": mmm_evidence.__version__,
        "git_commit": result.git_commit,
        "settings": {"fairness": exp.fairness.model_dump(mode="json"),
                     "privacy": exp.privacy.model_dump(mode="json"),
                     "gates": settings.model_dump(mode="json")},
        "leak_scan": (None if leaks is None else
                      {"files": leaks.get("files"), "min_values": leaks.get("min_values")}),
        "tenant_order": list(exp.tenants),
        "tenants": tenants,
    })


# --------------------------------------------------------------------------- run manifest


def _output_hashes(task, output_dir: Path) -> dict[str, str]:
    """{relative path: SHA-256} of a task's executed notebook and HTML exports that exist:
    packaging checks that the files it bundles are this run's (``bundle.write_bundle``)."""
    out = {}
    for path in (task.ipynb, task.html, task.reviewer_html):
        if path is not None and Path(path).is_file():
            out[_relative(path, output_dir)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return out


def build_run_manifest(result: RunResult) -> dict:
    """The ``run_manifest.json`` content: provenance and timings (the only wall-clock data)."""
    exp = result.exp
    output_dir = Path(result.output_dir)
    return canonical({
        "schema_version": SCHEMA_VERSION,
        "artifact": "run_manifest",
        "experiment": exp.experiment,
        "run_id": result.run_id,
        "package_version": mmm_evidence.__version__,
        "started": result.started,
        "finished": result.finished,
        "seconds": result.seconds,
        "workers": result.workers,
        "executor": result.executor,
        "cache": result.cache,
        "kernel": result.kernel,
        "python": {"version": platform.python_version(), "implementation":
                   platform.python_implementation(), "executable": sys.executable},
        "platform": platform.platform(),
        "packages": package_versions(),
        "git": {"commit": result.git_commit, "dirty": git_dirty(exp.path)},
        "experiment_file": str(exp.path) if exp.path else None,
        "output_dir": str(output_dir),
        "params_hash": exp.params_hash(),
        "parameters": exp.resolved(),
        "data_hashes": {tenant: dict(files) for tenant, files in result.data_hashes.items()},
        "notebook_hashes": {name: hashlib.sha256(blob).hexdigest()
                            for name, blob in result.notebook_bytes.items()},
        "data_seconds": result.data_seconds,
        "tasks": [
            {"tenant": t.tenant, "notebook": t.notebook, "status": t.status,
             "seconds": t.seconds, "execute_seconds": t.execute_seconds, "error": t.error,
             "ipynb": _relative(t.ipynb, output_dir), "html": _relative(t.html, output_dir),
             "reviewer_html": _relative(t.reviewer_html, output_dir),
             "sha256": _output_hashes(t, output_dir),
             "cached": t.cached, "cache_key": t.cache_key,
             "cache_rejected": t.cache_rejected}
            for t in result.tasks
        ],
        "environment": dict(result.kernel_env),
    })
