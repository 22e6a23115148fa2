"""What the robustness check ``baseline_form`` sees: MMM v2 on tenants whose BASELINE (or noise)
is not the one it assumes, beside the same tenants as generated.

MMM v2's baseline is, per segment, an intercept, a linear trend, ``fourier_order`` fixed yearly
harmonics and the controls. The random tenants of ``panel.random_tenant`` (as in
``foreign.py``: national = 1 segment, seeds 70_000 + i; geo = 10-20 segments, seeds
71_000 + i; 156 weeks, noise 10 %) get, in turn:

- **own**: ``_Process`` unchanged (the reference);
- **ar_strong**: the noise AR(1) with rho 0.7 instead of 0.25 (same marginal level) — not a
  baseline departure: the check should stay quiet;
- **seasonality_drift**: the seasonal pattern's amplitude grows 50 % a year and its phase
  slips 4 weeks a year;
- **level_shift**: the baseline steps by ±15 % (sign and week drawn, middle third of the
  weeks), in every segment at once;
- **hidden_demand**: an unobserved AR(1) demand shock (rho 0.85; 70 % common to all
  segments) multiplies the baseline by exp(0.10 z) and the spend by exp(0.35 z): spend follows
  demand the model cannot see;
- **peak_timed**: the baseline gets a Q4 peak (Gaussian around 1 December, sd 2.5 weeks,
  height 0.2-0.5) sharper than two harmonics and the holiday flags draw, and spend follows the
  whole seasonal demand: ((1 + season) (1 + peak))^k, k in [2, 3].

Spend is changed (hidden_demand, peak_timed) before the betas, half-saturations and noise are
set, each channel rescaled to its budget, so the truth (``_Process.truth``: elasticities,
shares, ROI on the spend the data hold) is computed as for the own process. Per tenant:
``MMM(ModelSettings(), seed=7).fit`` on all weeks, the ``baseline_form`` check on that fit
(``robustness.baseline_residual_fit``; flagged = value above the tenant shape's threshold,
p < ``BASELINE_FORM_ALPHA`` and more than ``national_max_segments`` segments — national
tenants are reported, not judged; "would" counts them as if they were), and the product's
elasticity gate value (median relative error over channels with true share >= 2 %) and total
media elasticity error vs truth — to show the check fires where the elasticities go wrong, and
not where they do not.

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/baseline_form.py``
(``--tenants N`` per cell, default 12; ``--workers W``, default 2; ``--quick``: 1 tenant per
cell, nothing written unless ``--out``). Results: ``benchmarks/results/baseline_form.json``
(floats rounded to 6 decimals; ``runtime_seconds`` is the only value that changes between
identical runs).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from foreign import NOISE, RUN_SEED, SHAPES, WEEKS, Task, tenant_config  # noqa: E402
from recovery import _rounded, run_tasks  # noqa: E402

from mmm_evidence.config import ElasticityGate, ModelSettings, RobustnessSettings  # noqa: E402
from mmm_evidence.data.panel import Panel  # noqa: E402
from mmm_evidence.data.synthetic import _ar1, _plain, _Process  # noqa: E402
from mmm_evidence.evaluation.robustness import (  # noqa: E402
    BASELINE_FORM_ALPHA,
    baseline_residual_fit,
)
from mmm_evidence.model.mmm import MMM  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "baseline_form.json"
GATE = ElasticityGate()
OWN_RHO = 0.25  # _Process's noise autocorrelation


class _Changed(_Process):
    """``_Process`` with a changed baseline, noise or spend. ``_spend_factor`` (G, W) may
    re-time the spend before anything uses it; ``_change`` alters baseline or noise after."""

    form = "own"
    stream = 90

    def __init__(self, spec, channels, controls):
        self._spend = None
        super().__init__(spec, channels, controls)
        self._change()

    @property
    def spend(self):
        return self._spend

    @spend.setter
    def spend(self, value):  # only __init__'s first assignment is re-timed
        if self._spend is None:
            factor = self._spend_factor(np.asarray(value, dtype=float))
            if factor is not None:
                value = np.asarray(value, dtype=float) * factor[:, :, None]
                for c, name in enumerate(self.channels):
                    window = value[:, self.b_n:, c].sum(axis=0).mean()
                    value[:, :, c] *= self.spec.channels[name].weekly_spend / max(window, 1e-12)
                value = np.round(value, 2)
        self._spend = value

    def rng(self) -> np.random.Generator:
        return np.random.default_rng([self.spec.seed, self.stream])

    def _spend_factor(self, spend: np.ndarray) -> np.ndarray | None:
        return None

    def _change(self) -> None:
        pass

    def _noise(self) -> np.ndarray:
        """The own process's standardised noise draws u (kpi = expected (1 + noise u))."""
        expected = self.expected_kpi(self.spend)
        return (self.kpi - expected) / (self.spec.noise * expected)

    def _redraw(self, u: np.ndarray) -> None:
        expected = self.expected_kpi(self.spend)
        self.kpi = np.round(np.maximum(expected + self.spec.noise * expected * u,
                                       0.01 * expected), 2)


class ArStrong(_Changed):
    form, stream = "ar_strong", 91

    def _change(self):
        g_n = self.kpi.shape[0]
        self._redraw(_ar1(self.rng(), self.t_n, 0.7, (g_n,)))


class SeasonalityDrift(_Changed):
    form, stream = "seasonality_drift", 92

    def _change(self):
        u = self._noise()
        g_n, w_n = self.season.shape
        amp = np.abs(self.season).max(axis=1)
        years = np.clip(np.arange(w_n) - self.b_n, 0, None) / 52.0
        grid = np.arange(w_n, dtype=float)
        new = np.zeros_like(self.season)
        for g in range(g_n):
            if amp[g] > 0:
                shape = np.interp(grid - 4.0 * years, grid, self.season[g] / amp[g])
                new[g] = amp[g] * (1.0 + 0.5 * years) * shape
        self.baseline = self.baseline / (1.0 + self.season) * (1.0 + new)
        self.season = new
        self._redraw(u)


class LevelShift(_Changed):
    form, stream = "level_shift", 93

    def _change(self):
        u = self._noise()
        rng = self.rng()
        week = int(rng.integers(self.t_n // 3, 2 * self.t_n // 3))
        step = 0.15 if rng.random() < 0.5 else -0.15
        self.baseline = self.baseline.copy()
        self.baseline[:, self.b_n + week:] *= 1.0 + step
        self._redraw(u)


class HiddenDemand(_Changed):
    form, stream = "hidden_demand", 94

    def _spend_factor(self, spend):
        rng = self.rng()
        g_n, w_n = self.baseline.shape
        z = (math.sqrt(0.7) * _ar1(rng, w_n, 0.85)[None, :]
             + math.sqrt(0.3) * _ar1(rng, w_n, 0.85, (g_n,)))
        self.baseline = self.baseline * np.exp(0.10 * z)
        return np.exp(0.35 * z)


class PeakTimed(_Changed):
    form, stream = "peak_timed", 95

    def _spend_factor(self, spend):
        rng = self.rng()
        k, height = rng.uniform(2.0, 3.0), rng.uniform(0.2, 0.5)
        first = self.weeks[0] - timedelta(weeks=self.b_n)
        doy = np.array([(first + timedelta(weeks=i)).timetuple().tm_yday
                        for i in range(self.baseline.shape[1])], dtype=float)
        weeks_away = np.minimum(abs(doy - 335), 365 - abs(doy - 335)) / 7.0  # from 1 Dec
        peak = 1.0 + height * np.exp(-0.5 * (weeks_away / 2.5) ** 2)
        self.baseline = self.baseline * peak[None, :]
        return (np.maximum(1.0 + self.season, 0.05) * peak[None, :]) ** k


PROCESS_CLASSES = {c.form: c for c in (_Changed, ArStrong, SeasonalityDrift, LevelShift,
                                       HiddenDemand, PeakTimed)}
PROCESSES = tuple(PROCESS_CLASSES)


def simulate(task: Task) -> Panel:
    """The task's tenant (foreign.py's ``Task``: the same seeds and shapes) under its
    process, as a Panel with its truth."""
    cfg = tenant_config(task)
    proc = PROCESS_CLASSES[task.process](cfg.data.synthetic, list(cfg.channels),
                                         list(cfg.controls))
    dates = pd.DatetimeIndex(pd.to_datetime([d.isoformat() for d in proc.weeks]))
    return Panel(tenant=cfg.name, dates=dates, segments=tuple(proc.segment_names),
                 channels=tuple(cfg.channels), control_names=tuple(cfg.controls),
                 kpi=proc.kpi, spend=proc.spend[:, proc.b_n:, :],
                 controls=proc.controls[:, proc.b_n:, :],
                 size=proc.population / proc.population.mean(), kpi_name=cfg.kpi,
                 truth=_plain({"tenant": cfg.name, **proc.truth()}))


def run_tenant(task: Task) -> dict:
    started = time.perf_counter()
    panel = simulate(task)
    model = MMM(ModelSettings(), seed=RUN_SEED).fit(panel)
    fit = baseline_residual_fit(model, panel)
    settings = RobustnessSettings()
    threshold = float(settings.thresholds_for(panel.n_segments)[1].baseline_form)
    value = fit["partial_r2"] - fit["chance"]
    judged = (fit["p_value"] < BASELINE_FORM_ALPHA
              and panel.n_segments > settings.national_max_segments)
    truth = panel.truth["channels"]
    est = model.elasticities(panel)
    true = {c: truth[c]["elasticity"] for c in panel.channels}
    errors = [abs(est[c] - true[c]) / abs(true[c]) for c in panel.channels
              if truth[c]["contribution_share"] >= GATE.min_true_share and true[c]]
    return {"process": task.process, "shape": task.shape, "index": task.index,
            "seed": task.seed, "segments": panel.n_segments, "value": value,
            "p_value": fit["p_value"], "threshold": threshold,
            "judged": bool(judged), "flagged": bool(judged and value > threshold),
            "would_flag": bool(value > threshold and fit["p_value"] < BASELINE_FORM_ALPHA),
            "forms": fit["forms"],
            "gate_value": statistics.median(errors) if errors else None,
            "total_error": abs(sum(est.values()) - sum(true.values())) / sum(true.values()),
            "seconds": time.perf_counter() - started}


def summarise(records: list[dict]) -> dict:
    out = {}
    for shape in SHAPES:
        for process in PROCESSES:
            rows = [r for r in records if r["shape"] == shape and r["process"] == process]
            if not rows:
                continue
            gates = [r["gate_value"] for r in rows if r["gate_value"] is not None]
            out[f"{shape}/{process}"] = {
                "tenants": len(rows), "flagged": sum(r["flagged"] for r in rows),
                "would_flag": sum(r["would_flag"] for r in rows),
                "value_median": statistics.median(r["value"] for r in rows),
                "gate_median": statistics.median(gates) if gates else None,
                "total_error_median": statistics.median(r["total_error"] for r in rows)}
    return out


def format_table(summary: dict) -> str:
    lines = [f"{'cell':28s} {'flagged':>9s} {'would':>6s} {'value':>8s} {'gate':>7s} "
             f"{'total':>7s}"]
    for cell, s in summary.items():
        gate = "-" if s["gate_median"] is None else f"{s['gate_median']:.3f}"
        lines.append(f"{cell:28s} {s['flagged']:>4d}/{s['tenants']:<4d} {s['would_flag']:>6d} "
                     f"{s['value_median']:8.4f} {gate:>7s} {s['total_error_median']:7.3f}")
    lines.append("flagged: baseline_form fails (value above the shape's threshold, p < "
                 f"{BASELINE_FORM_ALPHA:g}, more than national_max_segments segments); would: "
                 "the same without the segment rule (national data are not judged); value: its "
                 "median; gate: median of the elasticity gate value (median relative error, "
                 "true share >= 2 %); total: median total media elasticity error")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    n = 1 if args.quick else args.tenants
    tasks = [Task(p, s, i) for s in SHAPES for i in range(n) for p in PROCESSES]
    started = time.perf_counter()
    records, failures = run_tasks(tasks, args.workers, run_tenant,
                                  lambda t: f"{t.shape} {t.process} #{t.index}")
    summary = summarise(records)
    print(format_table(summary), flush=True)
    out = args.out or (None if args.quick else RESULTS)
    if out is not None:
        data = {"benchmark": "baseline_form", "definitions": __doc__,
                "settings": {"tenants": n, "noise": NOISE, "weeks": WEEKS,
                             "run_seed": RUN_SEED, "alpha": BASELINE_FORM_ALPHA,
                             "processes": list(PROCESSES)},
                "summary": summary, "failures": failures,
                "tenants": sorted(({k: v for k, v in r.items() if k != "seconds"}
                                   for r in records),
                                  key=lambda r: (r["shape"], PROCESSES.index(r["process"]),
                                                 r["index"])),
                "runtime_seconds": round(time.perf_counter() - started, 1)}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(_rounded(data), indent=1, sort_keys=True) + "\n",
                       encoding="utf-8")
        print(f"wrote {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
