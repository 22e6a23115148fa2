"""Foreign-process benchmark: MMM v2 on tenants whose media response is NOT its own form.

MMM v2 assumes normalised geometric adstock with a steady-state start, then Hill saturation,
additive in the KPI. ``recovery.py`` measures it on the generator ``data.synthetic._Process``,
whose media response has that very form (with a real pre-period instead of a steady state).
Here the same random tenants (``panel.random_tenant``: spend, baseline, controls, noise,
contribution shares, decay, shape and half-saturation factors) get their media response from
other processes, as other MMM tools write it. Each is a subclass of ``_Process`` that
overrides ``_media`` only, so the betas (set so each channel reaches its target contribution
share), the segment multipliers, the segment size scaling, the noise and the truth
(elasticity by DESIGN.md's definition, contribution share, ROI: ``_Process.truth``) are
computed through the foreign process exactly as for the own one:

- **own**: ``_Process`` unchanged — MMM v2's own form (the reference cell; also fitted by the
  oracle, ``MMM.fit_fixed`` at the true decay, half-saturation and shape);
- **delayed**: the delayed adstock of Jin et al. (2017, Google's "Bayesian methods for media
  mix modeling with carryover and shape effects"), as PyMC-Marketing's ``DelayedAdstock``
  and LightweightMMM's carryover write it: weights w_l = decay^((l - theta)^2) for lags
  l = 0..12, normalised to sum 1, peak lag theta drawn per channel uniformly in [1, 4]
  (``np.random.default_rng([spec.seed, 70])``), convolved causally over all burn-in + window
  weeks from a zero start (the 52-week burn-in absorbs it); then Hill(., half-saturation,
  shape). The effect peaks 1-4 weeks after the spend, where MMM v2's adstock peaks in the
  week of the spend;
- **logistic**: geometric adstock as a plain recursive filter a_t = x_t + decay a_{t-1} from a
  zero start (weights not normalised, no steady state), then PyMC-Marketing's logistic
  saturation (1 - exp(-lam x)) / (1 + exp(-lam x)) with x = a / half-saturation and lam the
  channel's Hill shape parameter: concave from zero (no S-shape), flattening exponentially
  rather than as a power. The half-saturation is ``_Process``'s (below), but the
  unnormalised adstock runs ~1 / (1 - decay) times the normalised one, so the average week
  sits further up the curve than in the other processes, the more so the higher the decay;
- **logistic_scaled**: the same, with the half-saturation re-based on the quantity this form
  saturates: the factor x the window mean of the UNNORMALISED adstock. The average week then
  sits where the factor says, as in the other processes: this variant separates the change
  of form from the extra saturation that ``logistic`` also brings;
- **weibull**: a Weibull lag kernel, as Robyn's ``weibull_pdf`` adstock and
  PyMC-Marketing's ``WeibullPDFAdstock`` write it: w_l = the Weibull distribution's mass in
  [l, l + 1) weeks for lags l = 0..12, normalised to sum 1, its shape k drawn per channel
  log-uniformly in [0.5, 3] (``np.random.default_rng([spec.seed, 71])``) and its scale set
  so the kernel's mean lag is the tenant's geometric one, decay / (1 - decay), capped at 4
  weeks (a fat-tailed kernel cut at 12 weeks reaches at most ~3.8): the same carryover
  length in another kernel shape. k < 1 is front-loaded with a long fat tail (a spike in
  the week of the spend, then a slow decline no geometric kernel has), k near 1 close to
  geometric, k > 1 a bell that peaks after the spend. Convolved causally from a zero start,
  then Hill, as ``delayed``;
- **saturate_first**: Hill saturation of the weekly per-capita spend first, then normalised
  geometric adstock (``transforms.geometric_adstock``) of the saturated series (the order of
  Meridian's ``hill_before_adstock`` option): saturation acts on each week's spend, not on
  the carried-over level, so flighted bursts saturate more than the same budget spread out.

Half-saturation: ``_Process`` sets it to the channel's factor (``half_saturation`` in the
spec, 0.3-3) x the window mean of its normalised adstocked per-capita spend (pooled over
segments and window weeks); every process but ``logistic_scaled`` uses that value as is (for
``delayed`` and ``saturate_first`` the saturated quantity's own window mean is within 5 % of
it). The factors, decays and shapes are the tenant's own in every process.
``truth["foreign"]`` records each foreign process's parameters; the truth of a foreign
process omits decay, half-saturation and shape (they are not MMM v2's parameters, so
``Panel.true_media`` is None and no oracle can be fitted).

Panel: 156 weeks at noise 10 % of expected segment-week KPI, in two shapes, ``national`` (1
segment; tenant i has ``random_tenant`` seed 70_000 + i) and ``geo`` (10-20 segments drawn
per tenant as ``recovery.Task`` does; seeds 71_000 + i). Tenant i is the same tenant under
every process: same spend, baseline, shares and noise draws; only the media form differs
(paired cells).

Per tenant, on the full 156 weeks: **MMM** — ``MMM(ModelSettings(), seed=RUN_SEED).fit``,
which chooses each channel's delay (0 to ``max_delay_weeks`` weeks between spend and adstock)
by an extended BIC; **geometric** — the same with ``max_delay_weeks=0`` (MMM v2 before it
chose delays: geometric adstock from the week of the spend), to show what the delays buy;
**log-log** — ``LogLogOLS(ModelSettings()).fit``; **oracle** (own process only).

Figures per (process, shape) cell and model, with relative error |est - true| / true per
(tenant, channel):

- err median: over all (tenant, channel) pairs of the cell pooled; share>=5%: over channels
  with a true contribution share >= 5 %;
- gate: per tenant, the product's ``elasticity_median_error`` value — the median relative
  error over the channels with true share >= ``ElasticityGate().min_true_share`` (2 %);
  "gate value, median" is its median over tenants, "gate pass" the share of tenants whose
  value is <= ``ElasticityGate().max_median_relative_error`` (0.25) (tenants without such a
  channel are left out);
- total: per tenant |sum_c est_c - sum_c true_c| / sum_c true_c; the median over tenants;
- Spearman: per tenant, the rank correlation over channels of estimated and true
  elasticities (left out when every estimate ties); the median over tenants;
- at zero: the share of (tenant, channel) pairs estimated at an elasticity <= 1e-9;
- delayed: the share of (tenant, channel) pairs given a delay > 0 (MMM only; on the own
  process, whose effect starts in the week of the spend, every such delay is a false one);
- M/L: the MMM figure / the log-log figure (errors: < 1 is better than log-log);
- el/sh: the median over (tenant, channel) of true elasticity / true contribution share, a
  property of the process, not of a model: 1 for a linear response, below 1 where the
  average week sits on the saturating part of the curve (above 1 on an S-curve's convex
  foot); shown so the processes' curvature can be compared.

Below the table: every foreign cell's MMM and log-log median error relative to the own
cell of the same shape (paired tenants), i.e. how much each model loses to the form change.

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/foreign.py`` (``--tenants N``
per cell, default 20; ``--workers W``, default 2; ``--quick`` for a smoke run of 2 tenants per
cell that writes nothing unless ``--out`` is given; ``--decay-estimate optimum`` fits MMM v2
with the objective's optimum as each decay, the default before ``profile_median``, into
``foreign_optimum.json``).
Results go to ``benchmarks/results/foreign.json`` (keys sorted, floats rounded to 6
decimals; the top-level ``runtime_seconds`` is the only value that changes between identical
runs).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))

from panel import random_tenant  # noqa: E402  (benchmarks/ is not a package)
from recovery import (  # noqa: E402
    DECAY_ESTIMATE,
    Shape,
    ShapedTask,
    _fmt,
    _q,
    _ratio,
    _rounded,
    add_decay_estimate_options,
    format_blocks,
    results_path,
    run_tasks,
    true_media,
)

from mmm_evidence.config import (  # noqa: E402
    ElasticityGate,
    ModelSettings,
    RobustnessSettings,
    TenantConfig,
)
from mmm_evidence.data.panel import Panel  # noqa: E402
from mmm_evidence.data.synthetic import _plain, _Process  # noqa: E402
from mmm_evidence.evaluation.loglog import LogLogOLS  # noqa: E402
from mmm_evidence.evaluation.robustness import carryover_residual_fit  # noqa: E402
from mmm_evidence.model.mmm import MMM  # noqa: E402
from mmm_evidence.model.transforms import geometric_adstock, hill  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "foreign.json"
PROCESSES = ("own", "delayed", "weibull", "logistic", "logistic_scaled", "saturate_first")
MODELS = ("mmm", "geometric", "oracle", "loglog")
SHAPES = {"national": Shape("national", 1, 1, 70_000), "geo": Shape("geo", 10, 20, 71_000)}
NOISE = 0.10
WEEKS = 156
RUN_SEED = 7
LARGE_SHARE = 0.05
GATE = ElasticityGate()  # the product's elasticity_median_error gate: 0.25 over share >= 2 %
ZERO = 1e-9
MAX_LAG = 12
PEAK_RANGE = (1.0, 4.0)
WEIBULL_SHAPE_RANGE = (0.5, 3.0)  # log-uniform
WEIBULL_MAX_MEAN_LAG = 4.0
WEIBULL_STREAM = 71  # the weibull process's kernel shapes: default_rng([spec.seed, 71])
THETA_STREAM = 70  # the delayed process's peak lags: default_rng([spec.seed, THETA_STREAM])
FOREIGN_PARAMETERS = ("decay", "half_saturation_per_capita", "shape")


# --------------------------------------------------------------------------- the processes


class _ForeignProcess(_Process):
    """A ``_Process`` whose media form is another one's (``_response``). ``_Process.__init__``
    calls ``_media`` once with beta = 1 on the tenant's own spend to scale the betas, after
    setting decay, shape, half-saturation and segment multipliers; that first call runs
    ``_prepare`` (a process's own parameters) before anything uses the response."""

    form = "foreign"

    def __init__(self, spec, channels, controls):
        self._prepared = False
        super().__init__(spec, channels, controls)

    def _prepare(self, spend: np.ndarray) -> None:
        if spend is not self.spend:
            raise RuntimeError("the first _media call must be __init__'s, on the tenant's spend")
        self._prepared = True

    def _response(self, per_capita: np.ndarray, c: int) -> np.ndarray:
        """Channel c's unit media response (G, W) before beta, multipliers and size."""
        raise NotImplementedError

    def _media(self, spend: np.ndarray) -> np.ndarray:
        """As ``_Process._media`` (beta x segment multiplier x size x response, window weeks),
        with this process's response."""
        if not self._prepared:
            self._prepare(spend)
        per_capita = spend / self.size[:, None, None]
        out = np.empty((spend.shape[0], self.t_n, spend.shape[2]))
        for c in range(spend.shape[2]):
            out[:, :, c] = (self.beta[c] * self.segment_multiplier[:, c][:, None]
                            * self.size[:, None] * self._response(per_capita, c)[:, self.b_n:])
        return out

    def parameters(self) -> dict:
        return {name: {"decay": float(self.decay[c]), "shape": float(self.shape[c]),
                       "half_saturation_per_capita": float(self.half_saturation[c])}
                for c, name in enumerate(self.channels)}

    def truth(self) -> dict:
        out = super().truth()
        for ch in out["channels"].values():
            for key in FOREIGN_PARAMETERS:
                ch.pop(key, None)
        out["foreign"] = {"form": self.form, "channels": self.parameters()}
        return out


def delayed_weights(decay: float, theta: float, max_lag: int = MAX_LAG) -> np.ndarray:
    """w_l = decay^((l - theta)^2), l = 0..max_lag, normalised to sum 1."""
    lags = np.arange(max_lag + 1)
    if decay <= 0.0:  # 0^0 = 1 only at an integer theta: all weight on the nearest lag
        w = (lags == int(np.clip(round(theta), 0, max_lag))).astype(float)
    else:
        w = np.power(decay, (lags - theta) ** 2)
    return w / w.sum()


class _KernelProcess(_ForeignProcess):
    """A lag kernel per channel (``self.weights``, (C, MAX_LAG + 1), set by ``_prepare``)
    convolved causally from a zero start, then Hill."""

    weights: np.ndarray

    def _response(self, per_capita, c):
        adstocked = lfilter(self.weights[c], [1.0], per_capita[:, :, c], axis=-1)
        return hill(adstocked, self.half_saturation[c], self.shape[c])


class DelayedProcess(_KernelProcess):
    """Delayed adstock (peak at lag theta), causal from a zero start, then Hill."""

    form = "delayed"

    def _prepare(self, spend: np.ndarray) -> None:
        super()._prepare(spend)
        rng = np.random.default_rng([self.spec.seed, THETA_STREAM])
        self.peak_lag = rng.uniform(*PEAK_RANGE, len(self.channels))
        self.weights = np.stack([delayed_weights(d, t)
                                 for d, t in zip(self.decay, self.peak_lag, strict=True)])

    def parameters(self) -> dict:
        out = super().parameters()
        for c, name in enumerate(self.channels):
            out[name]["peak_lag"] = float(self.peak_lag[c])
        return out


def weibull_weights(shape: float, scale: float, max_lag: int = MAX_LAG) -> np.ndarray:
    """w_l = F(l + 1) - F(l) for the Weibull CDF F(x) = 1 - exp(-(x / scale)^shape), lags
    l = 0..max_lag, normalised to sum 1 (the delay of each unit of effect, in weeks)."""
    edges = np.arange(max_lag + 2, dtype=float)
    cdf = -np.expm1(-np.power(edges / scale, shape))
    w = np.diff(cdf)
    return w / w.sum()


def mean_lag(weights: np.ndarray) -> float:
    return float(np.dot(np.arange(weights.size), weights))


def weibull_scale(shape: float, target_mean_lag: float, max_lag: int = MAX_LAG) -> float:
    """The Weibull scale whose kernel (``weibull_weights``) has mean lag ``target_mean_lag``
    weeks; the mean lag grows with the scale, so bisection on log(scale)."""
    if target_mean_lag <= 1e-6:
        return 1e-3  # all weight in the week of the spend
    lo, hi = math.log(1e-3), math.log(1e3)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if mean_lag(weibull_weights(shape, math.exp(mid), max_lag)) < target_mean_lag:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


class WeibullProcess(_KernelProcess):
    """Weibull lag kernel with the geometric kernel's mean lag, causal from a zero start, then
    Hill."""

    form = "weibull"

    def _prepare(self, spend: np.ndarray) -> None:
        super()._prepare(spend)
        rng = np.random.default_rng([self.spec.seed, WEIBULL_STREAM])
        self.kernel_shape = np.exp(rng.uniform(*np.log(WEIBULL_SHAPE_RANGE),
                                               len(self.channels)))
        target = np.minimum(self.decay / (1.0 - self.decay), WEIBULL_MAX_MEAN_LAG)
        self.kernel_scale = np.array([weibull_scale(k, m) for k, m
                                      in zip(self.kernel_shape, target, strict=True)])
        self.weights = np.stack([weibull_weights(k, s) for k, s
                                 in zip(self.kernel_shape, self.kernel_scale, strict=True)])

    def parameters(self) -> dict:
        out = super().parameters()
        for c, name in enumerate(self.channels):
            out[name]["kernel_shape"] = float(self.kernel_shape[c])
            out[name]["kernel_scale"] = float(self.kernel_scale[c])
            out[name]["peak_lag"] = int(np.argmax(self.weights[c]))
            out[name]["mean_lag"] = mean_lag(self.weights[c])
        return out


def raw_adstock(x: np.ndarray, decay: float) -> np.ndarray:
    """a_t = x_t + decay a_{t-1} along the last axis, from a_{-1} = 0 (not normalised)."""
    return lfilter([1.0], [1.0, -decay], x, axis=-1)


class LogisticProcess(_ForeignProcess):
    """Unnormalised geometric adstock from a zero start, then logistic saturation."""

    form = "logistic"

    def _response(self, per_capita, c):
        x = raw_adstock(per_capita[:, :, c], self.decay[c]) / self.half_saturation[c]
        e = np.exp(-self.shape[c] * np.maximum(x, 0.0))
        return (1.0 - e) / (1.0 + e)


class LogisticScaledProcess(LogisticProcess):
    """``logistic`` with the half-saturation re-based on the unnormalised adstock's mean."""

    form = "logistic_scaled"

    def _prepare(self, spend: np.ndarray) -> None:
        super()._prepare(spend)
        factor = np.array([self.spec.channels[c].half_saturation for c in self.channels])
        per_capita = spend / self.size[:, None, None]
        ref = np.array([raw_adstock(per_capita[:, :, c], self.decay[c])[:, self.b_n:].mean()
                        for c in range(spend.shape[2])])
        self.half_saturation = factor * np.maximum(ref, 1e-9)


class SaturateFirstProcess(_ForeignProcess):
    """Hill of the weekly per-capita spend, then normalised geometric adstock of that."""

    form = "saturate_first"

    def _response(self, per_capita, c):
        saturated = hill(per_capita[:, :, c], self.half_saturation[c], self.shape[c])
        return geometric_adstock(saturated, self.decay[c])


PROCESS_CLASSES: dict[str, type[_Process]] = {
    "own": _Process, "delayed": DelayedProcess, "weibull": WeibullProcess,
    "logistic": LogisticProcess,
    "logistic_scaled": LogisticScaledProcess, "saturate_first": SaturateFirstProcess}


# --------------------------------------------------------------------------- one tenant


@dataclass(frozen=True)
class Task(ShapedTask):
    """One tenant of one cell (process x shape)."""

    SHAPES: ClassVar[dict[str, Shape]] = SHAPES
    process: str
    shape: str
    index: int
    decay_estimate: str = DECAY_ESTIMATE  # MMM v2's model.decay_estimate (--decay-estimate)


def tenant_config(task: Task) -> TenantConfig:
    """The same tenant under every process (the seed depends on shape and index only)."""
    return random_tenant(task.seed, task.segments, NOISE, weeks=WEEKS)


def simulate(cfg: TenantConfig, process: str) -> tuple[Panel, _Process]:
    """The tenant's Panel (window weeks, size = population / mean, truth attached) with its
    media response from `process`, and the process itself."""
    spec = cfg.data.synthetic
    proc = PROCESS_CLASSES[process](spec, list(cfg.channels), list(cfg.controls))
    truth = _plain({"tenant": cfg.name, "process": process, **proc.truth()})
    dates = pd.DatetimeIndex(pd.to_datetime([d.isoformat() for d in proc.weeks]))
    panel = Panel(tenant=cfg.name, dates=dates, segments=tuple(proc.segment_names),
                  channels=tuple(cfg.channels), control_names=tuple(cfg.controls),
                  kpi=proc.kpi, spend=proc.spend[:, proc.b_n:, :],
                  controls=proc.controls[:, proc.b_n:, :],
                  size=proc.population / proc.population.mean(), kpi_name=cfg.kpi,
                  truth=truth)
    return panel, proc


def run_tenant(task: Task) -> dict:
    """Fit MMM v2 and log-log (and the oracle for the own process) on one tenant."""
    started = time.perf_counter()
    cfg = tenant_config(task)
    panel, _ = simulate(cfg, task.process)
    truth = panel.truth["channels"]
    spec = cfg.data.synthetic
    record: dict = {
        "process": task.process, "shape": task.shape, "index": task.index, "seed": task.seed,
        "segments": panel.n_segments, "n_channels": len(panel.channels),
        "media_share": panel.truth["media_share"],
        "channels": {c: {"true_elasticity": truth[c]["elasticity"],
                         "true_share": truth[c]["contribution_share"],
                         "pattern": spec.channels[c].pattern, "decay": spec.channels[c].decay,
                         "shape": spec.channels[c].shape,
                         "half_saturation": spec.channels[c].half_saturation}
                     for c in panel.channels},
        "models": {},
    }
    if "foreign" in panel.truth:
        record["foreign"] = panel.truth["foreign"]["channels"]
    for name in MODELS:
        if name in ("mmm", "geometric"):
            settings = ModelSettings(decay_estimate=task.decay_estimate,
                                     **({} if name == "mmm" else {"max_delay_weeks": 0}))
            model = MMM(settings, seed=RUN_SEED).fit(panel)
        elif name == "oracle":
            if task.process != "own":
                continue
            model = MMM(ModelSettings(), seed=RUN_SEED).fit_fixed(panel, *true_media(panel))
        else:
            model = LogLogOLS(ModelSettings()).fit(panel)
        record["models"][name] = {"elasticity": model.elasticities(panel)}
        if name in ("mmm", "geometric"):  # the robustness suite's truth-free carryover check
            record["models"][name]["delay"] = dict(zip(panel.channels,
                                                       (int(d) for d in model.delay),
                                                       strict=True))
            fits = carryover_residual_fit(model, panel)
            value = max(v["partial_r2"] for v in fits.values())
            threshold = RobustnessSettings().thresholds_for(panel.n_segments)[1].carryover_form
            record["models"][name]["carryover_form"] = {"value": value,
                                                        "flagged": value > threshold}
    record["seconds"] = time.perf_counter() - started  # progress line only, not written
    return record


# --------------------------------------------------------------------------- summaries


def gate_value(errors: list[float], shares: list[float]) -> float | None:
    """The elasticity_median_error gate's value: the median relative error over the
    channels with true share >= GATE.min_true_share (None without such a channel)."""
    counted = [e for e, s in zip(errors, shares, strict=True) if s >= GATE.min_true_share]
    return statistics.median(counted) if counted else None


def cell_summary(records: list[dict], model: str) -> dict | None:
    """The table's figures for one model over one cell's tenant records (None when the
    model was not fitted in this cell: the oracle on a foreign process)."""
    if not records or any(model not in r["models"] for r in records):
        return None
    err, err_large, gates, total, rho, zero, delayed = ([] for _ in range(7))
    for rec in records:
        est = rec["models"][model]["elasticity"]
        names = list(rec["channels"])
        true = [rec["channels"][c]["true_elasticity"] for c in names]
        shares = [rec["channels"][c]["true_share"] for c in names]
        e = [est[c] for c in names]
        rel = [abs(a - t) / t for a, t in zip(e, true, strict=True)]
        err += rel
        err_large += [r for r, s in zip(rel, shares, strict=True) if s >= LARGE_SHARE]
        zero += [float(a <= ZERO) for a in e]
        delayed += [float(d > 0) for d in rec["models"][model].get("delay", {}).values()]
        value = gate_value(rel, shares)
        if value is not None:
            gates.append(value)
        total.append(abs(sum(e) - sum(true)) / sum(true))
        if len(set(e)) > 1:
            rho.append(float(spearmanr(e, true).statistic))
    return {
        "tenants": len(records), "channels": len(err), "large_channels": len(err_large),
        "err_median": _q(err, 0.5), "err_p90": _q(err, 0.9),
        "err_large_median": _q(err_large, 0.5),
        "gate_median": _q(gates, 0.5), "gate_tenants": len(gates),
        "gate_pass": (float(np.mean([g <= GATE.max_median_relative_error for g in gates]))
                      if gates else None),
        "total_err_median": _q(total, 0.5),
        "spearman_median": _q(rho, 0.5), "spearman_tenants": len(rho),
        "zero_fraction": float(np.mean(zero)) if zero else None,
        "delayed_fraction": float(np.mean(delayed)) if delayed else None,
        **carryover_summary([rec["models"][model].get("carryover_form") for rec in records]),
    }


def carryover_summary(checks: list[dict | None]) -> dict:
    """The carryover_form check over a cell's fits of one model (empty for a model without)."""
    checks = [c for c in checks if c is not None]
    if not checks:
        return {}
    return {"carryover_form_flagged": float(np.mean([c["flagged"] for c in checks])),
            "carryover_form_median": _q([c["value"] for c in checks], 0.5)}


def process_summary(records: list[dict]) -> dict:
    """Properties of the cell's true process (not of any model)."""
    ratio = [ch["true_elasticity"] / ch["true_share"] for rec in records
             for ch in rec["channels"].values() if ch["true_share"] > 0]
    low = [float(ch["true_elasticity"] < GATE.zero_true_elasticity)
           for rec in records for ch in rec["channels"].values()]
    return {"elasticity_per_share_median": _q(ratio, 0.5),
            "elasticity_per_share_p10": _q(ratio, 0.1),
            "true_elasticity_below_0.01": float(np.mean(low)) if low else None}


def cell_key(process: str, shape: str) -> str:
    return f"{process} {shape}"


def summarise(records: list[dict]) -> dict[str, dict]:
    """Per cell '<process> <shape>' in the table's order: the models' figures and the
    process's own."""
    out = {}
    for process in PROCESSES:
        for shape in SHAPES:
            group = sorted((r for r in records
                            if r["process"] == process and r["shape"] == shape),
                           key=lambda r: r["index"])
            if group:
                out[cell_key(process, shape)] = {
                    "process": process, "shape": shape,
                    "models": {m: s for m in MODELS
                               if (s := cell_summary(group, m)) is not None},
                    "truth": process_summary(group)}
    return out


def degradation(summary: dict) -> list[dict]:
    """Every foreign cell's median errors relative to the own cell of the same shape."""
    rows = []
    for shape in SHAPES:
        own = summary.get(cell_key("own", shape))
        if own is None:
            continue
        for process in PROCESSES[1:]:
            cell = summary.get(cell_key(process, shape))
            if cell is None:
                continue
            row = {"process": process, "shape": shape}
            for model in ("mmm", "geometric", "loglog"):
                for field in ("err_median", "gate_median"):
                    row[f"{model}_{field}_vs_own"] = _ratio(cell["models"][model][field],
                                                            own["models"][model][field])
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- printing


TABLE_BLOCKS = (
    ("relative elasticity error", (("err_median", "median, all", "{:.3f}"),
                                   ("err_large_median", "median, share>=5%", "{:.3f}"),
                                   ("gate_median", "gate value, median", "{:.3f}"))),
    ("gate and aggregates", (("gate_pass", "gate pass (<=0.25)", "{:.2f}"),
                             ("total_err_median", "total media el. err", "{:.3f}"),
                             ("spearman_median", "Spearman", "{:.2f}"),
                             ("zero_fraction", "at zero", "{:.2f}"))),
)
SUB = ("MMM", "geom", "orcl", "l-log", "M/L")


def format_table(summary: dict) -> str:
    """One row per process x shape; per metric MMM, MMM without delays (geometric), oracle
    (own only), log-log, MMM/log-log."""
    def cols(cell):
        def texts(field, spec):
            vals = [cell["models"][m][field] if m in cell["models"] else None for m in MODELS]
            return [_fmt(v, spec) for v in vals] + [_fmt(_ratio(vals[0], vals[-1]), "{:.2f}")]
        return texts

    rows = [(key, cell["models"]["mmm"]["tenants"], cell["models"]["mmm"]["channels"],
             _fmt(cell["truth"]["elasticity_per_share_median"], "{:.2f}"), cols(cell))
            for key, cell in summary.items()]
    lines = format_blocks(TABLE_BLOCKS, SUB, rows, 25, "el/sh")
    lines += ["-- MMM v2's delays, and the robustness suite's carryover_form check (no truth "
              "used) on its fit and on the geometric one --",
              f"{'cell':25s} {'delayed':>8s} {'flagged MMM':>12s} {'geom':>6s} "
              f"{'median value MMM':>17s} {'geom':>8s}"]
    for key, cell in summary.items():
        mmm, geom = cell["models"]["mmm"], cell["models"]["geometric"]
        lines.append(f"{key:25s} {_fmt(mmm['delayed_fraction'], '{:.2f}'):>8s} "
                     f"{_fmt(mmm.get('carryover_form_flagged'), '{:.2f}'):>12s} "
                     f"{_fmt(geom.get('carryover_form_flagged'), '{:.2f}'):>6s} "
                     f"{_fmt(mmm.get('carryover_form_median'), '{:.4f}'):>17s} "
                     f"{_fmt(geom.get('carryover_form_median'), '{:.4f}'):>8s}")
    lines.append("")
    return "\n".join(lines)


def format_degradation(rows: list[dict]) -> str:
    models = (("mmm", "MMM"), ("geometric", "geom"), ("loglog", "l-log"))
    head = "".join(f"{label + ' err':>11s}" for _, label in models)
    head += "".join(f"{label + ' gate':>12s}" for _, label in models)
    lines = [f"  {'process':16s}{'shape':10s}{head}   (x the own cell's median, paired)"]
    for r in rows:
        line = f"  {r['process']:16s}{r['shape']:10s}"
        line += "".join(f"{_fmt(r[f'{m}_err_median_vs_own'], '{:.2f}'):>11s}" for m, _ in models)
        line += "".join(f"{_fmt(r[f'{m}_gate_median_vs_own'], '{:.2f}'):>12s}"
                        for m, _ in models)
        lines.append(line)
    return "\n".join(lines)


# --------------------------------------------------------------------------- running


def tasks(tenants: int, decay_estimate: str = DECAY_ESTIMATE) -> list[Task]:
    """Every (process, shape, tenant) task; the costlier geo tenants first."""
    out = [Task(p, s, i, decay_estimate) for p in PROCESSES for s in SHAPES
           for i in range(tenants)]
    return sorted(out, key=lambda t: (t.shape != "geo", t.index, PROCESSES.index(t.process)))


def run(task_list: list[Task], workers: int) -> tuple[list[dict], list[dict]]:
    """Run every task in a process pool with a progress line; (records, failures)."""
    return run_tasks(task_list, workers, run_tenant,
                     lambda t: f"{cell_key(t.process, t.shape):25s} tenant {t.index:3d}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=20, help="tenants per process x shape")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 tenants per cell, nothing written unless --out")
    add_decay_estimate_options(parser, RESULTS, "the 'mmm' and 'geometric' fits")
    args = parser.parse_args(argv)
    if args.quick:
        args.tenants = 2
    out_path = args.out or (None if args.quick else results_path(RESULTS, args.decay_estimate))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if os.environ.get(var) != "1":
            print(f"warning: {var} is not 1; BLAS threads will oversubscribe the cores",
                  file=sys.stderr)

    started = time.perf_counter()
    records, failures = run(tasks(args.tenants, args.decay_estimate), args.workers)
    runtime = time.perf_counter() - started
    for rec in records:
        rec.pop("seconds", None)
    summary = summarise(records)
    rows = degradation(summary)

    print(f"\nForeign-process benchmark: {args.tenants} tenants per process x shape (paired "
          f"across processes), {WEEKS} weeks, noise {NOISE:.0%}, MMM v2's decay "
          f"{args.decay_estimate.replace('_', ' ')}, {args.workers} workers, "
          f"{runtime:.0f} s wall, {len(failures)} failed tenants\n")
    print(format_table(summary))
    print("el/sh: median true elasticity / true contribution share (1 = linear response); "
          "orcl: own process only\n")
    print("Median error relative to MMM v2's own form, same tenants")
    print(format_degradation(rows))
    for f in failures:
        print(f"FAILED: {f}")
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "benchmark": "foreign", "definitions": __doc__,
            "settings": {"tenants_per_cell": args.tenants, "weeks": WEEKS, "noise": NOISE,
                         "processes": list(PROCESSES),
                         "shapes": {k: asdict(v) for k, v in SHAPES.items()},
                         "run_seed": RUN_SEED, "large_share": LARGE_SHARE,
                         "gate": GATE.model_dump(), "max_lag": MAX_LAG,
                         "peak_lag_range": list(PEAK_RANGE), "workers": args.workers,
                         "decay_estimate": args.decay_estimate},
            "runtime_seconds": runtime,
            "summary": summary, "degradation_vs_own": rows, "failures": failures,
            "tenants": sorted(records, key=lambda r: (PROCESSES.index(r["process"]),
                                                      r["shape"], r["index"])),
        }
        out_path.write_text(json.dumps(_rounded(payload), indent=1, sort_keys=True) + "\n",
                            encoding="utf-8")
        print(f"\nwrote {out_path}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
