"""The file types Cairn ingests, by extension (content is checked again by the parser), and the reason for the rest."""

from __future__ import annotations

from pathlib import Path

from core.types import RejectedDocument, RejectReason

# Read with Tesseract (ingest/parsing/ocr.py).
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}
# Converted by LibreOffice (headless) into the format unstructured reads, then parsed like it.
CONVERTED_SUFFIXES = {".doc": "docx", ".rtf": "docx", ".ppt": "pptx", ".odp": "pptx", ".xls": "xlsx", ".ods": "xlsx"}
SUPPORTED_SUFFIXES = {
    ".pdf", ".docx", ".odt", ".pptx", ".html", ".htm", ".xml", ".eml", ".msg", ".epub", ".xlsx", ".csv",
    ".tsv", ".md", ".markdown", ".rst", ".txt", ".text", ".log", ".json", ".jsonl", ".org",
    *IMAGE_SUFFIXES, *CONVERTED_SUFFIXES,
}
MEDIA_SUFFIXES = {
    ".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aiff", ".aif", ".amr", ".mid", ".midi",
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".wmv", ".flv", ".mpeg", ".mpg", ".3gp",
}


def is_supported(filename: str) -> bool:
    return Path(filename).suffix.lower() in SUPPORTED_SUFFIXES


def unsupported(filename: str) -> RejectedDocument:
    """Why a file of this type is not ingested (an `unsupported_type` rejection that says what it would need)."""
    suffix = Path(filename).suffix.lower()
    if suffix in MEDIA_SUFFIXES:
        return RejectedDocument(RejectReason.UNSUPPORTED, "audio and video need speech-to-text, which Cairn does not run")
    shown = suffix or "files without an extension"
    return RejectedDocument(RejectReason.UNSUPPORTED, f"{shown}: this file type is not supported")
