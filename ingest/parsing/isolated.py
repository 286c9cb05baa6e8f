"""Runs a parser in a child process so that a file that hangs, crashes or eats memory cannot take the worker down."""

from __future__ import annotations

import functools
import multiprocessing
import resource
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from pebble import ProcessExpired, ProcessPool

from core.types import ParsedDocument, RejectedDocument, RejectReason
from ingest.parsing.unstructured_parser import ParseOptions, UnstructuredParser


def _limit_memory(max_bytes: int) -> None:
    """Lets parsing grow the child by `max_bytes` of address space beyond what it started with: a flat limit near a
    forked child's inherited size would leave no room to load a library (seen as "failed to map segment")."""
    try:
        with open("/proc/self/statm") as statm:
            inherited = int(statm.read().split()[0]) * resource.getpagesize()
    except OSError:
        inherited = 0
    limit = inherited + max_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


# The child is forked from multiprocessing's fork server, a small single-threaded process, never from the worker
# itself: the worker has threads (Celery's, the ONNX Runtime pools of the models), and a child forked while another
# thread holds a lock can hang for good (seen: with the cross-encoder on two threads, every PDF parse then hung).
_CHILDREN = multiprocessing.get_context("forkserver")


def _parse_in_child(path: str, filename: str, options: ParseOptions = ParseOptions()) -> ParsedDocument:
    return UnstructuredParser(options).parse(Path(path), filename)


class IsolatedParser:
    """One long-lived child process per parser; it is killed and replaced when a file exceeds its time limit."""

    def __init__(self, timeout_s: float, memory_bytes: int, target=None, options: ParseOptions = ParseOptions()):
        # `target(path, filename)` runs in the child; tests swap in one that hangs or crashes.
        self._target = target or functools.partial(_parse_in_child, options=options)
        self._timeout_s = timeout_s
        self._memory_bytes = memory_bytes
        self._pool: ProcessPool | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> ProcessPool:
        if self._pool is None:
            self._pool = ProcessPool(max_workers=1, initializer=_limit_memory, initargs=(self._memory_bytes,), context=_CHILDREN)
        return self._pool

    def parse(self, path: Path, filename: str) -> ParsedDocument:
        # One file at a time per parser: the child is single-threaded, and a timeout must blame the right file.
        with self._lock:
            try:
                future = self._get_pool().schedule(self._target, args=(str(path), filename), timeout=self._timeout_s)
            except RuntimeError:  # the pool broke on an earlier file: start a fresh one
                self._restart()
                future = self._get_pool().schedule(self._target, args=(str(path), filename), timeout=self._timeout_s)
            try:
                return future.result()
            except FutureTimeout:
                raise RejectedDocument(
                    RejectReason.TIMEOUT, f"parsing took longer than the {self._timeout_s:g} s limit"
                ) from None
            except ProcessExpired as exc:
                self._restart()
                raise RejectedDocument(
                    RejectReason.CORRUPT, f"the parser process died on this file (exit code {exc.exitcode})"
                ) from None
            except MemoryError:
                raise RejectedDocument(RejectReason.TOO_LARGE, "parsing needed more memory than allowed") from None
            except RejectedDocument:
                raise
            except Exception as exc:  # the child could not send its result back: the file is the cause
                self._restart()
                raise RejectedDocument(
                    RejectReason.CORRUPT, f"the parser failed on this file ({type(exc).__name__}: {exc})"
                ) from None

    def _restart(self) -> None:
        if self._pool is not None:
            self._pool.stop()
            self._pool.join(timeout=5)
            self._pool = None

    def close(self) -> None:
        with self._lock:
            self._restart()
