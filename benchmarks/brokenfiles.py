"""Generates broken files of many kinds (seeded, so a failure can be replayed): truncated documents, random bytes
behind document extensions, ZIPs nested deeper than allowed, ZIP bombs, unsafe ZIP member names, huge single-line
text, invalid and mixed encodings. Used by the test suite (a small set) and `make reliability` (a large one)."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

from benchmarks.common import DOCS

EXTENSIONS = (".pdf", ".docx", ".pptx", ".xlsx", ".odt", ".rtf", ".epub", ".html", ".xml", ".eml", ".msg", ".zip",
              ".csv", ".md", ".txt", ".json", ".rst")
SOURCES = sorted(p for p in DOCS.iterdir() if p.suffix in EXTENSIONS and p.stat().st_size > 200)


def _nested_zip(depth: int, payload: bytes) -> bytes:
    data = payload
    for level in range(depth):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"level-{level}.zip" if level else "inner.txt", data)
        data = buffer.getvalue()
    return data


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _make(kind: str, rng: random.Random, huge_bytes: int) -> tuple[str, bytes]:
    """(file name suffix, bytes) of one broken file of `kind`."""
    if kind == "truncated":
        source = rng.choice(SOURCES)
        data = source.read_bytes()
        return source.suffix, data[: rng.randint(1, max(1, len(data) - 1))]
    if kind == "random_bytes":
        return rng.choice(EXTENSIONS), rng.randbytes(rng.randint(1, 64 * 1024))
    if kind == "flipped_bytes":  # a real document with bytes overwritten in the middle
        source = rng.choice(SOURCES)
        data = bytearray(source.read_bytes())
        for _ in range(rng.randint(1, 50)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return source.suffix, bytes(data)
    if kind == "nested_zip":
        return ".zip", _nested_zip(rng.randint(3, 12), b"deep inside " * 20)
    if kind == "zip_bomb":
        return ".zip", _zip({"bomb.txt": b"0" * rng.randint(5, 40) * 1024 * 1024})
    if kind == "zip_unsafe_names":
        return ".zip", _zip({"../../etc/evil.txt": b"escape attempt", "/abs/path.txt": b"absolute", "ok.txt": b"fine text here"})
    if kind == "zip_corrupt":
        data = bytearray(_zip({"a.txt": b"some text " * 100, "b.md": b"# title\n\nbody " * 50}))
        del data[len(data) // 2 : len(data) // 2 + rng.randint(10, 200)]
        return ".zip", bytes(data)
    if kind == "huge_line":
        return ".txt", (b"word " * (huge_bytes // 5)).rstrip()
    if kind == "invalid_utf8":
        return rng.choice((".txt", ".md", ".csv", ".html")), b"valid start " + rng.randbytes(2000) + b" \xff\xfe\xc3\x28 end"
    if kind == "odd_utf16":  # a BOM, then an odd number of bytes
        return ".txt", b"\xff\xfe" + "text in utf-16".encode("utf-16-le") + b"\x00\xd8\x41"
    if kind == "nul_bytes":
        return ".txt", b"\x00" * rng.randint(1, 5000)
    if kind == "office_without_parts":  # a ZIP named like an Office file, missing its XML parts
        return rng.choice((".docx", ".pptx", ".xlsx", ".odt", ".epub")), _zip({"mimetype": b"junk", "x.xml": b"<not xml"})
    raise ValueError(kind)


KINDS = ("truncated", "random_bytes", "flipped_bytes", "nested_zip", "zip_bomb", "zip_unsafe_names", "zip_corrupt",
         "huge_line", "invalid_utf8", "odd_utf16", "nul_bytes", "office_without_parts")


def generate(folder: Path, count: int, seed: int = 0, huge_bytes: int = 2 * 1024 * 1024) -> list[Path]:
    """`count` broken files in `folder`, every kind in turn."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        kind = KINDS[number % len(KINDS)]
        suffix, data = _make(kind, rng, huge_bytes)
        path = folder / f"{number:04d}-{kind}{suffix}"
        path.write_bytes(data)
        paths.append(path)
    return paths
