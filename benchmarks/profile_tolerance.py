"""What the decay profile's cost tolerance buys and costs: MMM v2 fitted twice per tenant.

A ``profile_median`` fit profiles every channel's decay: at each of ``DECAY_PROFILE`` decays
the other media parameters are re-optimised (``model.mmm._decay_profile``), and those solves
are most of a fit's time — the more channels, the more of it (each of C profiles re-optimises
3 C - 1 parameters). Each node's solve stops once a step lowers the objective by less than
``DECAY_PROFILE_COST_TOLERANCE`` (objective units). This benchmark fits each tenant with that
tolerance and with every node solved to the fit's own ``ftol`` of 1e-8 (the tolerance set to
0), in one process, the two fits of a tenant back to back (their order alternating between
tenants, so a drift in the machine's speed does not favour one), and records per tenant:

- CPU seconds (``time.process_time``, BLAS pinned to one thread) of each fit and their ratio
  (tight / default: > 1 is the speed-up);
- the largest relative change of an elasticity between the two fits;
- the profile nodes both evaluated and how many of them the default fit put more than 0.01
  above (``higher``) or below (``lower``) the tight fit's, with the largest such differences:
  a node solved less exactly ends a little higher, and a walk that continues from it can
  reach another local optimum of the other parameters (a branch) at the next nodes.

Tenants: ``panel.random_tenant`` (noise 10 %, 156 weeks) with seeds ``SEED_BASE + i``, the
channel count fixed per tenant (``CHANNELS`` in turn) and national (1 segment) or geo
(``GEO_SEGMENTS``) in turn — the sizes where the profile's cost matters.

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/profile_tolerance.py
[--tenants N] [--out FILE]`` (default 20 tenants, about 5 minutes on one core); results go to
``benchmarks/results/profile_tolerance.json``. Timings are ratios within one run: the
machine's speed drifts between runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from panel import random_tenant  # noqa: E402  (benchmarks/ is not a package)
from recovery import _rounded  # noqa: E402

from mmm_evidence.config import ModelSettings  # noqa: E402
from mmm_evidence.data.synthetic import simulate_panel  # noqa: E402
from mmm_evidence.model import mmm as mmm_module  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "profile_tolerance.json"
SEED_BASE = 61000
NOISE = 0.1
WEEKS = 156
CHANNELS = (4, 6, 8, 10, 12)
GEO_SEGMENTS = 16
#: a node this far from the tight fit's (objective units) counts as higher or lower
NODE_GAP = 0.01


def fit(panel, seed: int, tolerance: float) -> tuple[float, mmm_module.MMM]:
    """CPU seconds and the fit with the profile nodes solved to ``tolerance``."""
    default = mmm_module.DECAY_PROFILE_COST_TOLERANCE
    mmm_module.DECAY_PROFILE_COST_TOLERANCE = tolerance
    try:
        started = time.process_time()
        model = mmm_module.MMM(ModelSettings(), seed=seed).fit(panel)
        return time.process_time() - started, model
    finally:
        mmm_module.DECAY_PROFILE_COST_TOLERANCE = default


def profile_nodes(model: mmm_module.MMM) -> np.ndarray:
    """The profile objectives, channels x nodes (NaN: not evaluated or not profiled)."""
    grid = len(model.decay_profile["grid"])
    return np.array([[np.nan if v is None else v for v in costs] if costs else [np.nan] * grid
                     for costs in model.decay_profile["objective"]])


def tenant(i: int):
    """The ``i``-th tenant: its seed, segments, channels and panel."""
    seed = SEED_BASE + i
    channels = CHANNELS[i % len(CHANNELS)]
    segments = 1 if i % 2 == 0 else GEO_SEGMENTS
    return seed, segments, channels, simulate_panel(
        random_tenant(seed, segments, NOISE, weeks=WEEKS, channels=channels))


def run_tenant(i: int) -> dict:
    seed, segments, channels, panel = tenant(i)
    order = (("tight", 0.0), ("default", mmm_module.DECAY_PROFILE_COST_TOLERANCE))
    fits = {}
    for label, tolerance in (order if i % 2 == 0 else order[::-1]):
        fits[label] = fit(panel, seed, tolerance)
    (cpu_tight, tight), (cpu_default, default) = fits["tight"], fits["default"]
    el_tight = np.array(list(tight.elasticities(panel).values()))
    el_default = np.array(list(default.elasticities(panel).values()))
    gap = profile_nodes(default) - profile_nodes(tight)
    both = gap[np.isfinite(gap)]
    return {"seed": seed, "segments": segments, "channels": channels,
            "cpu_tight": cpu_tight, "cpu_default": cpu_default,
            "ratio": cpu_tight / cpu_default,
            "max_elasticity_change": float(np.max(np.abs(el_default - el_tight)
                                                  / np.maximum(np.abs(el_tight), 1e-12))),
            "nodes": int(both.size), "higher": int((both > NODE_GAP).sum()),
            "lower": int((both < -NODE_GAP).sum()),
            "max_up": float(both.max()) if both.size else 0.0,
            "max_down": float(both.min()) if both.size else 0.0}


#: the columns every tolerance benchmark's row starts with (``row_start``)
ROW_HEAD = (f"{'seed':>6} {'seg':>4} {'ch':>3} {'tight s':>8} {'default s':>9} "
            f"{'ratio':>6}")


def row_start(r: dict) -> str:
    """A tenant's row up to its ratio: seed, segments, channels, the two CPU times."""
    return (f"{r['seed']:>6} {r['segments']:>4} {r['channels']:>3} {r['cpu_tight']:8.2f} "
            f"{r['cpu_default']:9.2f} {r['ratio']:6.2f}")


def timing_summary(rows: list[dict]) -> dict:
    """What every tolerance benchmark summarises of its A/B timings."""
    ratio = np.array([r["ratio"] for r in rows])
    return {"tenants": len(rows), "ratio_median": float(np.median(ratio)),
            "ratio_min": float(ratio.min()), "ratio_max": float(ratio.max()),
            "cpu_tight_total": float(sum(r["cpu_tight"] for r in rows)),
            "cpu_default_total": float(sum(r["cpu_default"] for r in rows))}


def timing_line(summary: dict) -> str:
    """The printed line of ``timing_summary``."""
    return (f"\nCPU {summary['cpu_tight_total']:.1f} s tight, "
            f"{summary['cpu_default_total']:.1f} s default; ratio median "
            f"{summary['ratio_median']:.2f} ({summary['ratio_min']:.2f}-"
            f"{summary['ratio_max']:.2f})")


def summarise(rows: list[dict]) -> dict:
    change = np.array([r["max_elasticity_change"] for r in rows])
    by_channels = {str(c): float(np.median([r["ratio"] for r in rows if r["channels"] == c]))
                   for c in CHANNELS if any(r["channels"] == c for r in rows)}
    return {**timing_summary(rows), "ratio_median_by_channels": by_channels,
            "max_elasticity_change_median": float(np.median(change)),
            "max_elasticity_change_max": float(change.max()),
            "tenants_changed_over_0.1pct": int((change > 1e-3).sum()),
            "nodes": int(sum(r["nodes"] for r in rows)),
            "nodes_higher": int(sum(r["higher"] for r in rows)),
            "nodes_lower": int(sum(r["lower"] for r in rows)),
            "tenants_with_a_node_higher": int(sum(r["higher"] > 0 for r in rows))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    tolerance = mmm_module.DECAY_PROFILE_COST_TOLERANCE
    print(f"profile tolerance {tolerance:g} against every node to ftol 1e-8; "
          f"{args.tenants} tenants", flush=True)
    print(f"{ROW_HEAD} {'max el chg':>10} {'nodes':>5} {'higher':>6} {'lower':>5} {'max up':>7}")
    rows = []
    for i in range(args.tenants):
        r = run_tenant(i)
        rows.append(r)
        print(f"{row_start(r)} {r['max_elasticity_change']:10.2e} "
              f"{r['nodes']:5d} {r['higher']:6d} {r['lower']:5d} {r['max_up']:7.3f}",
              flush=True)
    summary = summarise(rows)
    print(timing_line(summary) + "; by channels "
          + ", ".join(f"{c}: {v:.2f}" for c, v in summary["ratio_median_by_channels"].items()))
    print(f"largest elasticity change per tenant: median "
          f"{summary['max_elasticity_change_median']:.1e}, "
          f"max {summary['max_elasticity_change_max']:.1e}; nodes more than {NODE_GAP} above "
          f"the tight fit's: {summary['nodes_higher']} of {summary['nodes']} "
          f"({summary['tenants_with_a_node_higher']} tenants), below: {summary['nodes_lower']}")
    write_results(args.out, "profile_tolerance", __doc__,
                  {"tolerance": tolerance, "seed_base": SEED_BASE, "noise": NOISE,
                   "weeks": WEEKS, "channels": list(CHANNELS), "geo_segments": GEO_SEGMENTS,
                   "node_gap": NODE_GAP}, summary, rows)
    return 0


def write_results(out: Path, benchmark: str, definitions: str, settings: dict, summary: dict,
                  rows: list[dict]) -> None:
    """The results file of a tolerance benchmark (this one's or ``bootstrap_tolerance``'s)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_rounded({
        "benchmark": benchmark, "definitions": definitions, "settings": settings,
        "summary": summary, "tenants": rows}), indent=1, sort_keys=True) + "\n",
        encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    raise SystemExit(main())
