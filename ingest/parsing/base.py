"""The parser contract."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from core.types import ParsedDocument


class Parser(Protocol):
    """Turns one file into a ParsedDocument. Raises RejectedDocument for bad input, never anything else for it.

    Offsets of `elements` index `ParsedDocument.text`; for text formats the text is the decoded file itself, so
    citations point into what the author wrote.
    """

    def parse(self, path: Path, filename: str) -> ParsedDocument: ...
