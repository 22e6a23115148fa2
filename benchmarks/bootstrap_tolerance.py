"""What the bootstrap refits' cost tolerance buys and costs: each tenant's intervals twice.

The reported intervals come from ``uncertainty.block_bootstrap``: ``bootstrap_replicates``
(200) refits, each warm-started from the fit, which are most of the validation notebook's
time. Each refit's solves stop once a step lowers the objective by less than
``uncertainty.BOOTSTRAP_COST_TOLERANCE`` (objective units). This benchmark fits each tenant
once and bootstraps it with that tolerance and with every refit solved to the fit's own
``ftol`` of 1e-8 (the tolerance set to 0), the same seed, in one process, back to back
(their order alternating between tenants), and records per tenant:

- CPU seconds (``time.process_time``, BLAS pinned to one thread) of each bootstrap and their
  ratio (tight / default: > 1 is the speed-up);
- for elasticities, contribution shares and ROI: the largest shift of an interval end between
  the two, as a share of the tight interval's width (the ends of a 200-refit interval move
  between bootstrap seeds by a median 3 % of its width: ``bootstrap_replicates.py``);
- how many channels' elasticity intervals reach zero (low end at or below 0) in one and not
  the other: what the ``elasticity_identified`` gate reads.

Tenants: ``profile_tolerance.py``'s (``panel.random_tenant``, noise 10 %, 156 weeks, 4-12
channels, national and 16 segments in turn), the first ``--tenants`` of them.

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bootstrap_tolerance.py
[--tenants N] [--replicates R] [--out FILE]`` (default 8 tenants, 200 refits, about 10
minutes on one core); results go to ``benchmarks/results/bootstrap_tolerance.json``. Timings
are ratios within one run: the machine's speed drifts between runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from profile_tolerance import (  # noqa: E402  (benchmarks/: no package)
    ROW_HEAD,
    row_start,
    tenant,
    timing_line,
    timing_summary,
    write_results,
)

from mmm_evidence.config import EvaluationSettings, ModelSettings  # noqa: E402
from mmm_evidence.model import uncertainty  # noqa: E402
from mmm_evidence.model.mmm import MMM  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bootstrap_tolerance.json"
EVALUATION = EvaluationSettings()
QUANTITIES = ("elasticity", "contribution_share", "roi")


def bootstrap(model: MMM, panel, seed: int, replicates: int, tolerance: float):
    """CPU seconds and the bootstrap with its refits solved to ``tolerance``."""
    default = uncertainty.BOOTSTRAP_COST_TOLERANCE
    uncertainty.BOOTSTRAP_COST_TOLERANCE = tolerance
    try:
        started = time.process_time()
        result = uncertainty.block_bootstrap(model, panel, replicates,
                                             EVALUATION.bootstrap_block_weeks, seed,
                                             EVALUATION.interval_level)
        return time.process_time() - started, result
    finally:
        uncertainty.BOOTSTRAP_COST_TOLERANCE = default


def endpoint_shift(default, tight, quantity: str) -> float:
    """The largest shift of an interval end, over the channels, per the tight width."""
    a, b = default.interval(quantity), tight.interval(quantity)
    shifts = [max(abs(a[c]["low"] - b[c]["low"]), abs(a[c]["high"] - b[c]["high"]))
              / max(b[c]["high"] - b[c]["low"], 1e-12) for c in b]
    return float(max(shifts))


def run_tenant(i: int, replicates: int) -> dict:
    seed, segments, channels, panel = tenant(i)
    model = MMM(ModelSettings(), seed=seed).fit(panel)
    order = (("tight", 0.0), ("default", uncertainty.BOOTSTRAP_COST_TOLERANCE))
    runs = {}
    for label, tolerance in (order if i % 2 == 0 else order[::-1]):
        runs[label] = bootstrap(model, panel, seed, replicates, tolerance)
    (cpu_tight, tight), (cpu_default, default) = runs["tight"], runs["default"]
    reach = {label: [v["low"] <= 0 for v in u.interval("elasticity").values()]
             for label, (_, u) in runs.items()}
    return {"seed": seed, "segments": segments, "channels": channels,
            "cpu_tight": cpu_tight, "cpu_default": cpu_default,
            "ratio": cpu_tight / cpu_default,
            **{f"shift_{q}": endpoint_shift(default, tight, q) for q in QUANTITIES},
            "zero_reach_flips": int(sum(a != b for a, b in zip(reach["tight"],
                                                               reach["default"],
                                                               strict=True)))}


def summarise(rows: list[dict]) -> dict:
    return {**timing_summary(rows),
            **{f"shift_{q}_median": float(np.median([r[f"shift_{q}"] for r in rows]))
               for q in QUANTITIES},
            **{f"shift_{q}_max": float(max(r[f"shift_{q}"] for r in rows))
               for q in QUANTITIES},
            "zero_reach_flips": int(sum(r["zero_reach_flips"] for r in rows)),
            "channels": int(sum(r["channels"] for r in rows))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--replicates", type=int, default=EVALUATION.bootstrap_replicates)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    tolerance = uncertainty.BOOTSTRAP_COST_TOLERANCE
    print(f"bootstrap tolerance {tolerance:g} against every refit to ftol 1e-8; "
          f"{args.tenants} tenants, {args.replicates} refits", flush=True)
    print(f"{ROW_HEAD} " + " ".join(f"{'shift ' + q[:5]:>11}" for q in QUANTITIES)
          + f" {'0-flips':>7}")
    rows = []
    for i in range(args.tenants):
        r = run_tenant(i, args.replicates)
        rows.append(r)
        print(f"{row_start(r)} " + " ".join(f"{r['shift_' + q]:11.4f}" for q in QUANTITIES)
              + f" {r['zero_reach_flips']:7d}", flush=True)
    summary = summarise(rows)
    print(timing_line(summary))
    print("largest interval-end shift per tenant, share of the width (median / max): "
          + ", ".join(f"{q} {summary[f'shift_{q}_median']:.4f} / "
                      f"{summary[f'shift_{q}_max']:.4f}" for q in QUANTITIES)
          + f"; elasticity intervals reaching zero in one and not the other: "
            f"{summary['zero_reach_flips']} of {summary['channels']} channels")
    write_results(args.out, "bootstrap_tolerance", __doc__,
                  {"tolerance": tolerance, "replicates": args.replicates,
                   "block_weeks": EVALUATION.bootstrap_block_weeks,
                   "level": EVALUATION.interval_level}, summary, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
