"""How many bootstrap refits the elasticity intervals need (``evaluation.bootstrap_replicates``).

A percentile interval read off R bootstrap refits carries Monte Carlo error of its own: run
the bootstrap again with another seed and its ends move, and with them the
``elasticity_identified`` gate's verdict on a channel near its threshold (an interval that
just reaches 0). With R replicates numpy's interpolated 5 % and 95 % quantiles also span, on
average, only (0.9 (R - 1) + 1) / (R + 1) of the bootstrap distribution: 86 % for R = 40,
89.6 % for R = 200.

On tenants of the random recovery panel (``recovery.Task``: never the default tenants), per
tenant: MMM v2 fitted once, then two independent bootstraps of ``MAX_REPLICATES`` refits
(``model.uncertainty.block_bootstrap``, the product's, other seeds). Each is cut into
disjoint runs of R = 40, 100 and 200 refits (10, 4 and 2 independent runs per tenant), and
per shape (national, geo; noise 5, 10 and 20 % pooled) and R:

- **endpoint MC sd / width**: per channel, the standard deviation of the interval's ends
  over the independent runs (low and high averaged), divided by the width of the interval
  from all 2 x ``MAX_REPLICATES`` refits; the median over channels;
- **flag disagreement**: over channels judged by the gate (estimated share >= its
  ``min_share``), the share of pairs of independent runs whose verdict (identified or not,
  ``pipeline.gates.identification`` with the default ``IdentificationGate``) differs;
- **coverage**: the share of (run, channel) pairs whose 90 % interval holds the true
  elasticity.

Rule, fixed before the run: the default is the smallest R whose endpoint MC sd is at most
5 % of the interval's width in both shapes (the ends then move by well under a tenth of the
interval between seeds).

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bootstrap_replicates.py
[--tenants N] [--workers W]`` (default 4 tenants per shape x noise, ~11 min on 2 cores);
results go to ``benchmarks/results/bootstrap_replicates.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recovery import (  # noqa: E402
    BLOCK_WEEKS,
    LEVEL,
    NOISES,
    SHAPES,
    Task,
    _rounded,
    panel_of,
    tenant_config,
)

from mmm_evidence.config import EvaluationSettings, IdentificationGate, ModelSettings  # noqa: E402
from mmm_evidence.model.mmm import MMM  # noqa: E402
from mmm_evidence.model.uncertainty import block_bootstrap, percentile_interval  # noqa: E402
from mmm_evidence.pipeline.gates import identification  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bootstrap_replicates.json"
MAX_REPLICATES = 200
CANDIDATES = (40, 100, 200)
MAX_MC_SD = 0.05  # endpoint Monte Carlo sd as a share of the interval's width


def runs_of(bootstraps: list[np.ndarray], size: int) -> list[np.ndarray]:
    """Disjoint runs of ``size`` refits cut from independent bootstraps."""
    return [b[i:i + size] for b in bootstraps for i in range(0, len(b) - size + 1, size)]


def identified(channels, estimates, shares, low, high, gate: IdentificationGate) -> dict:
    """The gate's verdict per judged channel for one interval."""
    scraps = {"elasticities": estimates, "contribution_shares": shares,
              "uncertainty": {"elasticity": {c: {"low": float(low[i]), "high": float(high[i])}
                                             for i, c in enumerate(channels)}}}
    return {c: row["identified"] for c, row in identification(scraps, gate).items()}


def run_tenant(task: Task) -> dict:
    started = time.perf_counter()
    panel = panel_of(tenant_config(task))
    model = MMM(ModelSettings(), seed=task.seed).fit(panel)
    bootstraps = [block_bootstrap(model, panel, MAX_REPLICATES, BLOCK_WEEKS,
                                  task.seed + 100_000 * k, LEVEL).draws["elasticity"]
                  for k in (1, 2)]
    return {"shape": task.shape, "noise": task.noise, "index": task.index,
            "channels": list(panel.channels),
            "estimate": model.elasticities(panel), "share": model.contribution_shares(panel),
            "truth": {c: panel.truth["channels"][c]["elasticity"] for c in panel.channels},
            "draws": [b.tolist() for b in bootstraps],
            "seconds": time.perf_counter() - started}


def summarise(records: list[dict], gate: IdentificationGate) -> dict:
    """Per shape and R: endpoint MC sd / width, flag disagreement, coverage."""
    out: dict = {}
    for shape in sorted({r["shape"] for r in records}):
        rows = [r for r in records if r["shape"] == shape]
        for size in CANDIDATES:
            mc, disagree, covered = [], [], []
            for r in rows:
                draws = [np.asarray(d, dtype=float) for d in r["draws"]]
                full_low, full_high = percentile_interval(np.concatenate(draws), LEVEL)
                ivs = [percentile_interval(run, LEVEL) for run in runs_of(draws, size)]
                lows, highs = np.array([iv[0] for iv in ivs]), np.array([iv[1] for iv in ivs])
                width = full_high - full_low
                ok = width > 0
                spread = (lows.std(axis=0, ddof=1) + highs.std(axis=0, ddof=1)) / 2
                mc.extend((spread[ok] / width[ok]).tolist())
                truth = np.array([r["truth"][c] for c in r["channels"]])
                covered.extend(((lows <= truth) & (truth <= highs)).reshape(-1).tolist())
                flags = [identified(r["channels"], r["estimate"], r["share"], lo, hi, gate)
                         for lo, hi in ivs]
                for c in flags[0]:
                    disagree.extend(a[c] != b[c] for a, b in itertools.combinations(flags, 2))
            out.setdefault(shape, {})[str(size)] = {
                "endpoint_mc_sd_to_width": float(np.median(mc)),
                "flag_disagreement": float(np.mean(disagree)) if disagree else None,
                "coverage": float(np.mean(covered)),
                "channels": len(mc), "runs_per_tenant": 2 * (MAX_REPLICATES // size),
            }
    return out


def choose(summary: dict) -> int | None:
    """The smallest candidate R meeting the rule in every shape (None: none does)."""
    for size in CANDIDATES:
        if all(cell[str(size)]["endpoint_mc_sd_to_width"] <= MAX_MC_SD
               for cell in summary.values()):
            return size
    return None


def format_table(summary: dict) -> str:
    lines = [f"{'shape':9s} {'R':>4s} {'MC sd/width':>12s} {'flag disagree':>14s} "
             f"{'coverage':>9s} {'channels':>9s}"]
    for shape, cells in summary.items():
        for size, cell in cells.items():
            flag = cell["flag_disagreement"]
            lines.append(f"{shape:9s} {size:>4s} {cell['endpoint_mc_sd_to_width']:12.3f} "
                         f"{'-' if flag is None else f'{flag:.3f}':>14s} "
                         f"{cell['coverage']:9.3f} {cell['channels']:9d}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=4, help="tenants per shape x noise")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    task_list = [Task(shape, noise, i, True) for shape in SHAPES for noise in NOISES
                 for i in range(args.tenants)]
    records = []
    with ProcessPoolExecutor(args.workers) as pool:
        for done, rec in enumerate(pool.map(run_tenant, task_list), start=1):
            records.append(rec)
            print(f"[{done:2d}/{len(task_list)}] {rec['shape']:8s} noise {rec['noise']:.2f} "
                  f"tenant {rec['index']}: {rec['seconds']:.0f} s", file=sys.stderr, flush=True)
    gate = IdentificationGate()
    summary = summarise(records, gate)
    chosen = choose(summary)
    runtime = time.perf_counter() - started
    print(f"\nBootstrap replicates: {args.tenants} tenants per shape x noise, two independent "
          f"bootstraps of {MAX_REPLICATES} refits each, {runtime:.0f} s wall\n")
    print(format_table(summary))
    print(f"\nRule: smallest R with endpoint MC sd <= {MAX_MC_SD:g} x width in every shape: "
          f"{chosen}; the product's default is "
          f"{EvaluationSettings().bootstrap_replicates}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": "bootstrap_replicates", "definitions": __doc__,
               "settings": {"tenants_per_cell": args.tenants, "noises": list(NOISES),
                            "max_replicates": MAX_REPLICATES, "candidates": list(CANDIDATES),
                            "max_mc_sd_to_width": MAX_MC_SD, "level": LEVEL,
                            "block_weeks": BLOCK_WEEKS},
               "runtime_seconds": runtime, "summary": summary, "chosen": chosen,
               "default": EvaluationSettings().bootstrap_replicates}
    args.out.write_text(json.dumps(_rounded(payload), indent=1, sort_keys=True) + "\n",
                        encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
