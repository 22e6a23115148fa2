"""The evidence bundle: package a run as a BagIt bag in a reproducible ``.tar.gz``; verify one.

``write_bundle(output_dir)`` writes ``validation_bundle_<run-id>.tar.gz`` holding one folder,
``validation_bundle_<run-id>/``, laid out as a BagIt bag (RFC 8493)::

    bagit.txt                 BagIt-Version 1.0, UTF-8 tag files
    bag-info.txt              run id, experiment, verdict, Payload-Oxum, ...
    manifest-sha256.txt       SHA-256 of every payload file
    tagmanifest-sha256.txt    SHA-256 of the three tag files above
    data/                     the run's artifacts, reviewer outputs, executed notebooks and
                              their HTML exports (``report.reviewer.evidence_files``)

so any BagIt tool can validate the extracted folder. The same run gives the same bytes:
members sorted, fixed mtime/owner/mode, PAX format, gzip without file name or time stamp.

``verify_bundle(path)`` never extracts outside a temporary folder: it first refuses any member
that is not a regular file or folder (links, devices, fifos), absolute paths, ``..``, duplicate
names, members outside the bag's single top folder and oversized members; only then it
extracts with tarfile's ``data`` filter into a temporary folder and checks the bag: every
manifest hash, no listed file missing, no file unlisted, ``Payload-Oxum``, the tag manifest.
Each problem names the file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import posixpath
import re
import tarfile
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import mmm_evidence
from mmm_evidence.report.reviewer import (
    BUNDLE_PREFIX,
    REVIEWER_OUTPUTS,
    ArtifactError,
    evidence_files,
    load_run_artifacts,
    write_reviewer_outputs,
)

BAGIT_VERSION = "1.0"
MANIFEST = "manifest-sha256.txt"
TAGMANIFEST = "tagmanifest-sha256.txt"
#: Members' modification time (1 January 2000, UTC): fixed, so bundles are reproducible.
FIXED_MTIME = 946_684_800
#: Largest member ``verify_bundle`` accepts by default (bytes).
DEFAULT_MAX_MEMBER_BYTES = 512 * 1024 * 1024
#: Largest total of member sizes ``verify_bundle`` accepts by default (bytes).
DEFAULT_MAX_TOTAL_BYTES = 4 * 1024 * 1024 * 1024
_CHUNK = 1 << 20
_ALGORITHMS = ("md5", "sha1", "sha256", "sha512")

__all__ = ["BAGIT_VERSION", "FIXED_MTIME", "DEFAULT_MAX_MEMBER_BYTES",
           "DEFAULT_MAX_TOTAL_BYTES", "BundleError", "BundleInfo", "Problem", "Verification",
           "bundle_name", "write_bundle", "verify_bundle", "encode_manifest_path",
           "decode_manifest_path"]


class BundleError(ValueError):
    """The run cannot be packaged (the message names the file and what is wrong)."""


def bundle_name(run_id: str) -> str:
    return f"{BUNDLE_PREFIX}{run_id}.tar.gz"


def encode_manifest_path(path: str) -> str:
    """A payload path as written in a manifest: ``%``, CR and LF percent-encoded (RFC 8493
    2.1.3)."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_manifest_path(text: str) -> str:
    return re.sub(r"%(25|0D|0A)", lambda m: {"25": "%", "0D": "\r", "0A": "\n"}[m.group(1).upper()],
                  text, flags=re.IGNORECASE)


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class BundleInfo:
    """What ``write_bundle`` wrote."""

    path: Path
    run_id: str
    payload_files: int
    payload_bytes: int
    sha256: str


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tag_value(value: object) -> str:
    return " ".join(str(value).split()) or "-"


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _tarinfo(name: str, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _parents(paths: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for path in paths:
        parent = posixpath.dirname(path)
        while parent:
            out.add(parent)
            parent = posixpath.dirname(parent)
    return out


def _changed_since_the_run(output_dir: Path, manifest: dict | None,
                           files: Iterable[str]) -> list[str]:
    """The notebook files among ``files`` whose SHA-256 differs from the one the run manifest
    recorded for them (manifests written before the hashes were recorded: none)."""
    recorded: dict[str, str] = {}
    for task in (manifest or {}).get("tasks") or []:
        recorded.update((task or {}).get("sha256") or {})
    return [f for f in sorted(files)
            if f in recorded and _sha256_file(output_dir / f) != recorded[f]]


def write_bundle(output_dir: str | Path, dest: str | Path | None = None, *,
                 refresh: bool = True) -> BundleInfo:
    """Package the run in ``output_dir`` as ``validation_bundle_<run-id>.tar.gz`` (in
    ``output_dir``, or at ``dest``: a file path or an existing folder); return what was
    written. With ``refresh`` the reviewer outputs are rewritten from the artifacts first."""
    output_dir = Path(output_dir)
    try:
        arts = load_run_artifacts(output_dir)
    except ArtifactError as exc:
        raise BundleError(str(exc)) from exc
    if arts.stale:
        names = ", ".join(f"{name} (run {run})" for name, run in sorted(arts.stale.items()))
        raise BundleError(f"{output_dir}: left over from another run: {names}; this run is "
                          f"{arts.run_id} — rerun, or remove those files, before packaging")
    files = evidence_files(arts)
    rewritten = set(REVIEWER_OUTPUTS) if refresh else set()
    missing = [f for f in files if f not in rewritten and not (output_dir / f).is_file()]
    if missing:
        raise BundleError(f"{output_dir}: missing evidence files: {', '.join(missing)} — "
                          "rerun the experiment before packaging")
    changed = _changed_since_the_run(output_dir, arts.manifest, files)
    if changed:
        raise BundleError(f"{output_dir}: not the files run {arts.run_id} wrote (changed "
                          f"since, or written by another run): {', '.join(changed)} — rerun "
                          "the experiment before packaging")
    if refresh:
        write_reviewer_outputs(output_dir)

    root = bundle_name(arts.run_id).removesuffix(".tar.gz")
    payload = {f"data/{f}": output_dir / f for f in files}
    hashes = {name: _sha256_file(path) for name, path in payload.items()}
    sizes = {name: path.stat().st_size for name, path in payload.items()}
    total = sum(sizes.values())
    manifest = "".join(f"{hashes[n]}  {encode_manifest_path(n)}\n" for n in sorted(payload))
    bagit = f"BagIt-Version: {BAGIT_VERSION}\nTag-File-Character-Encoding: UTF-8\n"
    info = [("Bag-Software-Agent", f"mmm-evidence {mmm_evidence.__version__}")]
    if arts.date and re.fullmatch(r"\d{4}-\d{2}-\d{2}", arts.date):
        info.append(("Bagging-Date", arts.date))
    report = arts.report
    info += [
        ("External-Identifier", arts.run_id),
        ("External-Description", f"MMM validation evidence: experiment "
                                 f"{report.get('experiment')}, run {arts.run_id}, verdict "
                                 f"{report.get('verdict')}"),
        ("Experiment", report.get("experiment")),
        ("Run-Id", arts.run_id),
        ("Verdict", report.get("verdict")),
        ("Git-Commit", report.get("git_commit") or "none"),
        ("Package-Version", report.get("package_version")),
        ("Payload-Oxum", f"{total}.{len(payload)}"),
        ("Bag-Size", _human_size(total)),
    ]
    bag_info = "".join(f"{label}: {_tag_value(value)}\n" for label, value in info)
    tags = {"bagit.txt": bagit.encode(), "bag-info.txt": bag_info.encode(),
            MANIFEST: manifest.encode()}
    tagmanifest = "".join(f"{hashlib.sha256(blob).hexdigest()}  {name}\n"
                          for name, blob in sorted(tags.items()))
    tags[TAGMANIFEST] = tagmanifest.encode()

    members: dict[str, tuple[bytes | Path | None, int]] = {}
    for name, blob in tags.items():
        members[name] = (blob, len(blob))
    for name, path in payload.items():
        members[name] = (path, sizes[name])
    for folder in _parents(members):
        members[folder] = (None, 0)

    if dest is None:
        target = output_dir / bundle_name(arts.run_id)
    else:
        folder = str(dest).endswith(("/", os.sep))  # "out/" names a folder, existing or not
        dest = Path(dest)
        target = dest / bundle_name(arts.run_id) if folder or dest.is_dir() else dest
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".bundle-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                              compresslevel=9) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_tarinfo(root, directory=True))
            for name in sorted(members):
                content, size = members[name]
                arcname = f"{root}/{name}"
                if content is None:
                    tar.addfile(_tarinfo(arcname, directory=True))
                elif isinstance(content, bytes):
                    tar.addfile(_tarinfo(arcname, size), io.BytesIO(content))
                else:
                    with open(content, "rb") as handle:
                        tar.addfile(_tarinfo(arcname, size), handle)
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; the bundle is for sharing
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return BundleInfo(path=target, run_id=arts.run_id, payload_files=len(payload),
                      payload_bytes=total, sha256=_sha256_file(target))


# --------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a bundle: ``path`` (inside the bag, or the member name) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class Verification:
    """The outcome of ``verify_bundle``: OK when there is no problem."""

    bundle: Path
    problems: list[Problem] = field(default_factory=list)
    payload_files: int = 0
    payload_bytes: int = 0
    algorithms: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


_TYPE_NAMES = {tarfile.SYMTYPE: "a symbolic link", tarfile.LNKTYPE: "a hard link",
               tarfile.CHRTYPE: "a character device", tarfile.BLKTYPE: "a block device",
               tarfile.FIFOTYPE: "a fifo"}


def _member_problems(members: list[tarfile.TarInfo], max_member_bytes: int,
                     max_total_bytes: int) -> tuple[list[Problem], str | None]:
    """Everything unsafe or out of shape in the member list (nothing is extracted yet), and
    the bag's top folder."""
    problems: list[Problem] = []
    roots: set[str] = set()
    seen: set[str] = set()
    total = 0
    for m in members:
        name = m.name
        if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES or any(
                len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_PART_BYTES
                for part in name.split("/")):
            problems.append(Problem(name[:60] + "…", f"refused: member name too long "
                                    f"({len(name)} characters; at most {MAX_NAME_BYTES} bytes, "
                                    f"{MAX_NAME_PART_BYTES} per path part)"))
            continue
        if not (m.isreg() or m.isdir()):
            what = _TYPE_NAMES.get(m.type, f"an unsupported member type {m.type!r}")
            target = f" -> {m.linkname}" if m.issym() or m.islnk() else ""
            problems.append(Problem(name, f"refused: {what}{target}; a bundle holds only "
                                          "regular files and folders"))
            continue
        parts = name.replace("\\", "/").split("/")
        if (not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name)
                or "\\" in name or "\0" in name):
            problems.append(Problem(name, "refused: absolute or malformed path"))
            continue
        if ".." in parts:
            problems.append(Problem(name, "refused: path with '..' (would leave the folder)"))
            continue
        if m.size > max_member_bytes:
            problems.append(Problem(name, f"refused: {m.size} bytes, larger than the limit of "
                                          f"{max_member_bytes} bytes per member"))
            continue
        clean = posixpath.normpath(name)
        if clean in seen:
            problems.append(Problem(name, "refused: duplicate member"))
        seen.add(clean)
        total += m.size
        roots.add(clean.split("/")[0])
    if total > max_total_bytes:
        problems.append(Problem("(bundle)", f"refused: members total {total} bytes, larger "
                                            f"than the limit of {max_total_bytes} bytes"))
    if len(roots) > 1:
        problems.append(Problem("(bundle)", "refused: more than one top-level entry: "
                                            + ", ".join(sorted(roots))))
    root = next(iter(roots)) if len(roots) == 1 else None
    if root is not None and any(m.isreg() and posixpath.normpath(m.name) == root
                                for m in members):
        problems.append(Problem(root, "refused: the top-level entry is a file, not a bag "
                                      "folder"))
    return problems, root


def _hash_file(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_manifest(path: Path, label: str, problems: list[Problem]) -> dict[str, str]:
    entries: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(label, f"unreadable: {exc}"))
        return entries
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = re.fullmatch(r"([0-9A-Fa-f]+)[ \t]+(.+)", line)
        if not match:
            problems.append(Problem(label, f"line {number}: not '<checksum> <path>'"))
            continue
        rel = decode_manifest_path(match.group(2).lstrip("*"))
        if rel.startswith("/") or ".." in rel.split("/") or "\\" in rel:
            problems.append(Problem(label, f"line {number}: unsafe path {rel!r}"))
            continue
        entries[posixpath.normpath(rel)] = match.group(1).lower()
    return entries


def _files_under(folder: Path, base: Path) -> set[str]:
    return {p.relative_to(base).as_posix() for p in folder.rglob("*") if p.is_file()}


def _check_bag(bag: Path, result: Verification) -> None:
    problems = result.problems
    declaration = bag / "bagit.txt"
    if not declaration.is_file():
        problems.append(Problem("bagit.txt", "missing (not a BagIt bag)"))
        return
    text = declaration.read_text(encoding="utf-8", errors="replace")
    if not re.search(r"^BagIt-Version: \d+\.\d+\s*$", text, re.MULTILINE) or not re.search(
            r"^Tag-File-Character-Encoding: \S+\s*$", text, re.MULTILINE):
        problems.append(Problem("bagit.txt", "not a valid bag declaration"))
    payload_manifests = {alg: bag / f"manifest-{alg}.txt" for alg in _ALGORITHMS
                         if (bag / f"manifest-{alg}.txt").is_file()}
    if not payload_manifests:
        problems.append(Problem(MANIFEST, "missing (no payload manifest)"))
        return
    result.algorithms = sorted(payload_manifests)
    data_dir = bag / "data"
    present = _files_under(data_dir, bag) if data_dir.is_dir() else set()
    for alg, path in sorted(payload_manifests.items()):
        entries = _read_manifest(path, path.name, problems)
        for rel, expected in sorted(entries.items()):
            if not rel.startswith("data/"):
                problems.append(Problem(rel, f"listed in {path.name} outside data/"))
                continue
            target = bag / rel
            if not target.is_file():
                problems.append(Problem(rel, f"missing (listed in {path.name})"))
                continue
            actual = _hash_file(target, alg)
            if actual != expected:
                problems.append(Problem(rel, f"changed: {alg} {actual}, manifest says "
                                             f"{expected}"))
        for rel in sorted(present - set(entries)):
            problems.append(Problem(rel, f"extra: not listed in {path.name}"))
    result.payload_files = len(present)
    result.payload_bytes = sum((bag / rel).stat().st_size for rel in present)
    info = bag / "bag-info.txt"
    if info.is_file():
        oxum = re.search(r"^Payload-Oxum:\s*(\d+)\.(\d+)\s*$",
                         info.read_text(encoding="utf-8", errors="replace"), re.MULTILINE)
        if oxum and (int(oxum.group(1)), int(oxum.group(2))) != (result.payload_bytes,
                                                                 result.payload_files):
            problems.append(Problem("bag-info.txt", f"Payload-Oxum {oxum.group(1)}."
                                                    f"{oxum.group(2)} does not match the "
                                                    f"payload ({result.payload_bytes} bytes in "
                                                    f"{result.payload_files} files)"))
    tag_manifests = {alg: bag / f"tagmanifest-{alg}.txt" for alg in _ALGORITHMS
                     if (bag / f"tagmanifest-{alg}.txt").is_file()}
    if not tag_manifests:
        problems.append(Problem(TAGMANIFEST, "missing (no tag manifest)"))
    tag_files = {rel for rel in _files_under(bag, bag) if not rel.startswith("data/")}
    listed: set[str] = set()
    for alg, path in sorted(tag_manifests.items()):
        entries = _read_manifest(path, path.name, problems)
        listed |= set(entries)
        for rel, expected in sorted(entries.items()):
            target = bag / rel
            if not target.is_file():
                problems.append(Problem(rel, f"missing (listed in {path.name})"))
            elif _hash_file(target, alg) != expected:
                problems.append(Problem(rel, f"changed: {alg} does not match {path.name}"))
    own = {p.name for p in tag_manifests.values()}
    for rel in sorted(tag_files - listed - own):
        problems.append(Problem(rel, "extra: tag file not listed in a tag manifest"))


#: Longest member name (and path part) a bundle may hold; a bag's are far shorter.
MAX_NAME_BYTES = 1024
MAX_NAME_PART_BYTES = 255
#: Zero bytes a tar may carry after its end marker (padding to its record size, 10 KiB for
#: GNU tar and Python's tarfile); far more is refused rather than read to the end.
MAX_PADDING_BYTES = 1 << 20
_CHUNK = 1 << 20


def _gzip_chunks(path: Path):
    """The decompressed bytes of the first gzip member of ``path``, in chunks; then raises
    ``_Trailing`` if anything follows that member (a second member or other bytes: extractors
    such as ``tar -i`` read them, so a bundle must not have them)."""
    inflate = zlib.decompressobj(wbits=31)
    with open(path, "rb") as handle:
        while not inflate.eof:
            raw = handle.read(_CHUNK)
            if not raw:
                raise EOFError("the gzip stream ends early (a truncated file)")
            while raw and not inflate.eof:  # at most _CHUNK bytes out per step: no bomb
                yield inflate.decompress(raw, _CHUNK)
                raw = inflate.unconsumed_tail
        rest = inflate.unused_data + handle.read(1)
    if rest:
        raise _Trailing("bytes after the gzip stream (a second gzip member or other data); "
                        "a bundle is one gzip stream")


class _Trailing(ValueError):
    pass


def _after_the_archive(path: Path, end: int) -> str | None:
    """Why the bytes after the tar's last member (offset ``end`` of the decompressed stream)
    are not what an archive ends with — zero blocks only — or None when they are."""
    seen = 0
    for chunk in _gzip_chunks(path):
        start = max(end - seen, 0)
        if start < len(chunk) and chunk[start:].strip(b"\0"):
            return ("data after the archive's end marker (a member only some extractors "
                    "read); a bundle ends with the marker")
        seen += len(chunk)
        if seen - end > MAX_PADDING_BYTES:
            return (f"more than {MAX_PADDING_BYTES} bytes after the archive's end marker; "
                    "a bundle ends with its padding")
    return None


def verify_bundle(path: str | Path, *, max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
                  max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES) -> Verification:
    """Check a bundle's safety and integrity; every problem names its file (see module doc)."""
    path = Path(path)
    result = Verification(bundle=path)
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            members = tar.getmembers()
            unsafe, root = _member_problems(members, max_member_bytes, max_total_bytes)
            if not unsafe:
                try:
                    trailing = _after_the_archive(path, tar.offset)
                except _Trailing as exc:
                    trailing = str(exc)
                if trailing:
                    unsafe = [Problem(path.name, f"refused: {trailing}")]
            if unsafe or root is None:
                result.problems.extend(unsafe or [Problem("(bundle)", "empty archive")])
                return result
            with tempfile.TemporaryDirectory(prefix="mmm-verify-") as tmp:
                try:
                    tar.extractall(tmp, filter="data")
                except tarfile.FilterError as exc:
                    result.problems.append(Problem(exc.tarinfo.name,
                                                   f"refused while extracting: {exc}"))
                    return result
                bag = Path(tmp) / root
                if not bag.is_dir():
                    result.problems.append(Problem(root, "not a folder"))
                    return result
                _check_bag(bag, result)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        result.problems.append(Problem(path.name, f"not a readable .tar.gz: {exc}"))
    return result
