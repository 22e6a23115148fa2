"""The evidence bundle: a reproducible BagIt bag; verify names every problem and extracts
nothing unsafe (no kernels: the run folder is the fake run of tests/pipeline)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from mmm_evidence.bundle import (
    FIXED_MTIME,
    BundleError,
    decode_manifest_path,
    encode_manifest_path,
    verify_bundle,
    write_bundle,
)
from mmm_evidence.cli import main
from tests.run_folder import make_run_folder

Member = tuple[tarfile.TarInfo, bytes | None]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run_folder(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def bundle(run_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bundle(run_folder, tmp_path_factory.mktemp("bundle")).path


def run_id(folder: Path) -> str:
    return json.loads((folder / "validation_report.json").read_text(encoding="utf-8"))["run_id"]


def members(path: Path) -> list[Member]:
    with tarfile.open(path, "r:gz") as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]


def repack(src: Path, dst: Path, edit: Callable[[list[Member]], list[Member]]) -> Path:
    """A copy of the bundle ``src`` with its member list changed by ``edit``."""
    with tarfile.open(dst, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in edit(members(src)):
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return dst


def root_of(path: Path) -> str:
    return members(path)[0][0].name


def problems(path: Path, **kw) -> list[str]:
    return [str(p) for p in verify_bundle(path, **kw).problems]


# --------------------------------------------------------------------------- the bag


def test_bundle_is_a_bagit_bag_by_the_rfc_rules(bundle: Path, run_folder: Path) -> None:
    rid = run_id(run_folder)
    assert bundle.name == f"validation_bundle_{rid}.tar.gz"
    items = members(bundle)
    root = f"validation_bundle_{rid}"
    assert items[0][0].name == root and items[0][0].isdir()
    assert all(m.name == root or m.name.startswith(root + "/") for m, _ in items)
    files = {m.name[len(root) + 1:]: data for m, data in items if m.isreg()}
    tag_files = sorted(n for n in files if not n.startswith("data/"))
    assert tag_files == ["bag-info.txt", "bagit.txt", "manifest-sha256.txt",
                         "tagmanifest-sha256.txt"]
    assert files["bagit.txt"] == b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    manifest = files["manifest-sha256.txt"].decode()
    listed = {}
    for line in manifest.splitlines():
        match = re.fullmatch(r"([0-9a-f]{64})  (data/\S+)", line)
        assert match, line
        listed[match.group(2)] = match.group(1)
    payload = {n: d for n, d in files.items() if n.startswith("data/")}
    assert set(listed) == set(payload)
    assert all(hashlib.sha256(payload[n]).hexdigest() == h for n, h in listed.items())
    tags = dict(reversed(line.split("  ", 1)) for line in
                files["tagmanifest-sha256.txt"].decode().splitlines())
    assert set(tags) == {"bagit.txt", "bag-info.txt", "manifest-sha256.txt"}
    assert all(hashlib.sha256(files[n]).hexdigest() == h for n, h in tags.items())
    info = dict(line.split(": ", 1) for line in files["bag-info.txt"].decode().splitlines())
    assert info["Payload-Oxum"] == f"{sum(map(len, payload.values()))}.{len(payload)}"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", info["Bagging-Date"])
    assert info["External-Identifier"] == rid and info["Verdict"] == "FAIL"
    for m, _ in items:  # fixed metadata: reproducible, owned by nobody in particular
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (FIXED_MTIME, 0, 0, "", "")
        assert m.mode == (0o755 if m.isdir() else 0o644)


def test_bundle_holds_every_artifact_export_and_notebook(bundle: Path) -> None:
    names = {m.name.split("/", 1)[1] for m, _ in members(bundle) if m.isreg()}
    for name in ("validation_report.json", "run_manifest.json", "baseline_metrics.json",
                 "robustness_report.json", "robustness_suite.log", "model_card.html",
                 "model_card.md", "index.html", "defects.md", "SUMMARY.md",
                 "tenants/alpha/validation.ipynb", "tenants/alpha/validation.html",
                 "tenants/alpha/validation.reviewer.html", "tenants/gamma/robustness.ipynb"):
        assert f"data/{name}" in names, name
    assert not any(n.startswith("data/data/") for n in names)  # inputs: hashes only


def test_same_run_gives_byte_identical_bundles(run_folder: Path, bundle: Path,
                                               tmp_path: Path) -> None:
    copy = Path(shutil.copytree(run_folder, tmp_path / "elsewhere"))
    for path in copy.rglob("*"):  # other mtimes, same content
        if path.is_file():
            path.touch()
    again = write_bundle(copy, tmp_path / "again.tar.gz")
    assert again.path.read_bytes() == bundle.read_bytes()
    assert again.sha256 == hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert bundle.read_bytes()[3] == 0 and bundle.read_bytes()[4:8] == b"\0\0\0\0"  # no name,
    # no gzip time stamp


def test_stale_artifacts_are_refused(run_folder: Path, tmp_path: Path) -> None:
    out = Path(shutil.copytree(run_folder, tmp_path / "out"))
    path = out / "robustness_report.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**data, "run_id": "0ld0ld0ld0ld"}), encoding="utf-8")
    with pytest.raises(BundleError, match=r"robustness_report\.json \(run 0ld0ld0ld0ld\)"):
        write_bundle(out)
    assert main(["package", "ignored", "--output-dir", str(out)]) == 2
    with pytest.raises(BundleError, match=r"validation_report\.json: not found"):
        write_bundle(tmp_path / "empty")


def test_notebooks_missing_or_not_from_this_run_are_refused(run_folder: Path,
                                                             tmp_path: Path) -> None:
    """The run manifest records each executed notebook's and export's SHA-256: a file
    deleted, edited or overwritten by another (interrupted) run stops packaging."""
    manifest = json.loads((run_folder / "run_manifest.json").read_text(encoding="utf-8"))
    recorded = {rel for task in manifest["tasks"] for rel in task["sha256"]}
    assert "tenants/alpha/validation.ipynb" in recorded
    assert "tenants/alpha/validation.reviewer.html" in recorded
    gone = Path(shutil.copytree(run_folder, tmp_path / "gone"))
    (gone / "tenants" / "alpha" / "validation.html").unlink()
    with pytest.raises(BundleError, match=r"missing evidence files: "
                                          r"tenants/alpha/validation\.html"):
        write_bundle(gone)
    other = Path(shutil.copytree(run_folder, tmp_path / "other"))
    notebook = other / "tenants" / "beta" / "validation.ipynb"
    notebook.write_text(notebook.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    with pytest.raises(BundleError, match=r"not the files run \w+ wrote .*"
                                          r"tenants/beta/validation\.ipynb"):
        write_bundle(other)
    assert main(["package", "ignored", "--output-dir", str(other)]) == 2


def test_files_the_run_did_not_write_are_not_bundled(run_folder: Path, tmp_path: Path) -> None:
    out = Path(shutil.copytree(run_folder, tmp_path / "out"))
    (out / "raw_export.csv").write_text("date,segment,revenue\n2024-01-01,a,1\n",
                                        encoding="utf-8")
    (out / "notes.txt").write_text("ask jane@example.com", encoding="utf-8")
    names = {m.name.split("/", 1)[-1] for m, _ in members(write_bundle(out, tmp_path).path)}
    assert "data/validation_report.json" in names and "data/robustness_suite.log" in names
    assert "data/raw_export.csv" not in names and "data/notes.txt" not in names


def _tar_bytes(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_bytes_after_the_archive_are_refused(bundle: Path, tmp_path: Path) -> None:
    """Extractors such as ``tar -i`` also read a second gzip member or a member after the
    archive's end marker; verify refuses both instead of saying OK about the rest."""
    import gzip

    root = members(bundle)[0][0].name.split("/")[0]
    smuggled = _tar_bytes(f"{root}/data/model_card.html", b"<p>pwned</p>")
    appended = tmp_path / "appended.tar.gz"
    appended.write_bytes(bundle.read_bytes() + gzip.compress(smuggled))
    trailing = tmp_path / "trailing.tar.gz"
    trailing.write_bytes(bundle.read_bytes() + b"garbage")
    after_end = tmp_path / "after_end.tar.gz"
    after_end.write_bytes(gzip.compress(gzip.decompress(bundle.read_bytes()) + smuggled))
    padded = tmp_path / "padded.tar.gz"  # zeros compress to nothing: not read to the end
    padded.write_bytes(gzip.compress(gzip.decompress(bundle.read_bytes()) + bytes(2 << 20)))
    for path, says in ((appended, "bytes after the gzip stream"),
                       (padded, "more than 1048576 bytes after the archive's end marker"),
                       (trailing, "bytes after the gzip stream"),
                       (after_end, "data after the archive's end marker")):
        result = verify_bundle(path)
        assert not result.ok, path.name
        assert any(says in p.message for p in result.problems), (path.name, result.problems)
    assert verify_bundle(bundle).ok


def test_an_over_long_member_name_is_refused_before_extracting(bundle: Path,
                                                                tmp_path: Path) -> None:
    root = members(bundle)[0][0].name.split("/")[0]
    long_name = f"{root}/data/" + "x" * 5000

    def add(items: list[Member]) -> list[Member]:
        info = tarfile.TarInfo(long_name)
        return [*items, (info, b"x")]

    result = verify_bundle(repack(bundle, tmp_path / "long.tar.gz", add))
    assert [p.message for p in result.problems] == [
        f"refused: member name too long ({len(long_name)} characters; at most 1024 bytes, "
        "255 per path part)"]
    assert all(len(p.path) < 100 for p in result.problems)  # the name is shortened


def test_out_ending_in_a_slash_is_a_folder(run_folder: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    out = Path(shutil.copytree(run_folder, tmp_path / "run"))
    assert main(["package", "x", "--output-dir", str(out), "--out",
                 str(tmp_path / "new" / "sub") + "/"]) == 0
    written = list((tmp_path / "new" / "sub").glob("validation_bundle_*.tar.gz"))
    assert len(written) == 1 and verify_bundle(written[0]).ok
    assert main(["verify", str(tmp_path / "new")]) == 2
    assert "a folder; give the bundle file" in capsys.readouterr().err


def test_manifest_paths_are_percent_encoded() -> None:
    path = "data/a%b\nc\rd.txt"
    assert encode_manifest_path(path) == "data/a%25b%0Ac%0Dd.txt"
    assert decode_manifest_path(encode_manifest_path(path)) == path


# --------------------------------------------------------------------------- verify


def test_verify_ok_and_extracts_with_the_data_filter(bundle: Path, monkeypatch,
                                                     capsys) -> None:
    seen = {}
    original = tarfile.TarFile.extractall

    def spy(self, path=".", members=None, *, numeric_owner=False, filter=None):
        seen["filter"], seen["path"] = filter, str(path)
        return original(self, path, members, numeric_owner=numeric_owner, filter=filter)

    monkeypatch.setattr(tarfile.TarFile, "extractall", spy)
    result = verify_bundle(bundle)
    assert result.ok and result.payload_files > 20 and result.algorithms == ["sha256"]
    assert seen["filter"] == "data" and "mmm-verify-" in seen["path"]
    assert not Path(seen["path"]).exists()  # the temporary folder is gone
    assert main(["verify", str(bundle)]) == 0
    assert capsys.readouterr().out.startswith(f"OK {bundle}: valid BagIt bag")


def change_byte(name: str) -> Callable[[list[Member]], list[Member]]:
    def edit(items: list[Member]) -> list[Member]:
        out = []
        for info, data in items:
            if info.name.endswith("/" + name):
                data = bytes([data[0] ^ 1]) + data[1:]
            out.append((info, data))
        return out
    return edit


def add(name: str) -> Callable[[list[Member]], list[Member]]:
    def edit(items: list[Member]) -> list[Member]:
        root = items[0][0].name
        return [*items, (tarfile.TarInfo(f"{root}/{name}"), b"not evidence\n")]
    return edit


def drop(name: str) -> Callable[[list[Member]], list[Member]]:
    return lambda items: [(i, d) for i, d in items if not i.name.endswith("/" + name)]


@pytest.mark.parametrize(("edit", "expected"), [
    (change_byte("data/validation_report.json"), r"^data/validation_report\.json: changed: "
                                                 r"sha256 [0-9a-f]{64}, manifest says"),
    (change_byte("data/tenants/alpha/validation.reviewer.html"),
     r"^data/tenants/alpha/validation\.reviewer\.html: changed"),
    (add("data/extra.txt"), r"^data/extra\.txt: extra: not listed in manifest-sha256\.txt"),
    (add("notes.txt"), r"^notes\.txt: extra: tag file not listed in a tag manifest"),
    (drop("data/defects.md"), r"^data/defects\.md: missing \(listed in manifest-sha256\.txt\)"),
    (change_byte("manifest-sha256.txt"), r"^manifest-sha256\.txt: changed: sha256 does not "
                                         r"match tagmanifest-sha256\.txt"),
    (drop("bagit.txt"), r"^bagit\.txt: missing"),
])
def test_verify_names_the_file_that_was_tampered_with(bundle: Path, tmp_path: Path, edit,
                                                      expected: str, capsys) -> None:
    bad = repack(bundle, tmp_path / "bad.tar.gz", edit)
    found = problems(bad)
    assert any(re.search(expected, p) for p in found), found
    assert main(["verify", str(bad)]) == 1
    out = capsys.readouterr().out
    assert re.search("^FAIL " + expected.lstrip("^"), out, re.MULTILINE)
    assert out.rstrip().endswith("problem(s)")


def test_a_grown_member_is_changed_and_breaks_the_payload_oxum(
        bundle: Path, tmp_path: Path) -> None:
    def grow(items: list[Member]) -> list[Member]:
        return [(i, d + b" " if i.name.endswith("/data/index.html") else d) for i, d in items]

    found = problems(repack(bundle, tmp_path / "grown.tar.gz", grow))
    assert any(p.startswith("data/index.html: changed") for p in found)
    assert any(p.startswith("bag-info.txt: Payload-Oxum") for p in found)


# --------------------------------------------------------------------------- attack members


def evil_tar(path: Path, info: tarfile.TarInfo, data: bytes | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        root = tarfile.TarInfo("validation_bundle_x")
        root.type = tarfile.DIRTYPE
        tar.addfile(root)
        ok = tarfile.TarInfo("validation_bundle_x/bagit.txt")
        ok.size = 3
        tar.addfile(ok, io.BytesIO(b"ok\n"))
        if data is not None:
            info.size = len(data)
        tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def link(kind: bytes, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo("validation_bundle_x/data/link")
    info.type, info.linkname = kind, target
    return info


def special(kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo("validation_bundle_x/data/dev")
    info.type, info.devmajor, info.devminor = kind, 1, 3
    return info


@pytest.mark.parametrize(("make", "data", "name", "reason"), [
    (lambda t: link(tarfile.SYMTYPE, "/etc/passwd"), None, "validation_bundle_x/data/link",
     "a symbolic link -> /etc/passwd"),
    (lambda t: link(tarfile.LNKTYPE, "validation_bundle_x/bagit.txt"), None,
     "validation_bundle_x/data/link", "a hard link"),
    (lambda t: special(tarfile.CHRTYPE), None, "validation_bundle_x/data/dev",
     "a character device"),
    (lambda t: special(tarfile.BLKTYPE), None, "validation_bundle_x/data/dev", "a block device"),
    (lambda t: special(tarfile.FIFOTYPE), None, "validation_bundle_x/data/dev", "a fifo"),
    (lambda t: tarfile.TarInfo(str(t)), b"pwned", "{target}", "absolute"),
    (lambda t: tarfile.TarInfo(f"validation_bundle_x/../../{t.name}"), b"pwned",
     "validation_bundle_x/../../{name}", "'..'"),
    (lambda t: tarfile.TarInfo(f"../{t.name}"), b"pwned", "../{name}", "'..'"),
])
def test_unsafe_members_are_refused_before_anything_is_extracted(
        tmp_path: Path, monkeypatch, make, data, name: str, reason: str, capsys) -> None:
    target = tmp_path / f"pwned-{uuid.uuid4().hex}"
    bad = evil_tar(tmp_path / "evil.tar.gz", make(target), data)

    def no_extract(*args, **kwargs):
        raise AssertionError("verify extracted an archive with unsafe members")

    monkeypatch.setattr(tarfile.TarFile, "extractall", no_extract)
    result = verify_bundle(bad)
    expected = name.format(target=target, name=target.name)
    assert not result.ok
    assert any(p.path == expected and "refused" in p.message and reason in p.message
               for p in result.problems), result.problems
    assert not target.exists()
    assert main(["verify", str(bad)]) == 1
    assert f"FAIL {expected}: refused" in capsys.readouterr().out


def test_oversized_members_are_refused(bundle: Path, tmp_path: Path, monkeypatch) -> None:
    big = max(m.size for m, _ in members(bundle))
    monkeypatch.setattr(tarfile.TarFile, "extractall",
                        lambda *a, **k: pytest.fail("extracted an oversized member"))
    result = verify_bundle(bundle, max_member_bytes=big - 1)
    assert not result.ok
    assert all("refused" in p.message and "larger than the limit" in p.message
               for p in result.problems)
    evil = evil_tar(tmp_path / "big.tar.gz", tarfile.TarInfo("validation_bundle_x/data/big"),
                    b"x" * 5000)
    assert main(["verify", str(evil), "--max-member-mb", "0.001"]) == 1


def test_a_second_top_level_entry_and_a_non_archive_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "two.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        for name in ("a/bagit.txt", "b/bagit.txt"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    assert any("more than one top-level entry: a, b" in p for p in problems(bad))
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball")
    assert any(p.startswith("junk.tar.gz: not a readable .tar.gz") for p in problems(junk))
    assert main(["verify", str(tmp_path / "missing.tar.gz")]) == 2


def test_cli_package_writes_the_bundle(run_folder: Path, tmp_path: Path, capsys) -> None:
    out = Path(shutil.copytree(run_folder, tmp_path / "out"))
    assert main(["package", "fixture_exp", "--output-dir", str(out)]) == 0
    text = capsys.readouterr().out
    path = out / f"validation_bundle_{run_id(out)}.tar.gz"
    assert text.startswith(f"wrote bundle: {path}\n") and path.is_file()
    assert verify_bundle(path).ok
