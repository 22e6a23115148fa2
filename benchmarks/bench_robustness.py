"""Run time of the robustness suite per tenant on one core (issue 5: under 60 s per tenant).

For each tenant of the experiment (default ``params/mmm_v2.yaml``: the four default tenants)
the whole suite runs once in this process, exactly as the robustness notebook runs it
(``run_robustness_suite`` with the experiment's model settings, robustness settings, seed and
holdout weeks). BLAS is pinned to one thread before numpy loads, so the suite uses one core.
Measured per tenant with the standard library only:

- ``cpu``: ``resource.getrusage(RUSAGE_SELF)`` user + system seconds (one core: the CPU the
  suite actually consumed, not inflated by other processes sharing the machine);
- ``wall``: ``time.perf_counter`` seconds (inflated when the machine is busy).

The target is on ``cpu``; both are printed. Data are generated into a temporary folder.

Run: ``python benchmarks/bench_robustness.py [PARAMS_YAML] [--tenants a,b] [--out FILE]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: one core

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

TARGET_SECONDS = 60.0
ROOT = Path(__file__).resolve().parents[1]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default=str(ROOT / "params" / "mmm_v2.yaml"))
    parser.add_argument("--tenants", help="comma-separated subset of the experiment's tenants")
    parser.add_argument("--out", type=Path, help="also write the timings as JSON here")
    args = parser.parse_args(argv)

    from mmm_evidence.config import load_experiment
    from mmm_evidence.data import load_tenant_panel
    from mmm_evidence.evaluation.robustness import run_robustness_suite

    tenants = args.tenants.split(",") if args.tenants else None
    exp = load_experiment(args.params, tenants=tenants)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-robustness-") as folder:
        for tenant in exp.tenants:
            panel = load_tenant_panel(exp, tenant, folder)
            cpu, wall = _cpu(), time.perf_counter()
            result = run_robustness_suite(panel, exp.model, exp.robustness, exp.seed,
                                          exp.evaluation.holdout_weeks)
            cpu, wall = _cpu() - cpu, time.perf_counter() - wall
            slowest = sorted(result.checks, key=lambda c: -c.seconds)[:3]
            rows.append({"tenant": tenant, "segments": panel.n_segments,
                         "weeks": panel.n_weeks, "channels": len(panel.channels),
                         "checks": len(result.checks), "cpu_seconds": round(cpu, 2),
                         "wall_seconds": round(wall, 2),
                         "under_target": cpu < TARGET_SECONDS,
                         "summary": result.summary_line()})
            print(f"{tenant}: {cpu:.1f} s CPU (one core), {wall:.1f} s wall — "
                  f"{panel.n_segments} segments x {panel.n_weeks} weeks, "
                  f"{len(panel.channels)} channels, {len(result.checks)} checks; slowest "
                  + ", ".join(f"{c.name} {c.seconds:.1f} s" for c in slowest), flush=True)
    worst = max(r["cpu_seconds"] for r in rows)
    print(f"slowest tenant: {worst:.1f} s CPU (target < {TARGET_SECONDS:.0f} s): "
          f"{'OK' if worst < TARGET_SECONDS else 'TOO SLOW'}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"target_seconds": TARGET_SECONDS, "tenants": rows},
                                       indent=1) + "\n", encoding="utf-8")
    return 0 if worst < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
