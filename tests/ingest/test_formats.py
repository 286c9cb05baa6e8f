"""Formats through the real pipeline (isolated parser, Tesseract, LibreOffice): OCR of drawn pages, legacy Office
conversion, lenient CSV, tar archives, and the right reason for what cannot be read."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from core.types import DocumentStatus
from ingest.parsing import OcrOptions, ParseOptions, UnstructuredParser
from ingest.pipeline import IngestTarget
from retrieval.search import Query
from tests.conftest import DOCS

TARGET = IngestTarget("acme", "formats", "sentence")
LINES = ("The heron migration starts in October.", "Quartermaster Yolanda counted 412 lanterns.")
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is installed by make test")
needs_office = pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is installed by make test")


def drawn_page(lines=LINES) -> Image.Image:
    """A white page with black text drawn on it: what a scan of a printed page looks like to OCR."""
    page = Image.new("RGB", (1500, 140 + 100 * len(lines)), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=44)
    for row, line in enumerate(lines):
        draw.text((60, 60 + 100 * row), line, fill="black", font=font)
    return page


def ingest(runtime, path: Path, display: str | None = None):
    display = display or path.name
    return runtime.ingest.ingest(path, display=display, source=str(path), target=TARGET)


def search(runtime, text: str):
    return runtime.search.retrieve(Query(text, "acme", "formats", top_k=3)).hits


@needs_tesseract
def test_a_drawn_image_is_read_by_ocr_and_searchable(runtime, tmp_path):
    image = tmp_path / "scan.png"
    drawn_page().save(image)
    outcome = ingest(runtime, image)
    assert outcome.status is DocumentStatus.INDEXED, outcome.reason
    hit = search(runtime, "how many lanterns did the quartermaster count")[0]
    assert "Yolanda counted 412 lanterns" in hit.text and hit.ocr
    assert runtime.catalog.get("acme", outcome.document_id).mime_type == "image/png"
    answer = runtime.answers.answer("How many lanterns did Quartermaster Yolanda count?", tenant="acme", collection="formats")
    assert answer.fallback is None and answer.citations[0].ocr and "412" in answer.citations[0].quote


@needs_tesseract
def test_an_image_only_pdf_is_read_page_by_page(runtime, tmp_path):
    pdf = tmp_path / "scanned.pdf"
    first, second = drawn_page(LINES[:1]), drawn_page(("The second page mentions the Ambervale ferry.",))
    first.save(pdf, save_all=True, append_images=[second])  # images only: no text layer at all
    outcome = ingest(runtime, pdf)
    assert outcome.status is DocumentStatus.INDEXED, outcome.reason
    assert any("Ambervale ferry" in hit.text for hit in search(runtime, "which ferry does the second page mention"))
    parsed = runtime.parser.parse(pdf, pdf.name)
    pages = {e.page: parsed.text[e.start:e.end] for e in parsed.elements}
    assert pages == {1: LINES[0], 2: "The second page mentions the Ambervale ferry."}
    assert all(e.ocr for e in parsed.elements)
    chunks = runtime.store.chunks("cairn-formats-sentence", outcome.document_id)
    assert chunks and all(c.payload.ocr for c in chunks)


@needs_tesseract
def test_a_missing_ocr_language_pack_is_a_clear_rejection(tmp_path):
    image = tmp_path / "scan.png"
    drawn_page().save(image)
    parser = UnstructuredParser(ParseOptions(OcrOptions(languages="eng+xyz")))
    with pytest.raises(Exception) as info:
        parser.parse(image, "scan.png")
    assert str(info.value).startswith("unsupported_type: the OCR language pack for xyz is not installed")


@needs_office
def test_a_legacy_word_file_is_converted_by_libreoffice(runtime, tmp_path):
    source = tmp_path / "handbook.docx"
    shutil.copy(DOCS / "handbook-1p.docx", source)
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to", "doc",
                    "--outdir", str(tmp_path), str(source)], check=True, capture_output=True, timeout=120)
    legacy = tmp_path / "handbook.doc"
    source.unlink()
    outcome = ingest(runtime, legacy)
    assert outcome.status is DocumentStatus.INDEXED, outcome.reason
    assert any("Trustee" in hit.text for hit in search(runtime, "United States Trustee handbook purpose"))


def test_a_csv_with_ragged_rows_is_indexed(runtime, tmp_path):
    ragged = tmp_path / "export.csv"
    ragged.write_text("team,city,titles\nHarbour Hawks,Marlow\nCliff Owls,Ambervale,3,extra note\n")
    outcome = ingest(runtime, ragged)
    assert outcome.status is DocumentStatus.INDEXED, outcome.reason
    text = runtime.catalog.text(outcome.document_id, 1)
    assert text.splitlines() == ["team | city | titles", "Harbour Hawks | Marlow |", "Cliff Owls | Ambervale | 3 | extra note"]


def test_a_tar_gz_is_expanded_like_a_zip(runtime, tmp_path):
    bundle = tmp_path / "bundle.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        for name, body in (("notes/a.txt", b"Kestrels hunt over the Marlow dunes at dawn."),
                           ("../escape.txt", b"climbing out"), ("b.md", b"# B\n\nOtters fish in the estuary.")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        link = tarfile.TarInfo("link.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    outcome = ingest(runtime, bundle)
    assert outcome.status is DocumentStatus.INDEXED
    members = {m.path: (m.status, (m.reason or "").split(":")[0]) for m in outcome.members}
    assert members == {
        "bundle.tar.gz::notes/a.txt": (DocumentStatus.INDEXED, ""),
        "bundle.tar.gz::../escape.txt": (DocumentStatus.REJECTED, "unsafe_name"),
        "bundle.tar.gz::b.md": (DocumentStatus.INDEXED, ""),
        "bundle.tar.gz::link.txt": (DocumentStatus.REJECTED, "unsafe_name"),
    }
    assert any("Kestrels" in hit.text for hit in search(runtime, "kestrels hunt dunes"))


def test_audio_is_unsupported_and_random_bytes_behind_a_document_extension_are_corrupt(runtime, tmp_path):
    song = tmp_path / "interview.mp3"
    song.write_bytes(b"ID3\x03\x00\x00\x00" + os.urandom(4000))
    heard = ingest(runtime, song)
    assert heard.status is DocumentStatus.REJECTED
    assert heard.reason == "unsupported_type: audio and video need speech-to-text, which Cairn does not run"
    for suffix in (".pdf", ".docx", ".pptx", ".xlsx"):
        noise = tmp_path / f"noise{suffix}"
        noise.write_bytes(os.urandom(5000))
        outcome = ingest(runtime, noise)
        assert outcome.status is DocumentStatus.REJECTED and outcome.reason.startswith("corrupt:"), (suffix, outcome.reason)
