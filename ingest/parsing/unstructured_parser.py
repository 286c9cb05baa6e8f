"""Parser built on `unstructured` (fast/auto strategies): any format it reads, with pages, element types and offsets."""

from __future__ import annotations

import bisect
import csv
import functools
import io
import json
import logging
import re
import tempfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from ftfy.fixes import fix_latin_ligatures

from core.models import bge_small_dir, spacy_en_dir
from core.offline import configure_offline
from core.types import ElementSpan, ParsedDocument, RejectedDocument, RejectReason
from ingest.parsing import ocr
from ingest.parsing.convert import convert
from ingest.parsing.formats import CONVERTED_SUFFIXES, IMAGE_SUFFIXES, MEDIA_SUFFIXES, unsupported
from ingest.parsing.text import decode_text

# Formats whose extracted text is the decoded file itself: offsets then point into what the author wrote.
RAW_TEXT_SUFFIXES = {".txt", ".text", ".log", ".md", ".markdown", ".rst", ".json", ".jsonl", ".xml"}
_MARKDOWN_SUFFIXES = {".md", ".markdown"}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_NOT_READABLE_TYPES = {"Image", "PageBreak"}
_DELIMITED = {".csv": ",", ".tsv": "\t"}
# A wikitext (MediaWiki) heading line: "== History ==", or as tokenized in Wikipedia dumps, "= = History = =". The
# number of "=" is its level, the same on both sides.
_WIKI_HEADING = re.compile(r"^[ \t]*(=(?:[ \t]?=){0,5})[ \t]*([^=\n]*?[^=\s])[ \t]*(=(?:[ \t]?=){0,5})[ \t]*$", re.M)
# What a file of these types starts with; other bytes behind the extension are no such file (`corrupt`).
_ZIP_MAGIC = b"PK\x03\x04"
# (LibreOffice sniffs the formats it converts itself, and says so when it cannot.)
_MAGIC = {".pdf": (b"%PDF",), ".docx": (_ZIP_MAGIC, _OLE_MAGIC), ".pptx": (_ZIP_MAGIC, _OLE_MAGIC),
          ".xlsx": (_ZIP_MAGIC, _OLE_MAGIC), ".odt": (_ZIP_MAGIC,), ".epub": (_ZIP_MAGIC,)}

# The language is fixed rather than detected per document: detection (langdetect) cost more than the rest of
# parsing a plain-text page, and the packaged models are English ones anyway.
_LANGUAGES = ["eng"]

_ready = False


HEURISTIC_CHARS = 100_000


def _prepare_unstructured() -> None:
    """Point unstructured's spaCy loader at the packaged, pinned English model instead of its download."""
    global _ready
    if _ready:
        return
    configure_offline()
    import spacy
    import unstructured.nlp.tokenize as tokenize
    import unstructured.partition.text_type as text_type
    model_dir = spacy_en_dir()
    # unstructured classifies each text block with spaCy: sentence counts for every block, part-of-speech tags
    # only for short single-sentence ones (the "contains a verb" test). The counts only decide "one sentence or
    # several", which punctuation rules (spaCy's `sentencizer`, same English tokenizer) settle as well as the
    # trained `senter` pipe at a fraction of its cost: on 1,500 SciFact abstracts and the chunking benchmark's
    # corpora, 3,695 of 3,698 blocks get the same element type, and parsing a plain-text abstract takes less
    # than half the CPU. The tagger runs only where tags are asked.
    @functools.lru_cache(maxsize=1)
    def tagging_model():
        return spacy.load(model_dir, exclude=[*tokenize._SPACY_EXCLUDE, "parser", "senter"])

    # The classification heuristics look at the start of a block: a block of megabytes (one huge line) is
    # classified on its first HEURISTIC_CHARS, not refused by spaCy's length guard or left to run for minutes.
    @functools.lru_cache(maxsize=4096)
    def pos_tag(text: str) -> list[tuple[str, str]]:
        return [(token.text, token.tag_) for token in tagging_model()(str(text)[:HEURISTIC_CHARS])]

    def sentences_model():
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        nlp.max_length = HEURISTIC_CHARS  # unstructured truncates longer blocks to this for its heuristics
        return nlp

    tokenize._load_spacy_model = sentences_model
    tokenize.pos_tag = text_type.pos_tag = pos_tag
    tokenize._get_nlp.cache_clear()
    for noisy in ("unstructured", "pdfminer", "pypdf", "pikepdf"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    _ready = True


def _check_encryption(path: Path, head: bytes) -> None:
    if head.startswith(b"%PDF"):
        from pypdf import PdfReader

        try:
            reader = PdfReader(str(path))
            encrypted = reader.is_encrypted and not reader.decrypt("")
        except Exception:  # a broken PDF is judged by the parser below, which may still read it
            return
        if encrypted:
            raise RejectedDocument(RejectReason.ENCRYPTED, "the PDF is password-protected")
    elif head.startswith(_OLE_MAGIC) and path.suffix.lower() in {".docx", ".xlsx", ".pptx", ".doc", ".xls", ".ppt"}:
        import msoffcrypto

        with path.open("rb") as handle:
            try:
                encrypted = msoffcrypto.OfficeFile(handle).is_encrypted()
            except Exception:
                return
        if encrypted:
            raise RejectedDocument(RejectReason.ENCRYPTED, "the Office document is password-protected")


def _table_text(element) -> str:
    """Tables as readable rows (`a | b | c`) rather than unstructured's run-together cell text."""
    html = getattr(element.metadata, "text_as_html", None)
    if not html:
        return element.text
    from lxml import html as lxml_html

    try:
        rows = lxml_html.fromstring(html).xpath("//tr")
    except Exception:
        return element.text
    lines = [" | ".join(" ".join(cell.text_content().split()) for cell in row.xpath("./th|./td")) for row in rows]
    rendered = "\n".join(line for line in lines if line.strip(" |"))
    return rendered or element.text


def _element_text(element) -> str:
    if type(element).__name__ == "Table":
        return _table_text(element).strip()
    return (element.text or "").strip()


def _locate(text: str, elements) -> list[ElementSpan]:
    """Find each element's text in the raw text, in order; elements rendered differently (tables) are skipped."""
    spans: list[ElementSpan] = []
    cursor = 0
    for element in elements:
        needle = (element.text or "").strip()
        if not needle:
            continue
        at = text.find(needle, cursor)
        if at < 0:
            continue
        kind = type(element).__name__
        spans.append(ElementSpan(at, at + len(needle), kind, element.metadata.page_number, depth=_depth(element)))
        cursor = at + len(needle)
    return spans


def _depth(element) -> int | None:
    """A heading's level when the format tells it (unstructured reads Markdown #, HTML h1-h6, Word's heading styles)."""
    return getattr(element.metadata, "category_depth", None) if type(element).__name__ == "Title" else None


def _with_wiki_headings(text: str, spans: list[ElementSpan]) -> list[ElementSpan]:
    """Wikitext heading lines as Title elements with their level, in place of whatever element covered them; where
    the markup says which lines are headings, a short line unstructured took for a title is plain text."""
    headings = []
    for match in _WIKI_HEADING.finditer(text):
        opening, closing = match.group(1).count("="), match.group(3).count("=")
        if opening == closing:
            headings.append(ElementSpan(match.start(2), match.end(2), "Title", depth=opening - 1))
    if not headings:
        return spans
    line_starts = [text.rfind("\n", 0, h.start) + 1 for h in headings]  # in order, one heading per line

    def on_a_heading_line(element: ElementSpan) -> bool:
        last = bisect.bisect_left(line_starts, element.end) - 1  # the last heading line starting before it ends
        return last >= 0 and element.start < headings[last].end

    kept = [replace(e, type="Text") if e.type == "Title" else e for e in spans if not on_a_heading_line(e)]
    return sorted(kept + headings, key=lambda e: e.start)


def _email_header(elements) -> tuple[str, str]:
    """An email's sender, recipients, date and subject as lines at the head of its text, and its subject: unstructured
    keeps them in each element's metadata only, and "who sent it", "when" and "about what" are asked of mail."""
    meta = elements[0].metadata if elements else None
    if meta is None or not (getattr(meta, "sent_from", None) or getattr(meta, "subject", None)):
        return "", ""
    subject = " ".join((meta.subject or "").split())
    fields = [("From", ", ".join(meta.sent_from or [])), ("To", ", ".join(meta.sent_to or [])),
              ("Cc", ", ".join(getattr(meta, "cc_recipient", None) or [])), ("Date", meta.last_modified or ""),
              ("Subject", subject)]
    return "\n".join(f"{name}: {value}" for name, value in fields if value), subject


def _box(element) -> tuple[float, float, float, float] | None:
    """An element's box on its page (x0, y0, x1, y1), when the format has one (PDF)."""
    coordinates = element.metadata.coordinates
    points = coordinates.points if coordinates is not None else None
    if not points:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def _letter_spaced(text: str) -> bool:
    return bool(text.split()) and all(len(token) == 1 for token in text.split())


def _sideways(elements) -> set[int]:
    """The PDF elements that are text set sideways (arXiv's margin stamp "arXiv:2103.15348v2 [cs.CV] 21 Jun 2021", a
    rotated label): they come out one character per token, reversed, in a box taller than wide ("n u J" for "Jun"),
    and the fragments of a short word in the same narrow column ("1 2", "]"). Noise to read, and the stamp's first
    fragment once became the paper's title."""
    boxes = [_box(element) for element in elements]
    found = set()
    for i, (element, box) in enumerate(zip(elements, boxes, strict=True)):
        text = element.text or ""
        if box and _letter_spaced(text) and len(text.replace(" ", "")) >= 2 and box[3] - box[1] >= 1.5 * (box[2] - box[0]):
            found.add(i)
    columns = {(elements[i].metadata.page_number, round(boxes[i][0]), round(boxes[i][2])) for i in found}
    for i, (element, box) in enumerate(zip(elements, boxes, strict=True)):
        if box and _letter_spaced(element.text or "") and (element.metadata.page_number, round(box[0]), round(box[2])) in columns:
            found.add(i)
    return found


# A word a PDF broke at a line end, joined with a space where the line break was ("applica- tions").
_BROKEN_WORD = re.compile(r"\b([A-Za-z]+)- ([a-z]+)\b")


@functools.lru_cache(maxsize=1)
def _english_words() -> frozenset[str]:
    """Whole English words known to the packaged embedder's (BERT uncased) vocabulary, some 20,000 of them."""
    vocab = json.loads((bge_small_dir() / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    return frozenset(token for token in vocab if token.isalpha())


def _rejoin_broken_words(bodies: list[str]) -> list[str]:
    """A PDF's words hyphenated across lines, joined again ("applica- tions" -> "applications") when the whole word is
    an English word or the document writes it elsewhere; "dual- encoder" or "pre- and post-" stay as they are."""
    if not any(_BROKEN_WORD.search(body) for body in bodies):
        return bodies
    known = _english_words() | set(re.findall(r"[a-z]+", " ".join(bodies).lower()))

    def join(match: re.Match) -> str:
        whole = match.group(1) + match.group(2)
        return whole if whole.lower() in known else match.group(0)

    return [_BROKEN_WORD.sub(join, body) for body in bodies]


# pdfminer writes "(cid:12)" for a glyph its font does not map to a character (an icon, a private symbol): no text.
_UNMAPPED_GLYPH = re.compile(r"\(cid:\d+\)")
_EMPTY_BRACKETS = re.compile(r" ?\(\s*\)")


def _without_unmapped_glyphs(text: str) -> str:
    """The text without pdfminer's placeholders for unmapped glyphs, nor the brackets they leave empty ("Zejiang
    Shen1 ((cid:0))", an envelope icon, is "Zejiang Shen1")."""
    if "(cid:" not in text:
        return text
    return _EMPTY_BRACKETS.sub("", _UNMAPPED_GLYPH.sub("", text)).strip()


def _title(elements, filename: str) -> str:
    for element in elements:
        title = _without_unmapped_glyphs(" ".join(element.text.split())) if type(element).__name__ == "Title" else ""
        if title:
            return fix_latin_ligatures(title)[:200]
    return Path(filename).stem


@dataclass(frozen=True)
class ParseOptions:
    """What parsing needs from the settings; passed to the isolated child with each file."""

    ocr: ocr.OcrOptions = ocr.OcrOptions()
    convert_timeout_s: float = 90.0


def _check_magic(path: Path, suffix: str) -> None:
    expected = _MAGIC.get(suffix)
    if expected is None:
        return
    with path.open("rb") as handle:
        head = handle.read(1024)
    # A PDF may have a few bytes of junk before its header (readers accept it within the first kilobyte).
    found = any(head.find(magic) >= 0 if suffix == ".pdf" else head.startswith(magic) for magic in expected)
    if not found:
        raise RejectedDocument(RejectReason.CORRUPT, f"the bytes are not a {suffix} file (its header is missing)")


class UnstructuredParser:
    """Parses in the calling process; wrap it in IsolatedParser to bound time and memory per file."""

    def __init__(self, options: ParseOptions = ParseOptions()):
        self.options = options

    def parse(self, path: Path, filename: str) -> ParsedDocument:
        _prepare_unstructured()
        with path.open("rb") as handle:
            head = handle.read(8)
        suffix = Path(filename).suffix.lower()
        if suffix in MEDIA_SUFFIXES:
            raise unsupported(filename)
        if suffix in IMAGE_SUFFIXES:
            return self._parse_image(path, filename)
        _check_encryption(path, head)
        _check_magic(path, suffix)
        if suffix in RAW_TEXT_SUFFIXES:
            return self._parse_raw_text(path, filename, suffix)
        if suffix in _DELIMITED:
            return self._parse_delimited(path, filename, _DELIMITED[suffix])
        if suffix in CONVERTED_SUFFIXES:
            with tempfile.TemporaryDirectory(prefix="cairn-convert-") as work:
                target = CONVERTED_SUFFIXES[suffix]
                converted = convert(path, filename, target, Path(work), self.options.convert_timeout_s)
                document = self._parse_elements(converted, f"{Path(filename).stem}.{target}", filename)
                document.metadata["converted_from"] = suffix
                return document
        return self._parse_elements(path, filename, filename)

    def _parse_elements(self, path: Path, parse_as: str, filename: str) -> ParsedDocument:
        elements = self._partition(path, parse_as)
        pdf = parse_as.lower().endswith(".pdf")
        blocks = []  # (text, type, page, ocr, heading depth)
        header, subject = _email_header(elements)
        if header:
            blocks.append((header, "Text", None, False, None))
        if pdf:
            sideways = _sideways(elements)
            elements = [element for i, element in enumerate(elements) if i not in sideways]
        for element in elements:
            kind = type(element).__name__
            body = _element_text(element)
            if body and kind not in _NOT_READABLE_TYPES:
                blocks.append((body, kind, element.metadata.page_number, False, _depth(element)))
        if pdf:
            blocks = self._with_ocr_pages(path, blocks)
        # Typeset ligatures ("ﬁ" in "Uniﬁed") are their letters: neither the keyword index nor the models' tokenizers
        # know them ("eﬃcient" is an unknown token), so a question saying "unified" would not find the text.
        bodies = [fix_latin_ligatures(block[0]) for block in blocks]
        if pdf:
            bodies = _rejoin_broken_words([_without_unmapped_glyphs(body) for body in bodies])
            kept = [i for i, body in enumerate(bodies) if body]  # a block of unmapped glyphs only says nothing
            bodies, blocks = [bodies[i] for i in kept], [blocks[i] for i in kept]
        parts: list[str] = []
        spans: list[ElementSpan] = []
        offset = 0
        for body, (_, kind, page, from_ocr, depth) in zip(bodies, blocks, strict=True):
            if parts:
                offset += 2
            spans.append(ElementSpan(offset, offset + len(body), kind, page, ocr=from_ocr, depth=depth))
            parts.append(body)
            offset += len(body)
        text = "\n\n".join(parts)
        return self._finish(text, spans, subject[:200] or _title(elements, filename), filename, elements)

    def _with_ocr_pages(self, path: Path, blocks: list[tuple]) -> list[tuple]:
        """Adds the OCR text of the PDF's pages that have no text layer (scans), each in its page's place."""
        empty = ocr.pdf_pages_without_text(path)
        with_text = {block[2] for block in blocks if block[2] is not None}
        scanned = {page for page in empty if page not in with_text}
        if not scanned:
            return blocks
        read = ocr.read_pdf_pages(path, scanned, self.options.ocr)
        added = [
            (paragraph, "NarrativeText", page, True, None)
            for page, text in read.items() for paragraph in text.split("\n\n") if paragraph.strip()
        ]
        return sorted(blocks + added, key=lambda block: block[2] or 0)

    def _parse_image(self, path: Path, filename: str) -> ParsedDocument:
        parts, spans, offset = [], [], 0
        for page, text in ocr.read_image_file(path, self.options.ocr):
            for paragraph in text.split("\n\n"):
                if not paragraph.strip():
                    continue
                if parts:
                    offset += 2
                spans.append(ElementSpan(offset, offset + len(paragraph), "NarrativeText", page, ocr=True))
                parts.append(paragraph)
                offset += len(paragraph)
        if not parts:
            raise RejectedDocument(RejectReason.NO_TEXT, "OCR found no text in the image")
        document = self._finish("\n\n".join(parts), spans, Path(filename).stem, filename, [])
        document.mime_type = f"image/{Path(filename).suffix.lower().lstrip('.')}"
        return document

    def _parse_delimited(self, path: Path, filename: str, delimiter: str) -> ParsedDocument:
        """CSV/TSV read leniently: rows of any length are kept (short rows padded to the header's width), each
        rendered `cell | cell`, so an export with a ragged row is indexed rather than refused."""
        raw, encoding = decode_text(path.read_bytes())
        try:
            rows = [[" ".join(cell.split()) for cell in row] for row in csv.reader(io.StringIO(raw, newline=""), delimiter=delimiter)]
        except csv.Error as exc:
            raise RejectedDocument(RejectReason.CORRUPT, f"not readable as {delimiter!r}-separated values ({exc})") from None
        rows = [row for row in rows if any(row)]
        # A caption over the table ("Stanley Cups,," above "Team,Location,Stanley Cups"): a leading row whose first
        # cell alone is filled, above a fuller row. It titles the table; as its first row it would pass for the header.
        captions = []
        while len(rows) > 1 and rows[0][0] and not any(rows[0][1:]) and sum(map(bool, rows[1])) > 1:
            captions.append(rows.pop(0)[0])
        width = len(rows[0]) if rows else 0
        table = "\n".join(" | ".join(row + [""] * (width - len(row))).rstrip() for row in rows)
        spans, offset = [], 0
        for block, kind in [(caption, "Title") for caption in captions] + [(table, "Table")]:
            if block.strip():
                spans.append(ElementSpan(offset, offset + len(block), kind, 1))
            offset += len(block) + 2
        text = "\n\n".join(captions + [table])
        document = self._finish(text, spans, captions[0][:200] if captions else Path(filename).stem, filename, [])
        document.mime_type = "text/tab-separated-values" if delimiter == "\t" else "text/csv"
        document.metadata["encoding"] = encoding
        return document

    def _parse_raw_text(self, path: Path, filename: str, suffix: str) -> ParsedDocument:
        text, encoding = decode_text(path.read_bytes())
        elements = []
        if text.strip():
            if suffix in _MARKDOWN_SUFFIXES:
                from unstructured.partition.md import partition_md

                elements = self._guarded(lambda: partition_md(text=text, languages=_LANGUAGES))
            elif suffix == ".rst" or suffix in {".json", ".jsonl", ".xml"}:
                elements = []
            else:
                from unstructured.partition.text import partition_text

                elements = self._guarded(lambda: partition_text(text=text, languages=_LANGUAGES))
        spans = _locate(text, elements)
        if suffix not in {".json", ".jsonl", ".xml"}:
            spans = _with_wiki_headings(text, spans)
        document = self._finish(text, spans, _title(elements, filename), filename, elements)
        document.metadata["encoding"] = encoding
        return document

    def _finish(self, text: str, spans, title: str, filename: str, elements) -> ParsedDocument:
        if not text.strip():
            raise RejectedDocument(
                RejectReason.NO_TEXT,
                "no extractable text (whitespace only, or images in which OCR found no text)",
            )
        mime = ""
        if elements:
            mime = getattr(elements[0].metadata, "filetype", "") or ""
        return ParsedDocument(text=text, elements=spans, title=title, mime_type=mime, metadata={"filename": filename})

    def _guarded(self, run):
        from unstructured.partition.common import UnsupportedFileFormatError

        try:
            return run()
        except RejectedDocument:
            raise
        except UnsupportedFileFormatError as exc:
            raise RejectedDocument(RejectReason.UNSUPPORTED, str(exc).split(". ")[0]) from None
        except (FileNotFoundError, ImportError, ModuleNotFoundError) as exc:
            # unstructured needs LibreOffice for .doc/.ppt/.xls; it is not part of this deployment
            raise RejectedDocument(RejectReason.UNSUPPORTED, f"no converter for this format here ({exc})") from None
        except MemoryError:
            raise RejectedDocument(RejectReason.TOO_LARGE, "parsing needed more memory than allowed") from None
        except Exception as exc:  # any parser failure on this file is a property of the file
            message = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise RejectedDocument(RejectReason.CORRUPT, f"could not be parsed ({type(exc).__name__}: {message})") from None

    def _partition(self, path: Path, filename: str):
        from unstructured.partition.auto import partition

        return self._guarded(
            lambda: partition(
                filename=str(path),
                metadata_filename=filename,
                strategy="fast",
                process_attachments=True,
                languages=_LANGUAGES,
                skip_infer_table_types=[],
            )
        )
