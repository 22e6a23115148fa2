"""Null-channel benchmark: what each way of reporting MMM v2's media coefficients costs on a
channel with no effect at all.

MMM v2 reports each media coefficient as the median of its posterior given the fitted
response (``model.coefficient_estimate: posterior_median``, flat prior on beta >= 0) rather
than at the mode (non-negative least squares). Where the data cannot tell a channel from
none, the mode says exactly 0 and the median a fraction of a posterior sd above it: on the
recovery panel, whose channels all work, the median errs less (``recovery.py``). This
benchmark measures the other side: the same random tenants (``panel.random_tenant``, the
recovery panel's seeds) with one more channel whose spend is the largest true channel's with
its weeks shuffled (the same shuffle for every segment, as the robustness suite's placebo),
so it has no effect on the KPI. Per shape x noise cell it fits MMM v2 with either estimate
and prints how often the null channel's elasticity reaches the ``elasticity_no_phantom_
channel`` gate's threshold (``gates.elasticity.zero_true_elasticity``, 0.01: "a channel
without a true effect estimated at >= 0.01"), how often it is exactly 0, its median, and the
real channels' median relative elasticity error on the same fits.

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/null_channel.py
[--tenants N] [--workers W]`` (default 12 tenants per cell, about 3 minutes on 2 cores);
results go to ``benchmarks/results/null_channel.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recovery import (  # noqa: E402  (benchmarks/ is not a package)
    NOISES,
    SHAPES,
    Task,
    _rounded,
    cell_key,
    panel_of,
    run_tasks,
    tenant_config,
)

from mmm_evidence.config import ElasticityGate, ModelSettings  # noqa: E402
from mmm_evidence.evaluation.robustness import with_extra_channel  # noqa: E402
from mmm_evidence.model.mmm import MMM  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "null_channel.json"
ESTIMATES = ("mode", "posterior_median")
NULL = "null"
#: the phantom gate's threshold: a channel without a true effect estimated at >= this fails it
PHANTOM = ElasticityGate().zero_true_elasticity


def run_tenant(task: Task) -> dict:
    """One recovery-panel tenant (``recovery.Task``, its bootstrap unused) with the null
    channel added, fitted with each coefficient estimate."""
    started = time.perf_counter()
    panel = panel_of(tenant_config(task))
    truth = panel.truth["channels"]
    source = max(panel.channels, key=lambda c: (truth[c]["contribution_share"], c))
    order = np.random.default_rng([task.seed, 5]).permutation(panel.n_weeks)
    augmented = with_extra_channel(panel, NULL,
                                   panel.spend[:, order, panel.channels.index(source)])
    record = {"shape": task.shape, "noise": task.noise, "index": task.index,
              "source": source, "source_true_elasticity": truth[source]["elasticity"],
              "estimates": {}}
    for estimate in ESTIMATES:
        model = MMM(ModelSettings(coefficient_estimate=estimate), seed=task.seed).fit(augmented)
        el = model.elasticities(augmented)
        record["estimates"][estimate] = {
            "null_elasticity": el[NULL],
            "errors": [abs(el[c] - truth[c]["elasticity"]) / truth[c]["elasticity"]
                       for c in panel.channels if truth[c]["elasticity"] > 0]}
    record["seconds"] = time.perf_counter() - started
    return record


def summarise(records: list[dict]) -> list[dict]:
    rows = []
    for shape in SHAPES:
        for noise in NOISES:
            cell = [r for r in records if r["shape"] == shape and r["noise"] == noise]
            if not cell:
                continue
            for estimate in ESTIMATES:
                null = np.array([r["estimates"][estimate]["null_elasticity"] for r in cell])
                errors = [e for r in cell for e in r["estimates"][estimate]["errors"]]
                rows.append({
                    "cell": cell_key(shape, noise), "estimate": estimate, "tenants": len(cell),
                    "null_at_or_above_phantom": float(np.mean(null >= PHANTOM)),
                    "null_at_zero": float(np.mean(null <= 1e-9)),
                    "null_median": float(np.median(null)),
                    "null_p90": float(np.quantile(null, 0.9)),
                    "source_true_median": float(np.median(
                        [r["source_true_elasticity"] for r in cell])),
                    "real_median_error": float(np.median(errors)),
                })
    return rows


def format_table(rows: list[dict]) -> str:
    head = (f"{'cell':12s} {'estimate':17s} {'n':>3s} {'null>=' + format(PHANTOM, 'g'):>10s} "
            f"{'null=0':>7s} {'null med':>9s} {'null p90':>9s} {'largest':>8s} "
            f"{'real err':>9s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['cell']:12s} {r['estimate']:17s} {r['tenants']:3d} "
                     f"{r['null_at_or_above_phantom']:10.2f} {r['null_at_zero']:7.2f} "
                     f"{r['null_median']:9.4f} {r['null_p90']:9.4f} "
                     f"{r['source_true_median']:8.4f} {r['real_median_error']:9.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=12, help="tenants per cell")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    tasks = [Task(shape, noise, i, bootstrap=False) for shape in SHAPES for noise in NOISES
             for i in range(args.tenants)]
    records, failures = run_tasks(tasks, args.workers, run_tenant,
                                  lambda t: f"{cell_key(t.shape, t.noise):12s} tenant "
                                            f"{t.index:3d}")
    records.sort(key=lambda r: (r["shape"], r["noise"], r["index"]))
    rows = summarise(records)
    print(format_table(rows))
    print(f"\n'null>=': share of null channels at an elasticity >= {PHANTOM:g} (the phantom "
          f"gate's threshold); 'largest': the median true elasticity of the channel whose "
          f"spend was shuffled; 'real err': median relative error of the real channels")
    if failures:
        print(f"{len(failures)} tenant(s) failed: {failures}")
    runtime = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_rounded({
        "benchmark": "null_channel", "settings": {"tenants_per_cell": args.tenants,
                                                  "phantom_threshold": PHANTOM},
        "summary": rows, "failures": failures, "runtime_seconds": runtime,
        "tenants": records}), indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out} ({runtime:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
