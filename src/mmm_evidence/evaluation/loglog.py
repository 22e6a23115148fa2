"""Log-log OLS with controls: the classic econometric comparison model for MMM v2.

For segment g and week t::

    log KPI[g,t] = baseline_g(t) + sum_c e_c * log(1 + x[g,t,c] / s_c) + error

- baseline_g(t) is MMM v2's per-segment baseline design (``baseline_design``): intercept,
  linear trend, Fourier yearly terms and the controls, every coefficient per segment;
- x[g,t,c] is channel c's per-capita spend (spend / segment size) and s_c its mean over the
  fitted rows, so the media coefficients e_c are shared across segments (as in MMM v2);
- no carryover and no saturation curve beyond the log: the textbook constant-elasticity
  model fitted by ordinary least squares (the baseline projected out per segment, then the
  media coefficients by OLS, unconstrained in sign).

Predictions are ``exp`` of the fitted log (no retransformation correction: a constant factor
cancels in elasticities and shares). Elasticities and contribution shares are computed by
prediction with DESIGN.md's definitions, never read off the coefficients.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmm_evidence.config import ModelSettings
from mmm_evidence.data.panel import Panel
from mmm_evidence.model.elasticity import spend_elasticities
from mmm_evidence.model.linalg import column_basis, lstsq_columns
from mmm_evidence.model.mmm import NotFittedError, baseline_design, yearly_order


class LogLogOLS:
    """Log-log OLS: ``fit(panel)``, then ``predict``, ``elasticities``,
    ``contribution_shares``. Uses ``settings.fourier_order`` (none on less than
    ``settings.seasonality_min_weeks``: ``yearly_order``) and ``settings.trend``."""

    def __init__(self, settings: ModelSettings | None = None):
        self.settings = settings or ModelSettings()
        self._fitted = False

    def fit(self, panel: Panel) -> LogLogOLS:
        """Fit by OLS on log KPI; every KPI value must be > 0."""
        if not np.all(panel.kpi > 0):
            bad = int((~(panel.kpi > 0)).sum())
            raise ValueError(f"tenant {panel.tenant!r}: column {panel.kpi_name!r}: log-log OLS "
                             f"needs a KPI > 0 in every row; {bad} rows are not")
        self.channels = tuple(panel.channels)
        self.segments = tuple(panel.segments)
        self.control_names = tuple(panel.control_names)
        self.size = np.asarray(panel.size, dtype=float).copy()
        self.origin = pd.Timestamp(panel.dates[0])
        self.scale_weeks = float(max(panel.n_weeks - 1, 1))
        self.fourier_order = yearly_order(self.settings.fourier_order, panel.n_weeks,
                                          self.settings.seasonality_min_weeks)
        per_capita = panel.spend / self.size[:, None, None]
        scale = per_capita.mean(axis=(0, 1))
        self.scale = np.where(scale > 0, scale, 1.0)
        x = self._baseline(panel)  # (G, T, p)
        z = self._media(panel.spend)  # (G, T, C)
        y = np.log(panel.kpi)
        # Frisch-Waugh-Lovell: project the per-segment baseline out of y and z, then OLS
        z_res = np.empty_like(z)
        y_res = np.empty_like(y)
        for g in range(panel.n_segments):
            q = column_basis(x[g])
            y_res[g] = y[g] - q @ (q.T @ y[g])
            z_res[g] = z[g] - q @ (q.T @ z[g])
        self.coef = np.linalg.lstsq(z_res.reshape(-1, z.shape[2]), y_res.reshape(-1),
                                    rcond=None)[0]
        base_target = y - z @ self.coef
        self.baseline_coef = np.stack([lstsq_columns(x[g], base_target[g])
                                       for g in range(panel.n_segments)])
        self._fitted = True
        return self

    def _baseline(self, panel: Panel) -> np.ndarray:
        return baseline_design(panel.dates, panel.controls, self.origin, self.scale_weeks,
                               self.fourier_order, self.settings.trend)

    def _media(self, spend: np.ndarray) -> np.ndarray:
        """Regressors log(1 + per-capita spend / scale), (G, T, C)."""
        return np.log1p(np.maximum(spend, 0.0) / self.size[:, None, None] / self.scale)

    def _check(self, panel: Panel) -> None:
        if not self._fitted:
            raise NotFittedError("LogLogOLS.fit must be called first")
        for what, mine, theirs in (("channels", self.channels, panel.channels),
                                   ("segments", self.segments, panel.segments),
                                   ("controls", self.control_names, panel.control_names)):
            if tuple(theirs) != mine:
                raise ValueError(f"panel {what} {tuple(theirs)} differ from the fitted {mine}")

    def predict_log(self, panel: Panel, spend: np.ndarray | None = None) -> np.ndarray:
        """Fitted log KPI (G, T) for the panel's weeks (optionally with another spend array)."""
        self._check(panel)
        spend = panel.spend if spend is None else np.asarray(spend, dtype=float)
        base = np.einsum("gtp,gp->gt", self._baseline(panel), self.baseline_coef)
        return base + self._media(spend) @ self.coef

    def predict(self, panel: Panel, spend: np.ndarray | None = None) -> np.ndarray:
        """Predicted KPI (G, T) = exp(fitted log KPI)."""
        return np.exp(self.predict_log(panel, spend))

    def elasticities(self, panel: Panel, step: float = 0.01) -> dict[str, float]:
        """% change of total predicted KPI when a channel's spend is x(1+step) in every week,
        divided by step in % (DESIGN.md's definition)."""
        return spend_elasticities(self, panel, step)

    def contribution_shares(self, panel: Panel) -> dict[str, float]:
        """Each channel's removal contribution (total predicted KPI minus total predicted KPI
        with the channel's spend set to zero) divided by total predicted KPI. In a
        multiplicative model these do not add up to the media share exactly."""
        total = self.predict(panel).sum()
        out = {}
        for c, ch in enumerate(self.channels):
            spend = panel.spend.copy()
            spend[:, :, c] = 0.0
            out[ch] = float((total - self.predict(panel, spend).sum()) / total)
        return out

    def media_coefficients(self) -> dict[str, float]:
        """The fitted coefficients e_c of log(1 + x / s_c) (the elasticity at x >> s_c)."""
        if not self._fitted:
            raise NotFittedError("LogLogOLS.fit must be called first")
        return {ch: float(self.coef[c]) for c, ch in enumerate(self.channels)}

