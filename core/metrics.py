"""Prometheus metrics (prometheus-client), one registry per Runtime (tests get their own; nothing global).

Counters and histograms are recorded where things happen (requests, answer stages, fallbacks, tokens, cost);
what the database or the broker knows (review-queue depth, feedback, ingestion items by status, queue length) is
read at scrape time, so every process reports the same truth."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("cairn.metrics")

STAGES = ("cache", "embed", "retrieve", "rerank", "generate", "total")
# Seconds: the stage timings range from a millisecond (sparse encoding) to seconds (an LLM call).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("cairn_http_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.request_seconds = Histogram(
            "cairn_http_request_duration_seconds", "HTTP request latency", ["method", "route"], buckets=BUCKETS, registry=r
        )
        self.stage_seconds = Histogram(
            "rag_stage_duration_seconds", "Answer pipeline stage latency", ["stage"], buckets=BUCKETS, registry=r
        )
        self.answers = Counter("cairn_answers", "Answers given", ["generator"], registry=r)
        self.cache = Counter("cairn_answer_cache", "Answer cache lookups", ["result"], registry=r)
        self.fallbacks = Counter("cairn_fallbacks", "Answers that fell back, by reason", ["reason"], registry=r)
        self.tokens = Counter("cairn_llm_tokens", "LLM tokens", ["model", "kind"], registry=r)
        self.cost = Counter("cairn_llm_cost_usd", "LLM cost in US dollars", ["model"], registry=r)
        self.drift = Gauge("cairn_drift_score", "Drift measures of the last drift report", ["tenant", "measure"], registry=r)
        self.drifted = Gauge("cairn_drift_detected", "1 when the last drift report found a shift", ["tenant"], registry=r)

    def observe_answer(self, answer: dict, model: str) -> None:
        for stage in STAGES:
            if stage in answer["timings_ms"]:
                self.stage_seconds.labels(stage).observe(answer["timings_ms"][stage] / 1000)
        self.answers.labels(answer["generator"]).inc()
        if answer.get("fallback"):
            self.fallbacks.labels(answer["fallback"]["reason"]).inc()
        usage = answer.get("usage") or {}
        if usage.get("input_tokens") or usage.get("output_tokens"):
            self.tokens.labels(model, "input").inc(usage.get("input_tokens", 0))
            self.tokens.labels(model, "output").inc(usage.get("output_tokens", 0))
            self.cost.labels(model).inc(usage.get("cost_usd", 0.0))

    def observe_drift(self, tenant: str, report: dict) -> None:
        self.drifted.labels(tenant).set(1.0 if report.get("drifted") else 0.0)
        for name, measure in (report.get("measures") or {}).items():
            value = measure.get("value", measure.get("psi"))
            if value is not None:
                self.drift.labels(tenant, name).set(value)

    def watch(self, name: str, documentation: str, labels: list[str], read: Callable[[], dict]) -> None:
        """A gauge read at scrape time: `read()` returns {label values (a tuple, or a str for one label): value}."""
        self.registry.register(_ReadAtScrape(name, documentation, labels, read))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _ReadAtScrape(Collector):
    def __init__(self, name: str, documentation: str, labels: list[str], read: Callable[[], dict]):
        self.name, self.documentation, self.labels, self.read = name, documentation, labels, read

    def describe(self) -> Iterable:
        return [GaugeMetricFamily(self.name, self.documentation, labels=self.labels)]

    def collect(self) -> Iterable:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        try:
            values = self.read()
        except Exception as exc:  # a scrape reports what it can; a down dependency shows in /readyz
            log.warning("metric %s not read: %s", self.name, type(exc).__name__)
            return [family]
        for key, value in values.items():
            family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
        return [family]
