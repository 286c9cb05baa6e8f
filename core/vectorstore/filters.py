"""The Qdrant filters both backends send, built in one place: Qdrant Edge and qdrant-client spell the same
conditions with different classes, so each backend gives the four constructors and this module the logic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from core.vectorstore.base import STAGED, STATE, SearchFilter


@dataclass(frozen=True)
class Conditions:
    """A backend's way of writing a condition: equal to a value, any of values, within a range, and the filter."""

    match: Callable[[str, Any], Any]
    match_any: Callable[[str, list], Any]
    within: Callable[[str, float | None, float | None], Any]
    combine: Callable[[list | None, list | None], Any]  # (must, must_not) -> filter


def search_filter(flt: SearchFilter, c: Conditions):
    """What a query may see: its tenant's live points of the documents its filter selects."""
    where = flt.where
    must = [c.match("tenant", flt.tenant)]
    if where.document_ids:
        must.append(c.match_any("document_id", list(where.document_ids)))
    if where.sources:
        must.append(c.match_any("source", list(where.sources)))
    if where.tags:
        must.append(c.match_any("tags", list(where.tags)))
    if where.date_from is not None or where.date_to is not None:
        must.append(c.within("date_ts", where.date_from, where.date_to))
    must_not = [c.match(STATE, STAGED)]
    if where.exclude_document_ids:
        must_not.append(c.match_any("document_id", list(where.exclude_document_ids)))
    return c.combine(must, must_not)


def document_filter(document_id: str, c: Conditions):
    """Every point of a document, staged or live."""
    return c.combine([c.match("document_id", document_id)], None)


def visible_filter(document_id: str | None, c: Conditions):
    """The live points (of one document, or of all)."""
    return c.combine([c.match("document_id", document_id)] if document_id else None, [c.match(STATE, STAGED)])


def other_versions(document_id: str, version: int, c: Conditions):
    """A document's points of every version but `version` (what a committed version replaces)."""
    return c.combine([c.match("document_id", document_id)], [c.match("version", version)])


def one_version(document_id: str, version: int, c: Conditions):
    return c.combine([c.match("document_id", document_id), c.match("version", version)], None)


def texts_elsewhere(texts: list[str], exclude_document_id: str, c: Conditions):
    """Points of other documents holding any of these chunk texts."""
    return c.combine([c.match_any("text", texts)], [c.match("document_id", exclude_document_id)])
