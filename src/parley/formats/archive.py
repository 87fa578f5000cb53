"""The container side of the ChatGPT export reader: paths, folders and ZIPs.

* :func:`plan` turns the given paths into the list of JSON files and ZIP members to read
  (missing paths and files that are neither JSON nor ZIP are refused up front).
* :func:`check_member_name` rejects an archive with an absolute path, a ``..`` component,
  a drive letter (``C:\\``) or a NUL byte in any member name.
* :func:`conversation_members` picks ``conversations.json`` / ``conversations-NNN.json``
  at the root of the archive or inside one top-level folder, in ``export_manifest.json``
  order when present (else natural order), and checks the *declared* sizes against
  :class:`ZipLimits` before anything is unpacked.
* :class:`MemberReader` counts the bytes actually unpacked and stops as soon as they
  exceed the declared size or the limits, since headers can lie.

Every problem is a :class:`~parley.errors.BadImport` whose message says what to do.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import IO, Any

import orjson

from parley.errors import BadImport

CONVERSATION_MEMBER = re.compile(r"conversations(?:-\d+)?\.json")
MANIFEST = "export_manifest.json"
MAX_MANIFEST_BYTES = 4 * 1024**2
_BOM = b"\xef\xbb\xbf"
_DRIVE = re.compile(r"[A-Za-z]:")
_REDOWNLOAD = "download the export again from ChatGPT (Settings > Data controls > Export data)"


@dataclass(frozen=True)
class ZipLimits:
    max_ratio: int = 200  # per member uncompressed/compressed
    max_total_bytes: int = 64 * 1024**3  # sum of uncompressed sizes of members we read


def natural_key(name: str) -> list[Any]:
    """Sort key that puts ``conversations-2`` before ``conversations-10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def check_member_name(archive: str, name: str) -> None:
    parts = re.split(r"[/\\]", name)
    if "\x00" in name or name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts:
        raise BadImport(
            f"{archive} contains a member with an unsafe path {name!r} (absolute, '..', "
            f"drive letter or NUL byte), so Parley refuses the whole archive; {_REDOWNLOAD}."
        )


def order_files(names: Iterable[str], manifest: bytes | None, where: str) -> list[str]:
    """Conversation file names of one folder in reading order.

    ``export_manifest.json`` order first (a listed file that is missing means an incomplete
    export), then any unlisted ones in natural order.
    """
    present = sorted(names, key=natural_key)
    listed: list[str] = []
    if manifest is not None:
        try:
            files = orjson.loads(manifest)["export_files"]
            listed = [PurePosixPath(str(f["path"])).name for f in files]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            listed = []
        listed = [n for n in dict.fromkeys(listed) if CONVERSATION_MEMBER.fullmatch(n)]
        missing = [n for n in listed if n not in present]
        if missing:
            raise BadImport(
                f"{where}: {MANIFEST} lists {missing[0]} but the export does not contain it, "
                f"so the export is incomplete; {_REDOWNLOAD}."
            )
    return listed + [n for n in present if n not in listed]


def open_zip(path: Path, label: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise BadImport(
            f"{label} is not a readable ZIP ({exc}); the download may be incomplete — "
            f"{_REDOWNLOAD}."
        ) from exc


def _read_manifest(zf: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        info = zf.getinfo(name)
        if info.file_size > MAX_MANIFEST_BYTES:
            return None
        with zf.open(info) as stream:
            return stream.read(MAX_MANIFEST_BYTES)
    except (KeyError, zipfile.BadZipFile, OSError, EOFError, zlib.error, RuntimeError):
        return None  # unreadable manifest: fall back to name order
    except NotImplementedError:  # an exotic compression method: same
        return None


def conversation_members(
    zf: zipfile.ZipFile, label: str, limits: ZipLimits | None
) -> list[zipfile.ZipInfo]:
    """The members to read, in order, after checking names (and declared sizes, if limits)."""
    infos = zf.infolist()
    for info in infos:
        check_member_name(label, info.orig_filename)
    folders: dict[str, dict[str, zipfile.ZipInfo]] = {}
    for info in infos:
        folder, _, base = info.filename.rpartition("/")
        if info.is_dir() or "/" in folder or folder == "__MACOSX":
            continue
        if CONVERSATION_MEMBER.fullmatch(base):
            folders.setdefault(folder, {})[base] = info
    if not folders:
        raise BadImport(
            f"{label} has no conversations.json or conversations-000.json; is it a ChatGPT "
            f"data export? {_REDOWNLOAD[0].upper()}{_REDOWNLOAD[1:]}."
        )
    chosen = [""] if "" in folders else sorted(folders, key=natural_key)
    members: list[zipfile.ZipInfo] = []
    for folder in chosen:
        manifest = _read_manifest(zf, f"{folder}/{MANIFEST}" if folder else MANIFEST)
        where = f"{label}:{folder}" if folder else label
        members += [folders[folder][n] for n in order_files(folders[folder], manifest, where)]
    if limits is not None:
        check_declared(members, label, limits)
    return members


def _bomb(label: str, what: str) -> BadImport:
    return BadImport(
        f"{label}: {what}; this looks like a ZIP bomb, so Parley did not unpack it. If it is "
        "a genuine ChatGPT export, raise PARLEY_MAX_ZIP_RATIO or PARLEY_MAX_UNZIPPED_BYTES."
    )


def check_declared(members: Iterable[zipfile.ZipInfo], label: str, limits: ZipLimits) -> None:
    total = 0
    for info in members:
        if info.flag_bits & 0x1:
            raise BadImport(f"{label}: {info.filename} is encrypted; export it again unencrypted.")
        if info.file_size > limits.max_ratio * info.compress_size:
            ratio = info.file_size / max(info.compress_size, 1)
            raise _bomb(
                label,
                f"{info.filename} would expand {ratio:.0f}x (limit {limits.max_ratio}x)",
            )
        total += info.file_size
    if total > limits.max_total_bytes:
        raise _bomb(
            label, f"its conversations unpack to {total} bytes (limit {limits.max_total_bytes})"
        )


@dataclass
class Budget:
    """Bytes unpacked so far from one archive."""

    used: int = 0


class MemberReader:
    """A ``read(n)`` over one member that counts what is really unpacked."""

    def __init__(
        self,
        stream: IO[bytes],
        label: str,
        info: zipfile.ZipInfo,
        limits: ZipLimits,
        budget: Budget,
    ) -> None:
        self._stream, self._label, self._info = stream, label, info
        self._limits, self._budget = limits, budget
        self.count = 0

    def read(self, size: int = -1, /) -> bytes:
        info = self._info
        try:
            data = self._stream.read(size)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise BadImport(
                f"{self._label}: {info.filename} is damaged ({exc}); {_REDOWNLOAD}."
            ) from exc
        self.count += len(data)
        self._budget.used += len(data)
        if self.count > info.file_size:
            raise _bomb(
                self._label,
                f"{info.filename} unpacks to more than the {info.file_size} bytes its header "
                "declares",
            )
        if self.count > self._limits.max_ratio * info.compress_size:
            raise _bomb(self._label, f"{info.filename} expands over {self._limits.max_ratio}x")
        if self._budget.used > self._limits.max_total_bytes:
            raise _bomb(
                self._label,
                f"its conversations unpack to more than {self._limits.max_total_bytes} bytes",
            )
        return data


def open_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str, limits: ZipLimits, budget: Budget
) -> tuple[IO[bytes], MemberReader]:
    """Open ``info`` for reading; returns the raw stream (to close) and its guarded reader."""
    try:
        stream = zf.open(info)
    except NotImplementedError as exc:
        raise BadImport(
            f"{label}: {info.filename} uses a compression method Python cannot read ({exc}); "
            "unpack the ZIP and import the folder, or re-zip it with standard deflate."
        ) from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError) as exc:
        raise BadImport(f"{label}: {info.filename} is damaged ({exc}); {_REDOWNLOAD}.") from exc
    return stream, MemberReader(stream, label, info, limits, budget)


@dataclass(frozen=True)
class Input:
    path: Path
    label: str
    size: int
    members: tuple[str, ...] | None = None  # ZIP member names; None for a JSON file


def sniff(path: Path, label: str) -> str:
    with path.open("rb") as f:
        head = f.read(64 * 1024)
    if head.startswith(b"PK"):
        return "zip"
    body = head.removeprefix(_BOM).lstrip(b" \t\r\n")
    if body[:1] in (b"[", b"{") or (not body and len(head) == 64 * 1024):
        return "json"
    if not head:
        raise BadImport(f"{label} is empty; give the export ZIP or its conversations.json.")
    raise BadImport(
        f"{label} is neither JSON nor a ZIP (it starts with {body[:20]!r}); give the ChatGPT "
        "export ZIP, its conversations.json, or a folder holding them."
    )


def _input(path: Path, label: str, limits: ZipLimits | None) -> Input:
    if sniff(path, label) == "json":
        return Input(path, label, path.stat().st_size)
    with open_zip(path, label) as zf:
        members = conversation_members(zf, label, limits)
    return Input(path, label, sum(i.file_size for i in members), tuple(i.filename for i in members))


def walk(root: Path) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted((d for d in dirs if d != "__MACOSX"), key=natural_key)
        here = Path(folder)
        manifest = here / MANIFEST
        where = str(here)
        names = [f for f in files if fnmatchcase(f, "conversations*.json")]
        raw_manifest = None
        if names and MANIFEST in files and manifest.stat().st_size <= MAX_MANIFEST_BYTES:
            raw_manifest = manifest.read_bytes()
        ordered = order_files(names, raw_manifest, where)
        zips = sorted((f for f in files if f.lower().endswith(".zip")), key=natural_key)
        for name in ordered + zips:
            found.append((here / name, (here / name).relative_to(root).as_posix()))
    return found


def plan(paths: Sequence[Path], limits: ZipLimits | None) -> list[Input]:
    inputs: list[Input] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise BadImport(
                f"{path} does not exist; give the export ZIP, a conversations.json, or a "
                "folder holding them."
            )
        if not path.is_dir():
            inputs.append(_input(path, path.name, limits))
            continue
        found = walk(path)
        if not found:
            raise BadImport(
                f"{path} holds no conversations*.json or .zip file; give the folder where you "
                "unpacked the ChatGPT export, or the export ZIP itself."
            )
        inputs += [_input(file, label, limits) for file, label in found]
    return inputs
