"""The task cache: keys, entries, and the runner reusing them (hit, miss after an edit,
--no-cache), with real papermill runs of the fixture notebooks."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
import yaml

import mmm_evidence.pipeline.cache as cache_module
from mmm_evidence.config import load_experiment
from mmm_evidence.evidence import write_run_artifacts
from mmm_evidence.pipeline import run_experiment
from mmm_evidence.pipeline.cache import (
    DataStamps,
    FolderMemo,
    ReviewerStamp,
    TaskCache,
    package_fingerprint,
    task_key,
    tenant_parameters,
)
from mmm_evidence.pipeline.runner import KERNEL_ENV, TaskResult, _tasks
from tests.fixtures.pipeline import experiment as builder

KERNEL = {"name": "mmm-evidence", "argv": ["python", "-m", "ipykernel_launcher"]}
NOTEBOOKS = ("validation", "baselines")
ARTIFACTS = ("validation_report.json", "baseline_metrics.json", "model_card.html", "index.html")


def _experiment(root: Path, tenants=("alpha", "beta")) -> Path:
    """The fixture experiment with its notebooks copied next to it (so tests can edit them)."""
    params = builder.build_experiment(root, tenants, notebooks=NOTEBOOKS)
    notebooks = root / "notebooks"
    shutil.copytree(builder.NOTEBOOKS_DIR, notebooks)
    spec = yaml.safe_load(params.read_text(encoding="utf-8"))
    spec["notebooks_dir"] = str(notebooks)
    params.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return params


# --------------------------------------------------------------------------- keys


def test_task_key_changes_with_each_input(tmp_path: Path) -> None:
    params = _experiment(tmp_path)
    exp = load_experiment(params)
    out = tmp_path / "out"
    task = _tasks(exp, out, ["alpha"])[0]
    data = {"/x/alpha.csv": "a" * 64}
    base = task_key(task, exp, data, KERNEL, KERNEL_ENV)
    assert base == task_key(task, exp, data, KERNEL, KERNEL_ENV)
    assert len(base) == 64
    other_data = task_key(task, exp, {"/x/alpha.csv": "b" * 64}, KERNEL, KERNEL_ENV)
    other_seed = task_key(replace(task, parameters={**task.parameters, "seed": 8}), exp, data,
                          KERNEL, KERNEL_ENV)
    other_out = task_key(replace(task, parameters={**task.parameters, "output_dir": "/o"}), exp,
                         data, KERNEL, KERNEL_ENV)
    other_env = task_key(task, exp, data, KERNEL, {**KERNEL_ENV, "PYTHONHASHSEED": "1"})
    other_kernel = task_key(task, exp, data, {"argv": ["python3"]}, KERNEL_ENV)
    spec_env = task_key(task, exp, data, {**KERNEL, "env": {"MY_SETTING": "1"}}, KERNEL_ENV)
    source = Path(task.source)
    nb = nbformat.read(source, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("an edit"))
    nbformat.write(nb, source)
    edited = task_key(task, exp, data, KERNEL, KERNEL_ENV)
    keys = {base, other_data, other_seed, other_out, other_env, other_kernel, spec_env, edited}
    assert len(keys) == 8


def test_tenant_parameters_hold_one_tenant_and_no_worker_count(tmp_path: Path) -> None:
    exp = load_experiment(_experiment(tmp_path))
    alpha = tenant_parameters(exp, "alpha")
    assert alpha["tenant_config"]["name"] == "alpha"
    assert not {"tenants", "tenant_configs", "runner", "notebooks"} & set(alpha)
    assert alpha["kernel_name"] == "mmm-evidence"
    assert tenant_parameters(exp, "beta")["tenant_config"]["name"] == "beta"
    fewer = load_experiment(exp.path, tenants=["alpha"])
    assert tenant_parameters(fewer, "alpha") == alpha  # other tenants do not matter


def test_package_fingerprint_names_the_version_and_a_source_hash() -> None:
    import mmm_evidence

    version, _, digest = package_fingerprint().partition("+")
    assert version == mmm_evidence.__version__ and len(digest) == 16


# --------------------------------------------------------------------------- entries


def _result(out: Path, status: str = "ok") -> TaskResult:
    folder = out / "tenants" / "alpha"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("validation.ipynb", "validation.html", "validation.reviewer.html"):
        (folder / name).write_text(f"<{name}>", encoding="utf-8")
    return TaskResult("alpha", "validation", folder / "validation.ipynb",
                      folder / "validation.html", status, seconds=3.0,
                      scraps={"metrics": {"r2": 0.91, "mape": None}, "n": [1, 2.5]},
                      reviewer_html=folder / "validation.reviewer.html")


def test_an_entry_restores_files_and_scraps(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _result(out)
    cache = TaskCache(out)
    key = "k" * 64
    assert cache.lookup(key) is None
    assert cache.store(key, result)
    for path in (result.ipynb, result.html, result.reviewer_html):
        path.unlink()
    record = cache.lookup(key)
    assert record["files"] == {"ipynb": "tenants/alpha/validation.ipynb",
                               "html": "tenants/alpha/validation.html",
                               "reviewer_html": "tenants/alpha/validation.reviewer.html"}
    exp_task = type("T", (), {"tenant": "alpha", "notebook": "validation",
                              "ipynb": result.ipynb, "html": result.html})()
    restored = cache.restore(key, record, exp_task)
    assert restored.cached and restored.cache_key == key and restored.status == "ok"
    assert restored.scraps == result.scraps
    assert restored.reviewer_html == result.reviewer_html
    assert result.reviewer_html.read_text(encoding="utf-8") == "<validation.reviewer.html>"


def test_a_restore_checks_what_it_copied_and_leaves_nothing_of_a_changed_entry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry changed between its lookup and its restore (or a copy gone wrong) is a miss:
    none of its files are left in the output folder, the entry is removed and
    ``rejected`` says why."""
    out = tmp_path / "out"
    cache = TaskCache(out)
    html = Path("files") / "tenants" / "alpha" / "validation.html"
    edits = {
        "html": lambda e: (e / html).write_text("<changed>", encoding="utf-8"),
        "scraps": lambda e: (e / "scraps.json").write_text("{}", encoding="utf-8"),
        "removed": lambda e: (e / html).unlink(),
    }
    for i, (label, edit) in enumerate(edits.items()):
        key = str(i) * 64
        result = _result(out)
        assert cache.store(key, result)
        for path in (result.ipynb, result.html, result.reviewer_html):
            path.unlink()
        record = cache.lookup(key)
        assert record is not None
        edit(cache.entry(key))
        task = type("T", (), {"tenant": "alpha", "notebook": "validation",
                              "ipynb": result.ipynb, "html": result.html})()
        assert cache.restore(key, record, task) is None, label
        assert not any(p.exists() for p in (result.ipynb, result.html, result.reviewer_html))
        assert not cache.entry(key).exists()
        assert cache.rejected[key].endswith("(found while restoring it)"), label
    assert cache.rejected["0" * 64].startswith(
        "tenants/alpha/validation.html changed after it was stored")
    assert cache.rejected["1" * 64].startswith("scraps.json changed after it was stored")
    assert cache.rejected["2" * 64].startswith("tenants/alpha/validation.html cannot be copied")
    # a copy cut short (the disk full, say) leaves no partial file behind
    key = "3" * 64
    result = _result(out)
    assert cache.store(key, result)
    for path in (result.ipynb, result.html, result.reviewer_html):
        path.unlink()
    record = cache.lookup(key)

    def partial(source, target):
        Path(target).write_text("<val", encoding="utf-8")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_module.shutil, "copyfile", partial)
    task = type("T", (), {"tenant": "alpha", "notebook": "validation",
                          "ipynb": result.ipynb, "html": result.html})()
    assert cache.restore(key, record, task) is None
    assert not any(p.exists() for p in (result.ipynb, result.html, result.reviewer_html))
    assert "No space left on device" in cache.rejected[key]


def test_failed_tasks_and_incomplete_entries_are_not_used(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cache = TaskCache(out)
    assert not cache.store("f" * 64, _result(out, status="error"))
    assert cache.lookup("f" * 64) is None
    assert cache.store("g" * 64, _result(out))
    (cache.entry("g" * 64) / "files" / "tenants" / "alpha" / "validation.html").unlink()
    assert cache.lookup("g" * 64) is None


def test_an_entry_whose_files_changed_after_storing_is_rejected(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cache = TaskCache(out)
    html = Path("files") / "tenants" / "alpha" / "validation.html"
    edits = {
        "edited": lambda e: (e / html).write_text("<edited>", encoding="utf-8"),
        "truncated": lambda e: (e / html).write_bytes((e / html).read_bytes()[:3]),
        "scraps": lambda e: (e / "scraps.json").write_text('{"metrics": {"r2": 0.99}}',
                                                         encoding="utf-8"),
        "removed": lambda e: (e / html).unlink(),
        "record": lambda e: (e / "entry.json").write_text("{not json", encoding="utf-8"),
        "unhashed": lambda e: (e / "entry.json").write_text(json.dumps(
            {k: v for k, v in json.loads((e / "entry.json").read_text(encoding="utf-8")).items()
             if k != "sha256"}), encoding="utf-8"),
    }
    reasons = {}
    for i, (label, edit) in enumerate(edits.items()):
        key = str(i) * 64
        assert cache.store(key, _result(out))
        assert cache.lookup(key) is not None and key not in cache.rejected
        edit(cache.entry(key))
        assert cache.lookup(key) is None, label
        reasons[label] = cache.rejected[key]
        assert not cache.entry(key).exists(), label  # a rejected entry is not kept on disk
    assert reasons["edited"] == reasons["truncated"] == (
        "tenants/alpha/validation.html changed after it was stored (SHA-256 differs)")
    assert reasons["scraps"] == "scraps.json changed after it was stored (SHA-256 differs)"
    assert reasons["removed"] == "tenants/alpha/validation.html is missing"
    assert reasons["record"] == "entry.json is not valid JSON"
    assert reasons["unhashed"] == "entry.json has no file list or no SHA-256"
    # an entry that was never stored is a plain miss, not a rejection
    assert cache.lookup("z" * 64) is None and "z" * 64 not in cache.rejected
    # storing again replaces a rejected entry with a good one
    assert cache.store("0" * 64, _result(out))
    assert cache.lookup("0" * 64) is not None and "0" * 64 not in cache.rejected


def test_prune_removes_least_recently_used_entries_but_never_the_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cache = TaskCache(out)
    keys = [c * 64 for c in "abcd"]
    for age, key in zip((400, 300, 200, 100), keys, strict=True):  # a is the oldest
        assert cache.store(key, _result(out))
        os.utime(cache.entry(key), (time.time() - age, time.time() - age))
    size = cache.prune(None)["bytes"] // 4
    staging = cache.root / ".eeeeeeeeeeee-tmp"  # a run storing an entry right now
    staging.mkdir()
    elsewhere = tmp_path / "elsewhere"  # a link the cache did not write is left alone
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("x", encoding="utf-8")
    (cache.root / ("l" * 64)).symlink_to(elsewhere, target_is_directory=True)
    # "a" is the oldest but kept; restoring "b" makes it the most recently used
    record = cache.lookup(keys[1])
    task = type("T", (), {"tenant": "alpha", "notebook": "validation",
                          "ipynb": out / "x.ipynb", "html": out / "x.html"})()
    cache.restore(keys[1], record, task)
    report = cache.prune(2 * size, keep={keys[0]})
    assert report == {"entries": 2, "bytes": 2 * size, "removed": 2, "removed_bytes": 2 * size}
    assert cache.lookup(keys[0]) and cache.lookup(keys[1])
    assert cache.lookup(keys[2]) is None and cache.lookup(keys[3]) is None
    assert staging.is_dir() and (elsewhere / "keep.txt").is_file()
    # no limit removes nothing; 0 keeps only the kept
    assert cache.prune(None)["removed"] == 0
    assert cache.prune(0, keep={keys[1]}) == {"entries": 1, "bytes": size, "removed": 1,
                                              "removed_bytes": size}


def test_data_stamps_survive_only_unchanged_files_and_configs(tmp_path: Path) -> None:
    exp = load_experiment(_experiment(tmp_path))
    csv = exp.tenant("alpha").data.source.csv
    from mmm_evidence.data import prepare_tenant_data

    stamps = DataStamps(tmp_path / "out")
    files = prepare_tenant_data(exp, "alpha", tmp_path / "out")
    stamps.store(exp, "alpha", files)
    assert stamps.lookup(exp, "alpha") == files
    assert stamps.lookup(exp, "beta") is None
    Path(csv).write_text(Path(csv).read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert stamps.lookup(exp, "alpha") is None


def test_reviewer_stamp_follows_the_inputs_not_the_timings(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "validation_report.json").write_text("{}", encoding="utf-8")
    manifest = {"run_id": "r", "started": "2026-01-01T10:00:00", "finished":
                "2026-01-01T10:05:00", "seconds": 300.0, "tasks": [{"tenant": "a", "seconds": 3}]}
    (folder / "run_manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (folder / "model_card.html").write_text("<card>", encoding="utf-8")
    stamp = ReviewerStamp(folder)
    assert stamp.current() is None
    stamp.record({"model_card": folder / "model_card.html"})
    assert stamp.current() == {"model_card": folder / "model_card.html"}
    manifest.update(finished="2026-01-01T10:07:00", seconds=420.0,
                    tasks=[{"tenant": "a", "seconds": 1, "cached": True}])
    (folder / "run_manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert stamp.current() is not None  # timings only
    manifest["finished"] = "2026-01-02T00:01:00"  # the run's date is on the card
    (folder / "run_manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert stamp.current() is None
    stamp.record({"model_card": folder / "model_card.html"})
    (folder / "validation_report.json").write_text('{"x": 1}', encoding="utf-8")
    assert stamp.current() is None
    stamp.record({"model_card": folder / "model_card.html"})
    (folder / "model_card.html").write_text("<edited>", encoding="utf-8")
    assert stamp.current() is None


def test_folder_memo_is_keyed_by_every_file_and_the_inputs(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    (folder / "tenants" / "a").mkdir(parents=True)
    (folder / "tenants" / "a" / "x.html").write_text("<x>", encoding="utf-8")
    manifest = {"run_id": "r", "finished": "2026-01-01T10:00:00", "seconds": 9.0}
    (folder / "run_manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert FolderMemo(folder, "scan", {"k": 1}).get() is None
    assert FolderMemo(folder, "scan", {"k": 1}).put({"found": [1, 2]}) == {"found": [1, 2]}
    assert FolderMemo(folder, "scan", {"k": 1}).get() == {"found": [1, 2]}
    assert FolderMemo(folder, "scan", {"k": 2}).get() is None  # other inputs
    manifest["seconds"] = 3.0  # timings only
    (folder / "run_manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert FolderMemo(folder, "scan", {"k": 1}).get() == {"found": [1, 2]}
    (folder / "tenants" / "a" / "x.html").write_text("<y>", encoding="utf-8")
    assert FolderMemo(folder, "scan", {"k": 1}).get() is None  # a file changed
    for i in range(FolderMemo.KEEP + 3):
        FolderMemo(folder, "scan", {"k": i}).put(i)
    assert len(list((folder / ".cache" / "memo").glob("scan-*.json"))) == FolderMemo.KEEP


# --------------------------------------------------------------------------- runs


def _run(params: Path, out: Path, **kwargs):
    lines: list[str] = []
    result = run_experiment(load_experiment(params), output_dir=out, workers=2,
                            progress=lines.append, **kwargs)
    paths = write_run_artifacts(result)
    executed = {(t.tenant, t.notebook) for t in result.tasks if not t.cached}
    return result, paths, executed, lines


def _bytes(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in ARTIFACTS}


@pytest.mark.slow
def test_hits_misses_after_edits_and_no_cache(tmp_path: Path) -> None:
    params = _experiment(tmp_path)
    out = tmp_path / "out"
    every = {(t, nb) for t in ("alpha", "beta") for nb in NOTEBOOKS}

    cold, _, executed, _ = _run(params, out)
    assert executed == every
    cold_bytes = _bytes(out)
    cold_keys = {(t.tenant, t.notebook): t.cache_key for t in cold.tasks}

    # nothing changed: nothing runs, the same evidence comes back
    warm, paths, executed, lines = _run(params, out)
    assert executed == set()
    assert _bytes(out) == cold_bytes
    assert {(t.tenant, t.notebook): t.cache_key for t in warm.tasks} == cold_keys
    assert all(line.endswith(" · ok · cached") for line in lines if line.startswith("["))
    assert (out / "tenants" / "alpha" / "validation.html").is_file()
    assert (out / "tenants" / "alpha" / "validation.reviewer.html").is_file()
    manifest = json.loads(paths["run_manifest"].read_text(encoding="utf-8"))
    assert {t["cached"] for t in manifest["tasks"]} == {True}
    assert manifest["cache"]["hits"] == 4 and manifest["cache"]["executed"] == 0
    assert [t["cache_key"] for t in manifest["tasks"]] == [
        cold_keys[(t, nb)] for t in ("alpha", "beta") for nb in NOTEBOOKS]

    # a cached export edited by hand: that task is executed again, and says why
    entry = TaskCache(out).entry(cold_keys[("alpha", "validation")])
    cached_html = entry / "files" / "tenants" / "alpha" / "validation.html"
    cached_html.write_text("<p>a forged export</p>", encoding="utf-8")
    _, paths, executed, lines = _run(params, out)
    assert executed == {("alpha", "validation")}
    reason = "tenants/alpha/validation.html changed after it was stored (SHA-256 differs)"
    assert (f"cache: the entry of alpha · validation is not used ({reason}): executing it "
            "again") in lines
    records = {(t["tenant"], t["notebook"]): t for t in json.loads(
        paths["run_manifest"].read_text(encoding="utf-8"))["tasks"]}
    assert records[("alpha", "validation")]["cache_rejected"] == reason
    assert {r["cache_rejected"] for k, r in records.items() if k != ("alpha", "validation")} \
        == {None}
    assert "forged" not in (out / "tenants" / "alpha" / "validation.html").read_text(
        encoding="utf-8")
    assert _bytes(out) == cold_bytes

    # one notebook edited: that notebook reruns for every tenant, nothing else
    source = load_experiment(params).notebook_path("baselines")
    nb = nbformat.read(source, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("A note added by an analyst."))
    nbformat.write(nb, source)
    _, _, executed, _ = _run(params, out)
    assert executed == {("alpha", "baselines"), ("beta", "baselines")}
    report = json.loads((out / "validation_report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == json.loads(cold_bytes["validation_report.json"])["verdict"]
    executed_nb = nbformat.read(out / "tenants" / "beta" / "baselines.ipynb", as_version=4)
    assert executed_nb.cells[-1].source == "A note added by an analyst."

    # one tenant's data edited: that tenant reruns, the other is reused
    csv = load_experiment(params).tenant("beta").data.source.csv
    lines_ = Path(csv).read_text(encoding="utf-8").splitlines()
    head, *rows = lines_[1].split(",")
    lines_[1] = ",".join([head, *rows[:1], str(float(rows[1]) + 1.0), *rows[2:]])
    Path(csv).write_text("\n".join(lines_) + "\n", encoding="utf-8")
    edited, _, executed, _ = _run(params, out)
    assert executed == {("beta", nb) for nb in NOTEBOOKS}
    edited_bytes = _bytes(out)

    # --no-cache: everything runs again, with the same evidence
    forced, _, executed, lines = _run(params, out, cache=False)
    assert executed == every
    assert not any(line.endswith("cached") for line in lines)
    assert _bytes(out) == edited_bytes
    assert forced.cache["enabled"] is False
    # every state's entries were kept (4 + 2 edited notebooks + 2 edited tenant) ...
    assert forced.cache["entries"] == 8 and forced.cache["pruned"] == 0
    # ... until the cache is limited: a rerun with runner.cache_max_mb 0 keeps its own only
    spec = yaml.safe_load(params.read_text(encoding="utf-8"))
    spec.setdefault("runner", {})["cache_max_mb"] = 0
    params.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    limited, _, executed, lines = _run(params, out)
    assert executed == set()  # runner settings are not part of a task's key
    assert limited.cache["entries"] == 4 and limited.cache["pruned"] == 4
    assert any(line.startswith("cache: removed 4 least recently used entries") for line in lines)
    assert _bytes(out) == edited_bytes
