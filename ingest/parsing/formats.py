"""The file types Cairn ingests, by extension (content is checked again by the parser)."""

from __future__ import annotations

from pathlib import Path

SUPPORTED_SUFFIXES = {
    ".pdf", ".docx", ".odt", ".rtf", ".pptx", ".html", ".htm", ".xml", ".eml", ".msg", ".epub", ".xlsx", ".csv",
    ".tsv", ".md", ".markdown", ".rst", ".txt", ".text", ".log", ".json", ".jsonl", ".org",
}


def is_supported(filename: str) -> bool:
    return Path(filename).suffix.lower() in SUPPORTED_SUFFIXES
