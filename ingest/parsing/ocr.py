"""OCR with Tesseract (Debian's tesseract-ocr; no model download): images, and PDF pages without a text layer."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from core.types import RejectedDocument, RejectReason

# Scanned pages are rendered at 300 dpi, Tesseract's preferred resolution for body text.
_RENDER_SCALE = 300 / 72


@dataclass(frozen=True)
class OcrOptions:
    languages: str = "eng"  # Tesseract's form: "eng", "eng+deu"
    page_timeout_s: float = 60.0


def check_ready(options: OcrOptions) -> None:
    """RejectedDocument(unsupported) when Tesseract or one of the asked language packs is not installed."""
    import pytesseract

    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
        raise RejectedDocument(
            RejectReason.UNSUPPORTED, "this needs OCR, and Tesseract is not installed here (Debian: tesseract-ocr)"
        )
    installed = set(pytesseract.get_languages(config=""))
    missing = [lang for lang in options.languages.split("+") if lang not in installed]
    if missing:
        packs = ", ".join(f"tesseract-ocr-{lang}" for lang in missing)
        raise RejectedDocument(
            RejectReason.UNSUPPORTED, f"the OCR language pack for {'+'.join(missing)} is not installed (Debian: {packs})"
        )


def read_image(image, options: OcrOptions, where: str) -> str:
    """The text Tesseract reads in one PIL image, whitespace kept as lines and paragraphs."""
    import pytesseract

    try:
        text = pytesseract.image_to_string(image, lang=options.languages, timeout=options.page_timeout_s)
    except RuntimeError as exc:  # pytesseract's timeout
        if "timeout" in str(exc).lower():
            raise RejectedDocument(
                RejectReason.TIMEOUT, f"OCR of {where} took longer than the {options.page_timeout_s:g} s limit"
            ) from None
        raise
    except pytesseract.TesseractError as exc:
        raise RejectedDocument(RejectReason.CORRUPT, f"OCR could not read {where} ({exc.message or exc.status})") from None
    return "\n\n".join(" ".join(line.split()) for line in _paragraphs(text))


def _paragraphs(text: str) -> list[str]:
    """Tesseract's blank-line separated blocks, each joined into one line."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line.strip())
        elif current:
            blocks.append(" ".join(current))
            current = []
    if current:
        blocks.append(" ".join(current))
    return blocks


def read_image_file(path: Path, options: OcrOptions) -> list[tuple[int, str]]:
    """(page, text) for every frame of an image file (a multi-page TIFF has several)."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    check_ready(options)
    try:
        with Image.open(path) as image:
            frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(image)]
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise RejectedDocument(RejectReason.CORRUPT, f"not a readable image ({exc})") from None
    return [(number, read_image(frame, options, f"page {number}")) for number, frame in enumerate(frames, start=1)]


def pdf_pages_without_text(path: Path) -> set[int]:
    """The PDF's pages (1-based) whose text layer holds no text."""
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError:
        return set()
    try:
        empty = set()
        for number in range(1, len(document) + 1):
            page = document[number - 1]
            if not page.get_textpage().get_text_range().strip():
                empty.add(number)
        return empty
    finally:
        document.close()


def read_pdf_pages(path: Path, pages: set[int], options: OcrOptions) -> dict[int, str]:
    """OCR text of the given PDF pages (1-based), each rendered at 300 dpi."""
    import pypdfium2 as pdfium

    check_ready(options)
    document = pdfium.PdfDocument(str(path))
    try:
        return {
            number: read_image(document[number - 1].render(scale=_RENDER_SCALE).to_pil(), options, f"page {number}")
            for number in sorted(pages)
        }
    finally:
        document.close()
