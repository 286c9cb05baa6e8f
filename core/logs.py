"""Structured logs (structlog): one JSON object per line, carrying the request id (and the trace id when tracing is
on) of the request that logged it. Standard-library loggers (Celery, uvicorn, ours) go through the same renderer."""

from __future__ import annotations

import logging
import sys

import structlog


def _drop_terminal_colours(_, __, event: dict) -> dict:
    event.pop("color_message", None)  # uvicorn's copy of the message with ANSI colours
    return event


SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.stdlib.ExtraAdder(),  # `logger.info("...", extra={...})` fields become JSON fields
    _drop_terminal_colours,
]


def configure_logging(fmt: str = "json", level: str = "INFO") -> None:
    renderer = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=SHARED,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def bind_request(request_id: str, trace_id: str | None = None) -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id, **({"trace_id": trace_id} if trace_id else {}))
