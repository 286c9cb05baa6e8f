"""Parsing: turn a file into extracted text plus located elements, or reject it with a reason."""

from ingest.parsing.base import Parser
from ingest.parsing.isolated import IsolatedParser
from ingest.parsing.ocr import OcrOptions
from ingest.parsing.unstructured_parser import ParseOptions, UnstructuredParser


def parse_options(ingest) -> ParseOptions:
    """The parsing options of the ingest settings (core.settings.IngestSettings)."""
    return ParseOptions(OcrOptions(ingest.ocr_languages, ingest.ocr_page_timeout_s), ingest.convert_timeout_s)


__all__ = ["IsolatedParser", "ParseOptions", "Parser", "UnstructuredParser", "parse_options"]
