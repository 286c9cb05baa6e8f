"""Decoding text files in whatever encoding they came in (UTF-8/16/32 with or without BOM, cp1252, latin-1...)."""

from __future__ import annotations

import codecs

import ftfy
from charset_normalizer import from_bytes

from core.types import RejectedDocument, RejectReason

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes) -> tuple[str, str]:
    """Return (text, encoding). Raises RejectedDocument when the bytes are not text in any known encoding.

    Text that was already garbled before it was saved (UTF-8 read as cp1252 or latin-1 and written back, so "–"
    became "â€“") is repaired; the encoding then says so ("utf-8, mojibake repaired")."""
    text, encoding = _decode(data)
    repaired = ftfy.fix_encoding(text)  # only undoes wrong-codec round trips: quotes, entities, widths untouched
    if repaired != text:
        return repaired, f"{encoding}, mojibake repaired"
    return text, encoding


def _decode(data: bytes) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            # A BOM settles the encoding: a damaged character (a cut-off last one, a lone surrogate) becomes U+FFFD
            # and the rest of the text is kept, rather than the whole file being refused.
            return data.decode(encoding, errors="replace"), encoding
    # NUL bytes are valid UTF-8 but mean UTF-16/32 without a BOM (or binary data): let the detector decide.
    if b"\x00" not in data:
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    best = from_bytes(data).best()
    if best is None or "\x00" in str(best):
        raise RejectedDocument(RejectReason.CORRUPT, "not text in any known encoding (binary data?)")
    return str(best), best.encoding
