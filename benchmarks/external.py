"""External benchmark: MMM v2 on public MMM datasets it was not designed on.

1. **PyMC-Marketing example** (``<shared>/external/pymc-marketing/mmm_example.csv``, 179
   weeks, channels x1 and x2, known truth computed from the documented process by
   ``mmm_evidence.data.external``): true vs estimated elasticity, contribution share and ROI
   with relative errors, fit seconds, in-sample R^2 and MAPE of the weekly KPI. Then a
   noise-replicate study (``--replicates``): the same spend with fresh N(0, 250) noise from the
   documented process, refitted; per quantity the mean, sd and 95th percentile of the
   relative error, and how often the project's elasticity gate (median relative error over
   channels <= 0.25) passes. These are the figures tests/data/test_external.py's tolerances
   come from (it used 400 replicates).
2. **Meridian** ``national_media.csv`` (156 weeks, 4 channels; KPI ``conversions``, the
   outcome Meridian models; spend ``Channel<i>_spend``; controls the competitor-activity and
   sentiment scores), its geo-level ``geo_media.csv`` (the same columns, 20 geos) and
   ``geo_all_channels.csv`` (40 geos, 5 channels; controls competitor sales, sentiment and
   ``Promo``), and **Robyn** ``dt_simulated_weekly.csv`` (208 weeks; KPI ``revenue``;
   the five paid ``*_S`` spends; controls ``competitor_sales_B`` and the organic
   ``newsletter``; the categorical ``events`` column, two single weeks, is left out). Neither
   publishes its truth, so only the fitted elasticities, shares, ROI and fit are shown: the
   point is that the model runs, converges and fits data from other generators — and
   whether its decomposition stays sane there: the segment-weeks whose baseline (the KPI
   without media) is below zero, which the robustness suite's ``baseline_non_negative``
   check counts.

Each dataset is read through the package's loader with a column mapping (``read_tenant_files``),
fitted with ``MMM(ModelSettings(), seed=0)`` on the full history.

Run: ``OMP_NUM_THREADS=1 python benchmarks/external.py`` (``--replicates 0`` to skip the
study, ``--shared DIR`` for another shared folder). Writes ``benchmarks/results/external.json``
(keys sorted, floats rounded to 6 significant digits; the ``seconds`` fields are the only
values that change between identical runs).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from mmm_evidence.config import ModelSettings, TenantConfig
from mmm_evidence.data.external import load_pymc_example
from mmm_evidence.data.loader import read_tenant_files
from mmm_evidence.data.panel import Panel
from mmm_evidence.evaluation.metrics import scores
from mmm_evidence.evaluation.robustness import baseline_below_zero
from mmm_evidence.model.mmm import MMM

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
RESULTS = Path(__file__).resolve().parent / "results" / "external.json"
SIGNIFICANT = 6
GATE_MAX_MEDIAN_ERROR = 0.25  # params/mmm_v2.yaml default: elasticity median relative error

MERIDIAN_CHANNELS = [f"channel{i}" for i in range(4)]
MERIDIAN_ALL_CHANNELS = [f"channel{i}" for i in range(5)]
ROBYN_CHANNELS = ["tv", "ooh", "print", "facebook", "search"]

#: Datasets without truth: tenant config fields and the column mapping (our name: theirs).
UNTRUTHED = {
    "meridian_national_media": {
        "file": "meridian/national_media.csv",
        "kpi": "conversions",
        "channels": MERIDIAN_CHANNELS,
        "controls": ["competitor_activity_score_control", "sentiment_score_control"],
        "columns": {"date": "time",
                    **{f"spend_{c}": f"Channel{i}_spend"
                       for i, c in enumerate(MERIDIAN_CHANNELS)}},
    },
    "meridian_geo_media": {
        "file": "meridian/geo_media.csv",
        "kpi": "conversions",
        "channels": MERIDIAN_CHANNELS,
        "controls": ["competitor_activity_score_control", "sentiment_score_control"],
        "columns": {"date": "time", "segment": "geo",
                    **{f"spend_{c}": f"Channel{i}_spend"
                       for i, c in enumerate(MERIDIAN_CHANNELS)}},
    },
    "meridian_geo_all_channels": {
        "file": "meridian/geo_all_channels.csv",
        "kpi": "conversions",
        "channels": MERIDIAN_ALL_CHANNELS,
        "controls": ["competitor_sales_control", "sentiment_score_control", "promo"],
        "columns": {"date": "time", "segment": "geo", "promo": "Promo",
                    **{f"spend_{c}": f"Channel{i}_spend"
                       for i, c in enumerate(MERIDIAN_ALL_CHANNELS)}},
    },
    "robyn_simulated_weekly": {
        "file": "robyn/dt_simulated_weekly.csv",
        "kpi": "revenue",
        "channels": ROBYN_CHANNELS,
        "controls": ["competitor_sales_B", "newsletter"],
        "columns": {"date": "DATE", **{f"spend_{c}": f"{c}_S" for c in ROBYN_CHANNELS}},
    },
}


def _rounded(obj):
    """Floats to SIGNIFICANT significant digits (non-finite -> None), recursively."""
    if isinstance(obj, dict):
        return {str(k): _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_rounded(v) for v in obj]
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return float(f"{value:.{SIGNIFICANT}g}") if math.isfinite(value) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _relative(estimate: float | None, truth: float | None) -> float | None:
    if estimate is None or not truth:
        return None
    return estimate / truth - 1.0


def fit_dataset(panel: Panel) -> dict:
    """Fit MMM v2 on the whole panel; estimates, fit quality and timings."""
    wall, cpu = time.perf_counter(), time.process_time()
    model = MMM(ModelSettings(), seed=0).fit(panel)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    fit = scores(panel.total_kpi(), model.predict(panel).sum(axis=0))
    d = model.diagnostics
    baseline, negative, share = baseline_below_zero(model, panel)
    return {
        "weeks": panel.n_weeks,
        "segments": panel.n_segments,
        # the robustness suite's baseline_non_negative check, and each segment's baseline
        # share of its predicted KPI at its lowest
        "baseline": {"negative_segment_weeks": int(negative.sum()),
                     "segment_weeks": int(baseline.size),
                     "min_segment_share": float(np.nanmin(share))},
        "channels": list(panel.channels),
        "controls": list(panel.control_names),
        "elasticity": model.elasticities(panel),
        "contribution_share": model.contribution_shares(panel),
        "roi": model.roi(panel),
        "media": model.media_parameters(),
        "in_sample": {"r2": fit["r2"], "mape": fit["mape"], "nrmse": fit["nrmse"]},
        "converged": d.converged,
        "bounds_hit": d.bounds_hit,
        "seconds": {"fit_wall": wall, "fit_cpu": cpu},
    }


def pymc_example(shared: Path) -> dict:
    panel = load_pymc_example(shared)
    result = fit_dataset(panel)
    truth = panel.truth["channels"]
    result["truth"] = {c: {q: truth[c][q] for q in ("elasticity", "contribution_share", "roi")}
                       for c in panel.channels}
    result["relative_error"] = {
        c: {q: _relative(result[q][c], truth[c][q])
            for q in ("elasticity", "contribution_share", "roi")}
        for c in panel.channels}
    return result


def replicate_study(shared: Path, n: int) -> dict:
    """Relative errors over n noise replicates of the PyMC example (noise seeds 0..n-1)."""
    keys = [(q, c) for q in ("elasticity", "contribution_share") for c in ("x1", "x2")]
    errors = []
    for seed in range(n):
        panel = load_pymc_example(shared, noise_seed=seed)
        model = MMM(ModelSettings(), seed=0).fit(panel)
        est = {"elasticity": model.elasticities(panel),
               "contribution_share": model.contribution_shares(panel)}
        errors.append([est[q][c] / panel.truth["channels"][c][q] - 1.0 for q, c in keys])
    err = np.array(errors)
    gate = np.median(np.abs(err[:, :2]), axis=1) <= GATE_MAX_MEDIAN_ERROR
    return {
        "replicates": n,
        "noise_seeds": f"0..{n - 1}",
        "elasticity_gate_pass_fraction": float(gate.mean()),
        "relative_error": {
            f"{q}.{c}": {"mean": float(err[:, i].mean()), "sd": float(err[:, i].std()),
                         "median_abs": float(np.median(np.abs(err[:, i]))),
                         "p95_abs": float(np.quantile(np.abs(err[:, i]), 0.95))}
            for i, (q, c) in enumerate(keys)},
    }


def untruthed_tenant(shared: Path, name: str, spec: dict) -> dict:
    """The tenant YAML content (our keys) of an ``UNTRUTHED`` dataset: its CSV and mapping."""
    return {"name": name, "kpi": spec["kpi"], "channels": spec["channels"],
            "controls": spec["controls"],
            "data": {"source": {"csv": str(shared / "external" / spec["file"]),
                                "columns": spec["columns"]}}}


def untruthed(shared: Path, name: str, spec: dict) -> dict:
    tenant = TenantConfig.model_validate(untruthed_tenant(shared, name, spec))
    src = tenant.data.source
    panel = read_tenant_files(tenant, src.csv, columns=src.columns)
    result = fit_dataset(panel)
    result["kpi"] = spec["kpi"]
    result["file"] = spec["file"]
    return result


# --------------------------------------------------------------------------- printing


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f}%"


def print_pymc(result: dict) -> None:
    print("PyMC-Marketing example (179 weeks, known truth)")
    print(f"{'channel':8s} {'elasticity':>17s} {'err':>7s} {'share':>15s} {'err':>7s} "
          f"{'ROI':>15s} {'err':>7s}")
    print(f"{'':8s} {'true':>8s} {'est':>8s} {'':>7s} {'true':>7s} {'est':>7s} {'':>7s} "
          f"{'true':>7s} {'est':>7s}")
    for c in result["channels"]:
        t, e = result["truth"][c], result["relative_error"][c]
        print(f"{c:8s} {t['elasticity']:8.4f} {result['elasticity'][c]:8.4f} "
              f"{_pct(e['elasticity']):>7s} {100 * t['contribution_share']:6.2f}% "
              f"{100 * result['contribution_share'][c]:6.2f}% {_pct(e['contribution_share']):>7s} "
              f"{t['roi']:7.0f} {result['roi'][c]:7.0f} {_pct(e['roi']):>7s}")
    _print_fit(result)


def _print_fit(result: dict) -> None:
    fit, sec = result["in_sample"], result["seconds"]
    print(f"in-sample R2 {fit['r2']:.4f}  MAPE {100 * fit['mape']:.2f}%  fit "
          f"{sec['fit_wall']:.2f} s wall / {sec['fit_cpu']:.2f} s CPU  converged "
          f"{result['converged']}  bounds hit: {', '.join(result['bounds_hit']) or 'none'}")


def print_replicates(study: dict) -> None:
    print(f"\nnoise replicates of the PyMC example: {study['replicates']} "
          f"(seeds {study['noise_seeds']}), relative error estimate / truth - 1")
    print(f"{'quantity':28s} {'mean':>8s} {'sd':>8s} {'med|e|':>8s} {'p95|e|':>8s}")
    for key, row in study["relative_error"].items():
        print(f"{key:28s} {_pct(row['mean']):>8s} {100 * row['sd']:7.1f}% "
              f"{100 * row['median_abs']:7.1f}% {100 * row['p95_abs']:7.1f}%")
    print(f"elasticity gate (median rel. error <= {GATE_MAX_MEDIAN_ERROR}) passes in "
          f"{100 * study['elasticity_gate_pass_fraction']:.0f}% of replicates")


def print_untruthed(name: str, result: dict) -> None:
    print(f"\n{name} ({result['file']}, {result['weeks']} weeks, KPI {result['kpi']}; "
          f"no published truth)")
    print(f"{'channel':10s} {'elasticity':>10s} {'share':>8s} {'ROI':>10s} {'decay':>6s} "
          f"{'shape':>6s}")
    for c in result["channels"]:
        roi = result["roi"][c]
        print(f"{c:10s} {result['elasticity'][c]:10.4f} "
              f"{100 * result['contribution_share'][c]:7.2f}% "
              f"{'-' if roi is None else f'{roi:10.4g}':>10s} "
              f"{result['media'][c]['decay']:6.2f} {result['media'][c]['shape']:6.2f}")
    base = result["baseline"]
    print(f"total media share {100 * sum(result['contribution_share'].values()):.1f}%, "
          f"total media elasticity {sum(result['elasticity'].values()):.3f}; "
          f"{result['segments']} segment(s), baseline below 0 in "
          f"{base['negative_segment_weeks']} of {base['segment_weeks']} segment-weeks "
          f"(lowest segment baseline share {100 * base['min_segment_share']:.1f}%)")
    _print_fit(result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED,
                        help="the shared folder holding external/ (default: beside the repo)")
    parser.add_argument("--replicates", type=int, default=100,
                        help="noise replicates of the PyMC example (0 = skip; default 100)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    external = args.shared / "external"
    if not external.is_dir():
        print(f"error: {external.resolve()}: external reference data not found "
              f"(pass --shared DIR)", file=sys.stderr)
        return 2

    payload: dict = {"model": "MMM(ModelSettings(), seed=0)", "datasets": {}}
    result = pymc_example(args.shared)
    payload["datasets"]["pymc_example"] = result
    print_pymc(result)
    if args.replicates > 0:
        study = replicate_study(args.shared, args.replicates)
        payload["pymc_example_noise_replicates"] = study
        print_replicates(study)
    for name, spec in UNTRUTHED.items():
        result = untruthed(args.shared, name, spec)
        payload["datasets"][name] = result
        print_untruthed(name, result)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_rounded(payload), indent=1, sort_keys=True) + "\n",
                        encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
