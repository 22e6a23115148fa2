"""Sessions: `nox -s evidence` runs the evidence; `nox -s tests` runs the tests; `nox -s lint`;
`nox -s strip` strips the notebooks before a commit; `nox -s bench` runs the evidence benchmark.

    nox -s evidence                         # the default experiment, params/mmm_v2.yaml
    nox -s evidence -- --tenants alpine_telecom
    nox -s evidence -- my_experiment --workers 4 --strict
    nox -s evidence -- --no-cache           # execute every notebook even if unchanged
    nox -s evidence -- --executor dask --scheduler tcp://10.0.0.5:8786
    nox -s tests -- -k gates -x             # arguments after -- go to pytest
    nox -s bench -- --quick                 # benchmarks/bench_evidence.py
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "tests"]

PYTHON = "3.11"
KERNEL = "mmm-evidence"
# one BLAS thread per process: notebooks and tests run side by side on few cores
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONHASHSEED": "0"}


def _install(session: nox.Session, target: str) -> None:
    """Install the package and register its own Jupyter kernel inside this environment."""
    session.install(target)
    session.run("python", "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL,
                "--display-name", "Python (mmm-evidence)", silent=True)


@nox.session(python=PYTHON)
def evidence(session: nox.Session) -> None:
    """Run every notebook for every tenant of an experiment (default mmm_v2) and its artifacts."""
    args = list(session.posargs)
    dask = "dask" in args or "--executor=dask" in args
    _install(session, ".[dask]" if dask else ".")
    experiment = args.pop(0) if args and not args[0].startswith("-") else "mmm_v2"
    params = experiment if experiment.endswith((".yaml", ".yml")) else f"params/{experiment}.yaml"
    out = [a for i, a in enumerate(args)  # package the folder the run wrote to
           if a.startswith("--output-dir") or (i and args[i - 1] == "--output-dir")]
    package = ("mmm-evidence", "package", params, *out)
    try:
        session.run("mmm-evidence", "run", params, *args, env=THREADS)
    except nox.command.CommandFailed:  # a FAIL verdict under --strict or an errored notebook:
        session.run(*package, env=THREADS)  # that evidence is bundled too; the session fails
        raise
    session.run(*package, env=THREADS)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite (pytest; arguments after -- are passed on)."""
    _install(session, ".[test]")
    session.run("pytest", *session.posargs, env=THREADS)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, and notebooks committed without outputs."""
    _install(session, ".[test]")
    session.run("ruff", "check", ".")
    session.run("pytest", "-q", "tests/test_notebooks.py", env=THREADS)


#: What an executed notebook carries beyond nbstripout's defaults (outputs, execution counts,
#: cells' execution times): the kernel's language_info but its name, and papermill's records.
STRIP_KEYS = " ".join([*(f"metadata.language_info.{key}" for key in (
    "version", "mimetype", "codemirror_mode", "file_extension", "nbconvert_exporter",
    "pygments_lexer")), "metadata.papermill", "cell.metadata.papermill"])


@nox.session(python=PYTHON)
def strip(session: nox.Session) -> None:
    """Strip the notebooks (or the ones given after --) of outputs and execution metadata."""
    import glob

    session.install("nbstripout>=0.7")  # MIT
    paths = session.posargs or sorted(glob.glob("notebooks/*.ipynb"))
    # --keep-id: nbstripout renumbers cell ids by default, which changes every notebook's
    # bytes (and so the run id and every cached task) without changing anything else
    session.run("nbstripout", "--keep-id", "--extra-keys", STRIP_KEYS, *paths)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Evidence run times: cold, floor, warm, edited, scaling (benchmarks/bench_evidence.py)."""
    _install(session, ".[bench]")
    session.run("python", "benchmarks/bench_evidence.py", *session.posargs, env=THREADS)
