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
- **v2 posterior**: the same under MMM v2's own weak priors (``PRIOR``, ``RETURNS_PRIOR``,
  ``FLAT_PRIOR``) and bounds: does averaging over the posterior instead of taking its mode help?

Sampler: random-walk Metropolis over the 3 x channels media parameters, seeded. A first
third (burn-in) proposes from the Gauss-Newton covariance at MMM v2's fit; the rest from the
burn-in chain's own covariance (one adaptation, then fixed), scaled 2.38^2 / d. Every
``THIN``-th state after burn-in is a draw; each draw's elasticities use the exact linear
solve at its parameters. Caveats: the half-saturation box is relative to mean spend (the
generator's reference is the mean adstocked spend, equal up to edge effects); the linear
part is profiled, not integrated; the likelihood is MMM v2's (additive baseline, one
response for all segments), not the generator's.

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/recovery_bound.py
[--tenants N] [--steps S] [--workers W] [--cells national:0.05,...]`` (default 12 tenants per
cell, 6000 steps, ~7 min on 2 cores; the committed results are ``--tenants 40``, the recovery
panel's own tenants, ~35 min); results go to ``benchmarks/results/recovery_bound.json``.

On the panel, MMM v2 is fitted with each decay at the objective's optimum
(``decay_estimate: optimum``, its default when the committed results were made;
``PANEL_SETTINGS``): its column and the sampler's first proposal come from that fit, and
``recovery.py`` compares the product's default, the profile median, with the same oracle.

``--experiment params/mmm_v2.yaml [--chains K]`` asks the same of an experiment's tenants
instead (with its model settings and seed): the value of the ``elasticity_median_error`` gate
each estimator reaches, over K independent chains, in
``benchmarks/results/recovery_bound_tenants.json``. A gate that even the panel-prior posterior
fails is a FAIL the data impose, not one a better fit would turn into a PASS.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from panel import DECAY_RANGE, HALF_SATURATION_RANGE, SHAPE_RANGE  # noqa: E402
from recovery import (  # noqa: E402
    Task,
    _rounded,
    cell_key,
    panel_of,
    tenant_config,
    total_media_bias,
    true_media,
)
from recovery_gap import _errors, cell_medians, ratio_cells  # noqa: E402

from mmm_evidence.config import ModelSettings, load_experiment  # noqa: E402
from mmm_evidence.data import load_tenant_panel  # noqa: E402
from mmm_evidence.data.panel import Panel  # noqa: E402
from mmm_evidence.model.mmm import MMM  # noqa: E402
from mmm_evidence.pipeline.gates import (  # noqa: E402
    elasticity_median_error_gate,
    elasticity_table,
)

RESULTS = Path(__file__).resolve().parent / "results" / "recovery_bound.json"
TENANT_RESULTS = RESULTS.with_name("recovery_bound_tenants.json")
#: MMM v2 on the panel: each decay at the objective's optimum (see the module docstring)
PANEL_SETTINGS = ModelSettings(decay_estimate="optimum")
CELLS = (("geo", 0.05), ("geo", 0.10), ("geo", 0.20), ("national", 0.05), ("national", 0.10),
         ("national", 0.20))
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


def bound_estimates(panel: Panel, settings: ModelSettings, seed: int, steps: int,
                    chain: int = 0) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Elasticity estimates (C,) per fit in FITS on one panel, and the acceptance rate per
    chain: MMM v2 with ``settings``, the oracle, and the posterior summaries from one seeded
    chain per prior (``chain`` picks an independent chain of the same fit)."""
    fit = MMM(settings, seed=seed).fit(panel)
    oracle = MMM(settings, seed=seed).fit_fixed(panel, *true_media(panel))
    weights = 1.0 / np.asarray(fit.diagnostics.residual_scale)
    theta_fit = fit._theta()
    v2 = fit._prepare(panel)
    flat = MMM(settings.model_copy(update={"prior_strength": 0.0}), seed=seed)._prepare(panel)
    jac = v2.jacobian(theta_fit, weights)
    cov = np.linalg.inv(jac.T @ jac + 1e-8 * np.eye(theta_fit.size))
    rng = np.random.default_rng([seed, 11] if chain == 0 else [seed, 11, chain])
    estimates = {"mmm": _vector(fit.elasticities(panel), panel),
                 "oracle": _vector(oracle.elasticities(panel), panel)}
    acceptance = {}
    for name, problem, (lo, hi) in (("v2", v2, fit._bounds()),
                                    ("panel", flat, panel_box(len(panel.channels)))):
        def log_post(theta, problem=problem, lo=lo, hi=hi):
            if np.any(theta < lo) or np.any(theta > hi):
                return -math.inf
            r = problem.residuals(theta, weights)
            return -0.5 * float(r @ r)

        start = np.clip(theta_fit, lo + 1e-6, hi - 1e-6)
        draws, acceptance[name] = metropolis(log_post, start, cov, steps, rng)
        el = posterior_elasticities(fit, v2, panel, draws, weights)
        estimates[f"{name}_posterior_median"] = np.median(el, axis=0)
        if name == "panel":
            estimates["panel_posterior_mean"] = el.mean(axis=0)
    return estimates, acceptance


def _vector(elasticity: dict[str, float], panel: Panel) -> np.ndarray:
    return np.array([elasticity[c] for c in panel.channels])


def total_media_error(estimate: np.ndarray, panel: Panel) -> float:
    """|sum of the estimated elasticities - sum of the true ones| / sum of the true ones
    (``recovery.py``'s total media elasticity error)."""
    return abs(total_media_bias(list(estimate),
                                [panel.truth["channels"][c]["elasticity"] for c in panel.channels]))


def run_tenant(shape: str, noise: float, index: int, steps: int) -> dict:
    task = Task(shape, noise, index, False)
    panel = panel_of(tenant_config(task))
    estimates, acceptance = bound_estimates(panel, PANEL_SETTINGS, task.seed, steps)
    return {"shape": shape, "noise": noise, "index": index, "n_channels": len(panel.channels),
            "errors": {f: _errors(e, panel) for f, e in estimates.items()},
            "total_media_error": {f: total_media_error(e, panel)
                                  for f, e in estimates.items()},
            "acceptance": acceptance}


def _run(args: tuple[str, float, int, int]) -> dict:
    return run_tenant(*args)


def run_experiment_tenant(experiment: Path, tenant: str, steps: int, chain: int) -> dict:
    """The bound on one of an experiment's tenants (its model settings, seed and elasticity
    gate), from independent chain ``chain``: each fit's value of the elasticity median-error
    gate and per-channel errors. The tenant's data are generated into a scratch folder."""
    exp = load_experiment(experiment, [tenant])
    with tempfile.TemporaryDirectory() as scratch:
        panel = load_tenant_panel(exp, tenant, scratch)
    if panel.truth is None:
        raise ValueError(f"tenant {tenant!r} has no ground truth: the bound needs it")
    estimates, acceptance = bound_estimates(panel, exp.model, exp.seed, steps, chain)
    truth = {k: {c: panel.truth["channels"][c][k] for c in panel.channels}
             for k in ("elasticity", "contribution_share")}
    settings = exp.gates.elasticity
    gates = {f: elasticity_median_error_gate(
                 elasticity_table({"elasticities": dict(zip(panel.channels, e.tolist(),
                                                           strict=True)),
                                   "truth": truth}, settings), True, settings)
             for f, e in estimates.items()}
    return {"tenant": tenant, "chain": chain, "threshold": settings.max_median_relative_error,
            "gate_value": {f: g["value"] for f, g in gates.items()},
            "errors": {f: dict(zip(panel.channels, _errors(e, panel), strict=True))
                       for f, e in estimates.items()},
            "truth": truth["elasticity"],
            "estimates": {f: dict(zip(panel.channels, e.tolist(), strict=True))
                          for f, e in estimates.items()},
            "acceptance": acceptance}


def _run_experiment(args: tuple[Path, str, int, int]) -> dict:
    return run_experiment_tenant(*args)


def summarise_tenants(records: list[dict]) -> dict[str, dict]:
    """Per tenant: each fit's gate value, median and range over the chains; per channel the
    truth, MMM v2's estimate and the panel-prior posterior mean (median over the chains)."""
    out = {}
    for tenant in dict.fromkeys(r["tenant"] for r in records):
        group = [r for r in records if r["tenant"] == tenant]
        out[tenant] = {"chains": len(group), "threshold": group[0]["threshold"],
                       "gate_value": {f: {"median": float(np.median(v)), "min": min(v),
                                          "max": max(v)}
                                      for f in FITS
                                      for v in [[r["gate_value"][f] for r in group]]},
                       "channels": {c: {"truth": group[0]["truth"][c],
                                        "mmm": group[0]["estimates"]["mmm"][c],
                                        "panel_posterior_mean": float(np.median(
                                            [r["estimates"]["panel_posterior_mean"][c]
                                             for r in group]))}
                                    for c in group[0]["truth"]}}
    return out


def format_tenant_table(summary: dict[str, dict]) -> str:
    head = f"{'tenant':18s} {'gate':>5s} " + " ".join(f"{f:>22s}" for f in FITS)
    lines = [head, "-" * len(head)]
    for tenant, s in summary.items():
        cells = " ".join(f"{g['median']:8.3f} [{g['min']:.3f}-{g['max']:.3f}]"
                         if g["max"] - g["min"] > 5e-4 else f"{g['median']:22.3f}"
                         for g in (s["gate_value"][f] for f in FITS))
        lines.append(f"{tenant:18s} {s['threshold']:5.2f} {cells}")
    lines += ["", "elasticity per channel: truth / MMM v2 / panel-prior posterior mean"]
    for tenant, s in summary.items():
        lines.append(f"{tenant:18s} " + "  ".join(
            f"{c} {ch['truth']:.3f}/{ch['mmm']:.3f}/{ch['panel_posterior_mean']:.3f}"
            for c, ch in s["channels"].items()))
    return "\n".join(lines)


def main_experiment(args: argparse.Namespace) -> int:
    """``--experiment``: the bound on each of the experiment's tenants that has truth."""
    started = time.perf_counter()
    exp = load_experiment(args.experiment)
    tenants = [t for t in exp.tenants if exp.tenant(t).data.synthetic is not None
               or exp.tenant(t).data.source.truth is not None]
    jobs = [(args.experiment, t, args.steps, k) for t in tenants for k in range(args.chains)]
    with ProcessPoolExecutor(args.workers) as pool:
        records = []
        for n, rec in enumerate(pool.map(_run_experiment, jobs), 1):
            records.append(rec)
            print(f"[{n:3d}/{len(jobs)}] {rec['tenant']:18s} chain {rec['chain']}  acceptance "
                  f"v2 {rec['acceptance']['v2']:.2f} panel {rec['acceptance']['panel']:.2f}",
                  flush=True)
    summary = summarise_tenants(records)
    seconds = time.perf_counter() - started
    print(f"\nThe elasticity median-error gate value each estimator reaches on "
          f"{args.experiment.name}'s tenants ({args.chains} chains of {args.steps} steps, "
          f"median [range over chains]), {seconds:.0f} s\n")
    print(format_tenant_table(summary))
    out = args.out if args.out != RESULTS else TENANT_RESULTS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_rounded({
        "benchmark": "recovery_bound_tenants", "experiment": exp.experiment,
        "chains": args.chains, "steps": args.steps, "thin": THIN,
        "runtime_seconds": seconds, "summary": summary, "records": records}),
        indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}")
    return 0


def _cells(text: str) -> tuple[tuple[str, float], ...]:
    """``national:0.05,geo:0.1`` -> (("national", 0.05), ("geo", 0.1))."""
    cells = []
    for item in text.split(","):
        shape, _, noise = item.strip().partition(":")
        if shape not in ("national", "geo") or not noise:
            raise argparse.ArgumentTypeError(
                f"cell {item!r}: expected SHAPE:NOISE with SHAPE national or geo")
        try:
            cells.append((shape, float(noise)))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"cell {item!r}: noise {noise!r} is not a number") from None
    return tuple(cells)


def summarise(records: list[dict], cells=CELLS) -> dict[str, dict]:
    return {key: {**medians,
                  "total_media_error_median": {
                      f: float(np.median([r["total_media_error"][f] for r in group]))
                      for f in FITS},
                  "acceptance_median": {k: float(np.median([r["acceptance"][k] for r in group]))
                                        for k in ("v2", "panel")}}
            for key, (group, medians) in cell_medians(records, cells, FITS).items()}


def format_table(summary: dict[str, dict]) -> str:
    head = (f"{'cell':13s} {'n':>3s} " + " ".join(f"{f:>22s}" for f in FITS)
            + "   acceptance v2 / panel")
    lines = [head, "-" * len(head)]
    for key, s in summary.items():
        acc = s["acceptance_median"]
        lines.append(f"{key:13s} {s['tenants']:3d} {ratio_cells(s, FITS, 21)}   "
                     f"{acc['v2']:.2f} / {acc['panel']:.2f}")
    lines += ["", "total media elasticity error (median over tenants)", "-" * len(head)]
    for key, s in summary.items():
        lines.append(f"{key:13s} {s['tenants']:3d} " + " ".join(
            f"{s['total_media_error_median'][f]:22.3f}" for f in FITS))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=12, help="tenants per cell")
    parser.add_argument("--steps", type=int, default=6000, help="Metropolis steps per chain")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cells", type=_cells, default=CELLS,
                        help="comma-separated SHAPE:NOISE cells (default: "
                             + ",".join(f"{s}:{n:g}" for s, n in CELLS) + ")")
    parser.add_argument("--experiment", type=Path, default=None,
                        help="instead of the panel: the bound on this experiment's tenants "
                             "(e.g. params/mmm_v2.yaml), written to "
                             f"results/{TENANT_RESULTS.name}")
    parser.add_argument("--chains", type=int, default=3,
                        help="independent chains per tenant with --experiment")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.experiment is not None:
        return main_experiment(args)
    started, load = time.perf_counter(), os.getloadavg()[0]
    jobs = [(shape, noise, i, args.steps) for shape, noise in args.cells
            for i in range(args.tenants)]
    with ProcessPoolExecutor(args.workers) as pool:
        records = []
        for n, rec in enumerate(pool.map(_run, jobs), 1):
            records.append(rec)
            print(f"[{n:3d}/{len(jobs)}] {cell_key(rec['shape'], rec['noise']):12s} tenant "
                  f"{rec['index']:3d}  acceptance v2 {rec['acceptance']['v2']:.2f} panel "
                  f"{rec['acceptance']['panel']:.2f}", flush=True)
    summary = summarise(records, args.cells)
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
