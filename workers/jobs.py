"""The job store: ingestion jobs, one item per file, their stages, progress and outcomes (in the SQL database)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Row, bindparam, func, insert, or_, select, update

from core.db import Database, JobItemRow, JobRow, utcnow
from core.types import TERMINAL_STATUSES, DocumentLabels, DocumentStatus, IngestOutcome, Stage

_STAGE_ORDER = [Stage.QUEUED, Stage.PARSING, Stage.CHUNKING, Stage.EMBEDDING, Stage.INDEXING]

# The statements every task runs, built once (see Database.connection).
_ITEMS, _JOBS = JobItemRow.__table__, JobRow.__table__
_TERMINAL = sorted(TERMINAL_STATUSES)
# An item is started by whichever copy of its task comes first; once started, only the same task may start it
# again (redelivered after its worker died), so a re-queued copy of a task that was not lost after all does
# nothing (see workers.requeue). Items started before claims were recorded have none, and may be taken over.
_START = (
    update(_ITEMS)
    .where(
        _ITEMS.c.id == bindparam("item_id"), _ITEMS.c.status.not_in(_TERMINAL),
        or_(_ITEMS.c.status == Stage.QUEUED.value, _ITEMS.c.claimed_by.is_(None), _ITEMS.c.claimed_by == bindparam("claim")),
    )
    .values(attempts=_ITEMS.c.attempts + 1, status=Stage.PARSING.value, claimed_by=bindparam("claim"))
    .returning(*_ITEMS.c)
)
# Top-level items still queued and last touched before the cutoff; each is touched again as it is re-queued, so
# workers sweeping at once re-queue it once.
_WAITING = (_ITEMS.c.status == Stage.QUEUED.value, _ITEMS.c.parent_id.is_(None), _ITEMS.c.updated_at < bindparam("cutoff"))
_REQUEUE = (
    update(_ITEMS)
    .where(_ITEMS.c.id.in_(select(_ITEMS.c.id).where(*_WAITING).limit(bindparam("most"))), *_WAITING)
    .values(updated_at=bindparam("now"))
    .returning(_ITEMS.c.id)
)
_JOB = select(_JOBS).where(_JOBS.c.id == bindparam("job_id"))
# The columns to set come with each execution (an outcome's, or a failure's); a redelivered task's UPDATE matches
# no row and returns nothing.
_CONCLUDE = (
    update(_ITEMS)
    .where(_ITEMS.c.id == bindparam("item_id"), _ITEMS.c.parent_id.is_(None), _ITEMS.c.status.not_in(_TERMINAL))
    .returning(_ITEMS.c.job_id, _ITEMS.c.position)
)
# Each finisher reads the count its own decrement left: exactly one of them reads 0, however they interleave.
_COUNT_DOWN = (
    update(_JOBS).where(_JOBS.c.id == bindparam("job_id")).values(remaining=_JOBS.c.remaining - 1).returning(_JOBS.c.remaining)
)


@dataclass(frozen=True)
class FileToIngest:
    display: str  # what the user called it (path or upload name)
    stored_path: str  # where the worker reads it
    source: str  # the identity of the document (same source again = same document)
    labels: DocumentLabels = DocumentLabels()
    replace: bool = True  # False: a live document of this source with other content makes it a `conflict`
    outcome: IngestOutcome | None = None  # refused before it was queued (at upload): recorded as is, never queued


@dataclass
class JobView:
    job_id: str
    status: str
    progress: float
    documents: list[dict] = field(default_factory=list)
    error: str | None = None
    collection: str = ""
    strategy: str = ""

    @property
    def finished(self) -> bool:
        return self.status in (Stage.DONE.value, Stage.FAILED.value)

    def as_dict(self) -> dict:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "progress": round(self.progress, 4),
            "documents": self.documents,
            "error": self.error,
        }


class JobStore:
    def __init__(self, db: Database):
        self.db = db

    def create(
        self, tenant: str, collection: str, strategy: str, files: list[FileToIngest], api_key_id: str | None = None
    ) -> tuple[str, list[str]]:
        """A job with one item per file; returns its id and the ids of the items to queue (files refused already
        get their outcome here and are not queued)."""
        job_id = str(uuid.uuid4())
        item_ids = [str(uuid.uuid4()) for _ in files]
        queued = [item_id for item_id, f in zip(item_ids, files, strict=True) if f.outcome is None]
        with self.db.session() as s:
            s.add(JobRow(id=job_id, tenant=tenant, collection=collection, strategy=strategy, remaining=len(queued),
                         api_key_id=api_key_id))
            s.flush()
            for position, (item_id, f) in enumerate(zip(item_ids, files, strict=True)):
                settled = dict(status=Stage.QUEUED.value) if f.outcome is None else dict(
                    status=f.outcome.status.value, progress=1.0, reason=f.outcome.reason, document_id=f.outcome.document_id
                )
                s.add(
                    JobItemRow(
                        id=item_id, job_id=job_id, position=position, path=f.display, stored_path=f.stored_path,
                        source=f.source, labels=f.labels.as_json() if f.labels != DocumentLabels() else None,
                        replace=f.replace, **settled,
                    )
                )
        return job_id, queued

    def start(self, item_id: str, claim: str | None = None) -> tuple[Row, Row] | None:
        """Counts an attempt and marks the item as parsing, started by task `claim`; None when the item is unknown,
        already has an outcome (a redelivered task has nothing to do), or was started by another task. Returns the
        item's and its job's rows."""
        with self.db.connection() as c:
            item = c.execute(_START, {"item_id": item_id, "claim": claim}).first()
            if item is None:
                return None
            return item, c.execute(_JOB, {"job_id": item.job_id}).one()

    def set_stage(self, item_id: str, stage: Stage, progress: float) -> None:
        with self.db.session() as s:
            s.execute(
                update(JobItemRow)
                .where(JobItemRow.id == item_id, JobItemRow.status.not_in(TERMINAL_STATUSES))
                .values(status=stage.value, progress=progress)
            )

    def waiting_retry(self, item_id: str, reason: str) -> None:
        """The item met a dependency failure and waits for its task's retry: queued again, with the reason shown."""
        with self.db.session() as s:
            s.execute(
                update(JobItemRow)
                .where(JobItemRow.id == item_id, JobItemRow.status.not_in(TERMINAL_STATUSES))
                .values(status=Stage.QUEUED.value, progress=0.0, reason=reason)
            )

    def finish(self, item_id: str, outcome: IngestOutcome) -> bool:
        """Records the item's outcome; True when this completed the job (its last item got an outcome)."""
        values = dict(
            status=outcome.status.value, progress=1.0, chunks=outcome.chunks, reason=outcome.reason,
            document_id=outcome.document_id,
        )
        with self.db.connection() as c:
            item = self._conclude(c, item_id, values)
            if item is None:
                return False
            if outcome.members:
                c.execute(
                    insert(_ITEMS),
                    [
                        dict(
                            id=str(uuid.uuid4()), job_id=item.job_id, position=item.position, parent_id=item_id,
                            path=member.path, stored_path="", source="", document_id=member.document_id,
                            status=member.status.value, progress=1.0, chunks=member.chunks, reason=member.reason,
                        )
                        for member in outcome.members
                    ],
                )
            return self._count_down(c, item.job_id)

    def fail(self, item_id: str, reason: str) -> bool:
        """Marks the item failed; True when this completed the job."""
        with self.db.connection() as c:
            item = self._conclude(c, item_id, dict(status=DocumentStatus.FAILED.value, progress=1.0, reason=reason))
            return item is not None and self._count_down(c, item.job_id)

    @staticmethod
    def _conclude(c, item_id: str, values: dict) -> Row | None:
        """Gives a top-level item its outcome, once: None if it had one already (a redelivered task)."""
        return c.execute(_CONCLUDE, {"item_id": item_id, **values}).first()

    @staticmethod
    def _count_down(c, job_id: str) -> bool:
        return c.execute(_COUNT_DOWN, {"job_id": job_id}).scalar_one() == 0

    def summary(self, job_id: str) -> tuple[str, float] | None:
        """(status, progress) from aggregates: cheap enough to poll while a job of thousands of files runs."""
        with self.db.session() as s:
            if s.get(JobRow, job_id) is None:
                return None
            rows = s.execute(
                select(JobItemRow.status, func.count(), func.sum(JobItemRow.progress))
                .where(JobItemRow.job_id == job_id, JobItemRow.parent_id.is_(None))
                .group_by(JobItemRow.status)
            ).all()
        return _status_of({status: (count, total or 0.0) for status, count, total in rows})

    def is_finished(self, job_id: str) -> bool:
        summary = self.summary(job_id)
        return summary is not None and summary[0] in (Stage.DONE.value, Stage.FAILED.value)

    def get(self, job_id: str, tenant: str | None = None) -> JobView | None:
        with self.db.session() as s:
            job = s.get(JobRow, job_id)
            if job is None or (tenant is not None and job.tenant != tenant):
                return None
            items = list(
                s.scalars(
                    select(JobItemRow).where(JobItemRow.job_id == job_id).order_by(JobItemRow.position, JobItemRow.parent_id.is_not(None))
                )
            )
        paths = {i.id: i.path for i in items if i.parent_id is None}
        documents = [
            {
                "path": i.path,
                "document_id": i.document_id,
                "status": i.status,
                "chunks": i.chunks,
                "reason": i.reason,
                "parent": paths.get(i.parent_id) if i.parent_id else None,
            }
            for i in items
        ]
        counts: dict[str, tuple[int, float]] = {}
        for i in items:
            if i.parent_id is None:
                count, total = counts.get(i.status, (0, 0.0))
                counts[i.status] = (count + 1, total + i.progress)
        status, progress = _status_of(counts)
        return JobView(job_id, status, progress, documents, job.error, job.collection, job.strategy)

    def count_by_status(self) -> dict[str, int]:
        """Ingestion items per status, all tenants (a metric)."""
        with self.db.session() as s:
            return dict(s.execute(select(JobItemRow.status, func.count()).group_by(JobItemRow.status)).all())

    def unfinished_items(self) -> dict[str, str | None]:
        """Items that never got an outcome (their process died with them), each with the task that started it if
        any; resubmitted at start-up, as that task, so that they may be started again."""
        with self.db.session() as s:
            rows = s.execute(
                select(JobItemRow.id, JobItemRow.claimed_by)
                .where(JobItemRow.status.not_in(TERMINAL_STATUSES), JobItemRow.parent_id.is_(None))
            ).all()
        return dict(rows)

    def take_waiting(self, older_than_s: float, most: int = 1000) -> list[str]:
        """Items queued for longer than `older_than_s` (their task may have been lost), marked as just queued again so
        that no other sweep takes them for as long; the caller queues a task for each."""
        now = utcnow()
        with self.db.connection() as c:
            found = c.execute(_REQUEUE, {"cutoff": now - timedelta(seconds=older_than_s), "now": now, "most": most})
            return list(found.scalars())


def _status_of(counts: dict[str, tuple[int, float]]) -> tuple[str, float]:
    """A job's status from its top-level items' (count, summed progress) per status."""
    total = sum(count for count, _ in counts.values())
    if total == 0:
        return Stage.DONE.value, 1.0
    active = {status: c for status, c in counts.items() if status not in TERMINAL_STATUSES}
    if not active:
        failed = set(counts) == {DocumentStatus.FAILED.value}
        return (Stage.FAILED.value if failed else Stage.DONE.value), 1.0
    progress = sum(done for _, done in counts.values()) / total
    if set(active) == {Stage.QUEUED.value} and sum(c for c, _ in active.values()) == total:
        return Stage.QUEUED.value, progress
    started = [Stage(status) for status in active if status != Stage.QUEUED.value] or [Stage.PARSING]
    return max(started, key=_STAGE_ORDER.index).value, progress
