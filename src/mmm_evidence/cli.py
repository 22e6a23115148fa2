"""Command line: ``mmm-evidence run EXPERIMENT``, ``package EXPERIMENT``, ``verify BUNDLE`` and
``generate TENANT_YAML``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK = 0
EXIT_NOT_PASS = 1
EXIT_USAGE = 2
EXIT_ERRORS = 3

EXIT_CODES_HELP = """\
exit codes of run:
  0  the run completed; the evidence was written (whatever the verdict)
  1  --strict and the verdict is not PASS (FAIL or NOT ASSESSABLE)
  2  bad usage, an invalid parameter file, or the notebook kernel cannot be set up
  3  a notebook or a tenant's data errored; the evidence of the others was still written
     (takes precedence over 1)
"""

__all__ = ["main", "build_parser", "run_exit_code"]


def _tenant_list(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return names or None


def tenant_line(name: str, section: dict, width: int = 0) -> str:
    """The printed line of a tenant's outcome: verdict, gates failed and not assessable."""
    gates = section["gates"]
    failed = sum(g["passed"] is False for g in gates)
    unknown = sum(g["passed"] is None for g in gates)
    note = "".join(f" · {n} gate(s) {what}" for n, what in
                   ((failed, "failed"), (unknown, "not assessable")) if n)
    if section["status"] != "ok":
        note += " · errored"
    return f"{name:<{width}}  {section['verdict']}{note}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmm-evidence",
        description="Reproducible validation evidence for the MMM: run the parameterised "
                    "notebooks per tenant, collect scraps, apply gates, write the verdict.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser(
        "run", help="run every notebook for every tenant and write the evidence",
        description="Run every notebook of the experiment for every tenant (papermill, in "
                    "parallel), export them to HTML, collect their scraps, apply the gates and "
                    "write validation_report.json, run_manifest.json, model_card.html/.md, "
                    "index.html, defects.md and SUMMARY.md into the output folder.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("params", metavar="EXPERIMENT", type=Path,
                     help="experiment parameter file, e.g. params/mmm_v2.yaml, or an "
                          "experiment name (params/<name>.yaml)")
    run.add_argument("--tenants", action="append", metavar="NAME",
                     help="run only these tenants (repeatable, or comma-separated)")
    run.add_argument("--workers", type=int, metavar="N",
                     help="parallel notebook kernels (default: runner.workers or CPU count)")
    run.add_argument("--output-dir", type=Path, metavar="DIR",
                     help="write here instead of the experiment's output_dir")
    run.add_argument("--strict", action="store_true",
                     help="exit 1 unless the verdict is PASS")
    run.add_argument("--no-cache", action="store_true",
                     help="execute every notebook and refit every model, even when an earlier "
                          "run into the same folder had the same inputs (<output-dir>/.cache)")
    run.add_argument("--executor", choices=("local", "dask"), default="local",
                     help="where notebooks run: local worker processes (default) or a Dask "
                          "cluster")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (with --executor "
                          "dask; default: a LocalCluster of --workers processes)")

    gen = sub.add_parser(
        "generate", help="write a synthetic tenant's CSV, segment table and truth",
        description="Simulate a synthetic tenant from its YAML and write <tenant>.csv, "
                    "segments.csv and truth.json. Exit 0 when written, 2 when the tenant file "
                    "is invalid or not synthetic, or the files cannot be written.")
    gen.add_argument("tenant", metavar="TENANT_YAML", type=Path, help="tenant parameter file")
    gen.add_argument("--out", type=Path, metavar="DIR",
                     help="output folder (default: ./synthetic/<tenant>)")

    pkg = sub.add_parser(
        "package", help="bundle a run's evidence as a verifiable BagIt .tar.gz",
        description="Rewrite the reviewer outputs (model card, index, defects.md, SUMMARY.md) "
                    "from a run's artifacts and package them with the executed notebooks and "
                    "their HTML exports as validation_bundle_<run-id>.tar.gz, a BagIt bag "
                    "(RFC 8493). The same run always gives the same bytes. Exit 0 when "
                    "written, 2 when the run's artifacts are missing or stale.")
    pkg.add_argument("experiment", metavar="EXPERIMENT",
                     help="experiment name (params/<name>.yaml) or parameter file")
    pkg.add_argument("--output-dir", type=Path, metavar="DIR",
                     help="the run's output folder (default: the experiment's output_dir)")
    pkg.add_argument("--out", metavar="PATH",  # a str: a trailing '/' means a folder
                     help="bundle file or folder (an existing folder, or a path ending in "
                          "'/'; default: the run's output folder)")

    ver = sub.add_parser(
        "verify", help="check a bundle: safe members, every hash, nothing missing or extra",
        description="Check a validation bundle without extracting it outside a temporary "
                    "folder: refuse links, devices, absolute paths, '..' and oversized "
                    "members; then check every SHA-256 of the BagIt manifests and that no "
                    "file is missing or extra. Prints each problem with its path. Exit 0 "
                    "when OK, 1 on any problem, 2 when the bundle cannot be found.")
    ver.add_argument("bundle", metavar="BUNDLE", type=Path, help="validation_bundle_*.tar.gz")
    ver.add_argument("--max-member-mb", type=float, metavar="MB", default=None,
                     help="largest member accepted, in MiB (default 512)")
    for command in (run, gen, pkg, ver):
        command.set_defaults(command_parser=command)
    return parser


def run_exit_code(verdict: str, errored: bool, strict: bool) -> int:
    """3 if anything errored, else 1 for a non-PASS verdict under --strict, else 0."""
    if errored:
        return EXIT_ERRORS
    if strict and verdict != "PASS":
        return EXIT_NOT_PASS
    return EXIT_OK


def _error(message: str) -> int:
    print(f"mmm-evidence: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _cmd_run(args: argparse.Namespace) -> int:
    import json

    from mmm_evidence.config import ConfigError, load_experiment
    from mmm_evidence.evidence import write_run_artifacts
    from mmm_evidence.pipeline.kernel import KernelSetupError, ensure_kernel
    from mmm_evidence.pipeline.runner import (
        KERNEL_ENV,
        check_source_date_epoch,
        run_experiment,
    )

    epoch_problem = check_source_date_epoch()
    if epoch_problem:
        return _error(epoch_problem)
    if args.workers is not None and args.workers < 1:
        return _error(f"--workers must be at least 1, got {args.workers}")
    if args.tenants is not None and _tenant_list(args.tenants) is None:
        return _error(f"--tenants names no tenant (got {' '.join(args.tenants)!r})")
    try:
        exp = load_experiment(_experiment_params(str(args.params)),
                              tenants=_tenant_list(args.tenants))
    except ConfigError as exc:
        return _error(str(exc))
    try:
        ensure_kernel(exp.runner.kernel_name, KERNEL_ENV)
    except KernelSetupError as exc:
        return _error(str(exc))

    if args.scheduler and args.executor != "dask":
        return _error("--scheduler needs --executor dask")
    from mmm_evidence.pipeline.executors import ExecutorError
    from mmm_evidence.pipeline.files import (
        OutputFolderError,
        check_folder_experiment,
        output_folder_lock,
    )

    output_dir = Path(args.output_dir) if args.output_dir else exp.output_dir
    try:
        with output_folder_lock(output_dir):
            check_folder_experiment(output_dir, exp.experiment)
            result = run_experiment(exp, output_dir=output_dir, workers=args.workers,
                                    progress=_progress,
                                    cache=not args.no_cache, executor=args.executor,
                                    scheduler=args.scheduler)
            paths = write_run_artifacts(result)
            report = json.loads(paths["validation_report"].read_text(encoding="utf-8"))
    except (ExecutorError, OutputFolderError) as exc:
        return _error(str(exc))
    except OSError as exc:  # a file or folder of the output cannot be written
        return _error(f"{output_dir}: cannot write the run's outputs: {exc}")
    try:
        _print_outcome(report, paths, Path(result.output_dir))
    except BrokenPipeError:
        _silence_stdout()
    return run_exit_code(report["verdict"], bool(report["errors"]), args.strict)


def _print_outcome(report: dict, paths: dict, output_dir: Path) -> None:
    """The run's closing lines: each tenant's outcome, the verdict, errors, files written."""
    print()
    width = max(len(t) for t in report["tenants"]) if report["tenants"] else 0
    for name in report["tenant_order"]:
        print(tenant_line(name, report["tenants"][name], width))
    print(f"verdict: {report['verdict']}  (run {report['run_id']})")
    if report.get("tenants_not_run"):
        print(f"partial run: the verdict covers only the tenants above; not run: "
              f"{', '.join(report['tenants_not_run'])}")
    for error in report["errors"]:
        first = (error["error"] or "").strip().splitlines()
        print(f"error: {error['tenant']} · {error['notebook'] or 'data'} · "
              f"{first[0] if first else ''}")
    for label, path in paths.items():
        print(f"wrote {label}: {path}")
    print(f"notebooks: {output_dir / 'tenants'}")


def _cmd_generate(args: argparse.Namespace) -> int:
    from mmm_evidence.config import ConfigError, load_tenant

    try:
        cfg = load_tenant(args.tenant)
    except ConfigError as exc:
        return _error(str(exc))
    if cfg.data.synthetic is None:
        return _error(f"{cfg.path}: key 'data': tenant {cfg.name!r} is not synthetic (it reads "
                      f"{cfg.data.source.csv if cfg.data.source else 'a CSV'}); nothing to "
                      f"generate")
    from mmm_evidence.data.synthetic import write_synthetic_tenant

    out = args.out or Path("synthetic") / cfg.name
    try:
        written = write_synthetic_tenant(cfg, out)
    except (ValueError, OSError) as exc:
        return _error(f"{cfg.path}: cannot generate tenant {cfg.name!r}: {exc}")
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def _experiment_params(name: str) -> Path:
    """``params/<name>.yaml`` for an experiment name, else the path given (a path: a YAML
    file name, an existing file, or anything with a folder in it)."""
    if (name.endswith((".yaml", ".yml")) or Path(name).is_file()
            or "/" in name or os.sep in name):
        return Path(name)
    return Path("params") / f"{name}.yaml"


def _cmd_package(args: argparse.Namespace) -> int:
    from mmm_evidence.bundle import BundleError, write_bundle

    output_dir = args.output_dir
    if output_dir is None:
        from mmm_evidence.config import ConfigError, load_experiment

        try:
            output_dir = load_experiment(_experiment_params(args.experiment)).output_dir
        except ConfigError as exc:
            return _error(str(exc))
    import contextlib
    import shlex

    from mmm_evidence.pipeline.files import OutputFolderError, output_folder_lock

    try:  # not while a run writes into the folder (a missing folder: write_bundle says so)
        with (output_folder_lock(output_dir) if Path(output_dir).is_dir()
              else contextlib.nullcontext()):
            info = write_bundle(output_dir, args.out)
    except (BundleError, OutputFolderError) as exc:
        return _error(str(exc))
    except OSError as exc:
        return _error(f"cannot write the bundle: {exc}")
    print(f"wrote bundle: {info.path}")
    print(f"  run {info.run_id} · {info.payload_files} files · {info.payload_bytes} bytes of "
          f"payload · sha256 {info.sha256}")
    print(f"  check it with: mmm-evidence verify {shlex.quote(str(info.path))}")
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    from mmm_evidence.bundle import DEFAULT_MAX_MEMBER_BYTES, verify_bundle

    if args.bundle.is_dir():
        return _error(f"{args.bundle}: a folder; give the bundle file "
                      f"(validation_bundle_<run-id>.tar.gz)")
    if not args.bundle.is_file():
        return _error(f"{args.bundle}: no such bundle file")
    limit = (DEFAULT_MAX_MEMBER_BYTES if args.max_member_mb is None
             else int(args.max_member_mb * 1024 * 1024))
    if limit <= 0:
        return _error(f"--max-member-mb must be positive, got {args.max_member_mb}")
    result = verify_bundle(args.bundle, max_member_bytes=limit)
    for problem in result.problems:
        print(f"FAIL {problem}")
    if result.ok:
        print(f"OK {args.bundle}: valid BagIt bag, {result.payload_files} payload files "
              f"({result.payload_bytes} bytes), every {'/'.join(result.algorithms)} hash "
              f"matches, nothing missing or extra")
        return EXIT_OK
    print(f"FAILED {args.bundle}: {len(result.problems)} problem(s)")
    return EXIT_NOT_PASS


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)  # exits 2 on bad usage
    if unknown:  # told with the command's own usage, not the top level's
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "package":
            return _cmd_package(args)
        if args.command == "verify":
            return _cmd_verify(args)
        return _cmd_generate(args)
    except KeyboardInterrupt:
        print("mmm-evidence: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away (e.g. piped into head)
        _silence_stdout()
        return 128 + 13  # as a shell reports a process ended by SIGPIPE


def _silence_stdout() -> None:
    """Send what is still printed to /dev/null (Python's documented answer to a reader that
    closed the pipe), so the run goes on and its evidence is written."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _progress(line: str) -> None:
    """A progress line on stdout; a reader that closed the pipe never stops the run."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        _silence_stdout()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
