"""The service's Prometheus metrics (``GET /metrics``), each app with its own registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Paths get their own label value; anything else (404s, scans) is "other", so label values stay few.
KNOWN_PATHS = ("/extract", "/health", "/metrics", "/docs", "/openapi.json")
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServiceMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "conflict_ie_requests",
            "HTTP requests answered, by path and status",
            ["path", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "conflict_ie_request_duration_seconds",
            "Time from request to the end of its response",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rejected = Counter(
            "conflict_ie_rejected",
            "Requests answered 503, by reason (the error code)",
            ["reason"],
            registry=r,
        )
        self.queue_texts = Gauge("conflict_ie_queue_texts", "Texts accepted and not yet answered", registry=r)
        self.queue_requests = Gauge(
            "conflict_ie_queue_requests", "Requests accepted and not yet answered", registry=r
        )
        self.batch_texts = Histogram(
            "conflict_ie_batch_texts", "Texts per model call", buckets=SIZE_BUCKETS, registry=r
        )
        self.batch_requests = Histogram(
            "conflict_ie_batch_requests", "Requests per model call", buckets=SIZE_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "conflict_ie_batch_duration_seconds",
            "Time of one model call",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.throughput = Gauge(
            "conflict_ie_throughput_chars_per_second",
            "Recent model throughput, the estimate the deadline check uses (0 before the first batch)",
            registry=r,
        )

    def watch_queue(
        self, texts: Callable[[], float], requests: Callable[[], float], rate: Callable[[], float]
    ):
        self.queue_texts.set_function(texts)
        self.queue_requests.set_function(requests)
        self.throughput.set_function(rate)

    def observe_batch(self, requests: int, texts: int, seconds: float) -> None:
        self.batch_requests.observe(requests)
        self.batch_texts.observe(texts)
        self.batch_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """ASGI middleware counting every HTTP response by path and status, and timing it."""

    def __init__(self, app: Any, metrics: ServiceMetrics, clock: Callable[[], float]) -> None:
        self.app, self.metrics, self.clock = app, metrics, clock

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        path = path if path in KNOWN_PATHS else "other"
        started = self.clock()
        status = "500"  # what the client gets if the app fails before answering

        async def recording_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.metrics.requests.labels(path, status).inc()
            self.metrics.latency.labels(path).observe(self.clock() - started)
