"""Traces and logs: an answer request is one trace with a span per stage (gen_ai.* attributes), and the JSON log
records carry the request id and the trace id."""

from __future__ import annotations

import json
import logging

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.app import create_app
from core.logs import configure_logging
from core.settings import Settings
from core.tracing import build_tracer
from tests.api.test_faults import ingest_speech
from tests.conftest import open_root
from tests.retrieval.test_answer import HEALTH_Q


def test_an_answer_is_one_trace_with_a_span_per_stage_and_logs_carry_its_ids(tmp_path, bge, parser, capsys):
    exporter = InMemorySpanExporter()
    settings = Settings(data_dir=tmp_path / "data", cache={"enabled": False}, _env_file=None)
    with open_root(settings, bge, parser, tracer=build_tracer(None, "cairn-test", exporter=exporter)) as runtime:
        ingest_speech(runtime)
        with TestClient(create_app(runtime)) as client:
            configure_logging("json")
            try:
                response = client.post("/v1/answer", json={"question": HEALTH_Q}, headers={"X-Request-ID": "req-42"})
            finally:
                logging.getLogger().handlers.clear()
    assert response.headers["X-Request-ID"] == "req-42"

    spans = {s.name.split(" ")[0]: s for s in exporter.get_finished_spans()}
    assert {"POST", "answer", "embeddings", "retrieval", "generate"} <= set(spans), list(spans)
    request = spans["POST"]
    assert request.name == "POST /v1/answer" and request.attributes["http.response.status_code"] == 200
    assert {s.context.trace_id for s in spans.values()} == {request.context.trace_id}  # one trace
    assert spans["answer"].parent.span_id == request.context.span_id
    assert spans["embeddings"].attributes["gen_ai.operation.name"] == "embeddings"
    assert spans["embeddings"].attributes["gen_ai.request.model"] == runtime.embedder.model_id
    assert spans["retrieval"].attributes["gen_ai.operation.name"] == "retrieval"
    assert spans["generate"].attributes["gen_ai.request.model"] == runtime.reranker.model_id
    assert spans["answer"].attributes["cairn.answer_id"] == response.json()["id"]

    records = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    mine = [r for r in records if r.get("event") == "request" and r.get("route") == "/v1/answer"]
    assert mine and mine[0]["request_id"] == "req-42" and mine[0]["status"] == 200 and mine[0]["ms"] > 0
    assert mine[0]["trace_id"] == format(request.context.trace_id, "032x") and mine[0]["logger"] == "cairn.access"
