"""Feedback and human review: users rate answers, low-confidence answers, fallbacks and thumbs-down wait for a
person, and what people approve or correct is exported as an eval dataset (production feedback becomes tests)."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select

from core.db import AnswerRow, Database, FeedbackRow, ReviewRow, utcnow
from retrieval.audit import Asker

REVIEW_STATUSES = ("pending", "approved", "edited", "rejected")
RATINGS = ("up", "down")
_MARKER = re.compile(r"\s*\[\d+\]")


class NotFound(LookupError):
    pass


class AlreadyResolved(ValueError):
    """A review item is resolved once; a second decision would overwrite the first reviewer's."""


class ReviewQueue:
    def __init__(self, db: Database):
        self.db = db

    def pending(self, tenant: str, limit: int = 50, offset: int = 0) -> list[ReviewRow]:
        return [row for row, _ in self.items(tenant, "pending", limit, offset)]

    def items(self, tenant: str, status: str = "pending", limit: int = 50, offset: int = 0) -> list[tuple[ReviewRow, dict]]:
        """Review items of one status, oldest first, each with the answer as it was given (its audit body)."""
        if status not in REVIEW_STATUSES:
            raise ValueError(f"status must be one of {', '.join(REVIEW_STATUSES)}, not {status!r}")
        with self.db.session() as s:
            rows = s.execute(
                select(ReviewRow, AnswerRow.body)
                .join(AnswerRow, AnswerRow.id == ReviewRow.answer_id)
                .where(ReviewRow.tenant == tenant, ReviewRow.status == status)
                .order_by(ReviewRow.created_at, ReviewRow.id)
                .limit(limit)
                .offset(offset)
            ).all()
            return [(row, body) for row, body in rows]

    def depth(self) -> int:
        """Pending review items, all tenants (a metric)."""
        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(ReviewRow).where(ReviewRow.status == "pending")) or 0

    def resolve(
        self, tenant: str, review_id: str, status: str, resolution: str | None = None, reviewer_key_id: str | None = None
    ) -> ReviewRow | None:
        if status not in REVIEW_STATUSES[1:]:
            raise ValueError(f"a review is resolved as one of {', '.join(REVIEW_STATUSES[1:])}, not {status!r}")
        if status == "edited" and not (resolution or "").strip():
            raise ValueError("an edited review needs the corrected answer")
        with self.db.session() as s:
            row = s.get(ReviewRow, review_id, with_for_update=True)
            if row is None or row.tenant != tenant:
                return None
            if row.status != "pending":
                raise AlreadyResolved(f"review item {review_id} was already resolved ({row.status})")
            row.status, row.resolution, row.resolved_at = status, resolution, utcnow()
            row.reviewer_key_id = reviewer_key_id
            return row

    def feedback(
        self, asker: Asker, answer_id: str, rating: str, comment: str | None = None, correction: str | None = None
    ) -> tuple[FeedbackRow, str | None]:
        """Stores a rating of an answer with the chunks it was built from; a thumbs-down or a correction puts the
        answer in the review queue (once: not while it is already pending). Returns (feedback, review id or None)."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be 'up' or 'down', not {rating!r}")
        with self.db.session() as s:
            answer = s.get(AnswerRow, answer_id)
            if answer is None or answer.tenant != asker.tenant:
                raise NotFound(f"no answer {answer_id}")
            row = FeedbackRow(
                id=str(uuid.uuid4()), answer_id=answer_id, tenant=asker.tenant, api_key_id=asker.api_key_id,
                rating=rating, comment=comment, correction=correction,
                chunk_ids=[r["chunk_id"] for r in answer.retrieved or []],
            )
            s.add(row)
            review_id = None
            if rating == "down" or correction:
                pending = s.scalars(
                    select(ReviewRow.id).where(ReviewRow.answer_id == answer_id, ReviewRow.status == "pending")
                ).first()
                review_id = pending
                if pending is None:
                    review_id = str(uuid.uuid4())
                    s.add(ReviewRow(id=review_id, answer_id=answer_id, tenant=asker.tenant, question=answer.question,
                                    reason="negative_feedback"))
            return row, review_id

    def feedback_counts(self) -> dict[str, int]:
        """Feedback received per rating, all tenants (a metric)."""
        with self.db.session() as s:
            return dict(s.execute(select(FeedbackRow.rating, func.count()).group_by(FeedbackRow.rating)).all())

    def down_voted(self, answer_ids: list[str]) -> set[str]:
        """Which of these answers received a thumbs-down."""
        found: set[str] = set()
        with self.db.session() as s:
            for start in range(0, len(answer_ids), 500):
                batch = answer_ids[start : start + 500]
                found.update(s.scalars(select(FeedbackRow.answer_id).where(FeedbackRow.answer_id.in_(batch), FeedbackRow.rating == "down")))
        return found

    def export(self, tenant: str) -> list[dict]:
        """Approved and corrected answers as eval rows (the JSONL `cairn eval ragas` reads), oldest first.

        Approved: the answer as given is the reference and its cited quotes and spans are the reference contexts; an
        approved fallback says the question is rightly unanswerable. Edited: the reviewer's text is the reference."""
        with self.db.session() as s:
            rows = s.execute(
                select(ReviewRow, AnswerRow)
                .join(AnswerRow, AnswerRow.id == ReviewRow.answer_id)
                .where(ReviewRow.tenant == tenant, ReviewRow.status.in_(("approved", "edited")))
                .order_by(ReviewRow.resolved_at)
            ).all()
        out = []
        for review, answer in rows:
            body = answer.body
            item = {"question": answer.question, "answer_id": answer.id, "review_id": review.id, "review": review.status}
            if review.status == "edited":
                item.update(reference=review.resolution.strip(), answerable=True)
            elif body.get("fallback") and body["fallback"]["reason"] in ("no_relevant_context", "low_confidence"):
                item.update(answerable=False)
            else:
                citations = body.get("citations") or []
                item.update(
                    reference=_MARKER.sub("", body["answer"]).strip(), answerable=True,
                    reference_contexts=[c["quote"] for c in citations],
                    reference_spans=[{"source": c["source"], "start": c["start"], "end": c["end"]} for c in citations],
                )
            out.append(item)
        return out
