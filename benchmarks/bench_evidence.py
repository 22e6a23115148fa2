"""Evidence run times on this machine: cold run, in-process floor, warm rerun, rerun after an
edit, and a scaling series of synthetic tenants (issue 9).

Everything runs in a temporary folder, as separate processes, with one BLAS thread per process
and ``--workers`` parallel workers (default: the CPU count). Measured with public tools only:
``time.perf_counter`` for wall-clock seconds, ``psutil`` for memory and ``os.getloadavg``.

- **cold run**: ``mmm-evidence run`` of the experiment (default ``params/mmm_v2.yaml``: the four
  default tenants × every notebook) into an empty output folder, end to end (process start,
  data, every notebook executed, HTML exports, JSON artifacts, model card).
- **floor**: the same analyses without notebooks, end to end as well: the same process start,
  data, scheduler and worker pool, but each notebook's code cells run in the worker process
  itself (``pipeline.inprocess``: no kernel, no papermill, no executed notebook, no HTML
  export) — only the analyses, their figures and displays — then the same JSON artifacts and
  model card from the scraps they glued. The floor's numbers are checked to be the notebooks'.
- **cold / floor**: what running the analyses as notebooks costs on top (target ≤ 1.3).
- **warm rerun**: ``mmm-evidence run`` again with nothing changed (target ≤ 5 s).
- **edited notebook**: one notebook gets a markdown cell, then ``mmm-evidence run``: that
  notebook reruns for every tenant, nothing else.
- **scaling**: cold runs of 4, 8, 16 and 32 synthetic tenants (``benchmarks/panel.py``
  ``random_tenant``: four random tenants, each repeated under other names with the same data,
  so every size asks for the same work per tenant; with other data seeds per copy, the mean
  work per tenant changed with the size — the four tenants of one run took 41 to 56
  task-seconds each — and the spread measured which seeds a size drew as much as how the run
  scales) — seconds per tenant (target: flat within 15 %), beside it the work per tenant
  (the task-seconds of its notebooks: the same work at every size, so where it moves, the
  machine's speed moved) and the packing (seconds × workers / task-seconds), and the peak
  memory of the whole process tree (the run, its workers, their kernel templates and kernels,
  sampled with psutil every 0.25 s: the sum of RSS — shared pages counted in every process —
  and of PSS, shared pages split) — bounded by the worker count, not the tenant count (target:
  peak RSS at 32 tenants ≤ 1.25 × at 4).

Run: ``python benchmarks/bench_evidence.py [PARAMS_YAML] [--workers N] [--sizes 4,8,16,32]
[--quick] [--out FILE] [--keep DIR]``; results go to ``benchmarks/results/bench_evidence.json``
(``--quick``: one tenant, sizes 1 and 2, nothing written unless ``--out``). The timings are
only meaningful on an otherwise idle machine: the load average is recorded beside them.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported; inherited by every process started
os.environ["PYTHONHASHSEED"] = "0"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench_evidence.json"
sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_RATIO = 1.3
TARGET_WARM_SECONDS = 5.0
TARGET_SPREAD = 0.15
TARGET_MEMORY_GROWTH = 1.25
SHAPES = 4  # random tenant shapes the scaling series cycles through

FLOOR_CODE = """\
import json, sys
from pathlib import Path
from mmm_evidence.config import load_experiment
from mmm_evidence.evidence import write_run_artifacts
from mmm_evidence.pipeline import run_experiment
from mmm_evidence.pipeline.inprocess import execute_in_process

params, out, workers = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
result = run_experiment(load_experiment(params), output_dir=out, workers=workers, cache=False,
                        fork_kernels=False, task_function=execute_in_process,
                        progress=lambda line: None)
write_run_artifacts(result)
(out / "floor_tasks.json").write_text(json.dumps(
    [{"tenant": t.tenant, "notebook": t.notebook, "status": t.status, "error": t.error,
      "seconds": t.seconds} for t in result.tasks]), encoding="utf-8")
sys.exit(3 if result.errored else 0)
"""


# --------------------------------------------------------------------------- measuring


class TreeMemory(threading.Thread):
    """Peak memory of a process and all its descendants, sampled with psutil."""

    def __init__(self, pid: int, interval: float = 0.25):
        super().__init__(daemon=True)
        import psutil

        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_processes = 0
        self._done = threading.Event()

    def sample(self) -> None:
        import psutil

        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        rss = pss = 0
        for proc in procs:
            try:
                info = proc.memory_full_info()
            except psutil.Error:
                continue
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_processes = max(self.peak_processes, len(procs))

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


@dataclass
class Measure:
    label: str
    seconds: float
    returncode: int
    peak_rss_mb: float
    peak_pss_mb: float
    peak_processes: int
    executed: int | None = None
    cached: int | None = None
    extra: dict = field(default_factory=dict)


def task_seconds(tasks: list[dict]) -> float:
    """The work of a run: the seconds its executed (not cached) notebook tasks took, summed
    over the workers (``run_manifest.json`` ``tasks``)."""
    return float(sum(t.get("seconds") or 0.0 for t in tasks if not t.get("cached")))


def measure(label: str, argv: list[str], log: Path, manifest: Path | None = None,
            allow_failure: bool = False) -> Measure:
    """Run ``argv`` to completion; its wall seconds and the peak memory of its process tree.
    A run that exits non-zero stops the benchmark (its time measures nothing), unless
    ``allow_failure``: then the result carries its exit status."""
    with open(log, "w", encoding="utf-8") as handle:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
        sampler = TreeMemory(proc.pid)
        sampler.start()
        code = proc.wait()
        seconds = time.perf_counter() - start
        sampler.stop()
    result = Measure(label, seconds, code, sampler.peak_rss / 2**20, sampler.peak_pss / 2**20,
                     sampler.peak_processes)
    if manifest is not None and manifest.is_file():
        tasks = json.loads(manifest.read_text(encoding="utf-8"))["tasks"]
        result.cached = sum(bool(t.get("cached")) for t in tasks)
        result.executed = len(tasks) - result.cached
        result.extra["task_seconds"] = task_seconds(tasks)
    if code != 0 and not allow_failure:  # a crash (1) or a notebook that errored (3)
        tail = "".join(log.read_text(encoding="utf-8", errors="replace").splitlines(True)[-15:])
        raise SystemExit(f"{label}: {' '.join(argv)} exited {code}; see {log}:\n{tail}")
    print(f"  {label}: {seconds:.1f} s, peak RSS {result.peak_rss_mb:.0f} MB "
          f"(PSS {result.peak_pss_mb:.0f} MB, {result.peak_processes} processes)"
          + (f", {result.executed} executed / {result.cached} cached"
             if result.executed is not None else ""), flush=True)
    return result


def run_argv(params: Path, out: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "mmm_evidence.cli", "run", str(params), "--output-dir",
            str(out), "--workers", str(workers)]


# --------------------------------------------------------------------------- experiments


def copy_experiment(params: Path, work: Path, tenants: list[str] | None = None,
                    name: str | None = None) -> Path:
    """The experiment with its notebooks copied into ``work`` (so one can be edited); its
    tenants' YAML stay where they are."""
    from mmm_evidence.config import load_experiment

    exp = load_experiment(params)
    raw = yaml.safe_load(Path(params).read_text(encoding="utf-8"))
    notebooks = work / "notebooks"
    if not notebooks.exists():
        shutil.copytree(exp.notebooks_dir, notebooks)
    raw.update(notebooks_dir=str(notebooks), tenants_dir=str(exp.tenants_dir),
               output_dir=str(work / "outputs" / exp.experiment))
    if tenants is not None:
        raw["tenants"] = tenants
    if name is not None:
        raw["experiment"] = name
    path = work / "params" / f"{raw['experiment']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def scaling_tenants(folder: Path, count: int) -> list[str]:
    """``count`` synthetic tenant YAMLs in ``folder``: ``SHAPES`` random tenants
    (``panel.random_tenant``), repeated under other names with the same data."""
    from panel import random_tenant

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        cfg = random_tenant(seed=9000 + i % SHAPES, segments=1 + (i % SHAPES) % 3, noise=0.1)
        data = cfg.model_dump(mode="json", exclude={"path"}, exclude_none=True)
        name = f"scale_{i:02d}"
        data["name"] = name
        data["display_name"] = f"Synthetic tenant {i} (shape {i % SHAPES})"
        data["data"]["synthetic"]["seed"] = 100 + i % SHAPES
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False),
                                             encoding="utf-8")
        names.append(name)
    return names


def scaling_experiment(params: Path, work: Path, tenants: list[str], tenants_dir: Path,
                       size: int) -> Path:
    raw = yaml.safe_load(Path(params).read_text(encoding="utf-8"))
    raw.update(experiment=f"scale_{size}", tenants=tenants[:size],
               tenants_dir=str(tenants_dir), notebooks_dir=str(work / "notebooks"),
               output_dir=str(work / "outputs" / f"scale_{size}"))
    path = work / "params" / f"scale_{size}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def edit_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("*Benchmark: an analyst's edit.*"))
    nbformat.write(nb, path)


# --------------------------------------------------------------------------- breakdowns


def notebook_breakdown(out: Path, floor_tasks: list[dict]) -> dict[str, dict[str, float]]:
    """Per notebook, the mean over tenants of the seconds a worker spent: kernel start (papermill
    start to first cell), the first code cells (parameters, imports, data load), the rest
    (analyses and their displays), after the kernel (HTML exports, scraps), the whole task;
    and the floor's seconds for the same notebook."""
    manifest = json.loads((out / "run_manifest.json").read_text(encoding="utf-8"))
    rows: dict[str, list[dict]] = {}
    for task in manifest["tasks"]:
        if task.get("cached") or not task.get("ipynb"):
            continue
        nb = json.loads((out / task["ipynb"]).read_text(encoding="utf-8"))
        meta = nb["metadata"].get("papermill", {})
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        if not code or not meta.get("start_time"):
            continue
        starts = [c["metadata"].get("papermill", {}).get("start_time") for c in code]
        durations = [c["metadata"].get("papermill", {}).get("duration") or 0.0 for c in code]
        first = datetime.fromisoformat(starts[0]) if starts[0] else None
        kernel = ((first - datetime.fromisoformat(meta["start_time"])).total_seconds()
                  if first else 0.0)
        setup = sum(durations[:3])  # parameters, injected parameters, imports + data load
        rows.setdefault(task["notebook"], []).append({
            "kernel_start": kernel, "setup": setup, "analyses": sum(durations[3:]),
            "after_kernel": task["seconds"] - (meta.get("duration") or 0.0),
            "task": task["seconds"]})
    floor: dict[str, list[float]] = {}
    for task in floor_tasks:
        floor.setdefault(task["notebook"], []).append(task["seconds"])
    return {name: {**{k: sum(r[k] for r in values) / len(values) for k in values[0]},
                   "floor_task": (sum(floor.get(name, [0.0])) / max(len(floor.get(name, [])), 1))}
            for name, values in rows.items()}


def same_numbers(cold: Path, floor: Path) -> bool:
    """The floor's artifacts carry the notebooks' numbers (paths and file scans aside)."""
    for name in ("baseline_metrics.json", "robustness_report.json"):
        a, b = cold / name, floor / name
        if a.is_file() != b.is_file() or (a.is_file() and a.read_bytes() != b.read_bytes()):
            return False
    a = json.loads((cold / "validation_report.json").read_text(encoding="utf-8"))
    b = json.loads((floor / "validation_report.json").read_text(encoding="utf-8"))
    keys = ("metrics", "elasticities", "contribution_shares", "roi", "uncertainty", "model")
    return all(a["tenants"][t].get(k) == b["tenants"][t].get(k)
               for t in a["tenants"] for k in keys)


# --------------------------------------------------------------------------- report


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def table(results: dict) -> str:
    lines = []
    c = results["cold"]
    f = results["floor"]
    w = results["warm"]
    e = results["edit"]
    ratio = results["ratio"]
    lines.append(f"{'':44}{'seconds':>10}   target")
    lines.append(f"{'cold run (mmm-evidence run)':44}{c['seconds']:>10.1f}")
    lines.append(f"{'direct in-process floor (no notebooks)':44}{f['seconds']:>10.1f}")
    lines.append(f"{'cold / floor':44}{ratio:>10.2f}   ≤ {TARGET_RATIO:.1f}   "
                 f"{_verdict(ratio <= TARGET_RATIO)}")
    lines.append(f"{'warm rerun, nothing changed':44}{w['seconds']:>10.1f}   "
                 f"≤ {TARGET_WARM_SECONDS:.0f} s   {_verdict(w['seconds'] <= TARGET_WARM_SECONDS)}")
    lines.append(f"{'rerun after editing ' + results['edited_notebook'] + '.ipynb':44}"
                 f"{e['seconds']:>10.1f}   ({e['executed']} executed, {e['cached']} cached)")
    same = "yes" if results["floor_same"] else "NO"
    lines.append(f"floor computed the notebooks' numbers: {same}")
    lines.append("")
    lines.append("per notebook, mean seconds of one tenant's task (cold run) and the floor's:")
    lines.append(f"{'notebook':<14}{'kernel':>8}{'setup':>8}{'analyses':>10}{'export':>8}"
                 f"{'task':>8}{'floor':>8}")
    for name, row in results["notebooks"].items():
        lines.append(f"{name:<14}{row['kernel_start']:>8.2f}{row['setup']:>8.2f}"
                     f"{row['analyses']:>10.2f}{row['after_kernel']:>8.2f}{row['task']:>8.2f}"
                     f"{row['floor_task']:>8.2f}")
    scaling = results["scaling"]
    if scaling:
        lines.append("")
        lines.append(f"scaling ({results['workers']} workers, synthetic tenants):")
        lines.append(f"{'tenants':>8}{'seconds':>10}{'s/tenant':>10}{'work/tenant':>13}"
                     f"{'packing':>9}{'peak RSS MB':>13}{'peak PSS MB':>13}{'processes':>11}")
        for row in scaling:
            lines.append(f"{row['tenants']:>8}{row['seconds']:>10.1f}"
                         f"{row['seconds_per_tenant']:>10.2f}"
                         f"{row.get('task_seconds_per_tenant', math.nan):>13.2f}"
                         f"{row.get('packing', math.nan):>9.2f}{row['peak_rss_mb']:>13.0f}"
                         f"{row['peak_pss_mb']:>13.0f}{row['peak_processes']:>11}")
        lines.append("(work/tenant: task-seconds of one tenant's notebooks, the same work at "
                     "every size, so it moves only with the machine's speed; packing: seconds × "
                     "workers / task-seconds, what the run costs beyond its work)")
        spread, growth = results["per_tenant_spread"], results["memory_growth"]
        lines.append(f"s/tenant spread (max/min - 1): {spread:.1%}   ≤ {TARGET_SPREAD:.0%}   "
                     f"{_verdict(spread <= TARGET_SPREAD)}")
        lines.append(f"peak RSS, largest / smallest size: {growth:.2f}   "
                     f"≤ {TARGET_MEMORY_GROWTH:.2f}   {_verdict(growth <= TARGET_MEMORY_GROWTH)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default=str(ROOT / "params" / "mmm_v2.yaml"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sizes", default="4,8,16,32", help="tenants per scaling run")
    parser.add_argument("--edit", default="baselines", help="the notebook to edit")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: one tenant, sizes 1 and 2, nothing written")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON path (default {RESULTS})")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.quick:
        sizes = [1, 2]
    out_path = args.out or (None if args.quick else RESULTS)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-evidence-"))
    work.mkdir(parents=True, exist_ok=True)
    from mmm_evidence.config import load_experiment

    base = load_experiment(args.params)
    tenants = base.tenants[:1] if args.quick else list(base.tenants)
    load_before = os.getloadavg()
    print(f"bench_evidence: {len(tenants)} tenant(s) × {len(base.notebooks)} notebooks, "
          f"{args.workers} workers, {os.cpu_count()} CPUs, load {load_before[0]:.1f}; "
          f"working in {work}", flush=True)
    try:
        params = copy_experiment(Path(args.params), work, tenants)
        exp = load_experiment(params)
        out = exp.output_dir
        logs = work / "logs"
        logs.mkdir(exist_ok=True)
        manifest = out / "run_manifest.json"
        cold = measure("cold run", run_argv(params, out, args.workers), logs / "cold.log",
                       manifest)
        floor_out = work / "outputs" / "floor"
        floor = measure("floor", [sys.executable, "-c", FLOOR_CODE, str(params),
                                  str(floor_out), str(args.workers)], logs / "floor.log")
        floor_tasks = json.loads((floor_out / "floor_tasks.json").read_text(encoding="utf-8"))
        breakdown = notebook_breakdown(out, floor_tasks)  # before the reruns replace the cold
        floor_same = same_numbers(out, floor_out)         # run's manifest
        warm = measure("warm rerun", run_argv(params, out, args.workers), logs / "warm.log",
                       manifest)
        edit_notebook(exp.notebook_path(args.edit))
        edit = measure(f"edited {args.edit}", run_argv(params, out, args.workers),
                       logs / "edit.log", manifest)
        scaling = []
        if sizes:
            names = scaling_tenants(work / "params" / "scale_tenants", max(sizes))
            for size in sizes:
                scale_params = scaling_experiment(Path(args.params), work, names,
                                                  work / "params" / "scale_tenants", size)
                scale_out = work / "outputs" / f"scale_{size}"
                m = measure(f"{size} tenants", run_argv(scale_params, scale_out, args.workers),
                            logs / f"scale_{size}.log", scale_out / "run_manifest.json")
                busy = m.extra.get("task_seconds") or float("nan")
                scaling.append({"tenants": size, "seconds": m.seconds,
                                "seconds_per_tenant": m.seconds / size,
                                "task_seconds_per_tenant": busy / size,
                                "packing": m.seconds * args.workers / busy,
                                "peak_rss_mb": m.peak_rss_mb, "peak_pss_mb": m.peak_pss_mb,
                                "peak_processes": m.peak_processes, "executed": m.executed,
                                "returncode": m.returncode})
        per_tenant = [row["seconds_per_tenant"] for row in scaling]
        results = {
            "benchmark": "bench_evidence", "definitions": __doc__,
            "params": str(Path(args.params).resolve().relative_to(ROOT))
            if Path(args.params).resolve().is_relative_to(ROOT) else str(args.params),
            "tenants": tenants, "notebook_names": list(base.notebooks), "workers": args.workers,
            "cpus": os.cpu_count(), "load_average_before": load_before[0],
            "load_average_after": os.getloadavg()[0], "quick": args.quick,
            "cold": vars(cold), "floor": vars(floor), "warm": vars(warm), "edit": vars(edit),
            "edited_notebook": args.edit, "ratio": cold.seconds / floor.seconds,
            "floor_same": floor_same, "notebooks": breakdown, "scaling": scaling,
            "per_tenant_spread": (max(per_tenant) / min(per_tenant) - 1) if per_tenant else 0.0,
            "memory_growth": (scaling[-1]["peak_rss_mb"] / scaling[0]["peak_rss_mb"]
                              if scaling else 1.0),
        }
        results["targets"] = {
            "cold_over_floor": {"value": results["ratio"], "max": TARGET_RATIO,
                                "passed": results["ratio"] <= TARGET_RATIO},
            "warm_seconds": {"value": warm.seconds, "max": TARGET_WARM_SECONDS,
                             "passed": warm.seconds <= TARGET_WARM_SECONDS},
            "per_tenant_spread": {"value": results["per_tenant_spread"], "max": TARGET_SPREAD,
                                  "passed": results["per_tenant_spread"] <= TARGET_SPREAD},
            "memory_growth": {"value": results["memory_growth"], "max": TARGET_MEMORY_GROWTH,
                              "passed": results["memory_growth"] <= TARGET_MEMORY_GROWTH},
        }
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results))
    print(f"\nload average {load_before[0]:.1f} before, {results['load_average_after']:.1f} "
          f"after")
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(_rounded(results), indent=1, sort_keys=True) + "\n",
                            encoding="utf-8")
        print(f"wrote {out_path}")
    return 0


def _rounded(obj):
    if isinstance(obj, float):
        return round(obj, 3)
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return obj


if __name__ == "__main__":
    sys.exit(main())
