"""What a large tenant costs: the whole evidence run of one synthetic tenant per size.

``bench_evidence.py`` times the default experiment and many small tenants; this asks what one
big tenant costs — the case of a client with many regions, a long history or many channels.
For each size (segments x weeks x channels) it writes one random tenant
(``panel.random_tenant``, noise 10 %, the channel count fixed) and times ``mmm-evidence run``
of it with every notebook of the experiment (default ``params/mmm_v2.yaml``'s notebooks and
settings) into an empty output folder, end to end, as ``bench_evidence.py`` times its cold run:
wall seconds (``time.perf_counter``), each notebook's seconds (``run_manifest.json``), and the
peak memory of the whole process tree (psutil, sum of RSS and of PSS, sampled every 0.25 s).
The notebooks of one tenant run on ``--workers`` kernels (validation first: the others read
its fits). No target: the figures are what the README quotes for large tenants. A notebook
that errors (over ``runner.timeout_seconds``, say) is recorded with its error, not dropped.

Run: ``python benchmarks/bench_large.py [PARAMS_YAML] [--sizes 100x156x5,100x260x12]
[--workers N] [--timeout-seconds S] [--out FILE] [--keep DIR]``; results go to
``benchmarks/results/bench_large.json``. Time it on an otherwise idle machine: the load
average is recorded beside the figures.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported; inherited by every process started
os.environ["PYTHONHASHSEED"] = "0"

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_evidence import ROOT, _rounded, measure, run_argv  # noqa: E402
from panel import random_tenant  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "bench_large.json"
SIZES = "100x156x5,100x260x12"
SEED = 7100
NOISE = 0.1


def parse_size(text: str) -> tuple[int, int, int]:
    """'SEGMENTSxWEEKSxCHANNELS' -> (segments, weeks, channels)."""
    try:
        segments, weeks, channels = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--sizes: {text!r} is not SEGMENTSxWEEKSxCHANNELS, e.g. 100x156x5"
                         ) from None
    return segments, weeks, channels


def large_experiment(params: Path, work: Path, label: str, segments: int, weeks: int,
                     channels: int, timeout_seconds: int | None = None) -> Path:
    """An experiment of the one tenant ``label`` (written beside it), with ``params``'
    notebooks and settings (``timeout_seconds``: its ``runner.timeout_seconds`` instead)."""
    from mmm_evidence.config import load_experiment

    tenants_dir = work / "tenants"
    tenants_dir.mkdir(parents=True, exist_ok=True)
    cfg = random_tenant(SEED, segments, NOISE, weeks=weeks, channels=channels)
    data = cfg.model_dump(mode="json", exclude={"path"}, exclude_none=True)
    data["name"] = label
    data["display_name"] = f"Large tenant {segments} segments x {weeks} weeks x {channels} channels"
    (tenants_dir / f"{label}.yaml").write_text(yaml.safe_dump(data, sort_keys=False),
                                               encoding="utf-8")
    exp = load_experiment(params)
    raw = yaml.safe_load(params.read_text(encoding="utf-8"))
    raw.update(experiment=label, tenants=[label], tenants_dir=str(tenants_dir),
               notebooks_dir=str(exp.notebooks_dir), output_dir=str(work / "outputs" / label))
    if timeout_seconds is not None:
        raw.setdefault("runner", {})["timeout_seconds"] = timeout_seconds
    path = work / "params" / f"{label}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def table(rows: list[dict]) -> str:
    notebooks = sorted({nb for row in rows for nb in row["notebook_seconds"]})
    head = f"{'size (segments x weeks x channels)':36} {'wall s':>8} " + " ".join(
        f"{nb[:11]:>11}" for nb in notebooks) + f" {'peak RSS MB':>11} {'PSS MB':>8}"
    lines = [head]
    for row in rows:
        lines.append(f"{row['size']:36} {row['seconds']:8.0f} " + " ".join(
            f"{row['notebook_seconds'].get(nb, float('nan')):11.0f}" for nb in notebooks)
            + f" {row['peak_rss_mb']:11.0f} {row['peak_pss_mb']:8.0f}")
        lines += [f"  {row['size']}: {nb} errored: {' '.join(str(err).split())[:200]}"
                  for nb, err in row["errors"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default=str(ROOT / "params" / "mmm_v2.yaml"))
    parser.add_argument("--sizes", default=SIZES,
                        help=f"comma-separated SEGMENTSxWEEKSxCHANNELS (default {SIZES})")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=None, help=f"JSON path (default {RESULTS})")
    parser.add_argument("--timeout-seconds", type=int, default=None,
                        help="the runs' runner.timeout_seconds (default: the experiment's)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    sizes = [parse_size(s.strip()) for s in args.sizes.split(",") if s.strip()]
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-large-"))
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    print(f"bench_large: {len(sizes)} size(s), {args.workers} workers, {os.cpu_count()} CPUs, "
          f"load {load_before[0]:.1f}; working in {work}", flush=True)
    rows = []
    try:
        logs = work / "logs"
        logs.mkdir(exist_ok=True)
        for segments, weeks, channels in sizes:
            label = f"large_{segments}x{weeks}x{channels}"
            params = large_experiment(Path(args.params), work, label, segments, weeks, channels,
                                      args.timeout_seconds)
            out = work / "outputs" / label
            manifest = out / "run_manifest.json"
            m = measure(label, run_argv(params, out, args.workers), logs / f"{label}.log",
                        manifest, allow_failure=True)
            if not manifest.is_file():  # the run itself failed, not one of its notebooks
                raise SystemExit(f"{label}: the run exited {m.returncode} without a manifest; "
                                 f"see {logs / f'{label}.log'}")
            tasks = json.loads(manifest.read_text(encoding="utf-8"))["tasks"]
            rows.append({"size": f"{segments} x {weeks} x {channels}", "segments": segments,
                         "weeks": weeks, "channels": channels, "seconds": m.seconds,
                         "returncode": m.returncode,
                         "task_seconds": m.extra.get("task_seconds"),
                         "notebook_seconds": {t["notebook"]: t["seconds"] for t in tasks},
                         "errors": {t["notebook"]: t["error"] for t in tasks if t.get("error")},
                         "peak_rss_mb": m.peak_rss_mb, "peak_pss_mb": m.peak_pss_mb,
                         "peak_processes": m.peak_processes})
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    from mmm_evidence.config import load_experiment

    timeout = args.timeout_seconds or load_experiment(args.params).runner.timeout_seconds
    results = {"benchmark": "bench_large", "definitions": __doc__, "seed": SEED,
               "timeout_seconds": timeout,
               "noise": NOISE, "workers": args.workers, "cpus": os.cpu_count(),
               "load_average_before": load_before[0],
               "load_average_after": os.getloadavg()[0], "sizes": rows}
    print()
    print(table(rows))
    print(f"\nload average {load_before[0]:.1f} before, {results['load_average_after']:.1f} after")
    out_path = args.out or RESULTS
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(_rounded(results), indent=1, sort_keys=True) + "\n",
                        encoding="utf-8")
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
