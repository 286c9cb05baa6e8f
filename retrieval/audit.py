"""The answer log: every answer as given, with what produced it (who asked, which model, what it cost, what was
retrieved), read back as an audit record and by the cost and drift reports."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from core.db import AnswerRow, Database, FeedbackRow, ReviewRow

REDACTED = "[redacted]"


@dataclass(frozen=True)
class Asker:
    """Who a request acts for: the tenant always, the API key when the request carried one."""

    tenant: str
    api_key_id: str | None = None


class AnswerLog:
    def __init__(self, db: Database):
        self.db = db

    def log(self, answer: dict, *, asker: Asker, collection: str, model: str, retrieved: list[dict]) -> None:
        """Stores the answer as given; one with a `review_id` enters the review queue in the same transaction."""
        fallback = answer.get("fallback") or {}
        usage = answer.get("usage") or {}
        with self.db.session() as s:
            s.add(
                AnswerRow(
                    id=answer["id"], tenant=asker.tenant, collection=collection, question=answer["question"],
                    confidence=answer["confidence"], fallback_reason=fallback.get("reason"),
                    generator=answer["generator"], corpus_version=answer.get("corpus_version"), body=answer,
                    api_key_id=asker.api_key_id, model=model, input_tokens=usage.get("input_tokens", 0),
                    output_tokens=usage.get("output_tokens", 0), cost_usd=usage.get("cost_usd", 0.0),
                    total_ms=answer.get("timings_ms", {}).get("total", 0.0),
                    top_score=retrieved[0]["score"] if retrieved else None, retrieved=retrieved,
                )
            )
            if answer.get("review_id"):
                s.flush()  # the answer row first: the review row refers to it
                s.add(
                    ReviewRow(
                        id=answer["review_id"], answer_id=answer["id"], tenant=asker.tenant,
                        question=answer["question"], reason=fallback.get("reason") or "low_confidence",
                    )
                )

    def record(self, tenant: str, answer_id: str) -> dict | None:
        """The audit record: the answer as given, who asked, the model, tokens and cost, the retrieved chunks with
        their scores, and the feedback and review it received."""
        with self.db.session() as s:
            row = s.get(AnswerRow, answer_id)
            if row is None or row.tenant != tenant:
                return None
            feedback = s.scalars(select(FeedbackRow).where(FeedbackRow.answer_id == answer_id).order_by(FeedbackRow.created_at))
            review = s.scalars(select(ReviewRow).where(ReviewRow.answer_id == answer_id)).first()
            return {
                **row.body,
                "tenant": row.tenant,
                "collection": row.collection,
                "api_key_id": row.api_key_id,
                "model": row.model,
                "retrieved": row.retrieved or [],
                "created_at": row.created_at.isoformat(),
                "feedback": [
                    {"id": f.id, "rating": f.rating, "comment": f.comment, "correction": f.correction,
                     "created_at": f.created_at.isoformat()}
                    for f in feedback
                ],
                "review": None if review is None else {
                    "id": review.id, "reason": review.reason, "status": review.status, "resolution": review.resolution,
                },
            }

    def redact_document(self, tenant: str, document_id: str) -> int:
        """Replaces every quote of the document in the tenant's past answers (citations and answer text) with
        REDACTED, keeping the citation's ids, offsets and the quote's sha256; returns how many answers changed."""
        changed = 0
        with self.db.session() as s:
            for row in s.scalars(select(AnswerRow).where(AnswerRow.tenant == tenant)):
                body = copy.deepcopy(row.body)
                quotes = [c for c in body.get("citations") or [] if c.get("document_id") == document_id and c.get("quote") != REDACTED]
                if not quotes:
                    continue
                for citation in quotes:
                    body["answer"] = body.get("answer", "").replace(citation["quote"], REDACTED)
                    citation["quote_sha256"] = hashlib.sha256(citation["quote"].encode()).hexdigest()
                    citation["quote"] = REDACTED
                row.body = body
                changed += 1
        return changed

    def between(self, tenant: str | None, start: datetime | None = None, end: datetime | None = None) -> list[AnswerRow]:
        """Answers logged in [start, end), oldest first (every tenant's when tenant is None)."""
        query = select(AnswerRow).order_by(AnswerRow.created_at)
        if tenant is not None:
            query = query.where(AnswerRow.tenant == tenant)
        if start is not None:
            query = query.where(AnswerRow.created_at >= start)
        if end is not None:
            query = query.where(AnswerRow.created_at < end)
        with self.db.session() as s:
            return list(s.scalars(query))


def purge(ingest, log: AnswerLog, tenant: str, document_id: str) -> tuple[bool, int]:
    """Erases the document (if it still exists; `ingest` is an ingest.pipeline.IngestService) and redacts its quotes
    in the tenant's past answers: (whether it existed, answers redacted)."""
    return ingest.delete(tenant, document_id), log.redact_document(tenant, document_id)
