"""Tenant data: schema and validation, CSV loader, synthetic generator with ground truth.

The two entry points the rest of the package uses:

- ``prepare_tenant_data(exp, tenant, output_dir)`` writes (synthetic) or checks (CSV) a
  tenant's input files and returns their SHA-256 hashes; the runner calls it once per run.
- ``load_tenant_panel(exp, tenant, output_dir)`` returns the tenant's validated ``Panel``;
  notebooks call it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from mmm_evidence.config import ExperimentConfig
from mmm_evidence.data.panel import Panel

__all__ = ["Panel", "prepare_tenant_data", "load_tenant_panel", "tenant_data_dir",
           "file_sha256", "check_history"]


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tenant_data_dir(output_dir: str | Path, tenant: str) -> Path:
    """Where a synthetic tenant's generated files live inside a run's output folder."""
    return Path(output_dir) / "data" / tenant


def check_history(n_weeks: int, holdout_weeks: int, min_train_weeks: int, source: str) -> None:
    """Raise DataError when ``n_weeks`` of data leave the holdout fit fewer training weeks
    than ``holdout_weeks`` or ``min_train_weeks`` (``evaluation.min_train_weeks``): a fit
    shorter than its test validates nothing. ``source`` names the data."""
    from mmm_evidence.data.schema import DataError

    need = max(holdout_weeks, min_train_weeks)
    if n_weeks - holdout_weeks < need:
        raise DataError(
            f"{source}: {n_weeks} weeks of data; the holdout takes the last {holdout_weeks} "
            f"(evaluation.holdout_weeks) and its fit needs at least {need} weeks before them "
            f"(as many as the holdout, and evaluation.min_train_weeks = {min_train_weeks}): "
            f"bring at least {holdout_weeks + need} weeks, or shorten the holdout")


def prepare_tenant_data(
    exp: ExperimentConfig, tenant: str, output_dir: str | Path,
    check: Callable[[Panel], None] | None = None,
) -> dict[str, str]:
    """Materialise (synthetic) or check (CSV) a tenant's inputs; return {path: sha256}.
    ``check``: a further check of a CSV tenant's panel from a layer above (the pipeline's:
    ``evaluation.splits.check_split_sizes``), raising DataError."""
    cfg = exp.tenant(tenant)
    history = (exp.evaluation.holdout_weeks, exp.evaluation.min_train_weeks)
    if cfg.data.synthetic is not None:
        from mmm_evidence.data.synthetic import write_synthetic_tenant

        check_history(cfg.data.synthetic.weeks, *history, f"{cfg.path}: data.synthetic.weeks")
        files = write_synthetic_tenant(cfg, tenant_data_dir(output_dir, tenant))
    else:
        from mmm_evidence.data.lift import attach_lift_tests
        from mmm_evidence.data.loader import read_tenant_csv

        # validates; raises DataError naming file, column and rows
        panel = attach_lift_tests(read_tenant_csv(cfg), cfg.data.source.lift_tests,
                                  cfg.calibrate_with_lift_tests)
        check_history(panel.n_weeks, *history, str(cfg.data.source.csv))
        if check is not None:
            check(panel)
        src = cfg.data.source
        files = [p for p in (src.csv, src.segments_csv, src.truth, src.lift_tests)
                 if p is not None]
    return {str(p): file_sha256(p) for p in files}


def load_tenant_panel(exp: ExperimentConfig, tenant: str, output_dir: str | Path) -> Panel:
    """The tenant's validated panel (synthetic tenants are generated on first use)."""
    cfg = exp.tenant(tenant)
    if cfg.data.synthetic is not None:
        from mmm_evidence.data.synthetic import read_synthetic_tenant

        return read_synthetic_tenant(cfg, tenant_data_dir(output_dir, tenant))
    from mmm_evidence.data.lift import attach_lift_tests
    from mmm_evidence.data.loader import read_tenant_csv

    return attach_lift_tests(read_tenant_csv(cfg), cfg.data.source.lift_tests,
                             cfg.calibrate_with_lift_tests)
