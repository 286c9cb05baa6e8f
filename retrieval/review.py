"""The human-review queue and the answer log it points into (both in the SQL store)."""

from __future__ import annotations

from sqlalchemy import func, select

from core.db import AnswerRow, Database, ReviewRow, utcnow

REVIEW_STATUSES = ("pending", "approved", "edited", "rejected")


class ReviewQueue:
    def __init__(self, db: Database):
        self.db = db

    def log_answer(self, answer: dict, *, tenant: str, collection: str) -> None:
        fallback = answer.get("fallback") or {}
        with self.db.session() as s:
            s.add(
                AnswerRow(
                    id=answer["id"], tenant=tenant, collection=collection, question=answer["question"],
                    confidence=answer["confidence"], fallback_reason=fallback.get("reason"),
                    generator=answer["generator"], corpus_version=answer.get("corpus_version"), body=answer,
                )
            )

    def enqueue(self, review_id: str, answer_id: str, *, tenant: str, question: str, reason: str) -> None:
        with self.db.session() as s:
            s.add(ReviewRow(id=review_id, answer_id=answer_id, tenant=tenant, question=question, reason=reason))

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

    def depth(self, tenant: str) -> int:
        with self.db.session() as s:
            return s.scalar(
                select(func.count()).select_from(ReviewRow).where(ReviewRow.tenant == tenant, ReviewRow.status == "pending")
            ) or 0

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
