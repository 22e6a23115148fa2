"""The files of a run, below every other pipeline module: the artifacts' file names,
canonical JSON (keys sorted, floats rounded to ``FLOAT_SIGNIFICANT_DIGITS`` significant digits,
NaN/inf written as ``null``, ``-0.0`` as ``0.0``, numpy/pandas values converted, indent 2 and a
trailing newline, so the same inputs always give the same bytes), UTF-8/LF text writes, and the
provenance of a run (git commit, package versions, run id).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path, PurePath
from typing import Any

__all__ = [
    "SCHEMA_VERSION", "FLOAT_SIGNIFICANT_DIGITS", "REPORT_FILE", "MANIFEST_FILE",
    "BASELINES_FILE", "ROBUSTNESS_FILE", "FAIRNESS_FILE", "MANIFEST_PACKAGES", "canonical",
    "canonical_json", "write_text", "write_canonical_json", "git_commit", "git_dirty",
    "package_versions", "data_hash_entries", "compute_run_id", "LOCK_FILE",
    "OutputFolderError", "output_folder_lock",
]

SCHEMA_VERSION = 1
FLOAT_SIGNIFICANT_DIGITS = 10
REPORT_FILE = "validation_report.json"
MANIFEST_FILE = "run_manifest.json"
BASELINES_FILE = "baseline_metrics.json"
ROBUSTNESS_FILE = "robustness_report.json"
FAIRNESS_FILE = "fairness_report.json"

#: Distributions whose versions go into the run manifest.
MANIFEST_PACKAGES = (
    "numpy", "pandas", "scipy", "papermill", "scrapbook", "nbconvert", "nbclient", "nbformat",
    "ipykernel", "jupyter_client", "matplotlib", "pydantic", "pyyaml", "lightgbm", "shap",
    "fairlearn",
)


# --------------------------------------------------------------------------- canonical JSON


def _canonical_float(value: float) -> float | None:
    if not math.isfinite(value):
        return None
    rounded = float(format(value, f".{FLOAT_SIGNIFICANT_DIGITS}g"))
    return 0.0 if rounded == 0 else rounded


def canonical(value: Any) -> Any:
    """``value`` as plain JSON data: dicts, lists, str, int, bool, rounded float, None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _canonical_float(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                plain = canonical(key)
                if isinstance(plain, PurePath | str):
                    key = str(plain)
                elif isinstance(plain, bool | int | float):
                    key = json.dumps(plain)
                else:
                    raise TypeError(f"canonical JSON: dict key {key!r} is not a scalar")
            out[key] = canonical(item)
        return out
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(canonical(item) for item in value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    # numpy and pandas, without importing them here
    module = type(value).__module__.split(".")[0]
    if module == "numpy":
        if hasattr(value, "tolist"):
            return canonical(value.tolist())
    if module == "pandas":
        if hasattr(value, "isoformat"):
            return value.isoformat()
        if hasattr(value, "to_dict"):
            return canonical(value.to_dict())
    raise TypeError(f"canonical JSON: cannot serialise {type(value).__name__}: {value!r}")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value`` (keys sorted, indent 2, trailing newline)."""
    return json.dumps(canonical(value), sort_keys=True, indent=2, ensure_ascii=False,
                      allow_nan=False) + "\n"


def write_text(text: str, path: str | Path) -> Path:
    """Write ``text`` to ``path`` as UTF-8 with LF line endings on every platform (so the bytes,
    and their hashes in the bundle, are the same everywhere), making its folder; return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return path


def write_canonical_json(value: Any, path: str | Path) -> Path:
    """Write ``canonical_json(value)`` to ``path`` (UTF-8, LF line endings); return the path."""
    return write_text(canonical_json(value), path)


# --------------------------------------------------------------------------- provenance


def _git(args: list[str], where: Path) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_commit(where: str | Path | None) -> str | None:
    """``git rev-parse HEAD`` of the repository containing ``where``, or None outside git.
    A checkout owned by another user (git's "dubious ownership" check, common for a mounted
    checkout in CI) is read too: reading HEAD runs nothing from the repository."""
    if where is None:
        return None
    where = Path(where)
    folder = where if where.is_dir() else where.parent
    return _git(["-c", "safe.directory=*", "rev-parse", "HEAD"], folder) or None


def git_dirty(where: str | Path | None) -> bool | None:
    """True when the repository containing ``where`` has uncommitted changes; None outside git."""
    if where is None:
        return None
    where = Path(where)
    folder = where if where.is_dir() else where.parent
    status = _git(["status", "--porcelain", "--untracked-files=no"], folder)
    return None if status is None else bool(status)


def package_versions(names: tuple[str, ...] = MANIFEST_PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def data_hash_entries(data_hashes: Mapping[str, Mapping[str, str]]) -> list[list[str]]:
    """[[tenant, file name, sha256], ...] sorted: the location-independent view of input data."""
    rows = [[tenant, Path(path).name, sha] for tenant, files in data_hashes.items()
            for path, sha in files.items()]
    return sorted(rows)


def compute_run_id(params_hash: str, data_hashes: Mapping[str, Mapping[str, str]],
                   notebook_bytes: Mapping[str, bytes], package_version: str,
                   commit: str | None = None,
                   environment: Mapping[str, Any] | None = None) -> str:
    """12 hex digits of SHA-256 over params, data hashes, notebook bytes, the package
    (``package_version``: the runner gives its version and source hash, so an edited module
    changes the id), the git commit (None: outside git) and the ``environment`` the notebooks
    ran in (Python's and the libraries' versions, the kernel's command and environment) —
    everything the JSON artifacts depend on, so that one id means one set of bytes.

    Paths are deliberately left out (only file names), so the same inputs moved elsewhere or
    run into another output folder give the same id.
    """
    digest = hashlib.sha256()
    digest.update(b"params\0" + params_hash.encode() + b"\0")
    for tenant, name, sha in data_hash_entries(data_hashes):
        digest.update(f"data\0{tenant}\0{name}\0{sha}\0".encode())
    for name in sorted(notebook_bytes):
        digest.update(f"notebook\0{name}\0".encode())
        digest.update(hashlib.sha256(notebook_bytes[name]).digest())
    digest.update(b"package\0" + package_version.encode())
    if commit is not None:
        digest.update(b"\0commit\0" + commit.encode())
    if environment:
        digest.update(b"\0environment\0" + json.dumps(
            environment, sort_keys=True, separators=(",", ":"), default=str).encode())
    return digest.hexdigest()[:12]


# --------------------------------------------------------------------------- one writer


LOCK_FILE = ".lock"


class OutputFolderError(OSError):
    """The output folder cannot be written, or another run is writing into it."""


def check_folder_experiment(folder: str | Path, experiment: str) -> None:
    """Raise ``OutputFolderError`` when ``folder`` holds the evidence of another experiment
    (its ``validation_report.json`` names another): a parameter file copied under a new name
    that kept ``output_dir`` would silently overwrite that evidence."""
    try:
        data = json.loads((Path(folder) / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    other = data.get("experiment") if isinstance(data, dict) else None
    if isinstance(other, str) and other != experiment:
        raise OutputFolderError(
            f"{folder}: holds the evidence of experiment {other!r} ({REPORT_FILE}), and this "
            f"run is experiment {experiment!r}; give it an output_dir of its own in its "
            f"parameter file or --output-dir (or delete the folder to replace that evidence)")


class output_folder_lock:  # noqa: N801 (a context manager used like a function)
    """Create ``folder`` if needed and hold an exclusive lock on ``folder/.lock`` (POSIX
    ``flock``) for the ``with`` block, so two runs (or a run and ``package``) never write into
    one folder at once: their files would contradict each other. Raises
    ``OutputFolderError`` naming the folder when it cannot be created or written, or when
    another process holds the lock. Where ``fcntl`` is missing (Windows) only the folder is
    checked."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._handle = None

    def __enter__(self) -> Path:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = open(self.folder / LOCK_FILE, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise OutputFolderError(f"{self.folder}: cannot write into the output folder: "
                                    f"{exc.strerror or exc}") from None
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here
            self._handle = handle
            return self.folder
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise OutputFolderError(
                f"{self.folder}: another mmm-evidence run or package is writing into this "
                f"folder (it holds {self.folder / LOCK_FILE}); wait for it to finish, or use "
                f"another --output-dir") from None
        self._handle = handle
        return self.folder

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.close()  # closing releases the lock
            self._handle = None
