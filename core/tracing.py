"""OpenTelemetry tracing: a span per request and per answer stage (embed, retrieve, rerank, generate), named and
tagged after the `gen_ai.*` semantic conventions. Off unless an OTLP endpoint is configured; the tracer is built per
Runtime and handed to the services (tests give theirs an in-memory exporter; nothing global is set)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Tracer

GEN_AI_OPERATION = "gen_ai.operation.name"
GEN_AI_MODEL = "gen_ai.request.model"
GEN_AI_PROVIDER = "gen_ai.provider.name"
GEN_AI_DATA_SOURCE = "gen_ai.data_source.id"
GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"


def build_tracer(endpoint: str | None, service: str, exporter=None) -> Tracer:
    """A tracer exporting to `endpoint` (OTLP over HTTP) or to `exporter`; a no-op tracer when neither is given."""
    if endpoint is None and exporter is None:
        return trace.NoOpTracer()
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=5)))
    return provider.get_tracer("cairn")


@contextmanager
def stage(tracer: Tracer, timings: dict[str, float], name: str, span_name: str | None = None, **attributes) -> Iterator:
    """Times a stage into `timings[name]` (milliseconds) inside a span."""
    started = time.perf_counter()
    with tracer.start_as_current_span(span_name or name, attributes={k: v for k, v in attributes.items() if v is not None}) as span:
        yield span
    timings[name] = round((time.perf_counter() - started) * 1000, 2)


def trace_id() -> str | None:
    """The current trace id (hex), for logs; None outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
