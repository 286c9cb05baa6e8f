"""The parser contract, run against every implementation: the isolated parser (a child process with time and memory
limits, what deployments use) and the in-process parser it wraps, on the same files."""

from __future__ import annotations

import pytest

from core.types import RejectedDocument, RejectReason
from ingest.parsing import UnstructuredParser
from tests.conftest import DOCS

READABLE = ["fake-memo.pdf", "handbook-1p.docx", "fake-email.eml", "simple-table.md", "fake-text-utf-16-be.txt",
            "stanley-cups.csv"]


class ParserContract:
    """Every parser must pass these. Subclasses provide `parser`."""

    @pytest.fixture
    def parser_under_test(self):
        raise NotImplementedError

    @pytest.mark.parametrize("name", READABLE)
    def test_elements_are_spans_of_the_extracted_text(self, parser_under_test, name):
        document = parser_under_test.parse(DOCS / name, name)
        assert document.text.strip() and document.mime_type
        if name.endswith((".pdf", ".docx", ".eml")):  # text formats are their own text: no elements needed
            assert document.elements
        for element in document.elements:
            assert 0 <= element.start < element.end <= len(document.text), element
            assert document.text[element.start:element.end].strip(), element

    @pytest.mark.parametrize("name", READABLE)
    def test_it_reads_what_the_other_parser_reads(self, parser_under_test, name, in_process_reading):
        document = parser_under_test.parse(DOCS / name, name)
        reference = in_process_reading(name)
        assert (document.text, document.elements, document.title) == (reference.text, reference.elements, reference.title)

    @pytest.mark.parametrize(("name", "reason"), [("password.pdf", RejectReason.ENCRYPTED), ("fake-text-all-whitespace.txt", RejectReason.NO_TEXT)])
    def test_bad_input_is_a_rejection_with_its_reason(self, parser_under_test, name, reason):
        with pytest.raises(RejectedDocument) as refused:
            parser_under_test.parse(DOCS / name, name)
        assert refused.value.code == reason

    def test_the_file_name_decides_an_unsupported_type(self, parser_under_test, tmp_path):
        clip = tmp_path / "clip.mp3"
        clip.write_bytes(b"ID3" + bytes(64))
        with pytest.raises(RejectedDocument) as refused:
            parser_under_test.parse(clip, clip.name)
        assert refused.value.code == RejectReason.UNSUPPORTED


@pytest.fixture(scope="module")
def in_process_reading():
    readings: dict = {}
    reader = UnstructuredParser()

    def read(name: str):
        if name not in readings:
            readings[name] = reader.parse(DOCS / name, name)
        return readings[name]

    return read


class TestIsolatedParser(ParserContract):
    @pytest.fixture
    def parser_under_test(self, parser):
        return parser  # the session's IsolatedParser


class TestInProcessParser(ParserContract):
    @pytest.fixture
    def parser_under_test(self):
        return UnstructuredParser()
