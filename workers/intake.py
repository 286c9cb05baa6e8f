"""Upload intake: each file of a request checked on its own (name, type, size, conflict), staged in the upload
area and queued as one job; a refused file gets its outcome in the job and never sinks the others."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.types import DocumentLabels, DocumentStatus, IngestOutcome, RejectedDocument, RejectReason, document_id_for
from ingest.archive import is_archive
from ingest.catalog import DocumentCatalog
from ingest.parsing.formats import is_supported, unsupported
from ingest.pipeline import conflict_reason
from ingest.uploads import UploadArea, upload_name
from workers.jobs import FileToIngest
from workers.submit import validate_target

ACCEPTED = "accepted"


@dataclass
class IncomingFile:
    name: str | None  # as the client sent it
    stream: BinaryIO  # the received bytes (read once)


@dataclass
class FileOutcome:
    """What became of one file of the request: `accepted` (queued), `rejected` or `conflict`, with the reason."""

    filename: str
    status: str
    document_id: str | None = None
    reason: str | None = None


@dataclass
class Intake:
    job_id: str
    files: list[FileOutcome]


# (files, tenant=, collection=, strategy=, api_key_id=) -> job id: workers.submit.Submitter.submit.
Submit = Callable[..., str]


class UploadIntake:
    def __init__(self, catalog: DocumentCatalog, uploads: UploadArea, submit: Submit, max_file_bytes: int,
                 default_collection: str = "default", default_strategy: str = "sentence"):
        self.catalog = catalog
        self.uploads = uploads
        self.submit = submit
        self.max_file_bytes = max_file_bytes
        self.default_collection = default_collection
        self.default_strategy = default_strategy

    def upload(self, incoming: list[IncomingFile], *, tenant: str, collection: str | None, strategy: str | None,
               metadata: str | None, replace: bool, api_key_id: str | None) -> Intake:
        """An upload request: `metadata` is its JSON form field (`source`, `tags`, `date`). ValueError for a bad
        target or metadata (nothing is staged); otherwise every file gets its own outcome."""
        collection = collection or self.default_collection
        strategy = strategy or self.default_strategy
        validate_target(collection, strategy)
        try:
            meta = json.loads(metadata) if metadata else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"metadata is not JSON: {exc}") from None
        if not isinstance(meta, dict):
            raise ValueError("metadata must be a JSON object")
        unknown = sorted(set(meta) - {"source", "tags", "date"})
        if unknown:
            raise ValueError(f"metadata has unknown keys: {', '.join(unknown)} (known: source, tags, date)")
        labels = DocumentLabels.parse(meta)
        source = meta.get("source")
        if source is not None and (not isinstance(source, str) or not source.strip()):
            raise ValueError("metadata.source must be a non-empty string")
        return self.accept(incoming, tenant=tenant, collection=collection, strategy=strategy, labels=labels,
                           source=source, replace=replace, api_key_id=api_key_id)

    def replace(self, document_id: str, incoming: IncomingFile, *, tenant: str, strategy: str | None,
                api_key_id: str | None) -> Intake | None:
        """A document's next version, asked for explicitly (same id, same source); None when there is no such
        document. The strategy defaults to the one the document is indexed with."""
        document = self.catalog.get(tenant, document_id)
        if document is None:
            return None
        entries = self.catalog.index_entries(document_id)
        strategy = strategy or (entries[0].strategy if entries else self.default_strategy)
        validate_target(document.collection, strategy)
        return self.accept([incoming], tenant=tenant, collection=document.collection, strategy=strategy,
                           source=document.source, replace=True, api_key_id=api_key_id)

    def accept(
        self,
        incoming: list[IncomingFile],
        *,
        tenant: str,
        collection: str,
        strategy: str,
        labels: DocumentLabels = DocumentLabels(),
        source: str | None = None,
        replace: bool = False,
        api_key_id: str | None = None,
    ) -> Intake:
        """`source` names the identity of a single file (and replaces what it names, as the caller chose it);
        otherwise each file is `upload://<name>`, and `replace` says whether a live document of that name with
        other content may be replaced (else: `conflict`)."""
        folder = self.uploads.new_batch()
        staged: list[tuple[FileToIngest, FileOutcome]] = []
        try:
            for position, item in enumerate(incoming):
                queued, outcome = self._stage(item, position, folder, tenant, collection, labels,
                                              source if len(incoming) == 1 else None, replace)
                if outcome.status == ACCEPTED and any(f.source == queued.source for f, _ in staged if f.outcome is None):
                    # Two files of one request under one name: the second would silently replace the first.
                    self.uploads.discard(Path(queued.stored_path))
                    queued, outcome = _refused(queued.display, IngestOutcome(
                        queued.display, outcome.document_id, DocumentStatus.CONFLICT,
                        reason="conflict: another file of this request has the same name; send them in separate requests",
                    ))
                staged.append((queued, outcome))
            files = [f for f, _ in staged]
            job_id = self.submit(files, tenant=tenant, collection=collection, strategy=strategy, api_key_id=api_key_id)
        except BaseException:
            self.uploads.discard_batch(folder)
            raise
        if all(f.outcome is not None for f in files):
            self.uploads.discard_batch(folder)
        return Intake(job_id, [outcome for _, outcome in staged])

    def _stage(
        self, item: IncomingFile, position: int, folder: Path, tenant: str, collection: str, labels: DocumentLabels,
        source: str | None, replace: bool,
    ) -> tuple[FileToIngest, FileOutcome]:
        shown = " ".join((item.name or "upload").split())[:200] or "upload"
        try:
            name = upload_name(item.name)
            shown = name
            if not (is_supported(name) or is_archive(name)):
                raise unsupported(name)
            target = folder / f"{position:04d}_{name}"
            content_hash = self._save(item.stream, target)
        except RejectedDocument as refusal:
            return _refused(shown, IngestOutcome(shown, None, DocumentStatus.REJECTED, reason=str(refusal)))
        identity = source or f"upload://{name}"
        may_replace = replace or source is not None
        document_id = None if is_archive(name) else document_id_for(tenant, collection, identity)
        if document_id is not None and not may_replace:
            live = self.catalog.get(tenant, document_id)
            if live is not None and live.content_hash != content_hash:
                target.unlink(missing_ok=True)
                return _refused(name, IngestOutcome(name, document_id, DocumentStatus.CONFLICT, reason=conflict_reason(document_id)))
        queued = FileToIngest(display=name, stored_path=str(target), source=identity, labels=labels, replace=may_replace)
        return queued, FileOutcome(name, ACCEPTED, document_id)

    def _save(self, stream: BinaryIO, target: Path) -> str:
        """Copies the file into the upload area; its sha256. Over the size limit: too_large, nothing kept."""
        digest = hashlib.sha256()
        written = 0
        with target.open("wb") as sink:
            while block := stream.read(1 << 20):
                written += len(block)
                if written > self.max_file_bytes:
                    break
                digest.update(block)
                sink.write(block)
        if written > self.max_file_bytes:
            target.unlink(missing_ok=True)
            raise RejectedDocument(RejectReason.TOO_LARGE, f"larger than the limit of {self.max_file_bytes} bytes")
        return digest.hexdigest()


def _refused(display: str, outcome: IngestOutcome) -> tuple[FileToIngest, FileOutcome]:
    refused = FileToIngest(display=display, stored_path="", source="", outcome=outcome)
    return refused, FileOutcome(display, outcome.status.value, outcome.document_id, outcome.reason)
