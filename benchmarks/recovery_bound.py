"""How close to the oracle floor can ANY estimator get on the recovery panel? (issue 3)

``recovery.py`` puts MMM v2's median elasticity error at about 1.5-1.8 x the oracle's (the
linear part fitted with the TRUE decay, half-saturation and shape); ``recovery_gap.py`` shows
the fit's optimum is always below the truth's objective (information, not optimisation).
This benchmark asks whether another estimator on the same likelihood could do better, by
computing the Bayes estimator that knows as much as possible without knowing the tenant:

- **panel-prior posterior**: the posterior of the media parameters under a flat prior on the
  panel's OWN generating box (``panel.DECAY_RANGE``, ``HALF_SATURATION_RANGE``,
  ``SHAPE_RANGE``: decay uniform, log half-saturation and log shape uniform, exactly how
  ``panel.random_tenant`` draws them) and MMM v2's likelihood: the segment-weighted least
  squares with the linear part (baseline, beta >= 0) profiled out by the exact solve, the
  fit's segment weights. No estimator can know more about a panel tenant's media response
  before seeing its data; its posterior median / mean minimise the expected absolute /
  squared error under that prior (per parameter), so its error is the floor an estimator
  on this likelihood reaches on this panel;
- **v2 posterior**: the same under MMM v2's own weak priors (``PRIOR``, ``RETURNS_PRIOR``)
  and bounds: does averaging over the posterior instead of taking its mode help?

Sampler: random-walk Metropolis over the 3 x channels media parameters, seeded. A first
third (burn-in) proposes from the Gauss-Newton covariance at MMM v2's fit; the rest from the
burn-in chain's own covariance (one adaptation, then fixed), scaled 2.38^2 / d. Every
``THIN``-th state after burn-in is a draw; each draw's elasticities use the exact linear
solve at its parameters. Caveats: the half-saturation box is relative to mean spend (the
generator's reference is the mean adstocked spend, equal up to edge effects); the linear
part is profiled, not integrated; the likelihood is MMM v2's (additive baseline, one
response for all segments), not the generator's.

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/recovery_bound.py
[--tenants N] [--steps S] [--workers W]`` (default 12 tenants per cell, 6000 steps, ~6 min on
2 cores); results go to ``benchmarks/results/recovery_bound.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from panel import DECAY_RANGE, HALF_SATURATION_RANGE, SHAPE_RANGE  # noqa: E402
from recovery import Task, _rounded, cell_key, oracle_fit, panel_of, tenant_config  # noqa: E402
from recovery_gap import _errors, cell_medians  # noqa: E402

from mmm_evidence.config import ModelSettings  # noqa: E402
from mmm_evidence.data.panel import Panel  # noqa: E402
from mmm_evidence.model.mmm import MMM  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "recovery_bound.json"
CELLS = (("geo", 0.05), ("geo", 0.10), ("geo", 0.20), ("national", 0.05), ("national", 0.10))
FITS = ("mmm", "oracle", "v2_posterior_median", "panel_posterior_median",
        "panel_posterior_mean")
THIN = 20


def panel_box(n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """The panel's generating ranges on the optimiser's scale (decay, log K/ref, log shape)."""
    lo = [DECAY_RANGE[0], math.log(HALF_SATURATION_RANGE[0]), math.log(SHAPE_RANGE[0])]
    hi = [DECAY_RANGE[1], math.log(HALF_SATURATION_RANGE[1]), math.log(SHAPE_RANGE[1])]
    return np.tile(lo, n_channels), np.tile(hi, n_channels)


def metropolis(log_post, start: np.ndarray, cov: np.ndarray, steps: int,
               rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Random-walk Metropolis from ``start``: the burn-in third with ``cov``, then with the
    burn-in chain's covariance; returns every THIN-th later state (n, d) and the acceptance
    rate after burn-in."""
    d = start.size
    scale = 2.38**2 / d
    burn = steps // 3
    current, lp_current = start.copy(), log_post(start)
    chain, draws, accepted = [], [], 0
    chol = np.linalg.cholesky(0.5 * scale * cov)  # the Gauss-Newton curvature overstates
    for k in range(steps):                        # the posterior's: start with smaller steps
        if k == burn and len({tuple(x) for x in chain}) > 2 * d:  # enough moves to adapt
            emp = np.cov(np.array(chain).T) + 1e-10 * np.eye(d)
            chol = np.linalg.cholesky(scale * emp)
        proposal = current + chol @ rng.standard_normal(d)
        lp_prop = log_post(proposal)
        if math.log(rng.random()) < lp_prop - lp_current:
            current, lp_current = proposal, lp_prop
            accepted += k >= burn
        if k < burn:
            chain.append(current.copy())
        elif (k - burn) % THIN == 0:
            draws.append(current.copy())
    return np.array(draws), accepted / max(steps - burn, 1)


def posterior_elasticities(fit: MMM, problem, panel: Panel, draws: np.ndarray,
                           weights: np.ndarray) -> np.ndarray:
    """Elasticities (n, C) of a copy of the fit with each draw's media parameters and the
    exact linear solve there (``problem``: the fit's least-squares problem on ``panel``)."""
    model = MMM.from_dict(fit.to_dict())
    out = []
    for theta in draws:
        model._finish(problem, theta, weights)
        e = model.elasticities(panel)
        out.append([e[c] for c in panel.channels])
    return np.array(out)


def run_tenant(shape: str, noise: float, index: int, steps: int) -> dict:
    task = Task(shape, noise, index, False)
    panel = panel_of(tenant_config(task))
    fit = MMM(ModelSettings(), seed=task.seed).fit(panel)
    oracle = oracle_fit(panel, task.seed)
    weights = 1.0 / np.asarray(fit.diagnostics.residual_scale)
    theta_fit = fit._theta()
    v2 = fit._prepare(panel)
    flat = MMM(ModelSettings(prior_strength=0.0), seed=task.seed)._prepare(panel)
    jac = v2.jacobian(theta_fit, weights)
    cov = np.linalg.inv(jac.T @ jac + 1e-8 * np.eye(theta_fit.size))
    rng = np.random.default_rng([task.seed, 11])
    out = {"shape": shape, "noise": noise, "index": index, "n_channels": len(panel.channels),
           "errors": {"mmm": _errors(fit.elasticities(panel), panel),
                      "oracle": _errors(oracle.elasticities(panel), panel)},
           "acceptance": {}}
    for name, problem, (lo, hi) in (("v2", v2, fit._bounds()),
                                    ("panel", flat, panel_box(len(panel.channels)))):
        def log_post(theta, problem=problem, lo=lo, hi=hi):
            if np.any(theta < lo) or np.any(theta > hi):
                return -math.inf
            r = problem.residuals(theta, weights)
            return -0.5 * float(r @ r)

        start = np.clip(theta_fit, lo + 1e-6, hi - 1e-6)
        draws, acceptance = metropolis(log_post, start, cov, steps, rng)
        el = posterior_elasticities(fit, v2, panel, draws, weights)
        out["errors"][f"{name}_posterior_median"] = _errors(np.median(el, axis=0), panel)
        if name == "panel":
            out["errors"]["panel_posterior_mean"] = _errors(el.mean(axis=0), panel)
        out["acceptance"][name] = acceptance
    return out


def _run(args: tuple[str, float, int, int]) -> dict:
    return run_tenant(*args)


def summarise(records: list[dict]) -> dict[str, dict]:
    return {key: {**medians,
                  "acceptance_median": {k: float(np.median([r["acceptance"][k] for r in group]))
                                        for k in ("v2", "panel")}}
            for key, (group, medians) in cell_medians(records, CELLS, FITS).items()}


def format_table(summary: dict[str, dict]) -> str:
    head = (f"{'cell':13s} {'n':>3s} " + " ".join(f"{f:>22s}" for f in FITS)
            + "   acceptance v2 / panel")
    lines = [head, "-" * len(head)]
    for key, s in summary.items():
        cells = " ".join(f"{s['err_median'][f]:13.3f} ({s['ratio_to_oracle'][f]:4.2f}x)"
                         for f in FITS)
        acc = s["acceptance_median"]
        lines.append(f"{key:13s} {s['tenants']:3d} {cells}   {acc['v2']:.2f} / {acc['panel']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=12, help="tenants per cell")
    parser.add_argument("--steps", type=int, default=6000, help="Metropolis steps per chain")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started, load = time.perf_counter(), os.getloadavg()[0]
    jobs = [(shape, noise, i, args.steps) for shape, noise in CELLS
            for i in range(args.tenants)]
    with ProcessPoolExecutor(args.workers) as pool:
        records = []
        for n, rec in enumerate(pool.map(_run, jobs), 1):
            records.append(rec)
            print(f"[{n:3d}/{len(jobs)}] {cell_key(rec['shape'], rec['noise']):12s} tenant "
                  f"{rec['index']:3d}  acceptance v2 {rec['acceptance']['v2']:.2f} panel "
                  f"{rec['acceptance']['panel']:.2f}", flush=True)
    summary = summarise(records)
    seconds = time.perf_counter() - started
    print(f"\nThe best an estimator on MMM v2's likelihood can do: {args.tenants} tenants per "
          f"cell, {args.steps} Metropolis steps, {seconds:.0f} s, load {load:.1f} before\n"
          f"median relative elasticity error (x the oracle's)\n")
    print(format_table(summary))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_rounded({
        "benchmark": "recovery_bound", "tenants_per_cell": args.tenants, "steps": args.steps,
        "thin": THIN, "runtime_seconds": seconds, "load_average_before": load,
        "panel_box": {"decay": DECAY_RANGE, "half_saturation": HALF_SATURATION_RANGE,
                      "shape": SHAPE_RANGE},
        "summary": summary, "tenants": records}), indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
