"""ZIP archives: members ingested one by one, within limits, with no path escape."""

from __future__ import annotations

import io
import zipfile

import pytest

from core.settings import IngestSettings
from core.types import RejectedDocument, RejectReason
from ingest import archive


def make_zip(path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_members_are_extracted(tmp_path):
    zpath = make_zip(tmp_path / "a.zip", {"docs/one.txt": b"one", "two.md": b"# two"})
    members = archive.expand(zpath, tmp_path / "out", IngestSettings())
    assert [m.name for m in members] == ["docs/one.txt", "two.md"]
    assert [m.path.read_bytes() for m in members] == [b"one", b"# two"]
    assert all(m.path.parent == tmp_path / "out" for m in members)


def test_path_traversal_members_are_refused_and_nothing_escapes(tmp_path):
    zpath = make_zip(tmp_path / "evil.zip", {"../../escape.txt": b"x", "/abs.txt": b"y", "fine.txt": b"z"})
    members = archive.expand(zpath, tmp_path / "out", IngestSettings())
    refused = {m.name: m.refusal.code for m in members if m.refusal}
    assert refused == {"../../escape.txt": RejectReason.UNSAFE_NAME, "/abs.txt": RejectReason.UNSAFE_NAME}
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path.parent / "escape.txt").exists()
    assert [m.name for m in members if m.path] == ["fine.txt"]


def test_zip_bomb_is_refused(tmp_path):
    zpath = make_zip(tmp_path / "bomb.zip", {"zeros.txt": b"\0" * (20 * 1024 * 1024)})
    with pytest.raises(RejectedDocument) as info:
        archive.expand(zpath, tmp_path / "out", IngestSettings())
    assert info.value.code is RejectReason.ARCHIVE_LIMIT
    assert "ZIP bomb" in str(info.value)


def test_too_many_members(tmp_path):
    zpath = make_zip(tmp_path / "many.zip", {f"{i}.txt": b"x" for i in range(12)})
    with pytest.raises(RejectedDocument, match="more than the limit of 10"):
        archive.expand(zpath, tmp_path / "out", IngestSettings(archive_max_members=10))


def test_total_size_limit(tmp_path):
    zpath = make_zip(tmp_path / "big.zip", {"a.txt": b"a" * 5000, "b.txt": b"b" * 5000}, zipfile.ZIP_STORED)
    with pytest.raises(RejectedDocument) as info:
        archive.expand(zpath, tmp_path / "out", IngestSettings(archive_max_total_bytes=8000))
    assert info.value.code is RejectReason.ARCHIVE_LIMIT


def test_not_a_zip(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"this is not an archive")
    with pytest.raises(RejectedDocument) as info:
        archive.expand(fake, tmp_path / "out", IngestSettings())
    assert info.value.code is RejectReason.CORRUPT


def test_empty_archive(tmp_path):
    buffer = io.BytesIO()
    zipfile.ZipFile(buffer, "w").close()
    empty = tmp_path / "empty.zip"
    empty.write_bytes(buffer.getvalue())
    with pytest.raises(RejectedDocument) as info:
        archive.expand(empty, tmp_path / "out", IngestSettings())
    assert info.value.code is RejectReason.NO_TEXT
