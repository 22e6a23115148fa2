"""The whole evidence pipeline on public MMM datasets from other generators.

``benchmarks/external.py`` fits MMM v2 to these datasets; this runs the product on them: every
notebook of ``params/mmm_v2.yaml`` for five tenants brought as a user would bring them (a CSV,
a column mapping, no code), with the experiment's own settings, gates and thresholds:

- ``pymc_example``: PyMC-Marketing's example (national, 179 weeks, 2 channels) with its known
  truth, computed from the documented process (``mmm_evidence.data.external``) and written as
  the tenant's truth file, so its truth-based gates are judged too;
- Meridian's ``national_media`` (national, 4 channels), ``geo_media`` (20 geos) and
  ``geo_all_channels`` (40 geos, 5 channels), and Robyn's simulated weekly data (national,
  208 weeks, 5 channels): no published truth, so their truth-based gates are not assessable.

The point is the gates, not the model: which pass or fail on data the project was never tuned
on, and whether a gate fails every tenant of a shape whatever its model (the robustness
thresholds did on national data before they were calibrated per shape). It prints per tenant
the verdict, every gate and the failed robustness checks, and writes
``benchmarks/results/external_evidence.json`` (gates and checks only: no clock times, no
paths), identical between runs of the same code.

Run: ``OMP_NUM_THREADS=1 python benchmarks/external_evidence.py`` (about 3 minutes on 2
cores; ``--shared DIR`` for another shared folder, ``--out DIR`` for the run folder, default
``outputs/external_evidence``; ``--quick``: the PyMC example only, validation and robustness
notebooks, 20 bootstrap refits, nothing written to results).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from external import SHARED, UNTRUTHED, untruthed_tenant  # noqa: E402  (benchmarks/ is not a package)

from mmm_evidence.cli import main as cli_main  # noqa: E402
from mmm_evidence.data.external import (  # noqa: E402
    PYMC_EXAMPLE_CSV,
    pymc_example_dir,
    pymc_example_tenant,
    pymc_example_truth,
)

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params" / "mmm_v2.yaml"
RESULTS = Path(__file__).resolve().parent / "results" / "external_evidence.json"
EXPERIMENT = "external_evidence"


def tenant_files(shared: Path, folder: Path, quick: bool = False) -> list[str]:
    """Write the tenant YAMLs (and the PyMC example's truth JSON) into ``folder``; return the
    tenant names in run order."""
    folder.mkdir(parents=True, exist_ok=True)
    pymc_csv = pymc_example_dir(shared) / PYMC_EXAMPLE_CSV
    truth = folder / "pymc_example_truth.json"
    truth.write_text(json.dumps(pymc_example_truth(pymc_csv), indent=1, sort_keys=True) + "\n",
                     encoding="utf-8")
    pymc = pymc_example_tenant(pymc_csv).model_dump(mode="json", exclude_unset=True)
    pymc["data"]["source"]["truth"] = truth.name
    tenants = {pymc["name"]: pymc}
    if not quick:
        tenants.update({name: untruthed_tenant(shared, name, spec)
                        for name, spec in UNTRUTHED.items()})
    for name, spec in tenants.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False),
                                             encoding="utf-8")
    return list(tenants)


def experiment_file(shared: Path, work: Path, out: Path, quick: bool = False) -> Path:
    """The default experiment's settings, gates and thresholds with the external tenants."""
    params = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))
    tenants = tenant_files(shared, work / "tenants", quick)
    params.update(experiment=EXPERIMENT, tenants=tenants, tenants_dir="tenants",
                  output_dir=str(out), notebooks_dir=str(ROOT / "notebooks"),
                  description="MMM v2 evidence on public datasets from other generators "
                              "(benchmarks/external_evidence.py).")
    if quick:
        params["notebooks"] = ["validation", "robustness"]
        params["evaluation"]["bootstrap_replicates"] = 20
    path = work / "external_evidence.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path


def summarise(out: Path) -> dict:
    """Per tenant: verdict, every gate (passed, value) and the failed robustness checks with
    the threshold set that judged them, from the run's own artifacts."""
    report = json.loads((out / "validation_report.json").read_text(encoding="utf-8"))
    robustness_path = out / "robustness_report.json"
    robustness = (json.loads(robustness_path.read_text(encoding="utf-8"))["tenants"]
                  if robustness_path.is_file() else {})
    tenants = {}
    for name in report["tenant_order"]:
        section = report["tenants"][name]
        checks = (robustness.get(name) or {}).get("checks") or []
        tenants[name] = {
            "verdict": section["verdict"],
            "segments": (section.get("data") or {}).get("segments"),
            "gates": {g["name"]: {"passed": g["passed"], "value": g["value"]}
                      for g in section["gates"]},
            "robustness_thresholds": ((robustness.get(name) or {}).get("thresholds")
                                      or {}).get("set"),
            "robustness_failed": {c["name"]: {"value": c["value"], "threshold": c["threshold"],
                                              "comparison": c["comparison"]}
                                  for c in checks if c.get("passed") is False},
        }
    return {"experiment": EXPERIMENT, "verdict": report["verdict"], "tenants": tenants,
            "errors": report.get("errors") or []}


def _mark(passed: bool | None) -> str:
    return {True: "pass", False: "FAIL", None: "n/a"}[passed]


def print_summary(summary: dict) -> None:
    tenants = summary["tenants"]
    gates = list(dict.fromkeys(g for t in tenants.values() for g in t["gates"]))
    width = max(len(g) for g in gates)
    print(f"{'gate':<{width}}  " + "  ".join(f"{n[:18]:>18}" for n in tenants))
    print(f"{'verdict':<{width}}  " + "  ".join(f"{t['verdict']:>18}" for t in tenants.values()))
    for gate in gates:
        cells = []
        for t in tenants.values():
            g = t["gates"].get(gate)
            value = g and g["value"]
            text = _mark(g and g["passed"]) + (f" {value:.3g}" if isinstance(value, float | int)
                                              and not isinstance(value, bool) else "")
            cells.append(f"{text:>18}")
        print(f"{gate:<{width}}  " + "  ".join(cells))
    for name, t in tenants.items():
        if t["robustness_failed"]:
            failed = ", ".join(f"{c} {v['value']:.3g} (passes {v['comparison']} "
                               f"{v['threshold']:g})" if v["value"] is not None else c
                               for c, v in t["robustness_failed"].items())
            print(f"{name}: robustness ({t['robustness_thresholds']} thresholds) failed: "
                  f"{failed}")
    for error in summary["errors"]:
        print(f"error: {error}")
    print(f"verdict: {summary['verdict']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED,
                        help="the shared folder holding external/ (default ../shared)")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / EXPERIMENT,
                        help="the run folder (evidence, notebooks, generated tenant files)")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--quick", action="store_true",
                        help="PyMC example only, 2 notebooks, 20 refits; no results file")
    parser.add_argument("--results", type=Path, help="write the summary here instead")
    args = parser.parse_args(argv)
    if not (args.shared / "external").is_dir():
        print(f"{args.shared / 'external'}: not found (pass --shared DIR, the folder holding "
              "external/)", file=sys.stderr)
        return 2
    out = args.out.resolve()
    params = experiment_file(args.shared.resolve(), out / "params", out / "evidence",
                             args.quick)
    code = cli_main(["run", str(params), "--no-cache"]
                    + (["--workers", str(args.workers)] if args.workers else []))
    if code not in (0, 1):
        print(f"mmm-evidence run exited {code}: see {out / 'evidence'}", file=sys.stderr)
    summary = summarise(out / "evidence")
    print()
    print_summary(summary)
    results = args.results or (None if args.quick else RESULTS)
    if results is not None:
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n",
                           encoding="utf-8")
        print(f"wrote {results}")
    return 0 if code in (0, 1) else code


if __name__ == "__main__":
    raise SystemExit(main())
