"""Parsing real messy documents: offsets, pages, encodings, tables and every rejection reason."""

from __future__ import annotations

import os
import threading
import time

import pytest

from core.types import RejectedDocument, RejectReason
from ingest.parsing import IsolatedParser
from tests.conftest import DOCS


def parse(parser, name: str):
    return parser.parse(DOCS / name, name)


def assert_spans_exact(document):
    assert document.elements, "expected located elements"
    for span in document.elements:
        assert 0 <= span.start < span.end <= len(document.text)
        assert document.text[span.start : span.end].strip()


def test_pdf_keeps_pages_and_element_types(parser):
    document = parse(parser, "multi-column-2p.pdf")
    assert_spans_exact(document)
    assert {span.page for span in document.elements} == {1, 2}
    assert "Title" in {span.type for span in document.elements}
    assert document.mime_type == "application/pdf"


@pytest.mark.parametrize(
    ("name", "title"),
    [("layout-parser-paper-fast.pdf", "LayoutParser: A Unified Toolkit for Deep Learning Based Document Image Analysis"),
     ("multi-column-2p.pdf", "Dense Passage Retrieval for Open-Domain Question Answering")],
)
def test_an_arxiv_papers_sideways_margin_stamp_is_left_out_and_the_paper_keeps_its_title(parser, name, title):
    """arXiv's stamp down the left margin comes out as "1 2 0 2", "n u J", ... "2 v 8 4 3 5 1 . 3 0 1 2 : v i X r a"."""
    document = parse(parser, name)
    assert document.title == title
    assert document.text.startswith(title + "\n\n")
    assert "v i X r a" not in document.text and "c s ." not in document.text.replace("]", "").replace("[", "")
    assert "Abstract" in document.text  # the paper's own text is all there
    assert_spans_exact(document)


def test_typeset_ligatures_are_read_as_their_letters(parser):
    document = parse(parser, "layout-parser-paper-fast.pdf")
    assert not set(document.text) & set("\ufb00\ufb01\ufb02\ufb03\ufb04")
    assert "A Unified Toolkit" in document.text and "efficient" in document.text.lower()


def test_glyphs_a_pdfs_font_does_not_map_are_no_text(parser):
    """The paper marks its corresponding author with an envelope icon, which pdfminer writes "(cid:0)"."""
    document = parse(parser, "layout-parser-paper-fast.pdf")
    assert "(cid:" not in document.text and "Zejiang Shen1, Ruochen Zhang2, Melissa Dell3" in document.text
    assert_spans_exact(document)


def test_words_a_pdf_hyphenated_across_lines_are_joined_and_compounds_are_not(parser):
    document = parse(parser, "layout-parser-paper-fast.pdf")
    assert "research and applications" in document.text and "applica- tions" not in document.text
    assert "layout detection" in document.text
    document = parse(parser, "multi-column-2p.pdf")
    assert "dual- encoder" in document.text  # not a word: left as the PDF has it
    assert_spans_exact(document)


def test_plain_text_blocks_are_told_apart_as_title_and_narrative(parser, tmp_path):
    # Sentence counting decides "title" or "narrative": the abbreviation must not split the one-line title into
    # two sentences of three words or more (which would make it narrative), and a paragraph of several sentences
    # is narrative even when its first sentence has no verb.
    path = tmp_path / "abstract.txt"
    path.write_text(
        "Vitamin D Supplementation in the U.S. Adult Male Population\n\n"
        "Background and aims. Vitamin D deficiency is common in older adults, e.g. in care homes. We measured "
        "serum levels in 1,200 participants over two years. Supplementation raised them by 40%.\n"
    )
    document = parser.parse(path, path.name)
    kinds = [(document.text[span.start : span.start + 12], span.type) for span in document.elements]
    assert kinds == [("Vitamin D Su", "Title"), ("Background a", "NarrativeText")]
    assert document.title == "Vitamin D Supplementation in the U.S. Adult Male Population"


@pytest.mark.parametrize("suffix", [".md", ".txt"])
def test_wikitext_headings_are_titles_with_their_level(parser, tmp_path, suffix):
    """A Wikipedia dump's headings ("= Title =", "= = Section = =", "=== Sub ===") are Title elements spanning the
    heading's words, with the level the "=" count gives; they give each chunk its heading path."""
    path = tmp_path / f"wiki{suffix}"
    path.write_text(" = Tower Building = \n\n The tower was built in 1840 . \n = = History = = \n It was an arsenal . \n\n"
                    "=== Later use ===\nIt became a museum.\n\n = Another Article = \n Unrelated text here .\n")
    document = parser.parse(path, path.name)
    titles = [(document.text[e.start : e.end], e.depth) for e in document.elements if e.type == "Title"]
    assert titles == [("Tower Building", 0), ("History", 1), ("Later use", 2), ("Another Article", 0)]
    assert not any("=" in document.text[e.start : e.end] for e in document.elements)


def test_markdown_text_is_the_file_itself(parser):
    document = parse(parser, "codeblock.md")
    raw = (DOCS / "codeblock.md").read_text()
    assert document.text == raw
    assert_spans_exact(document)


def test_utf16_text_is_decoded(parser):
    document = parse(parser, "fake-text-utf-16-be.txt")
    assert document.text.startswith("This is a test document")


def test_legacy_encoding_is_decoded(parser):
    document = parse(parser, "umlauts-non-utf8.md")
    assert "können" in document.text and "äöüß" in document.text


def test_text_garbled_before_it_was_saved_is_repaired(parser):
    """norwich-city.txt is UTF-8 that was once read as latin-1 and written back: "–1986" is stored as "â\x80\x931986"."""
    assert "\u00e2\x80\x93" in (DOCS / "norwich-city.txt").read_text(encoding="utf-8")
    document = parse(parser, "norwich-city.txt")
    assert "\u2013" + "1986 Watford" in document.text and "\u00e2\x80" not in document.text
    assert document.metadata["encoding"] == "utf-8, mojibake repaired"
    assert_spans_exact(document)


def test_text_that_is_right_is_left_as_it_is():
    from ingest.parsing.text import decode_text

    text = "“Curly” quotes, &amp; an entity, ﬁ a ligature, Ã as a letter, naïve café – 10 €"
    assert decode_text(text.encode("utf-8")) == (text, "utf-8")


def test_spreadsheet_tables_stay_readable(parser):
    document = parse(parser, "stanley-cups.xlsx")
    assert "|" in document.text  # rows rendered as `cell | cell`
    assert "Maple Leafs | TOR | 13" in document.text


def test_a_csv_caption_row_titles_the_table_and_is_not_taken_for_its_header(parser):
    """stanley-cups.csv opens on "Stanley Cups,," above "Team,Location,Stanley Cups", as the spreadsheet does."""
    document = parse(parser, "stanley-cups.csv")
    assert document.title == "Stanley Cups"
    assert document.text.startswith("Stanley Cups\n\nTeam | Location | Stanley Cups\nBlues | STL | 1")
    assert [(span.type, document.text[span.start : span.end].split("\n")[0]) for span in document.elements] == [
        ("Title", "Stanley Cups"), ("Table", "Team | Location | Stanley Cups")]


def test_email_with_attachment(parser):
    document = parse(parser, "fake-email-attachment.msg")
    assert document.text.strip()
    assert document.title == "Fake email with attachment"


def test_an_email_is_read_with_its_sender_recipients_date_and_subject(parser):
    """Who sent a mail, to whom, when and about what are asked of it: they head its text, and the subject titles it."""
    document = parse(parser, "fake-email.eml")
    assert document.title == "Test Email"
    assert document.text.startswith("From: Matthew Robinson <mrobinson@unstructured.io>\n"
                                     "To: NotMatthew <NotMatthew@notunstructured.com>\nDate: 2022-12-16T22:04:16+00:00\n"
                                     "Subject: Test Email\n\nThis is a test email to use for unit tests.")
    assert document.text[document.elements[0].start : document.elements[0].end].endswith("Subject: Test Email")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("password.pdf", RejectReason.ENCRYPTED),
        ("fake-text-all-whitespace.txt", RejectReason.NO_TEXT),
    ],
)
def test_bad_files_are_rejected_with_a_reason(parser, name, code):
    with pytest.raises(RejectedDocument) as info:
        parse(parser, name)
    assert info.value.code is code
    assert str(info.value).startswith(code.value + ": ")


def test_random_bytes_with_a_document_extension_are_rejected(parser, tmp_path):
    junk = tmp_path / "junk.docx"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(RejectedDocument) as info:
        parser.parse(junk, "junk.docx")
    assert info.value.code is RejectReason.CORRUPT


def test_an_image_that_is_not_one_is_corrupt(parser, tmp_path):
    image = tmp_path / "scan.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    with pytest.raises(RejectedDocument) as info:
        parser.parse(image, "scan.png")
    assert info.value.code is RejectReason.CORRUPT


def _hang(path: str, filename: str):
    time.sleep(600)


def _crash(path: str, filename: str):
    os._exit(3)


def test_a_hanging_parser_is_stopped_and_the_next_file_still_parses(tmp_path):
    hanging = IsolatedParser(timeout_s=2, memory_bytes=2 * 1024**3, target=_hang)
    started = time.monotonic()
    with pytest.raises(RejectedDocument) as info:
        hanging.parse(DOCS / "fake-memo.pdf", "fake-memo.pdf")
    assert info.value.code is RejectReason.TIMEOUT
    assert time.monotonic() - started < 30
    hanging.close()


def test_a_crashing_parser_rejects_the_file_and_recovers():
    crashing = IsolatedParser(timeout_s=30, memory_bytes=2 * 1024**3, target=_crash)
    with pytest.raises(RejectedDocument) as info:
        crashing.parse(DOCS / "fake-memo.pdf", "fake-memo.pdf")
    assert info.value.code is RejectReason.CORRUPT
    with pytest.raises(RejectedDocument):  # the replacement child is used for the next file
        crashing.parse(DOCS / "fake-memo.pdf", "fake-memo.pdf")
    crashing.close()


def _slow_hang_or_crash(path: str, filename: str) -> str:
    if filename.startswith("hang"):
        time.sleep(600)
    if filename.startswith("crash"):
        os._exit(3)
    time.sleep(0.7)
    return filename


def test_files_handed_in_at_once_wait_their_turn_and_each_time_limit_counts_from_its_own_start():
    # Worker threads call the one child with their files at once and take turns. Every file here takes 0.7 s and
    # the limit is 2 s, but the ones waiting behind a hanging file and a crashing one wait longer than that in
    # total: they must still parse (a limit counted from the hand-in would reject them), in a replacement child,
    # and only the culprits are rejected, each with its own reason.
    parser = IsolatedParser(timeout_s=2, memory_bytes=2 * 1024**3, target=_slow_hang_or_crash)
    names = ["hang.pdf", "crash.pdf", "a.pdf", "b.pdf", "c.pdf"]
    outcomes: dict[str, object] = {}

    def parse(name: str) -> None:
        try:
            outcomes[name] = parser.parse(DOCS / "fake-memo.pdf", name)
        except RejectedDocument as rejected:
            outcomes[name] = rejected.code

    threads = []
    try:
        for name in names:
            threads.append(threading.Thread(target=parse, args=(name,)))
            threads[-1].start()
            time.sleep(0.2)  # hand-in order: the hanging file first
        for thread in threads:
            thread.join(60)
    finally:
        parser.close()
    assert outcomes == {
        "hang.pdf": RejectReason.TIMEOUT, "crash.pdf": RejectReason.CORRUPT, "a.pdf": "a.pdf", "b.pdf": "b.pdf", "c.pdf": "c.pdf",
    }


def _slow(path: str, filename: str) -> str:
    time.sleep(1.5)
    return filename


def test_closing_the_parser_while_a_file_is_being_parsed_does_not_strand_its_thread():
    # A runtime closing while a worker thread is mid-parse (seen in CI: a parser that stopped its pool under a
    # pending parse left that thread waiting forever, and pytest could not exit). The parse finishes first.
    parser = IsolatedParser(timeout_s=30, memory_bytes=2 * 1024**3, target=_slow)
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(parser.parse(DOCS / "fake-memo.pdf", "memo.pdf")), daemon=True)
    thread.start()
    time.sleep(0.5)  # the child is busy with the file (or starting up for it)
    parser.close()
    thread.join(30)
    assert not thread.is_alive() and outcome == ["memo.pdf"]


def _hog(path: str, filename: str):
    return bytearray(3 * 1024**3)  # 3 GB for one file


def test_a_file_that_needs_too_much_memory_is_rejected():
    hungry = IsolatedParser(timeout_s=60, memory_bytes=512 * 1024**2, target=_hog)
    with pytest.raises(RejectedDocument) as info:
        hungry.parse(DOCS / "fake-memo.pdf", "fake-memo.pdf")
    assert info.value.code is RejectReason.TOO_LARGE
    hungry.close()


def test_the_memory_limit_counts_from_what_the_child_inherits():
    # A worker process that has grown (models, libraries: here 6 GB of reserved address space) starts its parser
    # child; a flat limit (the default 4 GB) on a child that inherited that space would leave it no room to load the
    # PDF libraries.
    import mmap

    reserved = mmap.mmap(-1, 6 * 1024**3, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    fresh = IsolatedParser(timeout_s=120, memory_bytes=4 * 1024**3)
    try:
        parsed = fresh.parse(DOCS / "fake-memo.pdf", "fake-memo.pdf")
        assert parsed.text.strip() and parsed.elements
    finally:
        fresh.close()
        reserved.close()


@pytest.mark.slow
def test_a_huge_single_line_text_is_parsed_not_refused(parser, tmp_path):
    """spaCy refuses texts over 1M characters; unstructured's heuristics only need a block's start."""
    path = tmp_path / "one-line.txt"
    path.write_text(("word " * 300_000).rstrip(), encoding="utf-8")  # 1.5 MB, no line break
    parsed = parser.parse(path, path.name)
    assert parsed.text == path.read_text(encoding="utf-8")


def test_text_with_a_bom_and_a_damaged_character_keeps_the_rest():
    from ingest.parsing.text import decode_text

    data = b"\xff\xfe" + "Intact UTF-16 text.".encode("utf-16-le") + b"\x00\xd8\x41"  # a lone surrogate, an odd byte
    text, encoding = decode_text(data)
    assert encoding == "utf-16" and text.startswith("Intact UTF-16 text.") and "\ufffd" in text
