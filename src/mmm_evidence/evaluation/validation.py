"""Validation of MMM v2 on one tenant: holdout fit and scores, full-history refit, truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from mmm_evidence.config import EvaluationSettings, ModelSettings
from mmm_evidence.data.findings import data_findings
from mmm_evidence.data.lift import LiftTest
from mmm_evidence.data.panel import Panel
from mmm_evidence.evaluation.lift import compare_lift_tests
from mmm_evidence.evaluation.metrics import contribution_slope, rmse, scores
from mmm_evidence.evaluation.splits import Split, cv_splits, holdout_split
from mmm_evidence.model.mmm import MMM
from mmm_evidence.model.uncertainty import Uncertainty, block_bootstrap


class ModelFits(Protocol):
    """A tenant's MMM v2 fits, made once and shared by its notebooks
    (``pipeline.models.FittedModels``): the evaluations take their fits from one instead of
    fitting."""

    def fit(self, train_weeks: int | None = None) -> MMM:
        """MMM v2 fitted on the first ``train_weeks`` weeks (None: the whole history)."""

    def full(self) -> MMM:
        """MMM v2 fitted on the whole history."""

    def check_compatible(self, panel: Panel, settings: ModelSettings, seed: int,
                         calibrated: bool) -> None:
        """Raise ValueError unless these are fits of ``panel`` with ``settings``, ``seed``
        and (no) calibration."""


@dataclass
class TenantValidation:
    """Everything the validation notebook shows and glues for one tenant."""

    panel: Panel
    holdout_weeks: int
    holdout_model: MMM  # fitted on all but the last `holdout_weeks` weeks
    full_model: MMM  # refitted on the full history: reported elasticities, shares, ROI
    prediction: np.ndarray  # (G, T) from the holdout model over the whole panel
    metrics: dict
    elasticities: dict[str, float]
    contribution_shares: dict[str, float]
    roi: dict[str, float | None]
    uncertainty: Uncertainty | None = None
    lift_tests: list[dict] | None = None
    calibrated: bool = False
    #: the full-history model's form given the TRUE media response (decay, half-saturation,
    #: shape; only the linear part fitted): the floor of its elasticity error on these data.
    #: None when the truth does not carry the media parameters.
    oracle_elasticities: dict[str, float] | None = None
    #: what in the data limits any model (``tenant_findings``)
    findings: list[dict] = field(default_factory=list)

    @property
    def train_weeks(self) -> int:
        return self.panel.n_weeks - self.holdout_weeks

    def truth(self) -> dict | None:
        """Truth in the scrap shape, or None for a tenant without a truth file."""
        t = self.panel.truth
        if not t:
            return None
        ch = t["channels"]
        return {
            "elasticity": {c: ch[c].get("elasticity") for c in self.panel.channels},
            "contribution_share": {c: ch[c].get("contribution_share")
                                   for c in self.panel.channels},
            "roi": {c: ch[c].get("roi") for c in self.panel.channels},
        }

    def metrics_table(self):
        """DataFrame of the weekly-total scores: holdout, in-sample, each CV fold, CV mean."""
        import pandas as pd

        cols = ["r2", "mape", "nrmse", "rmse"]
        rows = {"holdout": self.metrics["holdout"], "in-sample": self.metrics["in_sample"]}
        for fold in self.metrics["cv"]["folds"]:
            label = f"CV {fold['name']} (weeks {fold['test_start'] + 1}-{fold['test_end']})"
            rows[label] = fold
        if self.metrics["cv"]["mean"]:
            rows["CV mean"] = self.metrics["cv"]["mean"]
        frame = pd.DataFrame({k: {c: v.get(c) for c in cols} for k, v in rows.items()}).T
        return frame.rename_axis("weekly total KPI")

    def elasticity_table(self):
        """DataFrame per channel: estimate, truth, relative error, contribution shares, ROI,
        and the contribution slope, elasticity / contribution share (the % the channel's
        contribution moves per 1 % of its spend; near 0: a response flat at today's spend,
        whose share and ROI the data cannot tell from the baseline —
        ``pipeline.gates.flat_responses``)."""
        import pandas as pd

        truth = self.truth()
        rows = []
        for c in self.panel.channels:
            share = self.contribution_shares[c]
            row = {"channel": c, "elasticity": self.elasticities[c],
                   "contribution_share": share, "roi": self.roi[c],
                   "contribution_slope": contribution_slope(self.elasticities[c], share)}
            if truth:
                t = truth["elasticity"][c]
                row.update({"true_elasticity": t,
                            "relative_error": abs(row["elasticity"] - t) / abs(t) if t else None,
                            "true_contribution_share": truth["contribution_share"][c],
                            "true_roi": truth["roi"][c]})
            if self.oracle_elasticities and truth:
                o, t = self.oracle_elasticities[c], truth["elasticity"][c]
                row.update({"oracle_elasticity": o,
                            "oracle_relative_error": abs(o - t) / abs(t) if t else None})
            if self.uncertainty:
                iv = self.uncertainty.interval("elasticity")[c]
                row.update({"elasticity_low": iv["low"], "elasticity_high": iv["high"]})
            rows.append(row)
        return pd.DataFrame(rows).set_index("channel")

    def fit_note(self) -> str:
        """One Markdown line on how the full-history fit went: its starts, convergence,
        parameters at a bound, and whether a decay profile found a better optimum than the
        multi-start (``FitDiagnostics.profile_refits``) or still finds one."""
        d = self.full_model.diagnostics
        parts = [f"full-history fit from {d.n_starts} start(s), "
                 + ("converged" if d.converged else "**did not converge**")]
        if d.bounds_hit:
            parts.append(f"at a bound: {', '.join(d.bounds_hit)}")
        if d.profile_below_fit:
            parts.append(f"**not the optimum**: after {d.profile_refits} re-fit(s) a decay "
                         "profile still finds a lower objective")
        elif d.profile_refits:
            parts.append(f"the multi-start missed the optimum: a decay profile found one "
                         f"{d.profile_refit_gain:.2f} lower in objective and the fit was "
                         f"re-optimised from it ({d.profile_refits}×)")
        else:
            parts.append("no decay profile found a lower objective than the fit")
        return "; ".join(parts) + "."

    def data_summary(self) -> dict:
        p = self.panel
        return {
            "weeks": p.n_weeks, "train_weeks": self.train_weeks,
            "holdout_weeks": self.holdout_weeks, "segments": p.n_segments,
            "channels": list(p.channels), "controls": list(p.control_names),
            "start": p.dates[0].date().isoformat(), "end": p.dates[-1].date().isoformat(),
            "kpi": p.kpi_name, "total_kpi": float(p.kpi.sum()),
            "total_spend": {c: float(p.spend[:, :, i].sum()) for i, c in enumerate(p.channels)},
            "findings": self.findings,
        }

    def weekly_totals(self) -> dict:
        """The weekly total KPI, actual and as the holdout model predicts it (the model card's
        actual-vs-predicted plot is drawn from this, not from the model)."""
        return {
            "dates": [d.date().isoformat() for d in self.panel.dates],
            "actual": [float(v) for v in self.panel.total_kpi()],
            "predicted": [float(v) for v in self.prediction.sum(axis=0)],
            "train_weeks": self.train_weeks,
            "kpi": self.panel.kpi_name,
        }

    def scraps(self) -> dict:
        """The JSON-able values the notebook glues (names are the scrap names)."""
        d = self.full_model.diagnostics
        return {
            "tenant": self.panel.tenant,
            "data_summary": self.data_summary(),
            "weekly_totals": self.weekly_totals(),
            "metrics": self.metrics,
            "elasticities": self.elasticities,
            "contribution_shares": self.contribution_shares,
            "roi": self.roi,
            "truth": self.truth() or {},  # scrapbook cannot glue None: {} = no truth
            "oracle_elasticities": self.oracle_elasticities or {},
            "uncertainty": self.uncertainty.summary() if self.uncertainty else {},
            "lift_tests": ({"calibrated": self.calibrated, "tests": self.lift_tests}
                           if self.lift_tests else {}),
            "model": {"version": self.full_model.to_dict()["model_version"],
                      "media": self.full_model.media_parameters()},
            "fit": {"objective": d.objective, "n_starts": d.n_starts,
                    "converged": d.converged, "bounds_hit": d.bounds_hit,
                    "n_observations": d.n_observations,
                    "n_linear_parameters": d.n_linear_parameters,
                    "profile_refits": d.profile_refits,
                    "profile_refit_gain": d.profile_refit_gain,
                    "profile_below_fit": d.profile_below_fit,
                    "holdout_fit_converged": self.holdout_model.diagnostics.converged},
        }


def forecast_split(panel: Panel, split: Split, settings: ModelSettings, seed: int,
                   lift_tests: Sequence[LiftTest] = (), models: ModelFits | None = None
                   ) -> tuple[MMM, np.ndarray]:
    """Fit on the split's training weeks only (or take that fit from ``models``, the tenant's
    cached fits); predict (G, weeks up to the test end)."""
    if models is not None:
        model = models.fit(split.train_end)
    else:
        model = MMM(settings, seed=seed).fit(panel.weeks(None, split.train_end),
                                             lift_tests=lift_tests)
    return model, model.predict(panel.weeks(None, split.test_end))


def holdout_train_weeks(panel: Panel, evaluation: EvaluationSettings) -> int:
    """The holdout fit's training weeks: all but the last ``evaluation.holdout_weeks``; an
    error naming the tenant and the setting when the data are too short for that holdout."""
    return _tenant_holdout_split(panel, evaluation.holdout_weeks).train_end


def _tenant_holdout_split(panel: Panel, holdout_weeks: int):
    try:
        return holdout_split(panel.n_weeks, holdout_weeks)
    except ValueError as exc:
        raise ValueError(f"tenant {panel.tenant!r}: {exc}") from None


def tenant_findings(panel: Panel, evaluation: EvaluationSettings,
                    settings: ModelSettings | None = None) -> list[dict]:
    """The data findings (``data.findings``) for this evaluation's holdout and folds (and,
    with the model ``settings``, the fits too short for a yearly seasonality)."""
    return data_findings(panel, evaluation.holdout_weeks,
                         [(s.name, s.train_end) for s in cv_splits(panel.n_weeks, evaluation)],
                         settings.seasonality_min_weeks if settings is not None else 0)


def cross_validation(panel: Panel, settings: ModelSettings, evaluation: EvaluationSettings,
                     seed: int, lift_tests: Sequence[LiftTest] = (),
                     models: ModelFits | None = None) -> dict:
    """Rolling-origin folds: scores of the weekly total KPI per fold and their mean."""
    folds = []
    actual = panel.total_kpi()
    for split in cv_splits(panel.n_weeks, evaluation):
        _, pred = forecast_split(panel, split, settings, seed, lift_tests, models)
        test = slice(split.train_end, split.test_end)
        folds.append({**split.as_dict(),
                      **scores(actual[test], pred.sum(axis=0)[split.train_end:])})
    mean = ({k: float(np.mean([f[k] for f in folds])) for k in ("r2", "mape", "nrmse", "rmse")}
            if folds else None)
    return {"folds": folds, "mean": mean}


def oracle_fit(panel: Panel, settings: ModelSettings, seed: int) -> MMM | None:
    """MMM v2's form fitted on the full history given the true media response (decay,
    half-saturation, shape; only the linear part fitted): what the form reaches on these data
    with nothing to estimate but the baselines and the coefficients. None without the true
    media parameters."""
    media = panel.true_media()
    if media is None:
        return None
    return MMM(settings, seed=seed).fit_fixed(panel, *media)


def oracle_elasticities(panel: Panel, settings: ModelSettings, seed: int
                        ) -> dict[str, float] | None:
    """The elasticities of ``oracle_fit`` (None without the true media parameters)."""
    oracle = oracle_fit(panel, settings, seed)
    return None if oracle is None else oracle.elasticities(panel)


def validate_tenant(panel: Panel, settings: ModelSettings, evaluation: EvaluationSettings,
                    seed: int, calibrate: bool = False, models: ModelFits | None = None
                    ) -> TenantValidation:
    """Fit on all but the last holdout weeks and score them on the weekly total KPI; score
    rolling-origin folds; refit on the full history for elasticities, shares and ROI; compare
    the tenant's lift tests (``panel.meta["lift_tests"]``) with the model's implied lift.

    With ``calibrate``, the lift tests also enter every fit as a calibration prior (each fit
    uses the tests inside its own training weeks); their comparison is then in-sample.

    ``models`` (``pipeline.models.tenant_models``): the holdout, fold and full-history fits
    are taken from these cached fits of the same panel, settings, seed and calibration instead
    of being fitted here (same numbers: the fits are deterministic and round-trip exactly)."""
    tests = list(panel.meta.get("lift_tests", ()))
    calibration = tests if calibrate else ()
    if models is not None:
        models.check_compatible(panel, settings, seed, calibrated=bool(calibration))
    holdout_weeks = evaluation.holdout_weeks
    split = _tenant_holdout_split(panel, holdout_weeks)
    holdout_model, prediction = forecast_split(panel, split, settings, seed, calibration,
                                               models)
    actual = panel.total_kpi()
    predicted = prediction.sum(axis=0)
    cut = split.train_end
    metrics = {"holdout": scores(actual[cut:], predicted[cut:]),
               "in_sample": scores(actual[:cut], predicted[:cut])}
    # the noise floor the fit's residuals imply: holdout RMSE over in-sample residual RMSE,
    # scaled up for every parameter the fit spent (linear and nonlinear), per segment-week
    # series: the weekly total keeps cut - p / G of its cut weeks' degrees of freedom
    dof = max(holdout_model.diagnostics.residual_dof / panel.n_segments, 1.0)
    noise_rmse = rmse(actual[:cut], predicted[:cut]) * np.sqrt(cut / dof)
    metrics["holdout"]["rmse_to_noise"] = metrics["holdout"]["rmse"] / noise_rmse
    metrics["noise_floor"] = {"rmse": noise_rmse,
                              "mape": float(noise_rmse / np.mean(np.abs(actual[:cut])))}
    metrics["cv"] = cross_validation(panel, settings, evaluation, seed, calibration, models)
    full_model = (models.full() if models is not None
                  else MMM(settings, seed=seed).fit(panel, lift_tests=calibration))
    uncertainty = None
    if evaluation.bootstrap_replicates:
        uncertainty = block_bootstrap(full_model, panel, evaluation.bootstrap_replicates,
                                      evaluation.bootstrap_block_weeks, seed,
                                      evaluation.interval_level, calibration)
    return TenantValidation(
        panel=panel, holdout_weeks=holdout_weeks, holdout_model=holdout_model,
        full_model=full_model, prediction=prediction, metrics=metrics,
        elasticities=full_model.elasticities(panel),
        contribution_shares=full_model.contribution_shares(panel), roi=full_model.roi(panel),
        uncertainty=uncertainty,
        lift_tests=compare_lift_tests(full_model, panel, tests) if tests else None,
        calibrated=bool(calibration),
        oracle_elasticities=oracle_elasticities(panel, settings, seed),
        findings=tenant_findings(panel, evaluation, settings))
