"""Safe expansion of ZIP and tar archives: bounded member count, total size, compression ratio and depth; no path
escapes, no links or devices."""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from core.settings import IngestSettings
from core.types import RejectedDocument, RejectReason

ARCHIVE_SUFFIXES = {".zip", ".tar", ".tgz", ".tar.gz"}


@dataclass
class Member:
    name: str
    path: Path | None  # None when the member was refused
    refusal: RejectedDocument | None = None


@dataclass
class _Entry:
    """One file of an archive, whatever its format: what the limits look at and how to read it."""

    name: str
    size: int  # declared uncompressed size
    compressed: int  # compressed size, or 0 when the format compresses the whole stream (tar.gz)
    open: Callable[[], IO[bytes]]
    refusal: RejectedDocument | None = None


def archive_suffix(filename: str) -> str | None:
    lower = filename.lower()
    return next((s for s in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True) if lower.endswith(s)), None)


def is_archive(filename: str) -> bool:
    return archive_suffix(filename) is not None


def _unsafe(name: str) -> bool:
    posix = PurePosixPath(name.replace("\\", "/"))
    return posix.is_absolute() or ".." in posix.parts or (len(name) > 1 and name[1] == ":")


def _zip_entries(archive: zipfile.ZipFile) -> list[_Entry]:
    entries = []
    for info in archive.infolist():
        if info.is_dir():
            continue
        refusal = RejectedDocument(RejectReason.ENCRYPTED, "the member is encrypted") if info.flag_bits & 0x1 else None
        entries.append(_Entry(info.filename, info.file_size, max(info.compress_size, 1),
                              lambda info=info: archive.open(info), refusal))
    return entries


def _tar_entries(archive: tarfile.TarFile) -> list[_Entry]:
    entries = []
    for info in archive.getmembers():
        if info.isdir():
            continue
        refusal = None
        if not info.isfile():  # symbolic and hard links, devices, FIFOs: never extracted
            refusal = RejectedDocument(RejectReason.UNSAFE_NAME, f"member {info.name!r} is a link or a device, not a file")
        entries.append(_Entry(info.name, info.size, 0, lambda info=info: archive.extractfile(info), refusal))
    return entries


def _open(path: Path, display: str):
    """The archive and its entries; RejectedDocument(corrupt) when it cannot be read as its suffix says."""
    if archive_suffix(display) == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise RejectedDocument(RejectReason.CORRUPT, f"not a readable ZIP archive ({exc})") from None
        return archive, _zip_entries(archive)
    try:
        archive = tarfile.open(path, mode="r:*")
        return archive, _tar_entries(archive)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise RejectedDocument(RejectReason.CORRUPT, f"not a readable tar archive ({exc})") from None


def expand(path: Path, dest: Path, limits: IngestSettings, display: str | None = None) -> list[Member]:
    """Extracts every acceptable member into `dest`; refused members are returned with the reason. `display` (the
    file's name) says the format; by default the path's."""
    archive, entries = _open(path, display or path.name)
    kind = "ZIP" if isinstance(archive, zipfile.ZipFile) else "tar"
    with archive:
        if not entries:
            raise RejectedDocument(RejectReason.NO_TEXT, "the archive contains no files")
        if len(entries) > limits.archive_max_members:
            raise RejectedDocument(
                RejectReason.ARCHIVE_LIMIT, f"{len(entries)} members, more than the limit of {limits.archive_max_members}"
            )
        declared = sum(e.size for e in entries)
        if declared > limits.archive_max_total_bytes:
            raise RejectedDocument(
                RejectReason.ARCHIVE_LIMIT,
                f"expands to {declared} bytes, more than the limit of {limits.archive_max_total_bytes}",
            )
        # A compressed tar has no per-member sizes: the whole stream's ratio is what a bomb shows.
        whole_ratio = declared / max(path.stat().st_size, 1)
        dest.mkdir(parents=True, exist_ok=True)
        members: list[Member] = []
        budget = limits.archive_max_total_bytes
        for position, entry in enumerate(entries):
            name = entry.name
            if _unsafe(name):
                refusal = RejectedDocument(RejectReason.UNSAFE_NAME, f"member name {name!r} points outside the archive")
                members.append(Member(name, None, refusal))
                continue
            if entry.refusal is not None:
                members.append(Member(name, None, entry.refusal))
                continue
            ratio = entry.size / entry.compressed if entry.compressed else whole_ratio
            if ratio > limits.archive_max_ratio:
                raise RejectedDocument(
                    RejectReason.ARCHIVE_LIMIT,
                    f"member {name!r} expands {ratio:.0f}x (limit {limits.archive_max_ratio:g}x): refusing a {kind} bomb",
                )
            target = dest / f"{position:05d}_{PurePosixPath(name.replace(chr(92), '/')).name}"
            try:
                written = _bounded_copy(entry, target, min(budget, entry.size))
            except RejectedDocument as refusal:
                if refusal.code is not RejectReason.CORRUPT:
                    raise
                members.append(Member(name, None, refusal))
                continue
            budget -= written
            members.append(Member(name, target))
        return members


def _bounded_copy(entry: _Entry, target: Path, allowed: int) -> int:
    """Copies a member, trusting no header: more bytes than declared (or than the budget) aborts the archive."""
    written = 0
    try:
        with entry.open() as source, target.open("wb") as sink:
            while block := source.read(1 << 16):
                written += len(block)
                if written > allowed:
                    raise RejectedDocument(
                        RejectReason.ARCHIVE_LIMIT, f"member {entry.name!r} expands past its declared size or the limit"
                    )
                sink.write(block)
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        target.unlink(missing_ok=True)
        raise RejectedDocument(RejectReason.CORRUPT, f"member {entry.name!r} is damaged ({exc})") from None
    return written
