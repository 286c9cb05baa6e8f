"""Safe expansion of ZIP archives: bounded member count, total size, compression ratio and depth; no path escapes."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.settings import IngestSettings
from core.types import RejectedDocument, RejectReason

ARCHIVE_SUFFIXES = {".zip"}


@dataclass
class Member:
    name: str
    path: Path | None  # None when the member was refused
    refusal: RejectedDocument | None = None


def is_archive(filename: str) -> bool:
    return Path(filename).suffix.lower() in ARCHIVE_SUFFIXES


def _unsafe(name: str) -> bool:
    posix = PurePosixPath(name.replace("\\", "/"))
    return posix.is_absolute() or ".." in posix.parts or (len(name) > 1 and name[1] == ":")


def expand(path: Path, dest: Path, limits: IngestSettings) -> list[Member]:
    """Extracts every acceptable member into `dest`; refused members are returned with the reason."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise RejectedDocument(RejectReason.CORRUPT, f"not a readable ZIP archive ({exc})") from None
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        if not infos:
            raise RejectedDocument(RejectReason.NO_TEXT, "the archive contains no files")
        if len(infos) > limits.archive_max_members:
            raise RejectedDocument(
                RejectReason.ARCHIVE_LIMIT, f"{len(infos)} members, more than the limit of {limits.archive_max_members}"
            )
        declared = sum(info.file_size for info in infos)
        if declared > limits.archive_max_total_bytes:
            raise RejectedDocument(
                RejectReason.ARCHIVE_LIMIT,
                f"expands to {declared} bytes, more than the limit of {limits.archive_max_total_bytes}",
            )
        dest.mkdir(parents=True, exist_ok=True)
        members: list[Member] = []
        budget = limits.archive_max_total_bytes
        for position, info in enumerate(infos):
            name = info.filename
            if _unsafe(name):
                refusal = RejectedDocument(RejectReason.UNSAFE_NAME, f"member name {name!r} points outside the archive")
                members.append(Member(name, None, refusal))
                continue
            if info.flag_bits & 0x1:
                members.append(Member(name, None, RejectedDocument(RejectReason.ENCRYPTED, "the member is encrypted")))
                continue
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.archive_max_ratio:
                raise RejectedDocument(
                    RejectReason.ARCHIVE_LIMIT,
                    f"member {name!r} expands {ratio:.0f}x (limit {limits.archive_max_ratio:g}x): refusing a ZIP bomb",
                )
            target = dest / f"{position:05d}_{PurePosixPath(name.replace(chr(92), '/')).name}"
            try:
                written = _bounded_copy(archive, info, target, min(budget, info.file_size))
            except RejectedDocument as refusal:
                if refusal.code is not RejectReason.CORRUPT:
                    raise
                members.append(Member(name, None, refusal))
                continue
            budget -= written
            members.append(Member(name, target))
        return members


def _bounded_copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, allowed: int) -> int:
    """Copies a member, trusting no header: more bytes than declared (or than the budget) aborts the archive."""
    written = 0
    try:
        with archive.open(info) as source, target.open("wb") as sink:
            while block := source.read(1 << 16):
                written += len(block)
                if written > allowed:
                    raise RejectedDocument(
                        RejectReason.ARCHIVE_LIMIT, f"member {info.filename!r} expands past its declared size or the limit"
                    )
                sink.write(block)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        target.unlink(missing_ok=True)
        raise RejectedDocument(RejectReason.CORRUPT, f"member {info.filename!r} is damaged ({exc})") from None
    return written
