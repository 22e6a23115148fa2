"""Content-addressed cache of executed notebooks: an unchanged tenant × notebook is not rerun.

A task's key is the SHA-256 of everything its executed notebook can depend on:

- the notebook's bytes;
- the parameters papermill injects (experiment file, tenant, output folder, seed);
- the experiment's resolved parameters *for this tenant* (every section but the tenant and
  notebook lists, the other tenants, the description and the runner's worker count and
  timeout) and the tenant's own config;
- the SHA-256 of each of the tenant's input files (name and hash);
- the package: its version and a hash of its source files (an edited module invalidates);
- the versions of Python and of the libraries the notebooks use, the kernel's command, the
  variables its spec sets and its environment (``KERNEL_ENV``).

So editing one notebook reruns that notebook for every tenant and nothing else; editing one
tenant's data or YAML reruns that tenant only; anything else (a library upgrade, an edited
module) reruns everything. Only tasks that succeeded are stored (a failure may be transient).

An entry ``<output_dir>/.cache/tasks/<key>/`` holds the executed notebook, its exports (every
file the task wrote: ``<notebook>.ipynb``, ``.html``, ``.reviewer.html``, ...), the scraps
(``scraps.json``) and ``entry.json`` (the task, its files, the original timings). A hit copies
the files back where the task would have written them; the run manifest records per task
``cached`` and ``cache_key``. ``mmm-evidence run --no-cache`` executes everything (and
refreshes the entries).

An entry is not trusted as written: ``entry.json`` records the SHA-256 of every stored file
and of the scraps, and a lookup checks them all before the entry is used. A file edited,
truncated or removed after it was stored makes the entry a miss (``TaskCache.rejected`` says
why; the runner prints it): the entry is removed, and the task executed again and stored
anew. A restore checks the same hashes again on what it copied (the copy, not the entry, is
what the run uses: a file changed between the lookup and the copy makes the restore a miss
too, and leaves no copied file behind).

Every edit of a notebook, a module or a tenant adds entries, so after each run the task cache
is cut to ``runner.cache_max_mb`` (``TaskCache.prune``): the least recently used entries go
first (an entry's folder time is refreshed when it is stored or restored), and never one of
the run's own.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mmm_evidence
from mmm_evidence.pipeline.files import MANIFEST_FILE, package_versions

if TYPE_CHECKING:
    from mmm_evidence.config import ExperimentConfig
    from mmm_evidence.pipeline.tasks import NotebookTask, TaskResult

#: Bump when the layout of an entry or what goes into a key changes.
CACHE_FORMAT = 2
#: The cache folder inside a run's output folder.
CACHE_DIR = ".cache"

#: Libraries whose versions are part of every key (besides Python's).
KEY_LIBRARIES = (
    "numpy", "pandas", "scipy", "pyarrow", "matplotlib", "matplotlib-inline", "pydantic",
    "pyyaml", "lightgbm", "scikit-learn", "shap", "numba", "fairlearn", "papermill",
    "scrapbook", "nbconvert", "nbclient", "nbformat", "ipykernel", "ipython", "jupyter_client",
    "jinja2", "mistune", "pygments",
)

__all__ = ["CACHE_DIR", "CACHE_FORMAT", "KEY_LIBRARIES", "DataStamps", "TaskCache", "cache_dir",
           "library_versions", "model_cache_dir", "package_fingerprint", "task_key",
           "tenant_parameters", "notebook_environment", "ReviewerStamp",
           "FolderMemo", "manifest_view"]


def cache_dir(output_dir: str | Path) -> Path:
    """``<output_dir>/.cache``: the task and fitted-model caches of the runs written there."""
    return Path(output_dir) / CACHE_DIR


def model_cache_dir(output_dir: str | Path, tenant: str) -> Path:
    """``<output_dir>/.cache/models/<tenant>``: the tenant's fitted models (``models.py``)."""
    return cache_dir(output_dir) / "models" / tenant


@functools.lru_cache(maxsize=1)
def package_fingerprint() -> str:
    """``<version>+<sha256 of the package's .py files>`` (paths and bytes, sorted)."""
    root = Path(mmm_evidence.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return f"{mmm_evidence.__version__}+{digest.hexdigest()[:16]}"


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str | None]:
    """Python's version and implementation, the machine, and ``KEY_LIBRARIES``' versions."""
    versions: dict[str, str | None] = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": platform.machine(),
    }
    versions.update(package_versions(KEY_LIBRARIES))
    return versions


def tenant_parameters(exp: ExperimentConfig, tenant: str) -> dict:
    """The experiment's resolved parameters as one tenant's notebooks see them: without the
    tenant and notebook lists (a notebook added to the experiment runs alone), the other
    tenants, the description and the runner settings that do not change a result."""
    data = exp.resolved()
    for key in ("tenants", "notebooks", "description", "tenants_not_run"):
        data.pop(key, None)
    configs = data.pop("tenant_configs", {})
    data.pop("tenant_files_not_loaded", None)
    runner = data.pop("runner", {}) or {}
    data["kernel_name"] = runner.get("kernel_name")
    data["tenant_config"] = configs.get(tenant)
    return data


def _digest(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def task_key(task: NotebookTask, exp: ExperimentConfig, data_hashes: Mapping[str, str],
             kernel: Mapping[str, Any], kernel_env: Mapping[str, str]) -> str:
    """The SHA-256 key of one tenant × notebook task (see the module docstring)."""
    return _digest({
        "format": CACHE_FORMAT,
        "notebook": task.notebook,
        "notebook_sha256": hashlib.sha256(Path(task.source).read_bytes()).hexdigest(),
        "parameters": task.parameters,
        "cwd": str(task.cwd),
        "tenant": task.tenant,
        "tenant_parameters": tenant_parameters(exp, task.tenant),
        "data": sorted([Path(path).name, sha] for path, sha in data_hashes.items()),
        "package": package_fingerprint(),
        **notebook_environment(kernel, kernel_env),
    })


def notebook_environment(kernel: Mapping[str, Any], kernel_env: Mapping[str, str]) -> dict:
    """What the notebooks run in, as every task key and the run id count it: Python's and the
    libraries' versions, the kernel's command, its spec's own env and ``KERNEL_ENV``."""
    return {"libraries": library_versions(), "kernel_argv": list(kernel.get("argv") or []),
            "kernel_spec_env": dict(kernel.get("env") or {}), "kernel_env": dict(kernel_env)}


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: The scraps of a task-cache entry, beside ``entry.json`` and ``files/``.
SCRAPS_FILE = "scraps.json"


def _entry_problem(folder: Path, key: str, text: str) -> str | None:
    """Why the task-cache entry in ``folder`` (``entry.json`` read as ``text``) must not be
    used for ``key``, or None when it can: its record, then every file's SHA-256."""
    try:
        record = json.loads(text)
    except ValueError:
        return "entry.json is not valid JSON"
    if not isinstance(record, dict) or record.get("format") != CACHE_FORMAT:
        return f"entry of another cache format (expected {CACHE_FORMAT})"
    if record.get("key") != key:
        return "entry.json names another key"
    files, sha256 = record.get("files"), record.get("sha256")
    if (not isinstance(files, dict) or not isinstance(sha256, dict)
            or not all(isinstance(v, str) for v in files.values())):
        return "entry.json has no file list or no SHA-256"
    checks = [(relative, folder / "files" / relative, sha256.get(relative))
              for relative in files.values()]
    checks.append((SCRAPS_FILE, folder / SCRAPS_FILE, record.get("scraps_sha256")))
    for name, path, expected in checks:
        if not isinstance(expected, str):
            return f"no SHA-256 recorded for {name}"
        try:
            actual = _file_sha256(path)
        except FileNotFoundError:
            return f"{name} is missing"
        except OSError as exc:
            return f"{name} cannot be read ({exc.strerror or exc})"
        if actual != expected:
            return f"{name} changed after it was stored (SHA-256 differs)"
    return None


def _path_fields(result: TaskResult) -> dict[str, Path]:
    """{field name: path} of the files a task result names (ipynb, html, reviewer html ...)."""
    out = {}
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if isinstance(value, Path):
            out[f.name] = value
    return out


def _relative_to(path: Path, base: Path) -> str | None:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return None


class TaskCache:
    """The task cache under ``<output_dir>/.cache/tasks``."""

    def __init__(self, output_dir: str | Path):
        self.output_dir = Path(output_dir)
        self.root = cache_dir(output_dir) / "tasks"
        #: {key: why its entry was not used} for entries that exist but failed a check
        self.rejected: dict[str, str] = {}

    def entry(self, key: str) -> Path:
        return self.root / key

    def lookup(self, key: str) -> dict | None:
        """The entry's record when it is complete and every file still has the SHA-256 it
        was stored with, else None (with the reason in ``rejected`` when the entry exists)."""
        folder = self.entry(key)
        self.rejected.pop(key, None)
        try:
            text = (folder / "entry.json").read_text(encoding="utf-8")
        except OSError:
            return None  # no entry: a plain miss
        problem = _entry_problem(folder, key, text)
        if problem is not None:
            self.rejected[key] = problem
            shutil.rmtree(folder, ignore_errors=True)  # never usable again: not kept on disk
            return None
        return json.loads(text)

    def store(self, key: str, result: TaskResult) -> bool:
        """Store a successful task's files and scraps under ``key``; False when not stored
        (failed task, no executed notebook, or a file outside the output folder)."""
        if result.status != "ok" or not result.ipynb.is_file():
            return False
        files: dict[str, str] = {}
        sources: dict[str, Path] = {}
        for name, path in _path_fields(result).items():
            if not path.is_file():
                continue
            relative = _relative_to(path, self.output_dir)
            if relative is None:
                return False
            files[name] = relative
            sources[name] = path
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=self.root))
        try:
            for name, relative in files.items():
                target = staging / "files" / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(sources[name], target)
            (staging / SCRAPS_FILE).write_text(
                json.dumps(result.scraps, sort_keys=True, allow_nan=True), encoding="utf-8")
            sha256 = {relative: _file_sha256(staging / "files" / relative)
                      for relative in files.values()}
            record = {"format": CACHE_FORMAT, "key": key, "tenant": result.tenant,
                      "notebook": result.notebook, "files": files, "sha256": sha256,
                      "scraps_sha256": _file_sha256(staging / SCRAPS_FILE),
                      "seconds": result.seconds, "execute_seconds": result.execute_seconds}
            (staging / "entry.json").write_text(json.dumps(record, sort_keys=True, indent=1),
                                                encoding="utf-8")
            final = self.entry(key)
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            os.replace(staging, final)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            return False
        return True

    def restore(self, key: str, record: dict, task: NotebookTask) -> TaskResult | None:
        """Copy an entry's files (``record``: its ``lookup``) back into the output folder; its
        ``TaskResult``. None when a copied file or the scraps no longer have the SHA-256 the
        entry recorded (changed since the lookup): the files copied are removed, the entry
        too, and ``rejected`` says why."""
        from mmm_evidence.pipeline.tasks import OK, TaskResult

        folder = self.entry(key)
        paths: dict[str, Path] = {}

        def reject(problem: str) -> None:
            for path in paths.values():
                path.unlink(missing_ok=True)
            self.rejected[key] = f"{problem} (found while restoring it)"
            shutil.rmtree(folder, ignore_errors=True)

        for name, relative in record["files"].items():
            target = self.output_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(folder / "files" / relative, target)
            except OSError as exc:
                target.unlink(missing_ok=True)  # a copy cut short
                reject(f"{relative} cannot be copied ({exc.strerror or exc})")
                return None
            paths[name] = target
            if _file_sha256(target) != record["sha256"][relative]:
                reject(f"{relative} changed after it was stored (SHA-256 differs)")
                return None
        try:
            blob = (folder / SCRAPS_FILE).read_bytes()
        except OSError as exc:
            reject(f"{SCRAPS_FILE} cannot be read ({exc.strerror or exc})")
            return None
        if hashlib.sha256(blob).hexdigest() != record.get("scraps_sha256"):
            reject(f"{SCRAPS_FILE} changed after it was stored (SHA-256 differs)")
            return None
        scraps = json.loads(blob.decode("utf-8"))
        try:
            os.utime(folder)  # recently used: pruned last
        except OSError:
            pass
        known = {f.name for f in dataclasses.fields(TaskResult)}
        result = TaskResult(tenant=task.tenant, notebook=task.notebook, ipynb=task.ipynb,
                            html=task.html, status=OK, scraps=scraps, cached=True,
                            cache_key=key)
        for name, path in paths.items():
            if name in known:
                setattr(result, name, path)
        return result

    def prune(self, max_bytes: int | None, keep: Collection[str] = ()) -> dict[str, int]:
        """Remove the least recently used entries (by folder time) until the entries left
        hold at most ``max_bytes`` (None: no limit); an entry whose key is in ``keep`` is
        never removed, nor are unfinished staging folders. Returns ``entries``, ``bytes``
        (left) and ``removed``, ``removed_bytes``."""
        entries = []
        if self.root.is_dir():
            for folder in self.root.iterdir():
                if folder.name.startswith(".") or folder.is_symlink() or not folder.is_dir():
                    continue  # staging folders, and anything the cache did not write
                try:
                    used = folder.stat().st_mtime
                    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
                except OSError:
                    continue  # removed meanwhile
                entries.append((used, folder.name, size))
        total = sum(size for _, _, size in entries)
        removed = removed_bytes = 0
        if max_bytes is not None:
            for _, name, size in sorted(entries):
                if total <= max_bytes:
                    break
                if name in keep:
                    continue
                shutil.rmtree(self.root / name, ignore_errors=True)
                if (self.root / name).exists():
                    continue  # could not be removed (permissions): still there, still counted
                total -= size
                removed += 1
                removed_bytes += size
        return {"entries": len(entries) - removed, "bytes": total, "removed": removed,
                "removed_bytes": removed_bytes}


class DataStamps:
    """What ``prepare_tenant_data`` returned for a tenant ({file: sha256}), remembered under
    ``<output_dir>/.cache/data/<tenant>.json``: while the tenant's config, the package and the
    libraries are unchanged and every file still has its recorded SHA-256, the files are not
    generated (synthetic tenants) or validated (CSV tenants) again."""

    def __init__(self, output_dir: str | Path):
        self.root = cache_dir(output_dir) / "data"

    @staticmethod
    def key(exp: ExperimentConfig, tenant: str) -> str:
        config = exp.tenant(tenant).model_dump(mode="json", exclude={"path"})
        return _digest({"format": CACHE_FORMAT, "tenant": tenant, "config": config,
                        "package": package_fingerprint(), "libraries": library_versions()})

    def lookup(self, exp: ExperimentConfig, tenant: str) -> dict[str, str] | None:
        """The recorded {file: sha256} when still valid, else None."""
        try:
            record = json.loads((self.root / f"{tenant}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        files = record.get("files")
        if record.get("key") != self.key(exp, tenant) or not isinstance(files, dict):
            return None
        for path, sha in files.items():
            try:
                if _file_sha256(Path(path)) != sha:
                    return None
            except OSError:
                return None
        return dict(files)

    def store(self, exp: ExperimentConfig, tenant: str, files: Mapping[str, str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        record = {"key": self.key(exp, tenant), "files": dict(files)}
        tmp = self.root / f".{tenant}.json.tmp"
        tmp.write_text(json.dumps(record, sort_keys=True, indent=1), encoding="utf-8")
        os.replace(tmp, self.root / f"{tenant}.json")


#: Manifest fields that change from run to run without changing any reviewer output.
_VOLATILE_MANIFEST = ("started", "finished", "seconds", "data_seconds", "cache", "executor",
                      "workers")
_VOLATILE_TASK = ("seconds", "execute_seconds", "cached", "cache_key", "cache_rejected")


def manifest_view(path: Path) -> Any:
    """``run_manifest.json`` without what changes from run to run (timings, cache hits, the
    executor) but with the run's date: what outputs made from it can depend on."""
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return manifest
    view = {k: v for k, v in manifest.items() if k not in _VOLATILE_MANIFEST}
    view["date"] = str(manifest.get("finished") or manifest.get("started") or "")[:10]
    view["tasks"] = [{k: v for k, v in t.items() if k not in _VOLATILE_TASK}
                     for t in manifest.get("tasks") or [] if isinstance(t, dict)]
    return view


class ReviewerStamp:
    """The reviewer outputs (model card, index, defects, summary: ``report/reviewer.py``) are
    made from the artifact files of a run's folder alone. This stamp
    (``<folder>/.cache/reviewer_outputs.json``) records the SHA-256 of those inputs and of the
    outputs written from them, so a rerun whose artifacts are byte-identical (and whose outputs
    are untouched) does not draw and write them again.

    Inputs: every top-level file of the folder but the outputs themselves and bundles; the
    run manifest without its timings (its run date is kept); the names of the files under
    ``tenants/``; the package and library versions."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = cache_dir(folder) / "reviewer_outputs.json"

    def inputs_key(self, outputs: set[str]) -> str:
        files: dict[str, Any] = {}
        for path in sorted(self.folder.iterdir()):
            if not path.is_file() or path.name in outputs or path.name.endswith(".tar.gz"):
                continue
            files[path.name] = (manifest_view(path) if path.name == MANIFEST_FILE
                                else _file_sha256(path))
        tenants = self.folder / "tenants"
        listing = (sorted(p.relative_to(tenants).as_posix() for p in tenants.rglob("*")
                          if p.is_file()) if tenants.is_dir() else [])
        return _digest({"format": CACHE_FORMAT, "files": files, "tenants": listing,
                        "package": package_fingerprint(), "libraries": library_versions()})

    def current(self) -> dict[str, Path] | None:
        """The outputs' paths by label when they are current, else None."""
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
            outputs = record["outputs"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        paths = {}
        for label, (name, sha) in outputs.items():
            path = self.folder / name
            if not path.is_file() or _file_sha256(path) != sha:
                return None
            paths[label] = path
        names = {name for name, _ in outputs.values()}
        return paths if record.get("key") == self.inputs_key(names) else None

    def record(self, paths: Mapping[str, Path]) -> None:
        outputs = {label: [Path(p).name, _file_sha256(Path(p))] for label, p in paths.items()
                   if Path(p).parent.resolve() == self.folder.resolve() and Path(p).is_file()}
        if len(outputs) != len(paths):  # an output outside the folder: do not skip next time
            self.path.unlink(missing_ok=True)
            return
        record = {"key": self.inputs_key({name for name, _ in outputs.values()}),
                  "outputs": outputs}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(record, sort_keys=True, indent=1), encoding="utf-8")


class FolderMemo:
    """A JSON-able result computed from the files of a run's folder (and ``inputs``),
    remembered in ``<folder>/.cache/memo/<name>-<key>.json``: the key is the SHA-256 of every
    file under the folder (the cache itself left out; ``run_manifest.json`` without its
    timings, ``manifest_view``), ``inputs``, the package and the libraries, so the result is
    recomputed as soon as anything it could depend on changed."""

    KEEP = 8  # entries kept per name (the newest)

    def __init__(self, folder: str | Path, name: str, inputs: Any = None):
        self.folder = Path(folder)
        self.name = name
        root = self.folder.resolve()
        cache = cache_dir(root)
        files = sorted((p.relative_to(root).as_posix(),
                        manifest_view(p) if p.name == MANIFEST_FILE and p.parent == root
                        else _file_sha256(p))
                       for p in root.rglob("*") if p.is_file() and cache not in p.parents)
        self.key = _digest({"format": CACHE_FORMAT, "name": name, "inputs": inputs,
                            "files": files, "package": package_fingerprint(),
                            "libraries": library_versions()})
        self.path = cache_dir(self.folder) / "memo" / f"{name}-{self.key[:32]}.json"

    def get(self) -> Any | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))["value"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, value: Any) -> Any:
        """Remember ``value`` (returned unchanged); older entries of this name are pruned."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": self.key, "value": value}, sort_keys=True),
                       encoding="utf-8")
        os.replace(tmp, self.path)
        entries = sorted(self.path.parent.glob(f"{self.name}-*.json"),
                         key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[self.KEEP:]:
            old.unlink(missing_ok=True)
        return value
