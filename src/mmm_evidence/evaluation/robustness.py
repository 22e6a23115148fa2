"""The robustness suite: MMM v2 stressed the way real data will stress it.

A registry of named checks (``CHECKS``), each in one of five categories — perturbation,
stability, sanity, identification, leakage & determinism. A check measures one value on a
tenant's panel and compares it with its threshold from the experiment's ``robustness:``
parameters (``config.RobustnessSettings``); the comparison of every check is fixed here.
A check that raises fails (its error is the detail); one that has nothing to judge (e.g. no
channel with an estimated share ≥ ``min_share``) is not assessable (``passed`` None).

The model under test comes from a *model factory* ``factory(seed, data) -> model``: the default
builds ``MMM(settings, seed)``; tests inject broken models (one that ignores a channel, one
that fits on data it is not given, ...). ``data`` is the whole panel of the check at hand — in
the holdout check all weeks, holdout included, of which only the training weeks are passed to
``fit`` — so a model whose set-up uses more than it was fitted on is caught by that check.

The reference model is fitted once (with the run seed) and reused; every other fit is a cold,
full multi-start fit as in production, except the bootstrap refits, which are warm-started
from the reference (as ``model.uncertainty.block_bootstrap`` does). Every random perturbation
is drawn from ``numpy.random.default_rng([seed, crc32(check name)])``: deterministic, and
independent of which other checks run.

Definitions shared by the checks:

- *elasticity* and *ROI*: ``MMM.elasticities`` / ``MMM.roi`` over the stated evaluation
  panel; a refit and the reference are always evaluated on the same weeks;
- *relative change* of a channel: the symmetric relative difference |a − b| / max(|a|, |b|)
  (0 when both are 0, 1 when exactly one is), so a channel one fit drops counts fully;
- *judged channels*: channels with an estimated contribution share ≥ ``min_share`` in the
  reference **or** the other fit.
"""

from __future__ import annotations

import math
import operator
import statistics
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mmm_evidence.config import ModelSettings, RobustnessSettings
from mmm_evidence.data.panel import Panel
from mmm_evidence.evaluation.splits import holdout_split
from mmm_evidence.model.linalg import column_basis, lstsq_columns
from mmm_evidence.model.mmm import MMM, baseline_design, yearly_harmonics
from mmm_evidence.model.uncertainty import bootstrap_panels

PERTURBATION = "perturbation"
STABILITY = "stability"
SANITY = "sanity"
IDENTIFICATION = "identification"
LEAKAGE_DETERMINISM = "leakage_determinism"
CATEGORIES = (PERTURBATION, STABILITY, SANITY, IDENTIFICATION, LEAKAGE_DETERMINISM)

#: ``factory(seed, data)`` -> an unfitted model with MMM v2's interface.
ModelFactory = Callable[[int, Panel], MMM]

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}

__all__ = [
    "CATEGORIES", "CHECKS", "Check", "CheckResult", "Measurement", "ModelFactory",
    "RobustnessResult", "SuiteContext", "default_factory", "run_robustness_suite",
    "relative_difference", "judged_channels", "baseline_below_zero", "relative_changes",
    "aggregate",
    "add_extra_noise", "add_outliers", "drop_and_impute_weeks", "permute_channels",
    "derangement", "with_extra_channel", "media_regressors", "collinearity",
    "response_curve_violations", "bound_distances", "parameter_difference", "summarise",
    "saturation_ratios",
]


# --------------------------------------------------------------------------- helpers


def default_factory(settings: ModelSettings) -> ModelFactory:
    """The product: ``MMM(settings, seed)`` (the data is not used to build it)."""

    def build(seed: int, data: Panel) -> MMM:
        return MMM(settings, seed=seed)

    return build


def relative_difference(a: float, b: float) -> float:
    """|a − b| / max(|a|, |b|): 0 when equal (both 0 included), 1 when exactly one is 0."""
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def judged_channels(min_share: float, *shares: Mapping[str, float]) -> list[str]:
    """Channels (in the first mapping's order) with a share ≥ ``min_share`` in any mapping."""
    channels = list(dict.fromkeys(c for s in shares for c in s))
    return [c for c in channels
            if any((s.get(c) or 0.0) >= min_share for s in shares)]


def relative_changes(reference: Mapping[str, float | None], other: Mapping[str, float | None],
                     channels: Iterable[str]) -> dict[str, float]:
    """Per channel: the relative difference of ``other`` against ``reference``."""
    out = {}
    for c in channels:
        a, b = reference.get(c), other.get(c)
        if a is None or b is None:  # e.g. ROI of a channel without spend
            continue
        out[c] = relative_difference(float(a), float(b))
    return out


def aggregate(values: Iterable[float], how: str) -> float | None:
    """``median`` or ``max`` of the values; None when there are none."""
    values = list(values)
    if not values:
        return None
    if how == "median":
        return float(statistics.median(values))
    if how == "max":
        return float(max(values))
    raise ValueError(f"aggregate: unknown {how!r} (median or max)")


def _segment_kpi_sd(panel: Panel) -> np.ndarray:
    return panel.kpi.std(axis=1, ddof=1) if panel.n_weeks > 1 else np.zeros(panel.n_segments)


def add_extra_noise(panel: Panel, fraction: float, rng: np.random.Generator) -> Panel:
    """KPI plus Gaussian noise with sd ``fraction`` x each segment's KPI sd over the weeks."""
    sd = fraction * _segment_kpi_sd(panel)
    return replace(panel, kpi=panel.kpi + sd[:, None] * rng.standard_normal(panel.kpi.shape))


def add_outliers(panel: Panel, count: int, size: float, rng: np.random.Generator
                 ) -> tuple[Panel, list[tuple[str, int]]]:
    """``count`` spikes in distinct weeks, one random segment each: + ``size`` segment KPI sd.
    Returns the panel and [(segment, week index)]."""
    weeks = np.sort(rng.choice(panel.n_weeks, size=min(count, panel.n_weeks), replace=False))
    segments = rng.integers(0, panel.n_segments, size=weeks.size)
    kpi = panel.kpi.copy()
    sd = _segment_kpi_sd(panel)
    for g, t in zip(segments, weeks, strict=True):
        kpi[g, t] += size * sd[g]
    return replace(panel, kpi=kpi), [(panel.segments[g], int(t))
                                     for g, t in zip(segments, weeks, strict=True)]


def drop_and_impute_weeks(panel: Panel, fraction: float, rng: np.random.Generator
                          ) -> tuple[Panel, list[int]]:
    """Remove ``fraction`` of the interior weeks (never the first or last) and re-impute KPI,
    spend and controls of every segment by linear interpolation between the weeks around them
    — what a client has to do, since the model needs a complete weekly calendar.
    Returns the imputed panel and the removed week indices."""
    t_n = panel.n_weeks
    k = max(1, int(round(fraction * t_n)))
    interior = np.arange(1, t_n - 1)
    missing = np.sort(rng.choice(interior, size=min(k, interior.size), replace=False))
    present = np.setdiff1d(np.arange(t_n), missing)

    def impute(a: np.ndarray) -> np.ndarray:  # (G, T, ...) along axis 1
        out = a.astype(float).copy()
        flat = out.reshape(out.shape[0], t_n, -1)
        for g in range(flat.shape[0]):
            for j in range(flat.shape[2]):
                flat[g, missing, j] = np.interp(missing, present, flat[g, present, j])
        return flat.reshape(out.shape)

    return replace(panel, kpi=impute(panel.kpi), spend=impute(panel.spend),
                   controls=impute(panel.controls)), [int(t) for t in missing]


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of range(n) that moves every element (n ≥ 2; identity for n < 2)."""
    if n < 2:
        return np.arange(n)
    while True:
        order = rng.permutation(n)
        if np.all(order != np.arange(n)):
            return order


def permute_channels(panel: Panel, order: Sequence[int]) -> Panel:
    """The panel with its channels (names and spend columns) in ``order``."""
    order = list(order)
    return replace(panel, channels=tuple(panel.channels[i] for i in order),
                   spend=panel.spend[:, :, order])


def with_extra_channel(panel: Panel, name: str, spend: np.ndarray) -> Panel:
    """The panel with one more channel ``name`` whose spend is ``spend`` (G, T)."""
    if name in panel.channels:
        raise ValueError(f"channel {name!r} already exists")
    return replace(panel, channels=(*panel.channels, name),
                   spend=np.concatenate([panel.spend, np.asarray(spend, float)[:, :, None]],
                                        axis=2))


def media_regressors(model: MMM, panel: Panel) -> np.ndarray:
    """The fitted model's media regressors size_g · Hill(adstock(per-capita spend)) (G, T, C)
    with the baseline (intercept, trend, seasonality, controls) projected out per segment and
    each segment weighted by the fit's weight 1 / residual scale — what the media coefficients
    are estimated from."""
    z = model.media_design(panel)
    x = baseline_design(panel.dates, panel.controls, model.origin, model.scale_weeks,
                        model.fourier_order, model.settings.trend)
    out = np.empty_like(z)
    for g in range(z.shape[0]):
        out[g] = (z[g] - x[g] @ lstsq_columns(x[g], z[g])) / model.residual_scale[g]
    return out


@dataclass(frozen=True)
class Collinearity:
    """Correlations and variance inflation factors of a set of media regressors."""

    channels: tuple[str, ...]
    correlation: np.ndarray  # (C, C); NaN for a channel whose regressor is all zero
    vif: np.ndarray  # (C,); NaN for a channel whose regressor is all zero

    def pairs(self, min_abs_correlation: float) -> list[tuple[str, str, float]]:
        """Pairs with |r| ≥ the threshold, strongest first."""
        out = []
        c_n = len(self.channels)
        for i in range(c_n):
            for j in range(i + 1, c_n):
                r = self.correlation[i, j]
                if np.isfinite(r) and abs(r) >= min_abs_correlation:
                    out.append((self.channels[i], self.channels[j], float(r)))
        return sorted(out, key=lambda p: (-abs(p[2]), p[0], p[1]))

    def as_dict(self) -> dict:
        return {"vif": {c: _finite(v) for c, v in zip(self.channels, self.vif, strict=True)},
                "correlation": {a: {b: _finite(self.correlation[i, j])
                                    for j, b in enumerate(self.channels) if j != i}
                                for i, a in enumerate(self.channels)}}


#: A VIF is capped here (an exact linear dependence would be infinite).
VIF_CAP = 1e12


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def collinearity(regressors: np.ndarray, channels: Sequence[str]) -> Collinearity:
    """Correlations (about zero: the regressors are residuals of a fit with an intercept) and
    variance inflation factors 1 / (1 − R²_c) of the regressors (G, T, C), segments pooled."""
    a = regressors.reshape(-1, regressors.shape[-1])
    c_n = a.shape[1]
    norms = np.sqrt((a**2).sum(axis=0))
    live = norms > 1e-12 * max(float(norms.max()) if c_n else 0.0, 1e-300)
    unit = np.where(live, a / np.where(live, norms, 1.0), 0.0)
    corr = unit.T @ unit
    corr[~live, :] = np.nan
    corr[:, ~live] = np.nan
    vif = np.full(c_n, np.nan)
    idx = np.flatnonzero(live)
    for c in idx:
        others = unit[:, [j for j in idx if j != c]]
        if others.shape[1] == 0:
            vif[c] = 1.0
            continue
        coef, *_ = np.linalg.lstsq(others, unit[:, c], rcond=None)
        r2 = 1.0 - float(((unit[:, c] - others @ coef) ** 2).sum())  # unit column: tss = 1
        vif[c] = min(1.0 / max(1.0 - r2, 1.0 / VIF_CAP), VIF_CAP)
    return Collinearity(tuple(channels), corr, vif)


def response_curve_violations(response: np.ndarray, rtol: float = 1e-9) -> dict[str, Any]:
    """Does a response curve on an even spend grid rise monotonically, and is it concave past
    its inflection (the point of the steepest rise)? Differences are judged against
    ``rtol`` x the curve's largest value."""
    y = np.asarray(response, float)
    tol = rtol * max(float(np.abs(y).max()) if y.size else 0.0, 1e-300)
    d1 = np.diff(y)
    d2 = np.diff(d1)
    inflection = int(np.argmax(d1)) if d1.size else 0
    past = d2[inflection:]
    return {"monotone": bool(d1.size == 0 or d1.min() >= -tol),
            "concave_past_inflection": bool(past.size == 0 or past.max() <= tol),
            "inflection_index": inflection,
            "largest_drop": float(max(-d1.min(), 0.0)) if d1.size else 0.0,
            "largest_convexity_past_inflection": float(max(past.max(), 0.0)) if past.size
            else 0.0}


def bound_distances(model: MMM, channels: Iterable[str]) -> dict[str, dict[str, float]]:
    """Per channel: the distance of the fitted decay, half-saturation and shape from their
    bounds, as a fraction of the bound range on the optimiser's scale (decay linear, the others
    log). Decay's lower bound 0 (no carryover) is a legitimate value and is not a bound hit."""
    s = model.settings
    out = {}
    for c in channels:
        i = model.channels.index(c)
        decay = float(model.decay[i])
        log_k = math.log(model.half_saturation[i] / model.reference_spend[i])
        log_s = math.log(model.shape[i])
        klo, khi = (math.log(v) for v in s.half_saturation_bounds)
        slo, shi = (math.log(v) for v in s.shape_bounds)
        out[c] = {
            "decay_upper": (s.max_decay - decay) / s.max_decay,
            "half_saturation_lower": (log_k - klo) / (khi - klo),
            "half_saturation_upper": (khi - log_k) / (khi - klo),
            "shape_lower": (log_s - slo) / (shi - slo),
            "shape_upper": (shi - log_s) / (shi - slo),
        }
    return out


_PARAMETERS = ("decay", "delay", "half_saturation", "shape", "beta", "baseline_coef",
               "residual_scale", "reference_spend", "size")


def parameter_difference(a: MMM, b: MMM) -> float:
    """The largest relative difference between two fitted models' parameters (inf when their
    shapes differ); 0.0 exactly when every parameter is bit-identical."""
    worst = 0.0
    for name in _PARAMETERS:
        x, y = np.asarray(getattr(a, name), float), np.asarray(getattr(b, name), float)
        if x.shape != y.shape:
            return math.inf
        if np.array_equal(x, y):
            continue
        scale = np.maximum(np.maximum(np.abs(x), np.abs(y)), 1e-300)
        worst = max(worst, float((np.abs(x - y) / scale).max()))
    return worst


# --------------------------------------------------------------------------- registry


@dataclass
class Measurement:
    """What a check measured. ``value`` None = not assessable (say why in ``detail``)."""

    value: float | None
    detail: str
    data: dict[str, Any] = field(default_factory=dict)  # JSON-able, goes into the report
    elasticities: dict[str, float] | None = None  # the perturbed fit's, for plots
    #: False: the value is reported but not held against the threshold — the check passes
    #: (a share its test cannot tell from noise, however large on a short series)
    judged: bool = True


@dataclass(frozen=True)
class Check:
    name: str
    category: str
    comparison: str  # value <comparison> threshold passes
    description: str
    measure: Callable[[SuiteContext], Measurement]


#: Every check, by name, in registration (= report) order.
CHECKS: dict[str, Check] = {}


def _check(name: str, category: str, comparison: str, description: str):
    if comparison not in _COMPARE:
        raise ValueError(f"check {name}: unknown comparison {comparison!r}")
    if category not in CATEGORIES:
        raise ValueError(f"check {name}: unknown category {category!r}")

    def register(func: Callable[[SuiteContext], Measurement]):
        if name in CHECKS:
            raise ValueError(f"check {name!r} is registered twice")
        CHECKS[name] = Check(name, category, comparison, " ".join(description.split()), func)
        return func

    return register


@dataclass
class CheckResult:
    name: str
    category: str
    description: str
    comparison: str
    threshold: float
    value: float | None
    passed: bool | None
    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    elasticities: dict[str, float] | None = None
    seconds: float = 0.0  # wall clock: shown in the notebook, never written to artifacts
    judged: bool = True  # False: the value was not held against the threshold (Measurement)

    def as_dict(self) -> dict[str, Any]:
        """The report entry (DESIGN.md gate shape plus category, description and data; and
        ``judged: false`` for a value that was not held against the threshold)."""
        out = {"name": self.name, "category": self.category, "description": self.description,
               "comparison": self.comparison, "threshold": self.threshold,
               "value": self.value, "passed": self.passed, "detail": self.detail,
               "data": self.data}
        return out if self.judged else {**out, "judged": False}


@dataclass
class SuiteContext:
    """What every check gets: the data, the settings, the factory and the reference fit."""

    panel: Panel
    model_settings: ModelSettings
    settings: RobustnessSettings
    seed: int
    holdout_weeks: int
    factory: ModelFactory
    reference: MMM
    elasticities: dict[str, float]
    shares: dict[str, float]
    roi: dict[str, float | None]

    @property
    def perturbations(self):
        return self.settings.perturbations

    @property
    def thresholds(self):
        """The thresholds that judge this tenant (national or geo, by its segment count)."""
        return self.settings.thresholds_for(self.panel.n_segments)[1]

    def rng(self, name: str) -> np.random.Generator:
        """The check's own random stream: seeded from the run seed and the check's name."""
        return np.random.default_rng([self.seed % 2**32, zlib.crc32(name.encode())])

    def fit(self, panel: Panel, seed: int | None = None, start: MMM | None = None,
            data: Panel | None = None, hold_decays: np.ndarray | None = None) -> MMM:
        """A model from the factory (built for ``data``, default ``panel``) fitted on
        ``panel``; cold (multi-start) unless ``start`` is given (``hold_decays``: see
        ``MMM.fit``)."""
        model = self.factory(self.seed if seed is None else seed,
                             panel if data is None else data)
        if start is None:
            return model.fit(panel)
        if hold_decays is None:  # a factory's model need not know hold_decays
            return model.fit(panel, start=start)
        return model.fit(panel, start=start, hold_decays=hold_decays)

    def compare(self, model: MMM, panel: Panel, reference_panel: Panel | None = None,
                how: str = "median", roi_factor: float | None = None) -> Measurement:
        """Relative changes of ``model``'s elasticities on ``panel`` (ROI too when
        ``roi_factor`` is given: the model's ROI divided by it) against the reference on
        ``reference_panel`` (default: the same panel), over judged channels."""
        ref_panel = panel if reference_panel is None else reference_panel
        if ref_panel is self.panel:
            ref_el, ref_sh, ref_roi = self.elasticities, self.shares, self.roi
        else:
            ref_el = self.reference.elasticities(ref_panel)
            ref_sh = self.reference.contribution_shares(ref_panel)
            ref_roi = self.reference.roi(ref_panel)
        el = model.elasticities(panel)
        sh = model.contribution_shares(panel)
        channels = judged_channels(self.settings.min_share, ref_sh, sh)
        changes = relative_changes(ref_el, el, channels)
        data: dict[str, Any] = {"judged_channels": channels, "elasticity_change": changes,
                                "reference_elasticity": {c: ref_el[c] for c in channels},
                                "elasticity": {c: el.get(c) for c in channels}}
        value = aggregate(changes.values(), how)
        detail = _changes_detail(changes, how, "elasticity")
        if roi_factor is not None:
            roi = {c: (None if v is None else v / roi_factor)
                   for c, v in model.roi(panel).items()}
            roi_changes = relative_changes(ref_roi, roi, channels)
            data["roi_change"] = roi_changes
            roi_value = aggregate(roi_changes.values(), how)
            if roi_value is not None:
                value = roi_value if value is None else max(value, roi_value)
            detail += "; " + _changes_detail(roi_changes, how, "ROI")
        if not channels:
            return Measurement(None, f"no channel has an estimated share ≥ "
                                     f"{self.settings.min_share:g}: nothing to judge", data, el)
        return Measurement(value, detail, data, el)


def _changes_detail(changes: Mapping[str, float], how: str, what: str) -> str:
    if not changes:
        return f"{what}: no judged channel"
    per = ", ".join(f"{c} {v:.3g}" for c, v in changes.items())
    return f"{how} relative {what} change {aggregate(changes.values(), how):.3g} ({per})"


# --------------------------------------------------------------------------- perturbation


@_check("extra_noise", PERTURBATION, "<=", """Gaussian noise with sd noise_fraction x each
        segment's KPI sd added to the KPI; refit; median relative elasticity change on the
        original panel.""")
def _extra_noise(ctx: SuiteContext) -> Measurement:
    p = ctx.perturbations
    noisy = add_extra_noise(ctx.panel, p.noise_fraction, ctx.rng("extra_noise"))
    return ctx.compare(ctx.fit(noisy), ctx.panel)


@_check("outliers", PERTURBATION, "<=", """Spikes of outlier_size segment KPI sd in `outliers`
        random weeks (one segment each); refit; median relative elasticity change on the
        original panel.""")
def _outliers(ctx: SuiteContext) -> Measurement:
    p = ctx.perturbations
    spiked, where = add_outliers(ctx.panel, p.outliers, p.outlier_size, ctx.rng("outliers"))
    m = ctx.compare(ctx.fit(spiked), ctx.panel)
    m.data["spikes"] = [{"segment": s, "week": ctx.panel.dates[t].date().isoformat()}
                        for s, t in where]
    return m


@_check("missing_weeks", PERTURBATION, "<=", """missing_fraction of the interior weeks removed
        and re-imputed by linear interpolation (KPI, spend, controls; the model needs a
        complete calendar); refit; median relative elasticity change on the original
        panel.""")
def _missing_weeks(ctx: SuiteContext) -> Measurement:
    p = ctx.perturbations
    imputed, missing = drop_and_impute_weeks(ctx.panel, p.missing_fraction,
                                             ctx.rng("missing_weeks"))
    m = ctx.compare(ctx.fit(imputed), ctx.panel)
    m.data["missing_weeks"] = [ctx.panel.dates[t].date().isoformat() for t in missing]
    return m


@_check("spend_scale", PERTURBATION, "<=", """Every spend x scale_factor (another currency);
        refit; largest relative change of elasticities and of ROI x scale_factor — both must
        be unchanged.""")
def _spend_scale(ctx: SuiteContext) -> Measurement:
    f = ctx.perturbations.scale_factor
    scaled = ctx.panel.with_spend(ctx.panel.spend * f)
    return ctx.compare(ctx.fit(scaled), scaled, ctx.panel, how="max", roi_factor=1.0 / f)


@_check("kpi_scale", PERTURBATION, "<=", """KPI x scale_factor; refit; largest relative change
        of elasticities and of ROI / scale_factor — both must be unchanged.""")
def _kpi_scale(ctx: SuiteContext) -> Measurement:
    f = ctx.perturbations.scale_factor
    scaled = replace(ctx.panel, kpi=ctx.panel.kpi * f)
    return ctx.compare(ctx.fit(scaled), scaled, ctx.panel, how="max", roi_factor=f)


@_check("channel_order", PERTURBATION, "<=", """Channel columns permuted so that every channel
        moves; refit; largest relative elasticity change per channel name.""")
def _channel_order(ctx: SuiteContext) -> Measurement:
    order = derangement(len(ctx.panel.channels), ctx.rng("channel_order"))
    if len(order) < 2:
        return Measurement(None, "one channel: nothing to permute")
    permuted = permute_channels(ctx.panel, order)
    m = ctx.compare(ctx.fit(permuted), permuted, ctx.panel, how="max")
    m.data["order"] = list(permuted.channels)
    return m


@_check("time_shift", PERTURBATION, "<=", """The window starts shift_weeks later (its first
        weeks dropped); refit; median relative elasticity change, both models evaluated on the
        shifted window.""")
def _time_shift(ctx: SuiteContext) -> Measurement:
    shifted = ctx.panel.weeks(ctx.perturbations.shift_weeks, None)
    return ctx.compare(ctx.fit(shifted), shifted)


# --------------------------------------------------------------------------- stability


@_check("seeds", STABILITY, "<=", """Fits with seeds run seed + 1 .. + (seeds − 1) against the
        reference (run seed); largest relative elasticity change over seeds and judged
        channels.""")
def _seeds(ctx: SuiteContext) -> Measurement:
    worst: dict[str, float] = {}
    per_seed = {}
    last = None
    for k in range(1, ctx.perturbations.seeds):
        m = ctx.compare(ctx.fit(ctx.panel, seed=ctx.seed + k), ctx.panel, how="max")
        per_seed[str(ctx.seed + k)] = m.value
        for c, v in m.data["elasticity_change"].items():
            worst[c] = max(worst.get(c, 0.0), v)
        last = m
    if not worst:
        return Measurement(None, "no judged channel: nothing to compare", {"per_seed": per_seed})
    value = max(worst.values())
    return Measurement(value, f"{ctx.perturbations.seeds} seeds; " +
                       _changes_detail(worst, "max", "elasticity"),
                       {"per_seed": per_seed, "elasticity_change": worst},
                       last.elasticities if last else None)


@_check("bootstrap_spread", STABILITY, "<=", """Moving-block residual bootstrap
        (bootstrap_replicates refits warm-started from the reference, blocks of
        bootstrap_block_weeks, the same weeks for every segment; residuals scaled by
        sqrt(n / (n - p)) as the reported intervals scale them; a profile_median fit's refits
        hold its profiled decays at draws from their profile posterior, as the reported
        intervals' do); median over judged channels of the elasticity's bootstrap sd / its
        estimate.""")
def _bootstrap_spread(ctx: SuiteContext) -> Measurement:
    p = ctx.perturbations
    panel, ref = ctx.panel, ctx.reference
    draws = np.empty((p.bootstrap_replicates, len(panel.channels)))
    replicate_panels = bootstrap_panels(ref, panel, p.bootstrap_replicates,
                                        p.bootstrap_block_weeks, ctx.rng("bootstrap_spread"),
                                        ctx.rng("bootstrap_spread decays"))
    for r, (boot, held) in enumerate(replicate_panels):
        model = ctx.fit(boot, start=ref, hold_decays=held)
        draws[r] = list(model.elasticities(boot).values())
    sd = draws.std(axis=0, ddof=1)
    channels = judged_channels(ctx.settings.min_share, ctx.shares)
    cv = {c: float(sd[i] / abs(ctx.elasticities[c])) if ctx.elasticities[c] else math.inf
          for i, c in enumerate(panel.channels) if c in channels}
    data = {"judged_channels": channels, "relative_sd": cv,
            "sd": {c: float(sd[i]) for i, c in enumerate(panel.channels)}}
    if not cv:
        return Measurement(None, "no judged channel", data)
    value = aggregate(cv.values(), "median")
    per = ", ".join(f"{c} {v:.3g}" for c, v in cv.items())
    return Measurement(value, f"median bootstrap sd / elasticity {value:.3g} ({per}); "
                       f"{p.bootstrap_replicates} replicates", data)


@_check("refresh", STABILITY, "<=", """Fit on the history minus its last refresh_weeks weeks
        against the reference (all weeks), both evaluated on the shorter history; the larger of
        the median relative changes of elasticity and ROI.""")
def _refresh(ctx: SuiteContext) -> Measurement:
    earlier = ctx.panel.weeks(None, ctx.panel.n_weeks - ctx.perturbations.refresh_weeks)
    return ctx.compare(ctx.fit(earlier), earlier, roi_factor=1.0)


@_check("parameter_bounds", STABILITY, ">", """Fitted decay, half-saturation and shape of the
        judged channels stay off their bounds: the smallest distance to a bound, as a fraction
        of the bound range (decay's lower bound 0 = no carryover is allowed).""")
def _parameter_bounds(ctx: SuiteContext) -> Measurement:
    channels = judged_channels(ctx.settings.min_share, ctx.shares)
    if not channels:
        return Measurement(None, "no judged channel")
    dist = bound_distances(ctx.reference, channels)
    flat = {f"{c}.{k}": v for c, d in dist.items() for k, v in d.items()}
    worst = min(flat, key=lambda k: (flat[k], k))
    return Measurement(flat[worst], f"closest to a bound: {worst} at {flat[worst]:.3g} of the "
                       f"range", {"distances": dist})


@_check("two_thirds_history", STABILITY, "<=", """Fit on the first history_fraction of the
        weeks; median relative elasticity change against the reference, both evaluated on
        those weeks.""")
def _two_thirds(ctx: SuiteContext) -> Measurement:
    n = int(round(ctx.perturbations.history_fraction * ctx.panel.n_weeks))
    part = ctx.panel.weeks(None, n)
    m = ctx.compare(ctx.fit(part), part)
    m.data["weeks"] = n
    return m


# --------------------------------------------------------------------------- sanity

RESPONSE_GRID = np.linspace(0.0, 3.0, 301)


@_check("response_curves", SANITY, "<=", """Every channel's steady-state response curve (0 to
        3 x mean weekly spend, 301 points) is monotone non-decreasing and concave past its
        inflection (the steepest point): the number of channels that are not.""")
def _response_curves(ctx: SuiteContext) -> Measurement:
    data, bad = {}, []
    for c in ctx.reference.channels:
        curve = ctx.reference.response_curve(c, RESPONSE_GRID)
        v = response_curve_violations(curve["weekly_response"].to_numpy())
        v["inflection_multiplier"] = float(RESPONSE_GRID[v.pop("inflection_index")])
        data[c] = v
        if not (v["monotone"] and v["concave_past_inflection"]):
            bad.append(c)
    return Measurement(len(bad), f"violations: {', '.join(bad) or 'none'}", {"channels": data})


def _tolerance(ctx: SuiteContext) -> float:
    return float(np.abs(ctx.panel.kpi).mean()) or 1.0


@_check("contributions_non_negative", SANITY, "<=", """The number of segment-week media
        contributions below zero (beyond 1e-12 x mean |KPI|).""")
def _contributions_non_negative(ctx: SuiteContext) -> Measurement:
    parts = ctx.reference.contributions(ctx.panel)
    tol = 1e-12 * _tolerance(ctx)
    counts = {c: int((parts[c] < -tol).sum()) for c in ctx.reference.channels}
    low = {c: float(parts[c].min()) for c in ctx.reference.channels}
    n = sum(counts.values())
    return Measurement(n, f"{n} negative cell(s)" + (
        ": " + ", ".join(f"{c} {k}" for c, k in counts.items() if k) if n else ""),
        {"negative_cells": counts, "minimum": low})


@_check("prediction_positive", SANITY, "<=", """The number of segment-weeks whose predicted KPI
        is not positive.""")
def _prediction_positive(ctx: SuiteContext) -> Measurement:
    pred = ctx.reference.predict(ctx.panel)
    n = int((pred <= 0).sum())
    return Measurement(n, f"{n} of {pred.size} segment-weeks ≤ 0; smallest prediction "
                       f"{float(pred.min()):.4g}", {"minimum": float(pred.min())})


def baseline_below_zero(model: MMM, panel: Panel, tol: float = 0.0
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model's baseline (G, T) — the predicted KPI without any media —, the mask of its
    segment-weeks below ``-tol``, and each segment's baseline share of its predicted KPI (G,)
    (NaN where the prediction does not sum to a positive number)."""
    parts = model.contributions(panel)
    base = parts["baseline"]
    predicted = sum(parts.values()).sum(axis=1)
    share = base.sum(axis=1) / np.where(predicted > 0, predicted, np.nan)
    return base, base < -tol, share


@_check("baseline_non_negative", SANITY, "<=", """The number of segment-weeks whose baseline
        (the predicted KPI without any media) is below zero: media credited with more than the
        whole KPI of a week.""")
def _baseline_non_negative(ctx: SuiteContext) -> Measurement:
    base, negative, share = baseline_below_zero(ctx.reference, ctx.panel,
                                                1e-12 * _tolerance(ctx))
    n = int(negative.sum())
    segments = [str(s) for s, k in zip(ctx.panel.segments, negative.sum(axis=1), strict=True)
                if k]
    detail = f"{n} of {base.size} segment-weeks below 0"
    if n:
        detail += (f" in {len(segments)} segment(s): {', '.join(segments[:5])}"
                   + (", ..." if len(segments) > 5 else ""))
    if np.isfinite(share).any():
        lowest = int(np.nanargmin(share))
        detail += (f"; smallest baseline share of a segment's predicted KPI "
                   f"{float(share[lowest]):.3g} ({ctx.panel.segments[lowest]})")
    return Measurement(n, detail, {
        "segments": segments, "minimum": float(base.min()),
        "baseline_share": {str(s): (float(v) if np.isfinite(v) else None)
                           for s, v in zip(ctx.panel.segments, share, strict=True)}})


@_check("additivity", SANITY, "<=", """Baseline plus channel contributions equal the
        prediction: the largest absolute gap over segment-weeks / mean |prediction|.""")
def _additivity(ctx: SuiteContext) -> Measurement:
    parts = ctx.reference.contributions(ctx.panel)
    total = sum(parts.values())
    pred = ctx.reference.predict(ctx.panel)
    gap = float(np.abs(total - pred).max() / max(float(np.abs(pred).mean()), 1e-300))
    return Measurement(gap, f"largest gap {gap:.3g} of mean |prediction|")


@_check("zero_spend", SANITY, "<=", """Each channel's spend set to zero in every week: its
        largest absolute contribution / mean |KPI| (must be 0).""")
def _zero_spend(ctx: SuiteContext) -> Measurement:
    worst = {}
    for i, c in enumerate(ctx.reference.channels):
        spend = ctx.panel.spend.copy()
        spend[:, :, i] = 0.0
        parts = ctx.reference.contributions(ctx.panel.with_spend(spend))
        worst[c] = float(np.abs(parts[c]).max() / _tolerance(ctx))
    value = max(worst.values())
    return Measurement(value, f"largest {value:.3g} of mean |KPI|", {"channels": worst})


def saturation_ratios(model: MMM, panel: Panel, channels: Iterable[str]) -> dict[str, float]:
    """Per channel (of ``channels``, with a positive contribution): its total contribution over
    the panel with its spend doubled in every week / its contribution today."""
    now = model.contributions(panel)
    wanted = set(channels)
    ratios = {}
    for i, c in enumerate(model.channels):
        base = float(now[c].sum())
        if base <= 0 or c not in wanted:
            continue
        spend = panel.spend.copy()
        spend[:, :, i] *= 2.0
        ratios[c] = float(model.contributions(panel.with_spend(spend))[c].sum() / base)
    return ratios


@_check("saturation", SANITY, "<", """Each judged channel's spend doubled in every week: its
        total contribution over the history / today's — the largest ratio (saturation: the
        contribution less than doubles). Where the tenant has ground truth, the same ratio of
        an oracle fit with the true decay, half-saturation and shape is reported beside it
        (not judged).""")
def _saturation(ctx: SuiteContext) -> Measurement:
    judged = judged_channels(ctx.settings.min_share, ctx.shares)
    ratios = saturation_ratios(ctx.reference, ctx.panel, judged)
    if not ratios:
        return Measurement(None, "no judged channel has a positive contribution")
    data: dict[str, Any] = {"ratios": ratios}
    media = ctx.panel.true_media()
    if media is not None:
        oracle = MMM(ctx.model_settings, seed=ctx.seed).fit_fixed(ctx.panel, *media)
        data["oracle_ratios"] = saturation_ratios(oracle, ctx.panel, ratios)
    worst = max(ratios, key=lambda c: (ratios[c], c))
    per = ", ".join(f"{c} {v:.3f}" for c, v in ratios.items())
    detail = f"largest: {worst} ({per})"
    if "oracle_ratios" in data:
        detail += "; with the true response: " + ", ".join(
            f"{c} {v:.3f}" for c, v in data["oracle_ratios"].items())
    return Measurement(ratios[worst], detail, data)


# --------------------------------------------------------------------------- identification


@_check("collinearity", IDENTIFICATION, "<=", """Variance inflation factors of the fitted media
        regressors (Hill of adstocked spend, baseline projected out, segments weighted as in
        the fit): the largest; pairs with |r| ≥ the duplicate_channel threshold are flagged.""")
def _collinearity(ctx: SuiteContext) -> Measurement:
    col = collinearity(media_regressors(ctx.reference, ctx.panel), ctx.reference.channels)
    flag = ctx.thresholds.duplicate_channel
    pairs = col.pairs(flag)
    finite = {c: v for c, v in zip(col.channels, col.vif, strict=True) if np.isfinite(v)}
    if not finite:
        return Measurement(None, "no channel has spend", col.as_dict())
    worst = max(finite, key=lambda c: (finite[c], c))
    flagged = "; ".join(f"{a}~{b} r={r:.3f}" for a, b, r in pairs) or "none"
    return Measurement(finite[worst], f"largest VIF {worst} {finite[worst]:.3g}; collinear "
                       f"pairs (|r| ≥ {flag:g}): {flagged}",
                       {**col.as_dict(), "collinear_pairs": [list(p) for p in pairs]})


#: Lags (weeks) of each fitted media regressor that ``carryover_form`` tries on the residuals.
CARRYOVER_LAGS = (1, 2, 3)


def _residual_score(model: MMM, panel: Panel,
                    make_candidates: Callable[[np.ndarray], np.ndarray], tested: int,
                    rho_beyond_candidates: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, float, int]:
    """What a score (Lagrange multiplier) test of extra regressors on the fit's residuals
    needs: the residuals e and the candidates (G, T, K; ``make_candidates`` of the fitted
    media regressors (G, T, C)), both taken off the baseline design
    per segment, weighted as in the fit, pre-whitened by the residuals' pooled lag-1
    autocorrelation and projected off the fitted response (every channel's regressor and its
    derivatives by decay, half-saturation and shape: the directions the fit could still move
    in); the residual variance with ``tested`` degrees of freedom set aside; and the degrees
    of freedom the projections leave to the residuals.
    ``rho_beyond_candidates``: the autocorrelation is that of the residuals with the
    candidates taken off (as under the alternative) — for slow candidates such as a level
    step, whose own autocorrelation would otherwise be whitened away with the noise's."""
    z, dz = model.media_design(panel, derivatives=True)
    g_n, t_n, c_n = z.shape
    x = baseline_design(panel.dates, panel.controls, model.origin, model.scale_weeks,
                        model.fourier_order, model.settings.trend)
    resid = np.asarray(panel.kpi, float) - model.predict(panel)
    stack = np.concatenate([resid[..., None], z, (dz * model.beta[None, None, :, None])
                            .reshape(g_n, t_n, 3 * c_n), make_candidates(z)], axis=2)
    for g in range(g_n):  # the baseline off, each segment weighted as in the fit
        stack[g] = (stack[g] - x[g] @ lstsq_columns(x[g], stack[g])) / model.residual_scale[g]
    e = stack[:, :, 0]
    if rho_beyond_candidates:
        flat = stack.reshape(g_n * t_n, -1)
        e = (flat[:, 0] - flat[:, 1:] @ lstsq_columns(flat[:, 1:], flat[:, 0])).reshape(g_n,
                                                                                      t_n)
    rho = float((e[:, 1:] * e[:, :-1]).sum() / max(float((e[:, :-1] ** 2).sum()), 1e-300))
    white = (stack[:, 1:, :] - rho * stack[:, :-1, :]).reshape(g_n * (t_n - 1), -1)
    e, fitted, cand = white[:, 0], white[:, 1:1 + 4 * c_n], white[:, 1 + 4 * c_n:]
    q = column_basis(fitted)
    e = e - q @ (q.T @ e)
    cand = cand - q @ (q.T @ cand)
    free = e.size - q.shape[1] - g_n * x.shape[2]  # what the projections leave to e
    return e, cand, float(e @ e) / max(free - tested - 1, 1), free


def _explained(block: np.ndarray, e: np.ndarray) -> tuple[float, int]:
    """The residual sum of squares the columns of ``block`` explain, and their rank."""
    basis = column_basis(block)
    return float(np.sum((basis.T @ e) ** 2)), basis.shape[1]


def carryover_residual_fit(model: MMM, panel: Panel, lags: Sequence[int] = CARRYOVER_LAGS
                           ) -> dict[str, dict[str, float]]:
    """Per channel with spend: how much of the fit's residuals its media regressor lagged by
    ``lags`` weeks explains beyond the fitted model — a score (Lagrange multiplier) test of the
    carryover form on the residuals as ``_residual_score`` prepares them. {channel:
    {"partial_r2": share of the residual sum of squares the lags explain, "p_value":
    chi-squared p-value of the score statistic, "best_lag": the lag that explains most on its
    own}}.

    A response that peaks weeks after the spend (a delayed adstock), which the fit's delays and
    geometric adstock do not express (a model fitted with ``max_delay_weeks=0``, or a delayed
    kernel spread wider than a shifted geometric one), leaves residuals that follow the lagged
    spend; a model of the right form leaves only noise."""
    from scipy.stats import chi2  # scipy.stats: a slow import, only here

    def lagged(z: np.ndarray) -> np.ndarray:
        return np.stack([np.concatenate([np.repeat(z[:, :1, c], lag, axis=1), z[:, :-lag, c]],
                                        axis=1) for c in range(z.shape[2]) for lag in lags],
                        axis=-1)

    e, cand, sigma2, _ = _residual_score(model, panel, lagged, len(lags))
    out: dict[str, dict[str, float]] = {}
    k_n = len(lags)
    for c, channel in enumerate(model.channels):
        if not np.any(panel.spend[:, :, c] > 0):
            continue
        block = cand[:, c * k_n:(c + 1) * k_n]
        explained, rank = _explained(block, e)
        norms = (block ** 2).sum(axis=0)
        alone = [float((block[:, j] @ e) ** 2 / norms[j]) if norms[j] > 0 else 0.0
                 for j in range(k_n)]
        out[channel] = {"partial_r2": explained / max(float(e @ e), 1e-300),
                        "p_value": float(chi2.sf(explained / max(sigma2, 1e-300), rank)),
                        # the lag that explains most on its own: how late the effect comes
                        "best_lag": int(lags[int(np.argmax(alone))])}
    return out


#: Extra yearly harmonics above the fitted order (sharper_seasonality) and the points, as
#: fractions of the weeks, where a step may start (level_change).
EXTRA_HARMONICS = 3
STEP_POINTS = (0.25, 0.5, 0.75)
#: ``baseline_form`` judges its share only when the F test tells the departures from noise
#: at this level: on a short series 13 slow regressors explain a large share of residuals
#: they do not describe.
BASELINE_FORM_ALPHA = 0.01


def baseline_candidates(panel: Panel, model: MMM) -> dict[str, np.ndarray]:
    """{form: (T, k) weekly series}: the departures from MMM v2's baseline (per-segment
    intercept, linear trend, ``fourier_order`` fixed yearly harmonics) that real baselines
    show — a seasonal pattern that changes over the years (each fitted harmonic × centred
    time), a seasonal peak sharper than the fitted harmonics (the next ``EXTRA_HARMONICS``),
    and a lasting change of level (steps at ``STEP_POINTS`` of the weeks). Forms that need a
    year of yearly terms are left out when the fit has none."""
    t_n = panel.n_weeks
    tau = np.arange(t_n) / max(t_n - 1, 1) - 0.5
    order = int(model.fourier_order)
    out = {"seasonality_drift": yearly_harmonics(panel.dates, range(1, order + 1)),
           "sharper_seasonality": yearly_harmonics(
               panel.dates, range(order + 1, order + 1 + EXTRA_HARMONICS)) if order else [],
           "level_change": [(np.arange(t_n) >= round(p * t_n)).astype(float)
                            for p in STEP_POINTS]}
    out["seasonality_drift"] = [h * tau for h in out["seasonality_drift"]]
    return {form: np.stack(cols, axis=-1) for form, cols in out.items() if cols}


def baseline_residual_fit(model: MMM, panel: Panel) -> dict[str, Any] | None:
    """How much of the fit's residuals the baseline departures of ``baseline_candidates``
    explain beyond the fitted model — a score test of the baseline form on the residuals as
    ``_residual_score`` prepares them. Each departure enters every segment in proportion to
    the segment's fitted level (its mean prediction), so a handful of regressors test what all
    segments share; a departure of the segments' own is noise to it. {"partial_r2": share of
    the residual sum of squares all candidates explain, "chance": the share K regressors
    explain of white noise on average (K / the residuals' degrees of freedom once the baseline
    and the fitted response are projected off: about 13 of 130 national weeks, far less over
    many segments), "p_value": the F test's p-value of the candidates (explained / rank over
    what is left / (dof - rank)), "dof": those degrees of freedom, "forms": {form: the share
    that form explains on its own}}; None when the residuals have no more degrees of freedom
    than there are candidates."""
    from scipy.stats import f as f_dist  # scipy.stats: a slow import, only here

    forms = baseline_candidates(panel, model)
    level = np.asarray(model.predict(panel), float).mean(axis=1)  # (G,)
    weekly = np.concatenate(list(forms.values()), axis=-1)  # (T, K)
    candidates = level[:, None, None] * weekly[None, :, :]
    e, cand, _, free = _residual_score(model, panel, lambda z: candidates, weekly.shape[1],
                                       rho_beyond_candidates=True)
    total = max(float(e @ e), 1e-300)
    explained, rank = _explained(cand, e)
    if free <= rank or rank == 0:
        return None
    left = max(total - explained, 1e-300)
    out: dict[str, Any] = {"partial_r2": explained / total, "chance": rank / free,
                           "p_value": float(f_dist.sf((explained / rank) / (left / (free - rank)),
                                                      rank, free - rank)),
                           "dof": free, "forms": {}}
    start = 0
    for form, cols in forms.items():
        alone, _ = _explained(cand[:, start:start + cols.shape[1]], e)
        out["forms"][form] = alone / total
        start += cols.shape[1]
    return out


@_check("carryover_form", IDENTIFICATION, "<=", """The fitted media regressors lagged 1-3 weeks
        must explain little of the residuals beyond the fitted response (baseline and the
        response with its derivatives projected out, segments weighted as in the fit,
        pre-whitened for lag-1 autocorrelation): the largest share of the residual sum of
        squares a channel's lags explain. An effect that peaks weeks after the spend (a
        delayed adstock) beyond what the fit's delays and geometric adstock express shows
        up here.""")
def _carryover_form(ctx: SuiteContext) -> Measurement:
    fits = carryover_residual_fit(ctx.reference, ctx.panel)
    if not fits:
        return Measurement(None, "no channel has spend")
    worst = max(fits, key=lambda c: (fits[c]["partial_r2"], c))
    per = ", ".join(f"{c} {v['partial_r2']:.3g} (p {v['p_value']:.2g})"
                    for c, v in fits.items())
    return Measurement(fits[worst]["partial_r2"],
                       f"share of the residual sum of squares explained by each channel's "
                       f"media lagged {', '.join(map(str, CARRYOVER_LAGS))} weeks: {per}; "
                       f"largest {worst} (most at lag {fits[worst]['best_lag']})",
                       {"lags": list(CARRYOVER_LAGS), "channels": fits})


_FORM_WORDS = {"seasonality_drift": "a seasonal pattern that changes over the years",
               "sharper_seasonality": "a seasonal peak sharper than the fitted harmonics",
               "level_change": "a lasting change of level"}


@_check("baseline_form", IDENTIFICATION, "<=", """Departures from the fitted baseline that all
        segments share must explain little of the residuals beyond the fitted model (baseline
        and response with its derivatives projected out, segments weighted as in the fit,
        pre-whitened for the lag-1 autocorrelation left beside them): the share of the
        residual sum of squares explained by each yearly harmonic x time (a seasonal pattern
        that drifts), three harmonics above the fitted ones (a sharper seasonal peak) and steps
        at a quarter, half and three quarters of the weeks (a lasting level change), each in
        proportion to the segment's level, less the share as many regressors explain of white
        noise; judged only when their F test tells them from noise (p < 0.01) and the tenant
        has more than national_max_segments segments (on fewer series the lag-1
        autocorrelation left after so many projections is underestimated and slow noise passes
        for a departure). Media with spend that follows such an unmodelled baseline absorb it:
        their elasticities come out too high or too low whatever their own form.""")
def _baseline_form(ctx: SuiteContext) -> Measurement:
    fit = baseline_residual_fit(ctx.reference, ctx.panel)
    if fit is None:
        return Measurement(None, "the residuals have no more degrees of freedom than the "
                           "departures tested: too few weeks for the fitted model")
    worst = max(fit["forms"], key=lambda f: (fit["forms"][f], f))
    per = ", ".join(f"{f.replace('_', ' ')} {v:.3g}" for f, v in fit["forms"].items())
    few = ctx.panel.n_segments <= ctx.settings.national_max_segments
    significant = fit["p_value"] < BASELINE_FORM_ALPHA
    why = ("" if significant and not few else
           f"; not judged: {ctx.panel.n_segments} segment(s) — on so few series slow "
           f"departures cannot be told from autocorrelated noise" if few else
           f"; not judged: p ≥ {BASELINE_FORM_ALPHA:g}, not told from noise")
    return Measurement(fit["partial_r2"] - fit["chance"],
                       f"share of the residual sum of squares explained by baseline departures "
                       f"the segments share: {fit['partial_r2']:.3g}, {fit['chance']:.3g} by "
                       f"chance (p {fit['p_value']:.2g}{why}); alone: {per}; most by "
                       f"{_FORM_WORDS[worst]}",
                       {"partial_r2": fit["partial_r2"], "chance": fit["chance"],
                        "forms": fit["forms"], "p_value": fit["p_value"],
                        "extra_harmonics": EXTRA_HARMONICS, "step_points": list(STEP_POINTS)},
                       judged=significant and not few)


def _source_channel(ctx: SuiteContext) -> str:
    """The channel a duplicate or placebo is made from: the largest estimated share."""
    return max(ctx.reference.channels, key=lambda c: (ctx.shares[c], c))


@_check("duplicate_channel", IDENTIFICATION, ">=", """A copy of the largest channel's spend
        added as an extra channel (with that channel's fitted response) must be detected: the
        |r| of the pair as the collinearity diagnostic measures it, flagged at ≥ the
        threshold.""")
def _duplicate_channel(ctx: SuiteContext) -> Measurement:
    source = _source_channel(ctx)
    i = ctx.reference.channels.index(source)
    z = media_regressors(ctx.reference, ctx.panel)
    col = collinearity(np.concatenate([z, z[:, :, [i]]], axis=2),
                       (*ctx.reference.channels, f"{source}_copy"))
    r = abs(float(col.correlation[i, -1]))
    flagged = col.pairs(ctx.thresholds.duplicate_channel)
    return Measurement(r, f"|r| of {source} and its copy {r:.6f}; VIF of the copy "
                       f"{col.vif[-1]:.3g}", {"source": source, "vif_copy": _finite(col.vif[-1]),
                                              "flagged_pairs": [list(p) for p in flagged]})


@_check("placebo_channel", IDENTIFICATION, "<=", """A placebo channel — the largest channel's
        spend with its weeks shuffled (the same shuffle for every segment) — added and the
        model refitted: the placebo's elasticity / the source channel's reference
        elasticity.""")
def _placebo_channel(ctx: SuiteContext) -> Measurement:
    source = _source_channel(ctx)
    i = ctx.reference.channels.index(source)
    order = ctx.rng("placebo_channel").permutation(ctx.panel.n_weeks)
    name = "placebo"
    while name in ctx.panel.channels:
        name = f"_{name}"
    augmented = with_extra_channel(ctx.panel, name, ctx.panel.spend[:, order, i])
    model = ctx.fit(augmented)
    el = model.elasticities(augmented)
    ref = ctx.elasticities[source]
    data = {"source": source, "placebo": name, "placebo_elasticity": el[name],
            "source_elasticity": ref,
            "reference_elasticity": {**ctx.elasticities, name: 0.0}, "elasticity": el}
    if ref <= 0:
        return Measurement(None, f"the source channel {source} has no positive elasticity",
                           data, el)
    value = max(el[name], 0.0) / ref
    return Measurement(value, f"placebo elasticity {el[name]:.4g} = {value:.3g} x {source}'s "
                       f"{ref:.4g}", data, {c: v for c, v in el.items() if c != name})


# --------------------------------------------------------------------------- leakage & det.


@_check("holdout_leakage", LEAKAGE_DETERMINISM, "<=", """The holdout model (fitted on all but
        the last holdout_weeks weeks, built for the whole panel) fitted twice: on the data and
        on the data with every holdout KPI changed; the largest relative difference of their
        parameters (must be 0: bit-identical).""")
def _holdout_leakage(ctx: SuiteContext) -> Measurement:
    split = holdout_split(ctx.panel.n_weeks, ctx.holdout_weeks)
    cut = split.train_end
    kpi = ctx.panel.kpi.copy()
    kpi[:, cut:] = 3.0 * kpi[:, cut:][:, ::-1] + _segment_kpi_sd(ctx.panel)[:, None]
    wrecked = replace(ctx.panel, kpi=kpi)
    a = ctx.fit(ctx.panel.weeks(None, cut), data=ctx.panel)
    b = ctx.fit(wrecked.weeks(None, cut), data=wrecked)
    value = parameter_difference(a, b)
    same_json = a.to_json() == b.to_json()
    rows = {"a": a.diagnostics.n_observations, "b": b.diagnostics.n_observations}
    expected = ctx.panel.n_segments * cut
    data = {"train_weeks": cut, "holdout_weeks": split.test_weeks, "identical_json": same_json,
            "observations_fitted": rows, "observations_expected": expected}
    if not same_json and value == 0.0:
        value = math.ulp(1.0)  # the serialised models differ: not identical
    return Measurement(value, f"holdout KPI changed: parameters "
                       f"{'bit-identical' if value == 0 else f'differ by {value:.3g}'}; "
                       f"rows fitted {rows['a']} (expected {expected})", data)


@_check("determinism", LEAKAGE_DETERMINISM, "<=", """The reference refitted with the same seed:
        the largest relative difference of the parameters (must be 0: bit-identical, and the
        same JSON).""")
def _determinism(ctx: SuiteContext) -> Measurement:
    again = ctx.fit(ctx.panel)
    value = parameter_difference(ctx.reference, again)
    same_json = ctx.reference.to_json() == again.to_json()
    if not same_json and value == 0.0:
        value = math.ulp(1.0)
    outcome = "bit-identical" if value == 0 else f"differs by {value:.3g}"
    return Measurement(value, f"same seed: {outcome}", {"identical_json": same_json})


# --------------------------------------------------------------------------- the suite


def summarise(checks: Iterable[Mapping[str, Any] | CheckResult]) -> dict[str, int]:
    """{total, passed, failed, not_assessable} of check results (objects or dicts)."""
    passed = [c.passed if isinstance(c, CheckResult) else c.get("passed") for c in checks]
    return {"total": len(passed), "passed": sum(p is True for p in passed),
            "failed": sum(p is False for p in passed),
            "not_assessable": sum(p is None for p in passed)}


@dataclass
class RobustnessResult:
    """The suite's outcome for one tenant."""

    tenant: str
    seed: int
    settings: RobustnessSettings
    checks: list[CheckResult]
    reference: MMM
    reference_elasticities: dict[str, float]
    reference_shares: dict[str, float]
    n_segments: int

    @property
    def threshold_set(self) -> str:
        """"national" or "geo": which thresholds judged this tenant."""
        return self.settings.thresholds_for(self.n_segments)[0]

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no robustness check {name!r} in this result")

    def summary(self) -> dict[str, int]:
        return summarise(self.checks)

    def failed(self) -> list[str]:
        return [c.name for c in self.checks if c.passed is False]

    def summary_line(self) -> str:
        s = self.summary()
        line = f"{self.tenant}: {s['passed']}/{s['total']} passed"
        if s["failed"]:
            line += f", {s['failed']} failed ({', '.join(self.failed())})"
        if s["not_assessable"]:
            line += f", {s['not_assessable']} not assessable"
        return line + f" ({self.threshold_set} thresholds)"

    def table(self):
        """DataFrame, one row per check: category, value, comparison, threshold, result."""
        import pandas as pd

        rows = [{"check": c.name, "category": c.category, "value": c.value,
                 "passes if": f"{c.comparison} {c.threshold:g}",
                 "result": {True: "pass", False: "FAIL", None: "n/a"}[c.passed],
                 "detail": c.detail} for c in self.checks]
        return pd.DataFrame(rows).set_index("check")

    def styled_table(self):
        """``table()`` with passing rows green and failing rows red (a pandas Styler)."""
        colours = {"pass": "background-color: #d7f0dd", "FAIL": "background-color: #f8d4d2",
                   "n/a": "background-color: #e8e8e8"}

        def row_style(row):
            return [colours[row["result"]]] * len(row)

        return (self.table().style.apply(row_style, axis=1)
                .format({"value": lambda v: "—" if v is None or (isinstance(v, float)
                                                                 and math.isnan(v))
                         else f"{v:.4g}"}))

    def scraps(self) -> dict[str, Any]:
        """The JSON-able values the robustness notebook glues (no wall-clock times)."""
        return {"tenant": self.tenant, "checks": [c.as_dict() for c in self.checks],
                "summary": self.summary(),
                "thresholds": {"set": self.threshold_set, "segments": self.n_segments,
                               "note": self.settings.threshold_note(self.n_segments)},
                "robustness_settings": {"seed": self.seed,
                                        **self.settings.model_dump(mode="json")},
                "reference": {"elasticities": self.reference_elasticities,
                              "contribution_shares": self.reference_shares}}


def run_robustness_suite(panel: Panel, model_settings: ModelSettings,
                         settings: RobustnessSettings, seed: int, holdout_weeks: int,
                         factory: ModelFactory | None = None,
                         only: Sequence[str] | None = None,
                         progress: Callable[[CheckResult], Any] | None = None,
                         reference: MMM | None = None) -> RobustnessResult:
    """Fit the reference model once and run every registered check (or those in ``only``) on
    ``panel``; thresholds from ``settings.thresholds_for(panel.n_segments)`` (the national
    ones for a tenant with few segments, else the geo ones). ``reference``: the default factory's
    full-history fit when the caller already has it (e.g. ``tenant_models(...,
    calibrate=False).full()``, cached); not accepted with a custom ``factory``."""
    names = list(CHECKS) if only is None else list(only)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ValueError(f"unknown robustness check(s): {', '.join(unknown)} "
                         f"(known: {', '.join(CHECKS)})")
    if reference is not None:
        if factory is not None:
            raise ValueError("run_robustness_suite: a reference model is only accepted with "
                             "the default factory (the checks must test the factory's model)")
        if (reference.settings != model_settings or reference.seed != seed
                or reference.diagnostics.n_observations != panel.kpi.size):
            raise ValueError("run_robustness_suite: the reference model was fitted with other "
                             "settings, another seed or not on the whole panel")
    factory = factory or default_factory(model_settings)
    reference = reference if reference is not None else factory(seed, panel).fit(panel)
    ctx = SuiteContext(panel=panel, model_settings=model_settings, settings=settings, seed=seed,
                       holdout_weeks=holdout_weeks, factory=factory, reference=reference,
                       elasticities=reference.elasticities(panel),
                       shares=reference.contribution_shares(panel), roi=reference.roi(panel))
    results = []
    for name in names:
        check = CHECKS[name]
        threshold = float(getattr(ctx.thresholds, name))
        start = time.perf_counter()
        try:
            m = check.measure(ctx)
        except Exception as exc:  # a check the model cannot get through fails
            m = Measurement(None, f"raised {type(exc).__name__}: {exc}")
            passed: bool | None = False
        else:
            value = None if m.value is None or not math.isfinite(m.value) else m.value
            if m.value is not None and not math.isfinite(m.value):
                m.detail += " (not finite)"
                passed = False
            else:
                passed = (None if value is None else True if not m.judged
                          else bool(_COMPARE[check.comparison](value, threshold)))
            m.value = None if value is None else float(value)
        result = CheckResult(name=name, category=check.category, description=check.description,
                             comparison=check.comparison, threshold=threshold, value=m.value,
                             passed=passed, detail=m.detail, data=m.data,
                             elasticities=m.elasticities, judged=m.judged,
                             seconds=time.perf_counter() - start)
        results.append(result)
        if progress is not None:
            progress(result)
    return RobustnessResult(tenant=panel.tenant, seed=seed, settings=settings, checks=results,
                            reference=reference, reference_elasticities=ctx.elasticities,
                            reference_shares=ctx.shares, n_segments=panel.n_segments)
