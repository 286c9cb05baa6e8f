"""Parsing: turn a file into extracted text plus located elements, or reject it with a reason."""

from ingest.parsing.base import Parser
from ingest.parsing.isolated import IsolatedParser
from ingest.parsing.unstructured_parser import UnstructuredParser

__all__ = ["IsolatedParser", "Parser", "UnstructuredParser"]
