"""Recovery benchmark (issue 3, item 1): MMM v2 against the oracle floor and log-log OLS.

A panel of synthetic tenants from random plausible processes (``panel.random_tenant``: 3-8
channels, decay 0-0.8, Hill shape 0.7-3, half-saturation 0.3-3 x mean adstocked per-capita
spend, media share of KPI 10-50 %, channel correlation up to 0.7, flighted and always-on
channels, price and holiday controls), 156 weeks, at noise 5, 10 and 20 % of expected
segment-week KPI, in two shapes: ``national`` (1 segment) and ``geo`` (10-20 segments, drawn
per tenant, with segment-specific spend timing). Tenant i of a shape has the same process at
every noise level (seeds ``SHAPES[shape].seed_base + i``): the noise levels are paired.

Per tenant, three models are fitted on segment x week rows:

- **MMM** — ``MMM(ModelSettings(), seed).fit`` (the product; multi-start, nonlinear fit;
  coefficients reported as their posterior medians, ``model.coefficient_estimate``);
- **oracle** — ``MMM.fit_fixed`` with the TRUE decay, half-saturation and shape: only the
  linear part is fitted (and summarised as MMM v2 summarises it), so its error is the floor
  that MMM v2's form (additive baseline, pooled media response, steady-state adstock start)
  leaves against the true process;
- **log-log** — ``LogLogOLS``: log KPI on log(1 + per-capita spend / mean), per-segment
  baseline (intercept, trend, Fourier, controls), no carryover.

Definitions (``true`` from the generator's truth, estimates on the full 156 weeks):

- elasticity of channel c: % change of total predicted KPI over the 156 weeks when c's spend
  is x1.01 in every week, / 1 % (DESIGN.md; the truth uses the same definition);
- relative elasticity error: |est - true| / true per (tenant, channel); "median" and "p90"
  are over all (tenant, channel) pairs of a cell pooled; "large" = channels with a true
  contribution share >= 5 %;
- total media elasticity error: per tenant |sum_c est_c - sum_c true_c| / sum_c true_c;
  the median over tenants;
- contribution-share error: per (tenant, channel) |est share - true share| x 100, in
  percentage points; median pooled. MMM and oracle: the additive contribution / total
  predicted KPI; log-log: the removal contribution (predicted KPI minus predicted KPI with
  the channel's spend at zero) / total predicted KPI;
- Spearman: per tenant, the rank correlation over channels of estimated and true
  elasticities (undefined, and left out, when every estimate ties); the median over tenants;
- holdout MAPE / noise: fit on weeks 1-130, predict weeks 131-156; the segment-week MAPE over
  those 26 weeks divided by the noise fraction; median over tenants. The noise is AR(1)
  Gaussian with sd = noise x expected KPI, so E|N(0, s)| / s = 0.80: a model that knew the
  expected KPI exactly would score ~0.80;
- 90 % interval coverage: the share of (tenant, channel) pairs whose true elasticity lies in
  the 90 % percentile interval of a moving-block residual bootstrap (13-week blocks, the same
  weeks for every segment, ``REPLICATES`` refits). MMM: the product's ``block_bootstrap``
  (warm-started refits of every media parameter but the decays it reports as profile
  medians, which each refit holds at a draw from their profile posterior; residuals scaled
  by sqrt(n / (n - p)) for the p
  parameters the fit spent, see ``model.uncertainty``). Oracle: the same resamples, scaled
  for the linear parameters it fits, refitted with ``fit_fixed`` at the true media
  parameters (coefficients at the mode, as the product's bootstrap refits report theirs).
  Log-log: the same block scheme on log-scale residuals (not scaled).
  Bootstraps are costly, so coverage is measured on the first ``--coverage-tenants``
  tenants of every cell only (the table's ``n_cov`` column says how
  many (tenant, channel) pairs it rests on); it is also printed apart for channels whose
  refits held a drawn decay and those whose decay stayed free (``coverage_by_decay_draw``).
  ``REPLICATES`` is the product's default
  ``bootstrap_replicates`` (see ``bootstrap_replicates.py``). With R replicates, numpy's
  interpolated 5 % and 95 % quantiles cover on average (0.9 (R - 1) + 1) / (R + 1) of the
  bootstrap distribution (89.6 % for R = 200, 86 % for R = 40), so even an exact bootstrap
  reads somewhat below 90 %;
- fit seconds: CPU seconds (``time.process_time``; BLAS pinned to one thread, so one core)
  of the full-history fit, without bootstrap; median and p90 over tenants. Wall seconds are
  in the JSON;
- at zero: the share of (tenant, channel) pairs estimated at an elasticity <= 1e-9 (MMM and
  oracle: beta = 0 from the non-negative solve; log-log: a coefficient <= 0), whose relative
  error is exactly 1 (or more for log-log) — where this exceeds ~half, a median reads 1.000;
- ratio M/O: the MMM figure divided by the oracle's (errors: ≤ 1 is as good as the floor).

Targets (reported, not tuned for): MMM median elasticity error <= 1.2 x oracle and <= 0.75 x
log-log in every shape x noise; geo at 10 % noise: large-channel median <= 20 %, total media
elasticity error <= 10 %, Spearman >= 0.8; MMM bootstrap coverage within 80-97 % (pooled over
all cells, and per cell shown); fit CPU-time p90 <= 2 s national with 5 channels and <= 5 s
with 20 segments (geo tenants with 18-20 segments, any channel count, stand in). Beside the
per-cell targets it prints what ``recovery_bound.py``'s posteriors reach on the same tenants
(``against_bound``, from its committed results): whether a target that MMM v2 misses is
reachable at all on this likelihood, with or without knowing the panel's generating box.
It also counts the fits whose decay profile found a better optimum and re-fitted
(``profile_refits``, from ``FitDiagnostics``).

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/recovery.py`` (``--quick``
for a smoke run, ``--tenants N`` per cell). Results go to ``benchmarks/results/recovery.json``
(``--quick`` writes nothing unless ``--out`` is given). MMM v2 reports each decay as the
median of its profile posterior (``model.decay_estimate: profile_median``, the default; its
bootstrap refits hold decays drawn from the fit's profiles: ``MMM.draw_decays``);
``--decay-estimate optimum`` fits it with the objective's optimum instead, the default before,
into ``recovery_optimum.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import ClassVar, get_args

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))

from panel import random_tenant  # noqa: E402  (benchmarks/ is not a package)

from mmm_evidence.config import (  # noqa: E402
    EvaluationSettings,
    IdentificationGate,
    ModelSettings,
    TenantConfig,
)
from mmm_evidence.data.panel import Panel  # noqa: E402
from mmm_evidence.data.synthetic import simulate_panel  # noqa: E402
from mmm_evidence.evaluation.loglog import LogLogOLS  # noqa: E402
from mmm_evidence.evaluation.metrics import contribution_slope, mape  # noqa: E402
from mmm_evidence.model.mmm import MMM  # noqa: E402
from mmm_evidence.model.uncertainty import (  # noqa: E402
    block_bootstrap,
    block_indices,
    bootstrap_panels,
    percentile_interval,
)
from mmm_evidence.pipeline.gates import flat_responses as pipeline_flat_responses  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "recovery.json"
#: ``recovery_bound.py``'s committed results (the same tenants: its posteriors' errors)
BOUND_RESULTS = Path(__file__).resolve().parent / "results" / "recovery_bound.json"
#: the estimators of ``recovery_bound.py`` that know no tenant's truth, and whether they know
#: the panel's generating box (an estimator a real tenant's analyst cannot have)
BOUND_ESTIMATORS = (("v2_posterior_median", "v2 post. median", False),
                    ("panel_posterior_mean", "panel post. mean", True),
                    ("panel_posterior_median", "panel post. median", True))
DECAY_ESTIMATE = ModelSettings().decay_estimate  # the product's default
DECAY_ESTIMATES = get_args(ModelSettings.model_fields["decay_estimate"].annotation)
MODELS = ("mmm", "oracle", "loglog")
NOISES = (0.05, 0.10, 0.20)
WEEKS = 156
TRAIN_WEEKS = 130
REPLICATES = EvaluationSettings().bootstrap_replicates  # the product's default
BLOCK_WEEKS = 13
LEVEL = 0.9
LARGE_SHARE = 0.05
PRECISION = 6
ZERO = 1e-9  # an elasticity at or below this counts as "estimated at zero"


@dataclass(frozen=True)
class Shape:
    """A tenant shape: how many segments, and the seed block of its tenants."""

    name: str
    min_segments: int
    max_segments: int
    seed_base: int

    def segments(self, seed: int) -> int:
        """The segment count of the tenant with ``seed`` (its own stream, independent of the
        process draws)."""
        rng = np.random.default_rng([seed, 1])
        return int(rng.integers(self.min_segments, self.max_segments + 1))


SHAPES = {"national": Shape("national", 1, 1, 10_000), "geo": Shape("geo", 10, 20, 20_000)}


class ShapedTask:
    """A benchmark task's tenant seed and segment count, from its ``shape`` and ``index`` and
    the benchmark's own ``SHAPES`` table (a mixin of the benchmarks' ``Task`` dataclasses)."""

    SHAPES: ClassVar[dict[str, Shape]]
    shape: str
    index: int

    @property
    def seed(self) -> int:
        return self.SHAPES[self.shape].seed_base + self.index

    @property
    def segments(self) -> int:
        return self.SHAPES[self.shape].segments(self.seed)


@dataclass(frozen=True)
class Task(ShapedTask):
    """One tenant of one cell (shape x noise)."""

    SHAPES: ClassVar[dict[str, Shape]] = SHAPES
    shape: str
    noise: float
    index: int
    bootstrap: bool
    decay_estimate: str = DECAY_ESTIMATE  # MMM v2's model.decay_estimate (--decay-estimate)


# --------------------------------------------------------------------------- one tenant


def tenant_config(task: Task) -> TenantConfig:
    return random_tenant(task.seed, task.segments, task.noise, weeks=WEEKS)


def panel_of(cfg: TenantConfig) -> Panel:
    """Simulate the tenant in memory as a Panel (size = population / mean), truth attached."""
    return simulate_panel(cfg)


def true_media(panel: Panel) -> tuple[list[float], list[float], list[float]]:
    """The true (decay, per-capita half-saturation, shape) per channel, for the oracle."""
    media = panel.true_media()
    if media is None:
        raise ValueError(f"tenant {panel.tenant!r}: the truth lacks the media parameters")
    return media


def oracle_fit(panel: Panel, seed: int) -> MMM:
    return MMM(ModelSettings(), seed=seed).fit_fixed(panel, *true_media(panel))


def fit_model(name: str, panel: Panel, seed: int, decay_estimate: str = DECAY_ESTIMATE
              ) -> MMM | LogLogOLS:
    """Fit one of MODELS on the panel (MMM v2 with that ``model.decay_estimate``)."""
    if name == "mmm":
        return MMM(ModelSettings(decay_estimate=decay_estimate), seed=seed).fit(panel)
    if name == "oracle":
        return oracle_fit(panel, seed)
    return LogLogOLS(ModelSettings()).fit(panel)


def oracle_bootstrap(model: MMM, panel: Panel, seed: int) -> np.ndarray:
    """Elasticity draws (REPLICATES, C): the resamples ``block_bootstrap`` draws for the same
    seed (``uncertainty.bootstrap_panels``: residual blocks, and on geo data the segments
    too), refitted with the true media parameters (residuals scaled for the linear parameters
    the oracle fits, as the product's bootstrap scales them for all of its own)."""
    media = true_media(panel)
    draws = np.empty((REPLICATES, len(panel.channels)))
    replicate_panels = bootstrap_panels(model, panel, REPLICATES, BLOCK_WEEKS,
                                        np.random.default_rng(seed),
                                        np.random.default_rng(seed),  # no profile: unused
                                        resample_segments=panel.n_segments > 1)
    for r, (boot, _) in enumerate(replicate_panels):
        # at the mode, as the product's warm-started bootstrap refits report theirs
        refit = MMM(model.settings, seed=model.seed).fit_fixed(boot, *media, coefficients="mode")
        draws[r] = list(refit.elasticities(boot).values())
    return draws


def loglog_bootstrap(model: LogLogOLS, panel: Panel, seed: int) -> np.ndarray:
    """Elasticity draws (REPLICATES, C): block resamples of the log-scale residuals."""
    fitted = model.predict_log(panel)
    resid = np.log(panel.kpi) - fitted
    rng = np.random.default_rng(seed)
    draws = np.empty((REPLICATES, len(panel.channels)))
    for r in range(REPLICATES):
        idx = block_indices(panel.n_weeks, BLOCK_WEEKS, rng)
        boot = replace(panel, kpi=np.exp(fitted + resid[:, idx]))
        draws[r] = list(LogLogOLS(model.settings).fit(boot).elasticities(boot).values())
    return draws


def run_tenant(task: Task) -> dict:
    """Fit MMM, oracle and log-log on one tenant; the raw per-channel figures as a record."""
    started, cpu_started = time.perf_counter(), time.process_time()
    cfg = tenant_config(task)
    panel = panel_of(cfg)
    truth = panel.truth["channels"]
    spec = cfg.data.synthetic
    record: dict = {
        "shape": task.shape, "noise": task.noise, "index": task.index, "seed": task.seed,
        "segments": panel.n_segments, "n_channels": len(panel.channels),
        "spend_correlation": spec.spend_correlation, "media_share": panel.truth["media_share"],
        "channels": {c: {"true_elasticity": truth[c]["elasticity"],
                         "true_share": truth[c]["contribution_share"],
                         "pattern": spec.channels[c].pattern, "decay": truth[c]["decay"],
                         "shape": truth[c]["shape"],
                         "half_saturation": spec.channels[c].half_saturation}
                     for c in panel.channels},
        "models": {},
    }
    train = panel.weeks(None, TRAIN_WEEKS)
    for name in MODELS:
        cpu, wall = time.process_time(), time.perf_counter()
        model = fit_model(name, panel, task.seed, task.decay_estimate)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        holdout = fit_model(name, train, task.seed, task.decay_estimate).predict(
            panel)[:, TRAIN_WEEKS:]
        out = {"elasticity": model.elasticities(panel),
               "share": model.contribution_shares(panel),
               "holdout_mape": mape(panel.kpi[:, TRAIN_WEEKS:], holdout),
               "fit_cpu_seconds": cpu, "fit_wall_seconds": wall}
        if task.bootstrap:
            if name == "mmm":
                unc = block_bootstrap(model, panel, REPLICATES, BLOCK_WEEKS, task.seed, LEVEL)
                draws = unc.draws["elasticity"]
                # whose decay the refits held at a draw from the fit's profile posterior
                out["decay_drawn"] = {c: cdf is not None
                                      for c, cdf in zip(panel.channels, model.profile_cdfs(),
                                                        strict=True)}
            elif name == "oracle":
                draws = oracle_bootstrap(model, panel, task.seed)
            else:
                draws = loglog_bootstrap(model, panel, task.seed)
            low, high = percentile_interval(draws, LEVEL)
            out["interval"] = {c: [float(low[i]), float(high[i])]
                               for i, c in enumerate(panel.channels)}
        if name == "mmm":
            out["bounds_hit"] = model.diagnostics.bounds_hit
            d = model.diagnostics
            out["profile_refits"] = d.profile_refits
            out["profile_refit_gain"] = d.profile_refit_gain
            out["profile_below_fit"] = d.profile_below_fit
            out["media"] = model.media_parameters()
            out["decay_pit"] = decay_pits(model, true_media(panel)[0])
        record["models"][name] = out
    record["seconds"] = time.perf_counter() - started
    record["cpu_seconds"] = time.process_time() - cpu_started
    return record


# --------------------------------------------------------------------------- summaries


def _q(values: list[float], q: float) -> float | None:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    return float(np.quantile(v, q)) if v.size else None


def total_media_bias(estimates: Sequence[float], truths: Sequence[float]) -> float:
    """(sum of the estimated - sum of the true elasticities) / sum of the true ones: signed;
    its absolute value is the total media elasticity error."""
    true = float(sum(truths))
    return (float(sum(estimates)) - true) / true


def cell_summary(records: list[dict], model: str) -> dict:
    """The table's figures for one model over one cell's tenant records."""
    err, err_large, share_pp, total, rho, hold, cpu, wall = ([] for _ in range(8))
    covered, zero, zero_large = [], [], []
    for rec in records:
        m = rec["models"][model]
        est_all, true_all = [], []
        for c, ch in rec["channels"].items():
            t, e = ch["true_elasticity"], m["elasticity"][c]
            est_all.append(e)
            true_all.append(t)
            rel = abs(e - t) / t
            err.append(rel)
            zero.append(float(e <= ZERO))
            if ch["true_share"] >= LARGE_SHARE:
                err_large.append(rel)
                zero_large.append(float(e <= ZERO))
            share_pp.append(100.0 * abs(m["share"][c] - ch["true_share"]))
            if "interval" in m:
                low, high = m["interval"][c]
                covered.append(float(low <= t <= high))
        total.append(abs(total_media_bias(est_all, true_all)))
        if len(set(est_all)) > 1:
            rho.append(float(spearmanr(est_all, true_all).statistic))
        hold.append(m["holdout_mape"] / rec["noise"])
        cpu.append(m["fit_cpu_seconds"])
        wall.append(m["fit_wall_seconds"])
    return {
        "tenants": len(records), "channels": len(err), "large_channels": len(err_large),
        "err_median": _q(err, 0.5), "err_p90": _q(err, 0.9),
        "err_large_median": _q(err_large, 0.5), "err_large_p90": _q(err_large, 0.9),
        "zero_fraction": float(np.mean(zero)) if zero else None,
        "zero_fraction_large": float(np.mean(zero_large)) if zero_large else None,
        "total_err_median": _q(total, 0.5), "share_err_pp_median": _q(share_pp, 0.5),
        "spearman_median": _q(rho, 0.5), "spearman_tenants": len(rho),
        "holdout_mape_over_noise_median": _q(hold, 0.5),
        "coverage": float(np.mean(covered)) if covered else None, "coverage_n": len(covered),
        "fit_cpu_median": _q(cpu, 0.5), "fit_cpu_p90": _q(cpu, 0.9),
        "fit_wall_median": _q(wall, 0.5), "fit_wall_p90": _q(wall, 0.9),
    }


def cells(records: list[dict]) -> dict[str, list[dict]]:
    """Records grouped by cell key '<shape> <noise %>', in the table's order."""
    out: dict[str, list[dict]] = {}
    for shape in SHAPES:
        for noise in NOISES:
            group = sorted((r for r in records if r["shape"] == shape and r["noise"] == noise),
                           key=lambda r: r["index"])
            if group:
                out[cell_key(shape, noise)] = group
    return out


def cell_key(shape: str, noise: float) -> str:
    return f"{shape} {round(noise * 100):d}%"


def summarise(records: list[dict]) -> dict[str, dict[str, dict]]:
    return {key: {m: cell_summary(group, m) for m in MODELS}
            for key, group in cells(records).items()}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b not in (None, 0.0) else None


def _within(value: float | None, low: float = -math.inf,
            high: float = math.inf) -> bool | None:
    """low <= value <= high at the JSON's precision (so a Spearman of 0.8 computed as
    0.7999999999999999 meets '>= 0.8'); None when the value is missing."""
    if value is None or not math.isfinite(value):
        return None
    v = round(value, PRECISION)
    return low <= v <= high


def _gate(name: str, threshold: str, value: str, passed: bool | None) -> dict:
    return {"name": name, "threshold": threshold, "value": value, "passed": passed}


def targets(summary: dict, records: list[dict]) -> list[dict]:
    """The issue's targets with the measured figures (None = not assessable in this run)."""
    out = []
    for key, cell in summary.items():
        m, o, ll = (cell[x]["err_median"] for x in MODELS)
        r_o, r_l = _ratio(m, o), _ratio(m, ll)
        out.append(_gate(f"{key}: MMM median elasticity error <= 1.2 x oracle", "<= 1.20",
                         f"MMM {m:.3f} / oracle {o:.3f} = {r_o:.2f}", _within(r_o, high=1.2)))
        out.append(_gate(f"{key}: MMM median elasticity error >= 25 % below log-log", "<= 0.75",
                         f"MMM {m:.3f} / log-log {ll:.3f} = {r_l:.2f}", _within(r_l, high=0.75)))
    geo = summary.get(cell_key("geo", 0.10), {}).get("mmm")
    for label, field, thr, below in (
            ("large-channel median elasticity error", "err_large_median", 0.20, True),
            ("total media elasticity error (median)", "total_err_median", 0.10, True),
            ("within-tenant Spearman (median)", "spearman_median", 0.80, False)):
        value = geo[field] if geo else None
        passed = _within(value, high=thr) if below else _within(value, low=thr)
        out.append(_gate(f"geo 10%: {label}", f"{'<=' if below else '>='} {thr:.2f}",
                         "n/a" if value is None else f"{value:.3f}", passed))
    covered = [float(low <= rec["channels"][c]["true_elasticity"] <= high)
               for rec in records for c, (low, high)
               in rec["models"]["mmm"].get("interval", {}).items()]
    cov = float(np.mean(covered)) if covered else None
    out.append(_gate("MMM bootstrap 90 % coverage, all cells pooled", "0.80 - 0.97",
                     "n/a" if cov is None else f"{cov:.3f} over {len(covered)} channels",
                     _within(cov, low=0.80, high=0.97)))
    for label, pick, limit in (
            ("national, 5 channels", lambda r: r["shape"] == "national"
             and r["n_channels"] == 5, 2.0),
            ("geo, 18-20 segments", lambda r: r["shape"] == "geo" and r["segments"] >= 18, 5.0)):
        cpu = [r["models"]["mmm"]["fit_cpu_seconds"] for r in records if pick(r)]
        wall = [r["models"]["mmm"]["fit_wall_seconds"] for r in records if pick(r)]
        p90 = _q(cpu, 0.9)
        value = ("n/a" if p90 is None else
                 f"CPU p90 {p90:.2f} s (wall p90 {_q(wall, 0.9):.2f} s) over {len(cpu)} fits")
        out.append(_gate(f"MMM fit time p90, {label}", f"<= {limit:.0f} s", value,
                         _within(p90, high=limit)))
    return out


def against_bound(summary: dict, bound: dict | None) -> list[dict]:
    """Per cell, the two per-cell targets beside what ``recovery_bound.py``'s estimators reach
    on the same tenants (``bound``: its ``summary``; [] without one, or for a cell it did not
    run or whose oracle differs — other tenants): the median elasticity error over the oracle's
    and over log-log's for MMM v2 and each estimator, and whether any estimator that does not
    know the panel's generating box meets each target (if none does, the data and the
    likelihood impose the FAIL; if only the panel-prior posterior does, meeting it takes
    knowledge of how the panel was drawn)."""
    rows: list[dict] = []
    for key, cell in summary.items():
        b = (bound or {}).get(key)
        o, ll = cell["oracle"]["err_median"], cell["loglog"]["err_median"]
        # the same tenants give the same oracle error up to the JSON's rounding (6 decimals
        # of each record: about 1e-4 of a median; other tenants differ by percents)
        if not b or not math.isclose(b["err_median"]["oracle"], o, rel_tol=1e-3):
            continue
        errs = {"mmm": cell["mmm"]["err_median"]}
        errs.update({name: b["err_median"].get(name) for name, _, _ in BOUND_ESTIMATORS})
        row: dict = {"cell": key, "oracle": o, "loglog": ll, "over_oracle": {},
                     "over_loglog": {}}
        for name, err in errs.items():
            row["over_oracle"][name] = _ratio(err, o)
            row["over_loglog"][name] = _ratio(err, ll)
        for target, field, limit in (("oracle_1.2", "over_oracle", 1.2),
                                     ("loglog_0.75", "over_loglog", 0.75)):
            row[target] = {
                "mmm": _within(row[field]["mmm"], high=limit),
                "without_panel_box": any(_within(row[field][n], high=limit)
                                         for n, _, box in BOUND_ESTIMATORS if not box),
                "with_panel_box": any(_within(row[field][n], high=limit)
                                      for n, _, box in BOUND_ESTIMATORS if box)}
        rows.append(row)
    return rows


def format_against_bound(rows: list[dict]) -> str:
    def yes(v: bool | None) -> str:
        return "-" if v is None else "yes" if v else "no"

    names = [("mmm", "MMM")] + [(n, label) for n, label, _ in BOUND_ESTIMATORS]
    head = "  ".join(f"{label:>18}" for _, label in names)
    lines = [f"{'cell':13} {'':>9} {head}   {'MMM meets':>9} {'reachable w/o box':>17} "
             f"{'with box':>8}"]
    for r in rows:
        for field, target, label in (("over_oracle", "oracle_1.2", "/ oracle"),
                                     ("over_loglog", "loglog_0.75", "/ log-log")):
            values = "  ".join(f"{_fmt(r[field][n], '{:.2f}'):>18}" for n, _ in names)
            t = r[target]
            lines.append(f"{r['cell']:13} {label:>9} {values}   {yes(t['mmm']):>9} "
                         f"{yes(t['without_panel_box']):>17} {yes(t['with_panel_box']):>8}")
    return "\n".join(lines)


def breakdown(records: list[dict]) -> list[dict]:
    """Median relative elasticity error of MMM and oracle by channel kind (all cells pooled):
    where MMM falls furthest above the floor."""
    groups = {
        "flighted": lambda ch: ch["pattern"] == "flighted",
        "always-on": lambda ch: ch["pattern"] == "always_on",
        "decay < 0.3": lambda ch: ch["decay"] < 0.3,
        "decay >= 0.55": lambda ch: ch["decay"] >= 0.55,
        "shape < 1.2": lambda ch: ch["shape"] < 1.2,
        "shape >= 2": lambda ch: ch["shape"] >= 2.0,
        "half-sat < 0.6": lambda ch: ch["half_saturation"] < 0.6,
        "half-sat >= 1.5": lambda ch: ch["half_saturation"] >= 1.5,
        "share < 2 %": lambda ch: ch["true_share"] < 0.02,
        "share >= 5 %": lambda ch: ch["true_share"] >= LARGE_SHARE,
        "flighted, >= 5 %": lambda ch: (ch["pattern"] == "flighted"
                                        and ch["true_share"] >= LARGE_SHARE),
        "always-on, >= 5 %": lambda ch: (ch["pattern"] == "always_on"
                                         and ch["true_share"] >= LARGE_SHARE),
    }
    rows = []
    for shape in SHAPES:
        for label, pick in groups.items():
            errs: dict[str, list[float]] = {m: [] for m in MODELS}
            for rec in records:
                if rec["shape"] != shape:
                    continue
                for c, ch in rec["channels"].items():
                    if pick(ch):
                        for m in MODELS:
                            est = rec["models"][m]["elasticity"][c]
                            errs[m].append(abs(est - ch["true_elasticity"])
                                           / ch["true_elasticity"])
            if errs["mmm"]:
                row = {"shape": shape, "group": label, "channels": len(errs["mmm"])}
                row.update({m: _q(errs[m], 0.5) for m in MODELS})
                rows.append(row)
    return rows


def decay_pits(model: MMM, true_decays: Sequence[float]) -> dict:
    """Per channel, where its true decay falls in the fit's decay profile posterior (the cdf
    there, 0-1): as the bootstrap draws from it (``MMM.profile_cdfs``, flattened by the fit's
    ``profile_temperature``) and read with every row independent (temperature 1); the
    temperature itself; None for a channel without a profile (sharp, or a fit without
    profiles). A calibrated profile puts the true decay inside its central 90 % for 90 % of
    the channels."""
    if not model.decay_profile:
        return {"temperature": None, "channels": {c: None for c in model.channels}}
    out = {}
    for c, truth, tempered, plain in zip(model.channels, true_decays, model.profile_cdfs(),
                                         model.profile_cdfs(temperature=1.0), strict=True):
        out[c] = None if tempered is None or plain is None else [
            float(np.interp(truth, pts, cdf) / cdf[-1]) for pts, cdf in (tempered, plain)]
    return {"temperature": model.decay_profile.get("temperature"), "channels": out}


def decay_profile_calibration(records: list[dict]) -> list[dict]:
    """Per shape x noise: how often the true decay lies in the central 90 % and 50 % of its
    decay profile posterior, as the bootstrap draws from it (flattened by the fit's
    ``profile_temperature``) and read with every row independent; the temperatures' median."""
    rows = []
    for key, recs in cells(records).items():
        pits: list[list[float]] = []
        temps = []
        for rec in recs:
            pit = rec["models"]["mmm"].get("decay_pit")
            if not pit:
                continue
            if pit["temperature"] is not None:
                temps.append(pit["temperature"])
            pits += [v for v in pit["channels"].values() if v is not None]
        if not pits:
            continue
        a = np.array(pits)
        row = {"cell": key, "channels": len(pits), "temperature_median": _q(temps, 0.5)}
        for j, name in enumerate(("tempered", "independent")):
            row[f"in_90_{name}"] = float(np.mean((a[:, j] > 0.05) & (a[:, j] < 0.95)))
            row[f"in_50_{name}"] = float(np.mean((a[:, j] > 0.25) & (a[:, j] < 0.75)))
        rows.append(row)
    return rows


def format_decay_profile_calibration(rows: list[dict]) -> str:
    lines = [f"  {'cell':14s}{'n':>5s}{'temp':>7s}{'in 90 %':>9s}{'(indep)':>9s}"
             f"{'in 50 %':>9s}{'(indep)':>9s}"]
    for r in rows:
        lines.append(f"  {r['cell']:14s}{r['channels']:5d}"
                     f"{_fmt(r['temperature_median'], '{:.2f}'):>7s}"
                     f"{r['in_90_tempered']:9.2f}{r['in_90_independent']:9.2f}"
                     f"{r['in_50_tempered']:9.2f}{r['in_50_independent']:9.2f}")
    return "\n".join(lines)


def coverage_by_decay_draw(records: list[dict]) -> list[dict]:
    """MMM's 90 % interval coverage per shape (noise levels pooled), apart for the channels
    whose bootstrap refits held a decay drawn from the fit's profile posterior
    (``MMM.draw_decays``) and those whose decay stayed free in them (a profile sharper than
    the grid, or a fit without profiles): where the decay's share of the uncertainty is
    under- or over-counted. Also the median interval width relative to the true elasticity."""
    rows = []
    for shape in SHAPES:
        groups: dict[bool, tuple[list[float], list[float]]] = {True: ([], []), False: ([], [])}
        for rec in records:
            m = rec["models"]["mmm"]
            if rec["shape"] != shape or "interval" not in m:
                continue
            for c, ch in rec["channels"].items():
                low, high = m["interval"][c]
                covered, width = groups[bool(m.get("decay_drawn", {}).get(c, False))]
                covered.append(float(low <= ch["true_elasticity"] <= high))
                width.append((high - low) / ch["true_elasticity"])
        for drawn, (covered, width) in groups.items():
            if covered:
                rows.append({"shape": shape, "decay": "drawn" if drawn else "free",
                             "channels": len(covered), "coverage": float(np.mean(covered)),
                             "width_over_truth_median": _q(width, 0.5)})
    return rows


def profile_refits(records: list[dict]) -> list[dict]:
    """Per shape x noise: how many MMM fits a decay profile re-fitted (``FitDiagnostics.
    profile_refits``: the multi-start had missed a better optimum), how many still had a
    profile node below the fit after the last re-fit allowed, the re-fitted fits' median
    objective gain, and the median elasticity error of the re-fitted and the other fits
    beside the oracle's on the same tenants (do the fits that re-fit recover worse?)."""
    rows = []
    for key, recs in cells(records).items():
        def errors(group: list[dict], model: str) -> float | None:
            return _q([abs(r["models"][model]["elasticity"][c] - ch["true_elasticity"])
                       / ch["true_elasticity"] for r in group
                       for c, ch in r["channels"].items()], 0.5)

        refitted = [r for r in recs if r["models"]["mmm"].get("profile_refits", 0) > 0]
        others = [r for r in recs if r["models"]["mmm"].get("profile_refits", 0) == 0]
        rows.append({
            "cell": key, "tenants": len(recs), "refitted": len(refitted),
            "below_fit": sum(bool(r["models"]["mmm"].get("profile_below_fit"))
                             for r in recs),
            "gain_median": _q([r["models"]["mmm"]["profile_refit_gain"]
                               for r in refitted], 0.5),
            "err_refitted": errors(refitted, "mmm"),
            "oracle_err_refitted": errors(refitted, "oracle"),
            "err_others": errors(others, "mmm"),
            "oracle_err_others": errors(others, "oracle")})
    return rows


def format_profile_refits(rows: list[dict]) -> str:
    lines = [f"{'cell':13} {'tenants':>7} {'re-fit':>6} {'still below':>11} "
             f"{'gain med':>8} {'err re-fit':>10} {'orcl':>6} {'err others':>10} {'orcl':>6}"]
    lines += [f"{r['cell']:13} {r['tenants']:7d} {r['refitted']:6d} {r['below_fit']:11d} "
              f"{_fmt(r['gain_median'], '{:.2f}'):>8} {_fmt(r['err_refitted'], '{:.3f}'):>10} "
              f"{_fmt(r['oracle_err_refitted'], '{:.3f}'):>6} "
              f"{_fmt(r['err_others'], '{:.3f}'):>10} "
              f"{_fmt(r['oracle_err_others'], '{:.3f}'):>6}" for r in rows]
    return "\n".join(lines)


def flat_responses(records: list[dict],
                   settings: IdentificationGate | None = None) -> list[dict]:
    """Per shape x noise: MMM v2's channels the pipeline's flat-response report
    (``pipeline.gates.flat_responses``: judged channels, estimated share >= ``min_share``,
    whose contribution slope is below ``min_contribution_slope``) calls flat, beside how many
    true responses are that flat, and the median share error (estimate - truth, pp) of the
    flat channels and of the other judged ones."""
    settings = settings or IdentificationGate()
    rows = []
    for key, recs in cells(records).items():
        judged, flat, true_flat, err_flat, err_other = 0, 0, 0, [], []
        for r in recs:
            mmm = r["models"]["mmm"]
            report = pipeline_flat_responses({"elasticities": mmm["elasticity"],
                                              "contribution_shares": mmm["share"]}, settings)
            for c, ch in r["channels"].items():
                true_slope = contribution_slope(ch["true_elasticity"], ch["true_share"])
                true_flat += true_slope is not None and true_slope < \
                    settings.min_contribution_slope
                if c not in report:
                    continue
                judged += 1
                flat += report[c]["flat"]
                (err_flat if report[c]["flat"] else err_other).append(
                    100.0 * (mmm["share"][c] - ch["true_share"]))
        rows.append({"cell": key, "judged": judged, "flat": flat, "true_flat": true_flat,
                     "share_error_pp_flat": _q(err_flat, 0.5),
                     "share_error_pp_others": _q(err_other, 0.5)})
    return rows


def format_flat_responses(rows: list[dict]) -> str:
    lines = [f"{'cell':13} {'judged':>6} {'flat':>5} {'truly flat':>10} "
             f"{'share err flat (pp)':>19} {'others (pp)':>11}"]
    lines += [f"{r['cell']:13} {r['judged']:6d} {r['flat']:5d} {r['true_flat']:10d} "
              f"{_fmt(r['share_error_pp_flat'], '{:+.1f}'):>19} "
              f"{_fmt(r['share_error_pp_others'], '{:+.1f}'):>11}" for r in rows]
    return "\n".join(lines)


def format_coverage_by_decay_draw(rows: list[dict]) -> str:
    lines = [f"{'shape':9} {'decay':6} {'channels':>8} {'coverage':>8} {'width/true':>10}"]
    lines += [f"{r['shape']:9} {r['decay']:6} {r['channels']:8d} {r['coverage']:8.3f} "
              f"{_fmt(r['width_over_truth_median'], '{:.3f}'):>10}" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- printing


TABLE_BLOCKS = (
    ("elasticity error", (("err_median", "median, all", "{:.3f}"),
                          ("err_p90", "p90, all", "{:.3f}"),
                          ("err_large_median", "median, share>=5%", "{:.3f}"),
                          ("err_large_p90", "p90, share>=5%", "{:.3f}"))),
    ("aggregates", (("total_err_median", "total media el. err", "{:.3f}"),
                    ("share_err_pp_median", "contrib. share err pp", "{:.2f}"),
                    ("spearman_median", "Spearman", "{:.2f}"),
                    ("holdout_mape_over_noise_median", "holdout MAPE / noise", "{:.2f}"))),
    ("estimated at zero", (("zero_fraction", "at zero, all", "{:.2f}"),
                           ("zero_fraction_large", "at zero, share>=5%", "{:.2f}"))),
    ("intervals and time", (("coverage", "90% coverage", "{:.2f}"),
                            ("fit_cpu_median", "fit CPU s, median", "{:.2f}"),
                            ("fit_cpu_p90", "fit CPU s, p90", "{:.2f}"))),
)
SUB = ("MMM", "orcl", "l-log", "M/O")


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or not math.isfinite(value) else spec.format(value)


def format_blocks(blocks, sub: tuple[str, ...], rows, key_width: int, extra: str) -> list[str]:
    """The benchmarks' block tables: per block of metrics a two-line header (each metric's
    label over the ``sub`` columns), then one line per row. ``rows``: (key, tenants,
    channels, the ``extra`` column's text, cols) with cols(field, spec) the ``sub`` texts."""
    lines = []
    width = 6
    for title, metrics in blocks:
        head1 = f"{'':{key_width}s}{'n':>4s}{'ch':>5s}{extra:>6s} |"
        head2 = f"{'cell':{key_width}s}{'':15s} |"
        for _, label, _ in metrics:
            span = len(sub) * (width + 1) - 1
            head1 += " " + label.center(span) + " |"
            head2 += " " + " ".join(s.rjust(width) for s in sub) + " |"
        lines += [f"-- {title} --", head1, head2, "-" * len(head2)]
        for key, tenants, channels, extra_text, cols in rows:
            row = f"{key:{key_width}s}{tenants:4d}{channels:5d}{extra_text:>6s} |"
            for field, _, spec in metrics:
                row += " " + " ".join(c.rjust(width) for c in cols(field, spec)) + " |"
            lines.append(row)
        lines.append("")
    return lines


def format_table(summary: dict) -> str:
    """One row per shape x noise; per metric MMM, oracle, log-log and MMM / oracle."""
    def cols(cell):
        def texts(field, spec):
            vals = [cell[m][field] for m in MODELS]
            return [_fmt(v, spec) for v in vals] + [_fmt(_ratio(vals[0], vals[1]), "{:.2f}")]
        return texts

    rows = [(key, cell["mmm"]["tenants"], cell["mmm"]["channels"],
             str(cell["mmm"]["coverage_n"]), cols(cell)) for key, cell in summary.items()]
    return "\n".join(format_blocks(TABLE_BLOCKS, SUB, rows, 12, "n_cov"))


def format_targets(gates: list[dict]) -> str:
    word = {True: "PASS", False: "FAIL", None: "N/A "}
    return "\n".join(f"  {word[g['passed']]}  {g['name']} ({g['threshold']}): {g['value']}"
                     for g in gates)


def format_breakdown(rows: list[dict]) -> str:
    lines = [f"  {'shape':9s}{'channel group':17s}{'n':>5s}{'MMM':>8s}{'oracle':>8s}"
             f"{'l-log':>8s}{'M/O':>7s}"]
    for r in rows:
        lines.append(f"  {r['shape']:9s}{r['group']:17s}{r['channels']:5d}"
                     f"{_fmt(r['mmm'], '{:.3f}'):>8s}{_fmt(r['oracle'], '{:.3f}'):>8s}"
                     f"{_fmt(r['loglog'], '{:.3f}'):>8s}"
                     f"{_fmt(_ratio(r['mmm'], r['oracle']), '{:.2f}'):>7s}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- running


def tasks(tenants: int, coverage_tenants: int, shapes: tuple[str, ...] = tuple(SHAPES),
          noises: tuple[float, ...] = NOISES, decay_estimate: str = DECAY_ESTIMATE
          ) -> list[Task]:
    """Every (shape, noise, tenant) task; the costliest (geo, bootstrap) first."""
    out = [Task(shape, noise, i, i < coverage_tenants, decay_estimate)
           for shape in shapes for noise in noises for i in range(tenants)]
    return sorted(out, key=lambda t: (t.shape != "geo", not t.bootstrap, t.shape, t.noise,
                                      t.index))


def run_tasks(task_list: list, workers: int, work, label) -> tuple[list[dict], list[dict]]:
    """Run ``work(task)`` for every task in a process pool with a progress line per task
    (``label(task)`` names it); (records, failures). Shared by the benchmarks on this panel."""
    records, failures = [], []
    started = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        futures = {pool.submit(work, t): t for t in task_list}
        for done, future in enumerate(as_completed(futures), start=1):
            t = futures[future]
            try:
                rec = future.result()
                records.append(rec)
                status = f"{rec['seconds']:5.1f} s"
            except Exception as exc:  # a failed tenant is reported, never dropped silently
                failures.append({**asdict(t), "error": f"{type(exc).__name__}: {exc}"})
                status = f"FAILED ({type(exc).__name__})"
            print(f"[{done:3d}/{len(task_list)}] {label(t)} {status}  "
                  f"elapsed {time.perf_counter() - started:6.0f} s", file=sys.stderr,
                  flush=True)
    return records, failures


def add_decay_estimate_options(parser: argparse.ArgumentParser, results: Path,
                               fits: str) -> None:
    """``--out`` and ``--decay-estimate`` (the choices ``ModelSettings`` accepts; ``fits``
    names what the setting reaches), shared with ``foreign.py``."""
    parser.add_argument("--out", type=Path, default=None, help=f"JSON path (default {results};"
                        f" with --decay-estimate, {results.stem}_<estimate>.json beside it)")
    parser.add_argument("--decay-estimate", default=DECAY_ESTIMATE, choices=DECAY_ESTIMATES,
                        help=f"MMM v2's model.decay_estimate ({fits}; default "
                        f"{DECAY_ESTIMATE}, the product's)")


def results_path(default: Path, decay_estimate: str) -> Path:
    """Where a run with ``decay_estimate`` writes: ``default`` for the product's own,
    ``<stem>_<estimate>.json`` beside it for another (shared with ``foreign.py``)."""
    if decay_estimate == DECAY_ESTIMATE:
        return default
    return default.with_name(f"{default.stem}_{decay_estimate}.json")


def run(task_list: list[Task], workers: int) -> tuple[list[dict], list[dict]]:
    """Run every task in a process pool with a progress line; (records, failures)."""
    return run_tasks(task_list, workers, run_tenant,
                     lambda t: f"{cell_key(t.shape, t.noise):12s} tenant {t.index:3d}"
                               f"{' +boot' if t.bootstrap else '      '}")


def _rounded(obj):
    if isinstance(obj, dict):
        return {str(k): _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_rounded(v) for v in obj]
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return round(value, PRECISION) if math.isfinite(value) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def report(records: list[dict], failures: list, settings: dict, runtime: float,
           load_before: float, load_after: float | None, cpu_total: float,
           out_path: Path | None) -> None:
    """Summarise the per-tenant records, print every table and, with ``out_path``, write
    them all with the records (the payload ``--summarise-only`` reads back)."""
    summary = summarise(records)
    gates = targets(summary, records)
    rows = breakdown(records)
    by_draw = coverage_by_decay_draw(records)
    decay_rows = decay_profile_calibration(records)
    refit_rows = profile_refits(records)
    flat_rows = flat_responses(records)
    bound = (json.loads(BOUND_RESULTS.read_text(encoding="utf-8"))["summary"]
             if BOUND_RESULTS.is_file() else None)
    bound_rows = against_bound(summary, bound)
    workers = settings["workers"]
    after = "" if load_after is None else f", {load_after:.1f} after"
    print(f"\nRecovery benchmark: {settings['tenants_per_cell']} tenants per shape x noise, "
          f"{settings['weeks']} weeks, MMM v2's decay "
          f"{settings['decay_estimate'].replace('_', ' ')}, coverage on the first "
          f"{settings['coverage_tenants_per_cell']} per cell ({settings['replicates']} "
          f"bootstrap replicates), {workers} workers, {runtime:.0f} s wall, "
          f"{len(failures)} failed tenants; load average {load_before:.1f} before{after}; "
          f"the workers' CPU time {cpu_total:.0f} s, i.e. ~{cpu_total / workers:.0f} s on "
          f"{workers} idle cores\n")
    print(format_table(summary))
    print("Targets")
    print(format_targets(gates))
    if bound_rows:
        print("\nThe per-cell targets against what recovery_bound.py's posteriors reach on the "
              "same tenants (median error / oracle <= 1.20, / log-log <= 0.75; reachable: "
              "by an estimator\nthat does not know the panel's generating box, and by one "
              "that does)")
        print(format_against_bound(bound_rows))
    print("\nMedian relative elasticity error by kind of channel (all noise levels pooled)")
    print(format_breakdown(rows))
    print("\nMMM 90 % coverage by whether the bootstrap drew the channel's decay from its "
          "profile (noise levels pooled)")
    print(format_coverage_by_decay_draw(by_draw))
    if decay_rows:
        print("\nWhere the true decay falls in MMM v2's decay profile posterior: the share of "
              "channels inside its central 90 % and 50 %, as the bootstrap draws from it "
              "(flattened by\nthe fit's temperature, median 'temp') and read with every row "
              "independent ('indep')")
        print(format_decay_profile_calibration(decay_rows))
    print("\nMMM fits a decay profile re-fitted from a node below the fit (median elasticity "
          "errors of those tenants and of the others, MMM and oracle)")
    print(format_profile_refits(refit_rows))
    print("\nFlat responses: MMM v2's judged channels (estimated share >= 0.02) whose "
          "contribution slope is below 0.1, the true responses that flat, and the median "
          "share error (estimate - truth)")
    print(format_flat_responses(flat_rows))
    for f in failures:
        print(f"FAILED: {f}")
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "benchmark": "recovery", "definitions": __doc__, "settings": settings,
            "runtime_seconds": runtime, "load_average_before": load_before,
            "worker_cpu_seconds": cpu_total,
            "summary": summary, "targets": gates,
            "by_channel_kind": rows, "coverage_by_decay_draw": by_draw,
            "decay_profile_calibration": decay_rows,
            "profile_refits": refit_rows, "flat_responses": flat_rows,
            "against_bound": bound_rows, "failures": failures,
            "tenants": sorted(records, key=lambda r: (r["shape"], r["noise"], r["index"])),
        }
        out_path.write_text(json.dumps(_rounded(payload), indent=1, sort_keys=True) + "\n",
                            encoding="utf-8")
        print(f"\nwrote {out_path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=40, help="tenants per shape x noise")
    parser.add_argument("--coverage-tenants", type=int, default=8,
                        help="tenants per cell that also get the bootstrap (coverage)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 tenants per cell, 1 with bootstrap, nothing written")
    parser.add_argument("--summarise-only", action="store_true",
                        help="recompute every table from the stored per-tenant records (after "
                             "a change to a summary, or a re-run of recovery_bound.py) and "
                             "rewrite the results; no fit is run. The records hold 6 decimals: "
                             "on the stored run the errors moved by < 0.01 %% and one Spearman "
                             "median (ties among rounded estimates) by 1 %%")
    add_decay_estimate_options(parser, RESULTS, "its fits and bootstrap refits")
    args = parser.parse_args(argv)
    if args.quick:
        args.tenants, args.coverage_tenants = 2, 1
    out_path = args.out or (None if args.quick else results_path(RESULTS, args.decay_estimate))
    if args.summarise_only:
        if out_path is None or not out_path.is_file():
            parser.error(f"--summarise-only needs stored results: {out_path} does not exist")
        data = json.loads(out_path.read_text(encoding="utf-8"))
        report(data["tenants"], data["failures"], data["settings"], data["runtime_seconds"],
               data["load_average_before"], None, data["worker_cpu_seconds"], out_path)
        return 1 if data["failures"] else 0
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if os.environ.get(var) != "1":
            print(f"warning: {var} is not 1; BLAS threads will oversubscribe the cores",
                  file=sys.stderr)

    load_before = os.getloadavg()
    started = time.perf_counter()
    task_list = tasks(args.tenants, min(args.coverage_tenants, args.tenants),
                      decay_estimate=args.decay_estimate)
    records, failures = run(task_list, args.workers)
    runtime = time.perf_counter() - started
    settings = {"tenants_per_cell": args.tenants,
                "coverage_tenants_per_cell": min(args.coverage_tenants, args.tenants),
                "weeks": WEEKS, "train_weeks": TRAIN_WEEKS, "noises": list(NOISES),
                "shapes": {k: asdict(v) for k, v in SHAPES.items()},
                "replicates": REPLICATES, "block_weeks": BLOCK_WEEKS, "level": LEVEL,
                "large_share": LARGE_SHARE, "workers": args.workers,
                "decay_estimate": args.decay_estimate}
    report(records, failures, settings, runtime, load_before[0], os.getloadavg()[0],
           sum(r["cpu_seconds"] for r in records), out_path)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
