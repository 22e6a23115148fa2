"""Validation of MMM v2 on one tenant: holdout fit and scores, full-history refit, truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmm_evidence.config import ModelSettings
from mmm_evidence.data.panel import Panel
from mmm_evidence.evaluation.metrics import scores
from mmm_evidence.model.mmm import MMM


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

    def elasticity_table(self):
        """DataFrame per channel: estimate, truth, relative error, contribution shares, ROI."""
        import pandas as pd

        truth = self.truth()
        rows = []
        for c in self.panel.channels:
            row = {"channel": c, "elasticity": self.elasticities[c],
                   "contribution_share": self.contribution_shares[c], "roi": self.roi[c]}
            if truth:
                t = truth["elasticity"][c]
                row.update({"true_elasticity": t,
                            "relative_error": abs(row["elasticity"] - t) / abs(t) if t else None,
                            "true_contribution_share": truth["contribution_share"][c],
                            "true_roi": truth["roi"][c]})
            rows.append(row)
        return pd.DataFrame(rows).set_index("channel")

    def data_summary(self) -> dict:
        p = self.panel
        return {
            "weeks": p.n_weeks, "train_weeks": self.train_weeks,
            "holdout_weeks": self.holdout_weeks, "segments": p.n_segments,
            "channels": list(p.channels), "controls": list(p.control_names),
            "start": p.dates[0].date().isoformat(), "end": p.dates[-1].date().isoformat(),
            "kpi": p.kpi_name, "total_kpi": float(p.kpi.sum()),
            "total_spend": {c: float(p.spend[:, :, i].sum()) for i, c in enumerate(p.channels)},
        }

    def scraps(self) -> dict:
        """The JSON-able values the notebook glues (names are the scrap names)."""
        d = self.full_model.diagnostics
        return {
            "tenant": self.panel.tenant,
            "data_summary": self.data_summary(),
            "metrics": self.metrics,
            "elasticities": self.elasticities,
            "contribution_shares": self.contribution_shares,
            "roi": self.roi,
            "truth": self.truth(),
            "model": {"version": self.full_model.to_dict()["model_version"],
                      "media": self.full_model.media_parameters()},
            "fit": {"objective": d.objective, "n_starts": d.n_starts,
                    "converged": d.converged, "bounds_hit": d.bounds_hit,
                    "n_observations": d.n_observations,
                    "n_linear_parameters": d.n_linear_parameters,
                    "holdout_fit_converged": self.holdout_model.diagnostics.converged},
        }


def validate_tenant(panel: Panel, settings: ModelSettings, holdout_weeks: int,
                    seed: int) -> TenantValidation:
    """Fit on all but the last `holdout_weeks`, score the holdout on the weekly total KPI,
    then refit on the full history for elasticities, contribution shares and ROI."""
    if not 0 < holdout_weeks < panel.n_weeks:
        raise ValueError(f"tenant {panel.tenant!r}: holdout_weeks={holdout_weeks} must be between "
                         f"1 and the {panel.n_weeks} weeks of data minus one")
    train = panel.weeks(None, panel.n_weeks - holdout_weeks)
    holdout_model = MMM(settings, seed=seed).fit(train)
    prediction = holdout_model.predict(panel)
    actual = panel.total_kpi()
    predicted = prediction.sum(axis=0)
    cut = panel.n_weeks - holdout_weeks
    metrics = {"holdout": scores(actual[cut:], predicted[cut:]),
               "in_sample": scores(actual[:cut], predicted[:cut])}
    full_model = MMM(settings, seed=seed).fit(panel)
    return TenantValidation(
        panel=panel, holdout_weeks=holdout_weeks, holdout_model=holdout_model,
        full_model=full_model, prediction=prediction, metrics=metrics,
        elasticities=full_model.elasticities(panel),
        contribution_shares=full_model.contribution_shares(panel), roi=full_model.roi(panel))
