"""Simple alternatives to MMM v2, scored on exactly the validation splits.

Five baselines, each with the MMM's interface where that makes sense — ``fit(panel)`` on the
training weeks, then ``predict(panel, spend=None)`` -> (G, T) for a panel that starts at the
same week as the fitted one (weeks past the fitted ones are the forecast):

- ``naive``: each segment's last observed value;
- ``seasonal_naive``: each segment's value 52 weeks earlier (horizon weeks more than a year past
  the training end repeat the last observed year);
- ``no_media``: MMM v2's own baseline alone — ordinary least squares on a per-segment
  intercept, trend, Fourier yearly seasonality and controls, no spend at all. The MMM's skill
  against it is what its media part adds to a forecast: where it is not above zero, the media
  effects the MMM reports have no out-of-sample support;
- ``linear``: ordinary least squares on raw spend (one coefficient per channel, shared by the
  segments) plus a per-segment intercept, trend, Fourier yearly seasonality and controls — MMM
  v2's baseline without adstock and saturation;
- ``lightgbm``: gradient-boosted trees on per-capita spend, lagged spend, calendar, controls and
  the segment, predicting per-capita KPI (deterministic: fixed seed, one thread).

``compare_baselines`` fits the MMM and every baseline on the holdout split and the rolling-origin
folds of the validation notebook, scores the weekly total KPI, computes the MMM's skill against
each baseline (1 − MMM error / baseline error) and, from full-history fits, the elasticities the
linear and LightGBM baselines imply next to the MMM's and the truth's.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mmm_evidence.config import EvaluationSettings, ModelSettings
from mmm_evidence.data.panel import Panel
from mmm_evidence.evaluation.metrics import scores, skill_score
from mmm_evidence.evaluation.splits import Split, evaluation_splits
from mmm_evidence.model.elasticity import spend_elasticities

if TYPE_CHECKING:
    from mmm_evidence.evaluation.validation import ModelFits

MMM_NAME = "mmm"
NAIVE = "naive"
SEASONAL_NAIVE = "seasonal_naive"
NO_MEDIA = "no_media"
LINEAR = "linear"
LIGHTGBM = "lightgbm"
#: Every baseline, in the order they are reported.
BASELINES = (NAIVE, SEASONAL_NAIVE, NO_MEDIA, LINEAR, LIGHTGBM)
#: Baselines that respond to spend (their elasticities are compared with the MMM's).
SPEND_BASELINES = (LINEAR, LIGHTGBM)
#: Errors the skill score is computed for (NRMSE and RMSE give the same skill on one split).
SKILL_METRICS = ("mape", "nrmse")
METRICS = ("r2", "mape", "nrmse", "rmse")
SEASON_WEEKS = 52
CV_MEAN = "cv_mean"

__all__ = [
    "MMM_NAME", "BASELINES", "SPEND_BASELINES", "SKILL_METRICS", "SEASON_WEEKS", "CV_MEAN",
    "NaiveBaseline", "SeasonalNaiveBaseline", "LinearBaseline", "NoMediaBaseline",
    "LightGBMBaseline",
    "make_baseline", "skill_scores", "elasticity_comparison",
    "BaselineComparison", "compare_baselines",
]


# --------------------------------------------------------------------------- helpers


def _week_offsets(origin: pd.Timestamp, dates: pd.DatetimeIndex) -> np.ndarray:
    """Whole weeks from ``origin`` to each date (the panel must be on the fitted calendar)."""
    days = (pd.DatetimeIndex(dates) - origin).days.to_numpy()
    if np.any(days % 7) or np.any(days < 0):
        raise ValueError(f"the panel's weeks ({dates[0].date()} ...) are not on the fitted "
                         f"weekly calendar starting {origin.date()}")
    return (days // 7).astype(int)


def calendar_design(dates: pd.DatetimeIndex, origin: pd.Timestamp, scale_weeks: float,
                    fourier_order: int, trend: bool) -> np.ndarray:
    """(T, q): intercept, linear trend (weeks since origin / scale_weeks) and Fourier yearly
    terms — the same calendar columns as MMM v2's baseline."""
    cols = [np.ones(len(dates))]
    if trend:
        cols.append(((pd.DatetimeIndex(dates) - origin).days.to_numpy() / 7.0) / scale_weeks)
    from mmm_evidence.model.mmm import yearly_harmonics  # the model module: on first use

    cols += yearly_harmonics(dates, range(1, fourier_order + 1))
    return np.stack(cols, axis=-1)


class _Fitted:
    """Records what a fit saw and checks that a panel to predict matches it."""

    name = ""

    def _record(self, panel: Panel) -> None:
        self.segments = tuple(panel.segments)
        self.channels = tuple(panel.channels)
        self.control_names = tuple(panel.control_names)
        self.origin = pd.Timestamp(panel.dates[0])
        self.n_train = panel.n_weeks
        self._fitted = True

    def _check(self, panel: Panel) -> np.ndarray:
        if not getattr(self, "_fitted", False):
            raise RuntimeError(f"{type(self).__name__}.fit must be called first")
        for key in ("segments", "channels", "control_names"):
            if tuple(getattr(panel, key)) != getattr(self, key):
                raise ValueError(f"panel {key} {getattr(panel, key)} differ from the fitted "
                                 f"{getattr(self, key)}")
        return _week_offsets(self.origin, panel.dates)


# --------------------------------------------------------------------------- naive baselines


class NaiveBaseline(_Fitted):
    """Each segment's last observed value, for every forecast week. In the fitted weeks the
    'prediction' is the previous week's value (NaN in the first week)."""

    name = NAIVE

    def fit(self, panel: Panel) -> NaiveBaseline:
        self._record(panel)
        self.history = np.asarray(panel.kpi, dtype=float).copy()
        return self

    def _source_weeks(self, offsets: np.ndarray) -> np.ndarray:
        """The training week each week's value is taken from (-1 = none)."""
        return np.where(offsets < self.n_train, offsets - 1, self.n_train - 1)

    def predict(self, panel: Panel, spend: np.ndarray | None = None) -> np.ndarray:
        """(G, T) for the panel's weeks; ``spend`` is accepted and ignored (no spend effect)."""
        source = self._source_weeks(self._check(panel))
        out = self.history[:, np.maximum(source, 0)]
        out[:, source < 0] = np.nan
        return out


class SeasonalNaiveBaseline(NaiveBaseline):
    """Each segment's value in the same week one year (52 weeks) earlier; forecast weeks more
    than a year past the training end repeat the last observed year. In the fitted weeks the
    'prediction' is the value 52 weeks earlier (NaN in the first year)."""

    name = SEASONAL_NAIVE

    def __init__(self, season_weeks: int = SEASON_WEEKS):
        self.season_weeks = int(season_weeks)

    def fit(self, panel: Panel) -> SeasonalNaiveBaseline:
        if panel.n_weeks < self.season_weeks:
            raise ValueError(f"tenant {panel.tenant!r}: the seasonal naive baseline needs at "
                             f"least {self.season_weeks} training weeks, got {panel.n_weeks}")
        super().fit(panel)
        return self

    def _source_weeks(self, offsets: np.ndarray) -> np.ndarray:
        n, s = self.n_train, self.season_weeks
        return np.where(offsets < n, offsets - s, n - s + (offsets - n) % s)


# --------------------------------------------------------------------------- linear


class LinearBaseline(_Fitted):
    """OLS: KPI[g,t] = calendar_g(t) + controls_g(t) + Σ_c β_c · spend[g,t,c].

    Calendar (intercept, trend, Fourier yearly terms) and control coefficients are per segment,
    as in MMM v2's baseline; the spend coefficients are shared and unconstrained (they may come
    out negative). The columns are scaled to unit norm before the least-squares solve.
    """

    name = LINEAR
    #: whether spend enters the regression (``NoMediaBaseline``: no)
    media = True

    def __init__(self, fourier_order: int = 2, trend: bool = True,
                 seasonality_min_weeks: int = 52):
        self.fourier_order = int(fourier_order)
        self.trend = bool(trend)
        self.seasonality_min_weeks = int(seasonality_min_weeks)

    def _baseline(self, panel: Panel) -> np.ndarray:
        """Per-segment baseline design (G, T, p)."""
        cal = calendar_design(panel.dates, self.origin, self.scale_weeks, self.fitted_order,
                              self.trend)
        cal = np.broadcast_to(cal, (panel.n_segments, *cal.shape))
        return np.concatenate([cal, np.asarray(panel.controls, dtype=float)], axis=-1)

    def fit(self, panel: Panel) -> LinearBaseline:
        self._record(panel)
        self.scale_weeks = float(max(panel.n_weeks - 1, 1))
        from mmm_evidence.model.mmm import yearly_order  # the model module: on first use

        # as MMM v2: no yearly terms on less than a year (they would extrapolate wildly)
        self.fitted_order = yearly_order(self.fourier_order, panel.n_weeks,
                                         self.seasonality_min_weeks)
        base = self._baseline(panel)
        g_n, t_n, p = base.shape
        c_n = len(panel.channels) if self.media else 0
        design = np.zeros((g_n * t_n, g_n * p + c_n))
        for g in range(g_n):
            design[g * t_n:(g + 1) * t_n, g * p:(g + 1) * p] = base[g]
        if c_n:
            design[:, g_n * p:] = np.asarray(panel.spend, dtype=float).reshape(g_n * t_n, c_n)
        norms = np.sqrt((design ** 2).sum(axis=0))
        norms = np.where(norms > 0, norms, 1.0)
        coef, *_ = np.linalg.lstsq(design / norms, np.asarray(panel.kpi, float).reshape(-1),
                                   rcond=None)
        coef = coef / norms
        self.baseline_coef = coef[:g_n * p].reshape(g_n, p)
        self.spend_coef = coef[g_n * p:] if self.media else np.zeros(len(panel.channels))
        return self

    def predict(self, panel: Panel, spend: np.ndarray | None = None) -> np.ndarray:
        """(G, T) for the panel's weeks (optionally with another spend array)."""
        self._check(panel)
        spend = panel.spend if spend is None else spend
        base = np.einsum("gtp,gp->gt", self._baseline(panel), self.baseline_coef)
        return base + np.einsum("gtc,c->gt", np.asarray(spend, float), self.spend_coef)

    def coefficients(self) -> dict[str, float]:
        """The fitted spend coefficient per channel (KPI per unit of spend)."""
        return {c: float(b) for c, b in zip(self.channels, self.spend_coef, strict=True)}


class NoMediaBaseline(LinearBaseline):
    """MMM v2's baseline without any media: per-segment intercept, trend, Fourier yearly terms
    and controls by OLS (``LinearBaseline`` with no spend columns); spend has no effect."""

    name = NO_MEDIA
    media = False


# --------------------------------------------------------------------------- LightGBM


#: LightGBM settings: deterministic (fixed seed, one thread, column-wise histograms) and modest.
LIGHTGBM_PARAMS: dict[str, Any] = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 10,
    "feature_fraction": 1.0,
    "bagging_fraction": 1.0,
    "deterministic": True,
    "num_threads": 1,
    "force_col_wise": True,
    "verbosity": -1,
}
LIGHTGBM_ROUNDS = 200
LIGHTGBM_LAGS = (1, 2, 3, 4)


class LightGBMBaseline(_Fitted):
    """Gradient-boosted trees pooled over segments: per-capita KPI from per-capita spend (this
    week and ``lags`` weeks back), week of the year, weeks since the start, controls and the
    segment (categorical). Trees cannot extrapolate: beyond the training weeks the trend is flat.
    """

    name = LIGHTGBM

    def __init__(self, seed: int = 0, rounds: int = LIGHTGBM_ROUNDS,
                 lags: Sequence[int] = LIGHTGBM_LAGS, params: Mapping[str, Any] | None = None):
        self.seed = int(seed)
        self.rounds = int(rounds)
        self.lags = tuple(int(lag) for lag in lags)
        self.params = {**LIGHTGBM_PARAMS, **(params or {}), "seed": self.seed}

    def feature_names(self) -> list[str]:
        names = [f"spend_{c}" for c in self.channels]
        names += [f"spend_{c}_lag{lag}" for lag in self.lags for c in self.channels]
        return names + ["week_of_year", "weeks_since_start", *self.control_names, "segment"]

    def _features(self, panel: Panel, spend: np.ndarray | None) -> np.ndarray:
        """(G * T, F) feature matrix, segment-major rows (per capita by the fitted sizes)."""
        g_n, t_n = panel.n_segments, panel.n_weeks
        per_capita = (np.asarray(panel.spend if spend is None else spend, float)
                      / self.size[:, None, None])
        cols = [per_capita]
        for lag in self.lags:
            lagged = np.full_like(per_capita, np.nan)
            if lag < t_n:
                lagged[:, lag:] = per_capita[:, :-lag]
            cols.append(lagged)
        dates = pd.DatetimeIndex(panel.dates)
        calendar = np.stack([dates.isocalendar().week.to_numpy(dtype=float),
                             _week_offsets(self.origin, dates).astype(float)], axis=-1)
        cols.append(np.broadcast_to(calendar, (g_n, t_n, 2)))
        cols.append(np.asarray(panel.controls, dtype=float))
        cols.append(np.broadcast_to(np.arange(g_n, dtype=float)[:, None, None], (g_n, t_n, 1)))
        return np.concatenate(cols, axis=-1).reshape(g_n * t_n, -1)

    def fit(self, panel: Panel) -> LightGBMBaseline:
        import lightgbm

        self._record(panel)
        # the sizes of the fitted weeks, also for forecasts: a forecast panel's own sizes may
        # come from KPI weeks the fit must not see (Panel.size_from_kpi)
        self.size = np.asarray(panel.size, dtype=float).copy()
        x = self._features(panel, None)
        y = (np.asarray(panel.kpi, float) / self.size[:, None]).reshape(-1)
        names = self.feature_names()
        data = lightgbm.Dataset(x, y, feature_name=names, categorical_feature=["segment"],
                                free_raw_data=False, params={"verbosity": -1})
        self.booster = lightgbm.train(self.params, data, num_boost_round=self.rounds)
        return self

    def predict(self, panel: Panel, spend: np.ndarray | None = None) -> np.ndarray:
        """(G, T) for the panel's weeks (optionally with another spend array)."""
        self._check(panel)
        per_capita = self.booster.predict(self._features(panel, spend), num_threads=1)
        return per_capita.reshape(panel.n_segments, panel.n_weeks) * self.size[:, None]


def make_baseline(name: str, settings: ModelSettings | None = None, seed: int = 0):
    """A fresh, unfitted baseline by name (the linear one uses the MMM's calendar settings)."""
    settings = settings or ModelSettings()
    if name == NAIVE:
        return NaiveBaseline()
    if name == SEASONAL_NAIVE:
        return SeasonalNaiveBaseline()
    if name in (LINEAR, NO_MEDIA):
        cls = LinearBaseline if name == LINEAR else NoMediaBaseline
        return cls(settings.fourier_order, settings.trend, settings.seasonality_min_weeks)
    if name == LIGHTGBM:
        return LightGBMBaseline(seed=seed)
    raise ValueError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}")


# --------------------------------------------------------------------------- comparison logic


def skill_scores(mmm: Mapping[str, float], baseline: Mapping[str, float],
                 metrics: Sequence[str] = SKILL_METRICS) -> dict[str, float]:
    """{metric: 1 − MMM error / baseline error} for one split."""
    return {m: skill_score(mmm.get(m), baseline.get(m)) for m in metrics}


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def elasticity_comparison(estimates: Mapping[str, Mapping[str, float]], truth: Mapping | None,
                          min_true_share: float = 0.02) -> dict:
    """Per channel, each model's elasticity beside the truth and its relative error; per model,
    the median relative error over channels with a true contribution share ≥ min_true_share
    (None without truth). ``truth`` is {"elasticity": {...}, "contribution_share": {...}}."""
    truth = truth or {}
    true_el = truth.get("elasticity") or {}
    true_share = truth.get("contribution_share") or {}
    models = list(estimates)
    channels = list(dict.fromkeys(c for m in models for c in estimates[m]))
    table: dict[str, dict] = {}
    for channel in channels:
        tru, share = _finite(true_el.get(channel)), _finite(true_share.get(channel))
        est = {m: _finite(estimates[m].get(channel)) for m in models}
        rel = {m: (abs(e - tru) / abs(tru) if e is not None and tru not in (None, 0.0) else None)
               for m, e in est.items()}
        table[channel] = {"truth": tru, "true_share": share, "estimates": est,
                          "relative_errors": rel,
                          "counted": share is not None and share >= min_true_share
                          and tru not in (None, 0.0)}
    median = {}
    for m in models:
        errors = [row["relative_errors"][m] for row in table.values() if row["counted"]]
        median[m] = (statistics.median(errors)
                     if errors and all(e is not None for e in errors) else None)
    return {"channels": table, "median_relative_error": median,
            "min_true_share": min_true_share, "has_truth": bool(true_el)}


def _nan_scores() -> dict[str, float]:
    return {m: float("nan") for m in METRICS}


@dataclass
class BaselineComparison:
    """MMM v2 and every baseline on the same splits, for one tenant (what the baselines
    notebook shows and glues)."""

    panel: Panel
    splits: list[Split]
    models: list[str]  # "mmm" first, then the baselines
    metrics: dict[str, dict[str, dict[str, float]]]  # model -> split (and cv_mean) -> scores
    skill: dict[str, dict[str, dict[str, float]]]  # baseline -> split (and cv_mean) -> skill
    holdout_forecasts: dict[str, np.ndarray]  # model -> weekly total over the holdout weeks
    elasticities: dict[str, dict[str, float]]  # mmm, linear, lightgbm (full-history fits)
    min_true_share: float = 0.02
    notes: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @property
    def baselines(self) -> list[str]:
        return [m for m in self.models if m != MMM_NAME]

    @property
    def holdout(self) -> Split:
        return self.splits[0]

    def truth(self) -> dict | None:
        t = self.panel.truth
        if not t:
            return None
        ch = t["channels"]
        return {"elasticity": {c: ch[c].get("elasticity") for c in self.panel.channels},
                "contribution_share": {c: ch[c].get("contribution_share")
                                       for c in self.panel.channels}}

    def elasticity_comparison(self) -> dict:
        return elasticity_comparison(self.elasticities, self.truth(), self.min_true_share)

    def metrics_table(self) -> pd.DataFrame:
        """Per model: holdout and CV-mean R², MAPE, NRMSE and the MMM's MAPE skill against it."""
        rows = {}
        for m in self.models:
            h, cv = self.metrics[m]["holdout"], self.metrics[m].get(CV_MEAN) or {}
            rows[m] = {("holdout", "R²"): h["r2"], ("holdout", "MAPE"): h["mape"],
                       ("holdout", "NRMSE"): h["nrmse"],
                       ("holdout", "MMM skill (MAPE)"): self.skill.get(m, {}).get(
                           "holdout", {}).get("mape", np.nan),
                       ("CV mean", "R²"): cv.get("r2", np.nan),
                       ("CV mean", "MAPE"): cv.get("mape", np.nan),
                       ("CV mean", "NRMSE"): cv.get("nrmse", np.nan),
                       ("CV mean", "MMM skill (MAPE)"): self.skill.get(m, {}).get(
                           CV_MEAN, {}).get("mape", np.nan)}
        frame = pd.DataFrame(rows).T
        frame.columns = pd.MultiIndex.from_tuples(frame.columns)
        return frame.rename_axis("model")

    def split_table(self, metric: str = "mape") -> pd.DataFrame:
        """One metric for every model (rows) and split (columns), incl. the CV mean."""
        names = [s.name for s in self.splits] + [CV_MEAN]
        return pd.DataFrame({m: {n: self.metrics[m].get(n, {}).get(metric, np.nan)
                                 for n in names} for m in self.models}).T.rename_axis("model")

    def forecast_table(self) -> pd.DataFrame:
        """Holdout weeks: actual weekly total KPI and every model's forecast of it."""
        h = self.holdout
        frame = pd.DataFrame({"actual": self.panel.total_kpi()[h.train_end:h.test_end]},
                             index=self.panel.dates[h.train_end:h.test_end].rename("week"))
        for m in self.models:
            frame[m] = self.holdout_forecasts[m]
        return frame

    def elasticity_table(self) -> pd.DataFrame:
        """Per channel: truth (if any), the MMM's and the spend baselines' elasticities and
        their relative errors."""
        comp = self.elasticity_comparison()
        rows = []
        for channel, row in comp["channels"].items():
            out = {"channel": channel}
            if comp["has_truth"]:
                out.update({"truth": row["truth"], "true_share": row["true_share"]})
            for m, value in row["estimates"].items():
                out[m] = value
            if comp["has_truth"]:
                for m, value in row["relative_errors"].items():
                    out[f"{m} rel. error"] = value
            rows.append(out)
        return pd.DataFrame(rows).set_index("channel").astype(float)

    def scraps(self) -> dict:
        """The JSON-able values the notebook glues (names are the scrap names)."""
        return {
            "tenant": self.panel.tenant,
            "baselines": self.baselines,
            "splits": [s.as_dict() for s in self.splits],
            "metrics": self.metrics,
            "skill": self.skill,
            "elasticities": self.elasticity_comparison(),
            "baseline_settings": {**self.settings, "notes": list(self.notes)},
        }


def compare_baselines(panel: Panel, settings: ModelSettings, evaluation: EvaluationSettings,
                      seed: int, baselines: Sequence[str] = BASELINES, *,
                      calibrate: bool = False, min_true_share: float = 0.02,
                      models: ModelFits | None = None) -> BaselineComparison:
    """Fit MMM v2 and every baseline on the training weeks of the holdout split and of each
    rolling-origin fold (the validation notebook's splits), score the weekly total KPI of the
    test weeks, and the MMM's skill against each baseline; refit the MMM, the linear and the
    LightGBM baselines on the full history for their elasticities.

    A baseline that cannot be fitted on a split (e.g. seasonal naive with less than a year of
    training weeks) scores NaN there, with a note. ``calibrate`` fits the MMM with the
    tenant's lift tests, as ``validate_tenant`` does. ``models`` (``pipeline.models.
    tenant_models``): the MMM's split and full-history fits are taken from these cached fits
    instead of being refitted here (the same fits as the validation notebook's).
    """
    from mmm_evidence.evaluation.validation import forecast_split
    from mmm_evidence.model.mmm import MMM

    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(unknown)}; expected "
                         f"{', '.join(BASELINES)}")
    try:
        splits = evaluation_splits(panel.n_weeks, evaluation)
    except ValueError as exc:
        raise ValueError(f"tenant {panel.tenant!r}: {exc}") from None
    calibration = list(panel.meta.get("lift_tests", ())) if calibrate else []
    if models is not None:
        models.check_compatible(panel, settings, seed, calibrated=bool(calibration))
    fits = models
    models = [MMM_NAME, *baselines]
    actual = panel.total_kpi()
    metrics: dict[str, dict[str, dict[str, float]]] = {m: {} for m in models}
    forecasts: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for split in splits:
        test = slice(split.train_end, split.test_end)
        horizon = panel.weeks(None, split.test_end)
        for m in models:
            if m == MMM_NAME:
                if calibration or fits is not None:
                    _, pred = forecast_split(panel, split, settings, seed, calibration, fits)
                else:
                    _, pred = forecast_split(panel, split, settings, seed)
            else:
                try:
                    model = make_baseline(m, settings, seed).fit(panel.weeks(None,
                                                                             split.train_end))
                    pred = model.predict(horizon)
                except ValueError as exc:
                    notes.append(f"{m} on {split.name}: {exc}")
                    metrics[m][split.name] = _nan_scores()
                    if split.name == "holdout":
                        forecasts[m] = np.full(split.test_weeks, np.nan)
                    continue
            total = pred.sum(axis=0)[test]
            metrics[m][split.name] = scores(actual[test], total)
            if split.name == "holdout":
                forecasts[m] = total
    folds = [s.name for s in splits[1:]]
    for m in models:
        metrics[m][CV_MEAN] = ({k: float(np.mean([metrics[m][f][k] for f in folds]))
                                for k in METRICS} if folds else _nan_scores())
    skill = {b: {name: skill_scores(metrics[MMM_NAME][name], metrics[b][name])
                 for name in metrics[b]} for b in baselines}

    if fits is not None:
        full_mmm = fits.full()
    else:
        full_mmm = (MMM(settings, seed=seed).fit(panel, lift_tests=calibration) if calibration
                    else MMM(settings, seed=seed).fit(panel))
    elasticities = {MMM_NAME: full_mmm.elasticities(panel)}
    for b in baselines:
        if b in SPEND_BASELINES:
            elasticities[b] = spend_elasticities(
                make_baseline(b, settings, seed).fit(panel), panel)
    return BaselineComparison(
        panel=panel, splits=splits, models=models, metrics=metrics, skill=skill,
        holdout_forecasts=forecasts, elasticities=elasticities, min_true_share=min_true_share,
        notes=notes,
        settings={"season_weeks": SEASON_WEEKS,
                  "linear": {"fourier_order": settings.fourier_order, "trend": settings.trend,
                             "seasonality_min_weeks": settings.seasonality_min_weeks},
                  "lightgbm": {**LIGHTGBM_PARAMS, "seed": seed, "rounds": LIGHTGBM_ROUNDS,
                               "lags": list(LIGHTGBM_LAGS)},
                  "calibrated_mmm": bool(calibration)})
