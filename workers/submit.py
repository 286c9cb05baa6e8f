"""Turning paths or uploads into a job and its queued tasks."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pathspec
import pybreaker
from celery import Celery
from kombu.exceptions import OperationalError as BrokerOperationalError

from core.types import TransientError
from ingest.chunking import check_strategy
from ingest.pipeline import check_name
from workers.celery_app import INGEST_TASK
from workers.jobs import FileToIngest, JobStore


class BrokerUnavailable(TransientError):
    """The queue (Redis) cannot be reached: nothing was queued."""


IGNORE_FILE = ".cairnignore"


def collect_files(paths: list[Path], replace: bool = True) -> list[FileToIngest]:
    """Every regular file under the given files and folders (recursively, in a stable order), but for what a
    `.cairnignore` (gitignore syntax) in a folder leaves out below it; the ignore files themselves are not
    ingested. A path is the document's identity, so by default a changed file replaces its document."""
    found: list[Path] = []
    for given in paths:
        if given.is_dir():
            found.extend(_walk(given))
        else:
            found.append(given)  # a missing path still becomes an item, so the user sees it rejected as not found
    return [FileToIngest(display=str(p), stored_path=str(p.resolve()), source=str(p.resolve()), replace=replace) for p in found]


def _walk(folder: Path) -> list[Path]:
    files: list[Path] = []
    rules: list[tuple[Path, pathspec.GitIgnoreSpec]] = []  # each ignore file with the folder it was found in
    for root, dirs, names in os.walk(folder):
        here = Path(root)
        rules = [(base, spec) for base, spec in rules if here.is_relative_to(base)]
        if IGNORE_FILE in names:
            lines = (here / IGNORE_FILE).read_text(encoding="utf-8", errors="replace").splitlines()
            rules.append((here, pathspec.GitIgnoreSpec.from_lines(lines)))

        def ignored(path: Path, is_dir: bool) -> bool:
            return any(spec.match_file(path.relative_to(base).as_posix() + ("/" if is_dir else "")) for base, spec in rules)

        dirs[:] = sorted(d for d in dirs if not ignored(here / d, True))
        files.extend(here / name for name in sorted(names) if name != IGNORE_FILE and not ignored(here / name, False))
    return files


def validate_target(collection: str, strategy: str) -> None:
    check_name("collection", collection)
    check_strategy(strategy)


class TaskQueue:
    """Publishes Celery tasks. When the broker cannot be reached, each id is recorded as not started (`unsent`) and
    BrokerUnavailable is raised; `breaker` guards a Redis broker (None for the in-memory one, which cannot be down)."""

    def __init__(self, celery: Celery, breaker: pybreaker.CircuitBreaker | None = None):
        self.celery = celery
        self.breaker = breaker

    def send(self, task_name: str, ids: list[str], unsent: Callable[[str], object],
             task_ids: dict[str, str | None] | None = None) -> None:
        """Queues one `task_name` task per id (with the task id `task_ids` gives it, if any)."""
        task = self.celery.tasks[task_name]
        task_ids = task_ids or {}

        def publish() -> None:
            for one in ids:
                task.apply_async(args=[one], task_id=task_ids.get(one))

        try:
            self.breaker.call(publish) if self.breaker is not None else publish()
        except (BrokerOperationalError, ConnectionError, OSError, pybreaker.CircuitBreakerError) as exc:
            for one in ids:
                unsent(one)
            raise BrokerUnavailable(f"the task queue (Redis) is unreachable: {exc}") from exc


class Submitter:
    """Turns files into a job and queues a task per item."""

    def __init__(self, jobs: JobStore, queue: TaskQueue):
        self.jobs = jobs
        self.queue = queue

    def submit(self, files: list[FileToIngest], *, tenant: str, collection: str, strategy: str,
               api_key_id: str | None = None) -> str:
        validate_target(collection, strategy)
        job_id, item_ids = self.jobs.create(tenant, collection, strategy, files, api_key_id)
        if item_ids:
            self.enqueue(item_ids)
        return job_id

    def enqueue(self, item_ids: list[str] | dict[str, str | None]) -> None:
        """Queues a task per item; a mapping names the task id to queue an item as (the task that started it, which
        alone may start it again), or None for a new one."""
        self.queue.send(INGEST_TASK, list(item_ids),
                        lambda item_id: self.jobs.fail(item_id, "the queue is unavailable; nothing was ingested, submit again"),
                        item_ids if isinstance(item_ids, dict) else None)
