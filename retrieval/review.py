"""The human-review queue and the answer log it points into (both in the SQL store)."""

from __future__ import annotations

from sqlalchemy import select

from core.db import AnswerRow, Database, ReviewRow, utcnow

REVIEW_STATUSES = ("pending", "approved", "edited", "rejected")


class ReviewQueue:
    def __init__(self, db: Database):
        self.db = db

    def log_answer(self, answer: dict, *, tenant: str, collection: str) -> None:
        """Stores the answer as given; one with a `review_id` enters the review queue in the same transaction."""
        fallback = answer.get("fallback") or {}
        with self.db.session() as s:
            s.add(
                AnswerRow(
                    id=answer["id"], tenant=tenant, collection=collection, question=answer["question"],
                    confidence=answer["confidence"], fallback_reason=fallback.get("reason"),
                    generator=answer["generator"], corpus_version=answer.get("corpus_version"), body=answer,
                )
            )
            if answer.get("review_id"):
                s.flush()  # the answer row first: the review row refers to it
                s.add(
                    ReviewRow(
                        id=answer["review_id"], answer_id=answer["id"], tenant=tenant, question=answer["question"],
                        reason=fallback.get("reason") or "low_confidence",
                    )
                )

    def answer(self, tenant: str, answer_id: str) -> dict | None:
        with self.db.session() as s:
            row = s.get(AnswerRow, answer_id)
            return row.body if row is not None and row.tenant == tenant else None

    def pending(self, tenant: str, limit: int = 50, offset: int = 0) -> list[ReviewRow]:
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(ReviewRow)
                    .where(ReviewRow.tenant == tenant, ReviewRow.status == "pending")
                    .order_by(ReviewRow.created_at)
                    .limit(limit)
                    .offset(offset)
                )
            )

    def resolve(self, tenant: str, review_id: str, status: str, resolution: str | None = None) -> ReviewRow | None:
        if status not in REVIEW_STATUSES[1:]:
            raise ValueError(f"a review is resolved as one of {', '.join(REVIEW_STATUSES[1:])}, not {status!r}")
        if status == "edited" and not (resolution or "").strip():
            raise ValueError("an edited review needs the corrected answer")
        with self.db.session() as s:
            row = s.get(ReviewRow, review_id)
            if row is None or row.tenant != tenant:
                return None
            row.status, row.resolution, row.resolved_at = status, resolution, utcnow()
            return row
