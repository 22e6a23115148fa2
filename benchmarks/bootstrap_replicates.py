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
- **expected flag disagreement**: the same quantity with far less sampling noise of its own
  (disjoint runs give one pair per channel at R = 200): per judged channel, ``RESAMPLES``
  runs of R refits drawn with replacement from both bootstraps' pooled refits, the share p
  of them whose verdict is "identified", and 2 p (1 - p), the chance that two independent
  runs disagree; the mean over channels. Also the share of channels whose verdict is
  **unsettled** (5 % < p < 95 %) and the mean of 2 p (1 - p) apart for channels whose
  refits held a decay drawn from the fit's profile posterior (``MMM.draw_decays``) and the
  others — whether the decay draws are what unsettles a verdict;
- **coverage**: the share of (run, channel) pairs whose 90 % interval holds the true
  elasticity.

Rule, fixed before the run: the default is the smallest R whose endpoint MC sd is at most
5 % of the interval's width in both shapes (the ends then move by well under a tenth of the
interval between seeds).

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bootstrap_replicates.py
[--tenants N] [--workers W]`` (default 4 tenants per shape x noise, ~4 min on 2 cores; the
committed results are ``--tenants 8``, 7.3 min); results go to
``benchmarks/results/bootstrap_replicates.json``.
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
RESAMPLES = 400  # resampled runs per channel and R for the expected flag disagreement


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
            # whose refits held a decay drawn from the fit's profile posterior
            "decay_drawn": [cdf is not None for cdf in model.profile_cdfs()],
            "estimate": model.elasticities(panel), "share": model.contribution_shares(panel),
            "truth": {c: panel.truth["channels"][c]["elasticity"] for c in panel.channels},
            "draws": [b.tolist() for b in bootstraps],
            "seconds": time.perf_counter() - started}


def verdict_probability(record: dict, draws: np.ndarray, size: int,
                        gate: IdentificationGate, seed: list[int]) -> dict[str, float]:
    """Per judged channel, the share of ``RESAMPLES`` runs of ``size`` refits (drawn with
    replacement from ``draws``, the pooled refits) whose interval the gate calls identified."""
    rng = np.random.default_rng(seed)
    runs = draws[rng.integers(0, draws.shape[0], size=(RESAMPLES, size))]  # (K, R, C)
    tail = (1.0 - LEVEL) / 2.0
    lows = np.nanquantile(runs, tail, axis=1)
    highs = np.nanquantile(runs, 1.0 - tail, axis=1)
    counts: dict[str, int] = {}
    for lo, hi in zip(lows, highs, strict=True):
        for c, ok in identified(record["channels"], record["estimate"], record["share"], lo,
                                hi, gate).items():
            counts[c] = counts.get(c, 0) + int(ok)
    return {c: n / RESAMPLES for c, n in counts.items()}


def summarise(records: list[dict], gate: IdentificationGate) -> dict:
    """Per shape and R: endpoint MC sd / width, flag disagreement (observed on disjoint runs
    and expected from resampled ones), unsettled verdicts, coverage."""
    out: dict = {}
    for shape in sorted({r["shape"] for r in records}):
        rows = [r for r in records if r["shape"] == shape]
        for size in CANDIDATES:
            mc, disagree, covered = [], [], []
            expected: dict[bool, list[float]] = {True: [], False: []}
            for r in rows:
                pooled = np.concatenate([np.asarray(d, dtype=float) for d in r["draws"]])
                seed = [r["index"], size, round(1000 * r["noise"]), int(shape == "geo")]
                drawn = dict(zip(r["channels"], r.get("decay_drawn") or
                                 [False] * len(r["channels"]), strict=True))
                for c, p in verdict_probability(r, pooled, size, gate, seed).items():
                    expected[bool(drawn[c])].append(2 * p * (1 - p))
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
            both = expected[True] + expected[False]
            out.setdefault(shape, {})[str(size)] = {
                "endpoint_mc_sd_to_width": float(np.median(mc)),
                "flag_disagreement": float(np.mean(disagree)) if disagree else None,
                "flag_disagreement_expected": float(np.mean(both)) if both else None,
                # 2 p (1 - p) > 2 x 0.05 x 0.95: p between 5 % and 95 %
                "unsettled": (float(np.mean([v > 0.095 + 1e-12 for v in both]))
                              if both else None),
                "flag_disagreement_expected_drawn": (float(np.mean(expected[True]))
                                                     if expected[True] else None),
                "flag_disagreement_expected_free": (float(np.mean(expected[False]))
                                                    if expected[False] else None),
                "judged_drawn": len(expected[True]), "judged_free": len(expected[False]),
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
    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = [f"{'shape':9s} {'R':>4s} {'MC sd/width':>12s} {'flag disagree':>14s} "
             f"{'expected':>9s} {'unsettled':>9s} {'drawn':>6s} {'free':>6s} "
             f"{'coverage':>9s} {'channels':>9s}"]
    for shape, cells in summary.items():
        for size, cell in cells.items():
            lines.append(f"{shape:9s} {size:>4s} {cell['endpoint_mc_sd_to_width']:12.3f} "
                         f"{fmt(cell['flag_disagreement']):>14s} "
                         f"{fmt(cell['flag_disagreement_expected']):>9s} "
                         f"{fmt(cell['unsettled']):>9s} "
                         f"{fmt(cell['flag_disagreement_expected_drawn']):>6s} "
                         f"{fmt(cell['flag_disagreement_expected_free']):>6s} "
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
