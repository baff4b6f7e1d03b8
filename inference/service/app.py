"""HTTP service over one ``Extractor``: ``GET /health``, ``POST /extract``, ``GET /metrics``.

Requests are parsed by hand from the raw body (not by a pydantic body parameter) so that every bad
input (too large, invalid UTF-8, invalid JSON, wrong types) gets a precise JSON error instead of a
generic one. Concurrent requests are micro-batched: they wait in an asyncio queue, a collector takes
everything that arrived within a few milliseconds, and a single worker thread runs one ``extract``
call for all of it, so the model sees full batches and the event loop never blocks. A request is
refused (503, Retry-After) when the work queued ahead of it, its own and the rest of the call it joins
would take longer than its deadline at the throughput of recent batches, and answered 503 if its
deadline passes before it starts.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import hmac
import json
import logging
import math
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_type_hints

from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException

from inference import results
from inference.results import TextResult
from inference.schema import DEFAULT_SCHEMA, LabelSchema
from inference.service.metrics import MetricsMiddleware, ServiceMetrics
from inference.spans import LABELS, OUTCOMES
from inference.text.actors import ActorTable, actor_table
from inference.text.categories import VICTIM_CATEGORIES

API_KEY_HEADER = "X-API-Key"
API_KEY_ENV = "CONFLICT_IE_API_KEY"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

logger = logging.getLogger("conflict_ie.service")


DEFAULT_MAX_PENDING_TEXTS = 2048
RETRY_AFTER_S = 1  # sent with every 503: the queue drains in about a batch's time


@dataclass(frozen=True)
class ServiceLimits:
    max_body_bytes: int = 1024 * 1024
    max_texts: int = 64
    max_text_chars: int = 50_000
    # Texts waiting for the model across all requests; beyond this new requests get 503 (with
    # Retry-After). None: the larger of DEFAULT_MAX_PENDING_TEXTS and max_texts. Never below
    # max_texts, or a request the limits accept could never be queued, even on an idle server.
    max_pending_texts: int | None = None
    # A body over max_body_bytes is read and thrown away up to this size before the 413 is sent.
    max_discard_bytes: int = 64 * 1024 * 1024
    # Seconds a request may wait and run: refused with 503 (and Retry-After) when the work already
    # waiting and its own would take longer at the recent throughput, and answered 503 if it is
    # still waiting when its deadline passes.
    deadline_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.deadline_s > 0:
            raise ValueError(f"deadline_s must be above 0, got {self.deadline_s}")
        if self.max_pending_texts is None:
            object.__setattr__(self, "max_pending_texts", max(DEFAULT_MAX_PENDING_TEXTS, self.max_texts))
        elif self.max_texts > self.max_pending_texts:
            raise ValueError(
                f"max_texts ({self.max_texts}) is above max_pending_texts ({self.max_pending_texts}): "
                "a request of max_texts texts would always be refused as overloaded"
            )


@dataclass(frozen=True)
class BatchSettings:
    max_wait_ms: float = 5.0  # how long the collector waits for more requests after the first
    max_batch_texts: int = 64  # a collected batch stops growing here (one request is never split)


# ---------------------------------------------------------------- schema (for OpenAPI and clients)


Label = Literal[LABELS]  # type: ignore[valid-type]
Outcome = Literal[OUTCOMES]  # type: ignore[valid-type]
VictimCategory = Literal[VICTIM_CATEGORIES]  # type: ignore[valid-type]


EVENTS_DESCRIPTION = (
    "true: each result also has `event`, the main event's killed and injured totals by victim "
    "category, actor and cause"
)


class ExtractRequest(BaseModel):
    """The request body without limits; ``create_app`` documents one with its limits
    (``maxItems``, ``maxLength``)."""

    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(description="Raw texts (news reports); each gets its own result.")
    ids: list[str | int] | None = Field(
        default=None, description="Optional caller ids, one per text, echoed back in the results."
    )
    events: bool = Field(default=False, description=EVENTS_DESCRIPTION)


def _model_of(cls: type, /, config: ConfigDict | None = None, **overrides: Any) -> type[BaseModel]:
    """The pydantic model of a dataclass of ``inference.results``: its fields with their types,
    defaults and descriptions. ``overrides`` (name -> type) retype fields (an enum, a nested model)
    and add the ones ``to_dict`` writes from properties ("the first of ...")."""
    hints = get_type_hints(cls)
    fields: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        default = ... if item.default is dataclasses.MISSING else item.default
        annotation = overrides.pop(item.name, hints[item.name])
        fields[item.name] = (annotation, Field(default, description=item.metadata.get("description")))
    for name, annotation in overrides.items():
        prop = getattr(cls, name)
        fields[name] = (annotation, Field(description=(prop.__doc__ or "").strip().rstrip(".") or None))
    generated = f"{cls.__name__}("  # dataclass's own docstring, the signature: no documentation
    doc = None if (cls.__doc__ or "").startswith(generated) else cls.__doc__
    return create_model(cls.__name__, __doc__=doc, __config__=config, **fields)


CountValue = _model_of(results.CountValue)
Entity = _model_of(
    results.Entity, ConfigDict(extra="allow"), label=Label, outcome=Outcome | None, count=CountValue | None
)
SpanRef = _model_of(results.SpanRef)
RecordCount = _model_of(results.RecordCount, outcome=Outcome | None)
Record = _model_of(
    results.Record,
    count=RecordCount,
    victims=list[SpanRef],
    perpetrators=list[SpanRef],
    victim_categories=list[VictimCategory],
    victim=SpanRef | None,
    perpetrator=SpanRef | None,
    victim_category=VictimCategory | None,
    actor=str | None,
)
Toll = _model_of(results.Toll)
Event = _model_of(results.Event, killed=Toll, injured=Toll)


class Result(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | int | None = Field(default=None, description="Present when the request had ids")
    entities: list[Entity]
    records: list[Record] | None = Field(
        default=None, description="One record per casualty count: its value, victims and perpetrator"
    )
    event: Event | None = Field(default=None, description="Present when the request had `events: true`")


class ExtractResponse(BaseModel):
    results: list[Result] = Field(description="One result per input text, in input order")


def _schema_result(schema: LabelSchema) -> type[BaseModel]:
    """``Result`` with the model's labels and outcomes as the OpenAPI enums of its entities (the
    default schema's are ``Result``'s own); records only where the schema has a count role."""
    if schema == DEFAULT_SCHEMA:
        return Result
    outcomes = tuple(dict.fromkeys(o for values in schema.outcomes.values() for o in values))
    outcome_type: Any = Literal[outcomes] | None if outcomes else None  # type: ignore[valid-type]
    entity = create_model(
        "Entity",
        __base__=Entity,
        # The enum is spelt out: pydantic writes a one-label Literal as ``const`` alone.
        label=(
            Literal[schema.labels],  # type: ignore[valid-type]
            Field(description="What the span is", json_schema_extra={"enum": list(schema.labels)}),
        ),
        outcome=(
            outcome_type,
            Field(default=None, description=f"On {', '.join(schema.outcomes) or 'no label'}: the outcome"),
        ),
    )
    fields: dict[str, Any] = {"entities": (list[entity], ...)}  # type: ignore[valid-type]
    if not schema.has_records:
        fields["records"] = (None, Field(default=None, description="None: the model's labels have no count"))
    return create_model("Result", __base__=Result, **fields)


def _limited_models(
    limits: ServiceLimits, schema: LabelSchema = DEFAULT_SCHEMA
) -> tuple[type[BaseModel], type[BaseModel]]:
    """``ExtractRequest`` and ``ExtractResponse`` carrying the configured limits and the model's
    labels, for the schema."""
    most, chars = limits.max_texts, limits.max_text_chars

    request = create_model(
        "ExtractRequest",
        __base__=ExtractRequest,
        texts=(
            list[Annotated[str, Field(max_length=chars)]],
            Field(max_length=most, description="Raw texts (news reports); each gets its own result."),
        ),
        ids=(
            list[str | int] | None,
            Field(
                default=None,
                max_length=most,
                description="Optional caller ids, one per text, echoed back in the results.",
            ),
        ),
        events=(bool, Field(default=False, description=EVENTS_DESCRIPTION)),
    )
    response = create_model(
        "ExtractResponse",
        __base__=ExtractResponse,
        results=(
            list[_schema_result(schema)],  # type: ignore[misc]
            Field(max_length=most, description="One result per input text, in input order"),
        ),
    )
    return request, response


class ErrorDetail(BaseModel):
    code: str
    message: str
    where: str | None = Field(default=None, description="The part of the request at fault")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class HealthResponse(BaseModel):
    status: str
    backend: str
    device: str
    precision: str
    cpu: str | None = Field(
        default=None, description="CPU kind precision auto chose for: amx, avx512_bf16, vnni or avx2"
    )
    pid: int = Field(description="Process id of the worker that answered (serve --workers runs several)")


# ---------------------------------------------------------------- errors and parsing


CLOSE = {"Connection": "close"}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        where: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.where = status, code, message, where
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, where: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    extra = dict(headers or {})
    if status == 401:
        extra["WWW-Authenticate"] = "ApiKey"
    if status == 503:
        extra.setdefault("Retry-After", str(RETRY_AFTER_S))
    return JSONResponse(
        {"error": {"code": code, "message": message, "where": where}},
        status_code=status,
        headers=extra or None,
    )


def _type_name(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


@dataclass(frozen=True)
class ExtractQuery:
    texts: list[str]
    ids: list[str | int] | None = None
    events: bool = False


def parse_extract_request(body: bytes, limits: ServiceLimits) -> ExtractQuery:
    """Validate a raw ``/extract`` body; raise ``ApiError`` naming what is wrong and where."""
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError as error:
        message = f"body is not valid UTF-8 (bad byte at offset {error.start})"
        raise ApiError(400, "invalid_utf8", message, "body") from None
    try:
        payload = json.loads(decoded)
    except json.JSONDecodeError as error:
        message = f"body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        raise ApiError(400, "invalid_json", message, "body") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "body is not valid JSON: nested too deeply", "body") from None
    if not isinstance(payload, dict):
        raise ApiError(422, "wrong_type", f"body must be a JSON object, got {_type_name(payload)}", "body")
    unknown = sorted(set(payload) - {"texts", "ids", "events"})
    if unknown:
        expected = "expected 'texts', 'ids' and 'events'"
        raise ApiError(422, "unknown_field", f"unknown field {unknown[0]!r}; {expected}", unknown[0])
    events = payload.get("events", False)
    if not isinstance(events, bool):
        raise ApiError(
            422, "wrong_type", f"'events' must be true or false, got {_type_name(events)}", "events"
        )
    if "texts" not in payload:
        raise ApiError(422, "missing_field", "field 'texts' (an array of strings) is required", "texts")
    texts = payload["texts"]
    if not isinstance(texts, list):
        raise ApiError(
            422, "wrong_type", f"'texts' must be an array of strings, got {_type_name(texts)}", "texts"
        )
    if len(texts) > limits.max_texts:
        raise ApiError(
            413, "too_many_texts", f"{len(texts)} texts; at most {limits.max_texts} per request", "texts"
        )
    for index, text in enumerate(texts):
        where = f"texts[{index}]"
        if not isinstance(text, str):
            raise ApiError(422, "wrong_type", f"{where} must be a string, got {_type_name(text)}", where)
        if len(text) > limits.max_text_chars:
            message = f"{where} has {len(text)} characters; at most {limits.max_text_chars}"
            raise ApiError(413, "text_too_long", message, where)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            message = f"{where} holds an unpaired surrogate escape at character {error.start}"
            raise ApiError(422, "invalid_text", message, where) from None
    ids = payload.get("ids")
    if ids is None:
        return ExtractQuery(texts, None, events)
    if not isinstance(ids, list):
        raise ApiError(422, "wrong_type", f"'ids' must be an array, got {_type_name(ids)}", "ids")
    if len(ids) != len(texts):
        raise ApiError(422, "length_mismatch", f"{len(ids)} ids for {len(texts)} texts", "ids")
    for index, value in enumerate(ids):
        if isinstance(value, bool) or not isinstance(value, str | int):
            where = f"ids[{index}]"
            raise ApiError(
                422, "wrong_type", f"{where} must be a string or integer, got {_type_name(value)}", where
            )
    return ExtractQuery(texts, ids, events)


async def read_body(request: Request, limits: ServiceLimits) -> bytes:
    """The request body, refused with 413 once it is known to exceed ``max_body_bytes``.

    A body over the limit is still read and discarded (up to ``max_discard_bytes``) before the 413
    goes out with ``Connection: close``: closing a socket with unread data makes the kernel reset
    the connection, and a client that sends its whole body before reading (urllib, http.client)
    then sees the reset instead of the answer.
    """
    limit = limits.max_body_bytes
    declared = request.headers.get("content-length")
    too_large: ApiError | None = None
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "bad_request", "invalid Content-Length header", "headers", CLOSE)
        if int(declared) > limit:
            too_large = ApiError(
                413, "body_too_large", f"body of {declared} bytes; at most {limit}", "body", CLOSE
            )
            if int(declared) > limits.max_discard_bytes:
                raise too_large  # too much to read for nothing: answer now, whatever the client sees
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if too_large is None and size > limit:
            too_large = ApiError(413, "body_too_large", f"body exceeds {limit} bytes", "body", CLOSE)
        if too_large is None:
            chunks.append(chunk)
        elif size > limits.max_discard_bytes:
            break
    if too_large is not None:
        raise too_large
    return b"".join(chunks)


# ---------------------------------------------------------------- micro-batching


PerText = dict[str, Any]  # one text's result: {"entities": [...], ...}


def per_text_results(extractor: Any, events: bool = False) -> Callable[[list[str]], list[PerText]]:
    """The JSON of the extractor's richest per-text output: entities, and records where it can
    link them (``inference.results``); with ``events``, also each text's ``event`` where the
    extractor has ``extract_events``."""
    if events and callable(getattr(extractor, "extract_events", None)):
        return lambda texts: extractor.extract_events(texts)
    if callable(getattr(extractor, "extract_records", None)):
        return lambda texts: [result.to_dict() for result in extractor.extract_records(texts)]
    return lambda texts: [TextResult(entities).to_dict() for entities in extractor.extract(texts)]


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future[list[PerText]]
    cost: int  # characters: what the throughput estimate counts
    deadline: float  # event-loop time after which it may no longer start


def text_cost(texts: list[str]) -> int:
    """The work of ``texts`` in characters (at least one per text: an empty one still costs a call)."""
    return sum(max(len(text), 1) for text in texts)


class Throughput:
    """Characters per second over the last ``window`` model calls (None before the first)."""

    def __init__(self, window: int = 20) -> None:
        self._recent: deque[tuple[int, float]] = deque(maxlen=window)

    def add(self, cost: int, seconds: float) -> None:
        self._recent.append((cost, max(seconds, 1e-6)))

    def rate(self) -> float | None:
        if not self._recent:
            return None
        return sum(c for c, _ in self._recent) / sum(s for _, s in self._recent)

    def call_cost(self) -> float:
        """The mean characters of the recent model calls (0 before the first)."""
        return sum(c for c, _ in self._recent) / len(self._recent) if self._recent else 0.0


@dataclass
class BatchStats:
    batches: int = 0
    requests: int = 0
    texts: int = 0
    largest_batch_requests: int = 0


def _settle(job: _Job, result: Any = None, error: BaseException | None = None) -> None:
    if job.future.done():  # a client that went away leaves a cancelled future
        return
    if error is not None:
        job.future.set_exception(error)
    else:
        job.future.set_result(result)


@dataclass
class MicroBatcher:
    """Gathers concurrent requests for ``max_wait_ms`` and runs them as one ``extract`` call."""

    extract: Callable[[list[str]], list[PerText]]
    settings: BatchSettings = field(default_factory=BatchSettings)
    max_pending_texts: int = DEFAULT_MAX_PENDING_TEXTS
    deadline_s: float = ServiceLimits.deadline_s
    metrics: ServiceMetrics | None = None
    stats: BatchStats = field(default_factory=BatchStats)

    def __post_init__(self) -> None:
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="conflict-ie-extract")
        self._pending = 0
        self._pending_requests = 0
        self._pending_cost = 0
        self.throughput = Throughput()
        self._task = asyncio.get_running_loop().create_task(self._collect())
        if self.metrics is not None:
            self.metrics.watch_queue(
                lambda: self._pending, lambda: self._pending_requests, lambda: self.throughput.rate() or 0.0
            )

    @property
    def pending(self) -> int:
        """Texts submitted and not yet answered."""
        return self._pending

    async def submit(self, texts: list[str]) -> list[PerText]:
        if self._pending + len(texts) > self.max_pending_texts:
            raise ApiError(503, "overloaded", "too many texts waiting for the model; retry later", None)
        cost = text_cost(texts)
        self._check_deadline(cost)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[PerText]] = loop.create_future()
        self._add_pending(len(texts), cost, 1)
        await self._queue.put(_Job(texts, future, cost, loop.time() + self.deadline_s))
        return await future

    def _check_deadline(self, cost: int) -> None:
        """Refuse a request that the work already waiting would push past its deadline. An idle
        server takes any request, so one within the size limits is never refused forever."""
        rate = self.throughput.rate()
        if rate is None or self._pending == 0:
            return
        # It is answered when the model call it joins ends, and requests arriving after it can fill
        # that call up: count the rest of a typical recent call as work ahead of the answer too.
        joining = max(0.0, self.throughput.call_cost() - cost)
        seconds = (self._pending_cost + cost + joining) / rate
        if seconds > self.deadline_s:
            message = (
                f"about {seconds:.1f} s of work would be ahead of this request's answer, more than "
                f"the {self.deadline_s:g} s deadline; retry later"
            )
            retry = str(max(1, math.ceil(seconds - self.deadline_s)))
            raise ApiError(503, "overloaded", message, None, {"Retry-After": retry})

    def _add_pending(self, texts: int, cost: int, requests: int) -> None:
        self._pending += texts
        self._pending_cost += cost
        self._pending_requests += requests

    def _expired(self, job: _Job, now: float) -> bool:
        """Answer a job whose deadline passed before it could start with 503; True if it did."""
        if now <= job.deadline:
            return False
        self._add_pending(-len(job.texts), -job.cost, -1)
        message = f"not started within the {self.deadline_s:g} s deadline (the server is busy); retry later"
        _settle(job, error=ApiError(503, "deadline_exceeded", message, None))
        return True

    async def close(self) -> None:
        """Finish every queued job, then stop the worker thread."""
        await self._queue.put(None)
        await self._task
        self._executor.shutdown(wait=True)

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            if first is None:
                return
            # Sleeping then draining (rather than wait_for on get) cannot lose a job to a timeout race.
            await asyncio.sleep(self.settings.max_wait_ms / 1000)
            now = loop.time()
            batch = [] if self._expired(first, now) else [first]
            count, closing = len(first.texts) if batch else 0, False
            while count < self.settings.max_batch_texts and not self._queue.empty():
                job = self._queue.get_nowait()
                if job is None:
                    closing = True
                    break
                if not self._expired(job, now):
                    batch.append(job)
                    count += len(job.texts)
            if batch:
                await self._run(loop, batch)
            if closing:
                return

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Job]) -> None:
        texts = [text for job in batch for text in job.texts]
        cost = sum(job.cost for job in batch)
        started = loop.time()
        try:
            await self._forward(loop, batch, texts)
        finally:
            self._add_pending(-len(texts), -cost, -len(batch))
        seconds = loop.time() - started
        self.throughput.add(cost, seconds)
        if self.metrics is not None:
            self.metrics.observe_batch(len(batch), len(texts), seconds)
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.texts += len(texts)
        self.stats.largest_batch_requests = max(self.stats.largest_batch_requests, len(batch))

    async def _forward(self, loop: asyncio.AbstractEventLoop, batch: list[_Job], texts: list[str]) -> None:
        try:
            results = await loop.run_in_executor(self._executor, self.extract, texts)
        except Exception as error:
            if len(batch) == 1:
                logger.exception("extract failed on a request of %d texts", len(texts))
                _settle(batch[0], error=error)
                return
            # Find the request at fault, one at a time: the others still get their answers.
            for job in batch:
                await self._forward(loop, [job], job.texts)
            return
        offset = 0
        for job in batch:
            _settle(job, results[offset : offset + len(job.texts)])
            offset += len(job.texts)


# ---------------------------------------------------------------- docs without a CDN

DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>conflict-ie API</title>
<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ccc;padding-bottom:.2rem}.method{font-weight:bold;text-transform:uppercase}
code,pre{background:#f4f4f4;padding:.1rem .3rem;border-radius:3px}pre{padding:.6rem;overflow:auto}
.schema{margin-left:1rem}.muted{color:#666}
</style></head>
<body><div id="docs"><p>Loading <a href="openapi.json">openapi.json</a>&hellip;</p></div>
<script>
"use strict";
const docs = document.getElementById("docs");
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}
function describe(schema, spec) {
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map(s => describe(s, spec)).join(" | ");
  if (schema.enum) return schema.enum.map(v => JSON.stringify(v)).join(" | ");
  if (schema.type === "array") return "array of " + describe(schema.items || {}, spec);
  return schema.type || "any";
}
function limits(schema) {
  const out = [];
  for (const key of ["maxItems", "maxLength", "minItems", "minLength"])
    if (schema[key] !== undefined) out.push(key + " " + schema[key]);
  if (schema.items) out.push(...limits(schema.items).map(s => "items " + s));
  for (const option of schema.anyOf || []) out.push(...limits(option));
  return out;
}
function properties(schema, spec) {
  const list = el("ul", undefined, "schema");
  const required = schema.required || [];
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    const item = el("li");
    item.append(el("code", name), " " + describe(prop, spec));
    const notes = limits(prop);
    if (required.includes(name)) notes.unshift("required");
    if (notes.length) item.append(el("span", " (" + notes.join(", ") + ")", "muted"));
    if (prop.description) item.append(" \u2014 " + prop.description);
    list.append(item);
  }
  return list;
}
function render(spec) {
  docs.replaceChildren();
  docs.append(el("h1", spec.info.title + " " + spec.info.version));
  if (spec.info.description) docs.append(el("p", spec.info.description));
  const raw = el("p"); const link = el("a", "openapi.json"); link.href = "openapi.json";
  raw.append("Full schema: ", link); docs.append(raw);
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const head = el("h2"); head.append(el("span", method, "method"), " ", el("code", path));
      docs.append(head);
      if (op.description || op.summary) docs.append(el("p", op.description || op.summary));
      const body = op.requestBody && op.requestBody.content["application/json"];
      if (body) { docs.append(el("h3", "Request body")); docs.append(properties(body.schema, spec)); }
      docs.append(el("h3", "Responses"));
      const list = el("ul");
      for (const [status, response] of Object.entries(op.responses || {})) {
        const item = el("li"); item.append(el("code", status), " " + (response.description || ""));
        const content = response.content && response.content["application/json"];
        if (content && content.schema) item.append(": ", el("code", describe(content.schema, spec)));
        if (response.headers) {
          item.append(el("span", " headers: " + Object.keys(response.headers).join(", "), "muted"));
        }
        list.append(item);
      }
      docs.append(list);
    }
  }
  docs.append(el("h2", "Schemas"));
  for (const [name, schema] of Object.entries((spec.components || {}).schemas || {})) {
    docs.append(el("h3", name));
    if (schema.description) docs.append(el("p", schema.description));
    docs.append(properties(schema, spec));
  }
}
fetch("openapi.json").then(r => r.json()).then(render).catch(error => {
  docs.replaceChildren(el("p", "Could not load openapi.json: " + error));
});
</script></body></html>
"""


# ---------------------------------------------------------------- graceful shutdown


@dataclass
class DrainState:
    """Shared by the app and the server: whether shutdown has begun, requests being answered."""

    draining: bool = False
    active: int = 0


async def _discard_body(receive: Any, limit: int) -> None:
    """Read and drop a request body (up to ``limit`` bytes) so that closing cannot reset the client."""
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class ShutdownGate:
    """ASGI middleware: once shutdown begins, every response carries ``Connection: close`` and a
    request arriving on a connection still open (keep-alive) gets 503 with ``Retry-After`` and
    ``Connection: close`` rather than a reset, so its client knows it was not processed."""

    def __init__(
        self, app: Any, drain: DrainState, discard_bytes: int, on_reject: Callable[[str], None] | None = None
    ) -> None:
        self.app, self.drain, self.discard_bytes = app, drain, discard_bytes
        self.on_reject = on_reject

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.drain.draining:
            await _discard_body(receive, self.discard_bytes)
            message = "the server is shutting down; retry on a new connection"
            if self.on_reject is not None:
                self.on_reject("shutting_down")
            await error_response(503, "shutting_down", message, None, CLOSE)(scope, receive, send)
            return

        async def closing_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and self.drain.draining:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        self.drain.active += 1
        try:
            await self.app(scope, receive, closing_send)
        finally:
            self.drain.active -= 1


# ---------------------------------------------------------------- the app


def create_app(
    extractor: Any,
    *,
    limits: ServiceLimits | None = None,
    batching: BatchSettings | None = None,
    api_key: str | None = None,
    actors: str | Path | ActorTable | None = None,
) -> FastAPI:
    """A FastAPI app serving ``extractor``: anything with ``extract(list[str])``, and optionally
    ``extract_records(list[str])`` giving ``{"entities", "records"}`` per text and
    ``extract_events`` adding ``"event"`` (answered where a request has ``"events": true``).
    ``actors`` (a YAML alias table or an ``ActorTable``) replaces the extractor's actor table."""
    limits = limits or ServiceLimits()
    extractor = _with_actors(extractor, actors)
    app = FastAPI(
        title="conflict-ie",
        version="0.1.0",
        description="Casualty counts (killed/injured), victim types and perpetrators in conflict news.",
        lifespan=_lifespan(extractor, batching or BatchSettings(), limits),
        docs_url=None,  # FastAPI's pages load their scripts from a CDN: blank offline
        redoc_url=None,
    )
    app.state.drain = DrainState()
    metrics = app.state.metrics = ServiceMetrics()
    app.add_middleware(
        ShutdownGate,
        drain=app.state.drain,
        discard_bytes=limits.max_discard_bytes,
        on_reject=functools.partial(_count_rejection, metrics),
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics, clock=time.perf_counter)  # outermost
    _add_error_handlers(app, metrics)
    _add_pages(app, metrics, _runtime_description(extractor))
    _add_extract_route(app, extractor, limits, api_key)
    return app


def _with_actors(extractor: Any, actors: str | Path | ActorTable | None) -> Any:
    """``extractor``, or a copy of it with ``actors`` as its actor table."""
    if actors is None:
        return extractor
    if not hasattr(extractor, "actors"):
        raise ValueError("actors: this extractor makes no records, so it has no actor table to replace")
    extractor = copy.copy(extractor)  # the caller's extractor keeps its own table
    extractor.actors = actor_table(actors)
    return extractor


def _lifespan(
    extractor: Any, batching: BatchSettings, limits: ServiceLimits
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's micro-batcher, started with the server and closed when it stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.batcher = MicroBatcher(
            per_text_results(extractor, events=True),
            batching,
            limits.max_pending_texts or DEFAULT_MAX_PENDING_TEXTS,
            limits.deadline_s,
            app.state.metrics,
        )
        yield
        await app.state.batcher.close()

    return lifespan


def _count_rejection(metrics: ServiceMetrics, reason: str) -> None:
    metrics.rejected.labels(reason).inc()


def _add_error_handlers(app: FastAPI, metrics: ServiceMetrics) -> None:
    """Every error, ours or the framework's, answered as an ``ErrorResponse``."""

    @app.exception_handler(ApiError)
    async def on_api_error(_: Request, error: ApiError) -> JSONResponse:
        if error.status == 503:
            _count_rejection(metrics, error.code)
        return error_response(error.status, error.code, error.message, error.where, error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", str(error.errors()))

    @app.exception_handler(Exception)
    async def on_unexpected(_: Request, error: Exception) -> JSONResponse:
        return error_response(500, "internal_error", f"{type(error).__name__} while extracting")


def _runtime_description(extractor: Any) -> dict[str, str]:
    """Backend, device and precision for /health: the extractor's own ``runtime()`` where it has one."""
    if callable(getattr(extractor, "runtime", None)):
        return extractor.runtime()
    backend = getattr(extractor, "backend", extractor)
    return {
        "backend": type(backend).__name__,
        "device": str(getattr(backend, "device", "unknown")),
        "precision": str(getattr(backend, "precision", "unknown")),
    }


def _add_pages(app: FastAPI, metrics: ServiceMetrics, described: dict[str, str]) -> None:
    """``GET /docs``, ``/metrics`` and ``/health``."""

    @app.get("/docs", include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        """The API described from /openapi.json by a self-contained page: no external script."""
        return HTMLResponse(DOCS_PAGE)

    @app.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def metrics_page() -> Response:
        """Prometheus metrics: requests by path and status, latency, rejections by reason, queue
        depth, texts and requests per model call, recent throughput."""
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/health", response_model=HealthResponse)
    async def health() -> dict[str, Any]:
        return {"status": "ok", **described, "pid": os.getpid()}


def _error_docs() -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entries of /extract's error answers."""
    docs: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorResponse, "description": description}
        for status, description in [
            (400, "Invalid UTF-8 or invalid JSON"),
            (401, "Missing or wrong API key"),
            (413, "Body, number of texts or a text over the limits"),
            (422, "Well-formed JSON of the wrong shape"),
            (
                503,
                "Too much work waiting for the deadline, deadline passed, or shutting down; see Retry-After",
            ),
        ]
    }
    docs[503]["headers"] = {
        "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
    }
    return docs


def _key_check(api_key: str | None) -> list[Any]:
    """The dependencies that make /extract ask for ``api_key`` (none without one)."""
    if not api_key:
        return []
    key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)
    expected = api_key.encode("utf-8")

    def check_key(supplied: str | None = Security(key_header)) -> None:
        if supplied is None or not hmac.compare_digest(supplied.encode("utf-8"), expected):
            raise ApiError(401, "unauthorized", f"missing or wrong {API_KEY_HEADER} header", "headers")

    return [Security(check_key)]


def _add_extract_route(app: FastAPI, extractor: Any, limits: ServiceLimits, api_key: str | None) -> None:
    """``POST /extract``, documented with the request and answer models that ``limits`` and the
    extractor's label schema allow, though the body is parsed by hand."""
    request_model, response_model = _limited_models(limits, getattr(extractor, "schema", DEFAULT_SCHEMA))
    request_schema = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": request_model.model_json_schema()}},
        }
    }

    @app.post(
        "/extract",
        dependencies=_key_check(api_key),
        responses={200: {"model": response_model}, **_error_docs()},
        openapi_extra=request_schema,
    )
    async def extract(request: Request) -> JSONResponse:
        """Entities (and casualty records) for each text, in input order.

        Concurrent requests share forward passes."""
        query = parse_extract_request(await read_body(request, limits), limits)
        texts, ids = query.texts, query.ids
        results = await request.app.state.batcher.submit(texts) if texts else []
        if not query.events:  # answers without events stay as they were
            results = [{k: v for k, v in result.items() if k != "event"} for result in results]
        if ids is not None:
            results = [{"id": i, **result} for i, result in zip(ids, results, strict=True)]
        return JSONResponse({"results": results})


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's per-thread malloc arenas (as MALLOC_ARENA_MAX would) when it was not set.

    The event loop, the worker thread and the math library's threads each get an arena by default,
    and freed activations stay mapped in all of them: measured on this service, peak RSS under 16
    clients fell from about 790 MB to about 670 MB at the same throughput. No effect off glibc.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-8, arenas))  # -8 is M_ARENA_MAX in malloc.h
    except (OSError, AttributeError):
        return False


def draining_server_class() -> type:
    import uvicorn

    class DrainingServer(uvicorn.Server):
        """uvicorn, whose shutdown first stops accepting and lets the requests in flight finish
        while keep-alive connections stay open (new requests on them get 503 and
        ``Connection: close`` from ``ShutdownGate``), and only then closes the idle connections.
        Plain uvicorn closes them at once, and a request already on its way over one is reset."""

        grace_s = 0.5  # idle connections stay open at least this long after shutdown begins

        async def shutdown(self, sockets: list[Any] | None = None) -> None:
            drain = getattr(getattr(self.config.app, "state", None), "drain", None)
            if isinstance(drain, DrainState):
                drain.draining = True
                for server in self.servers:
                    server.close()
                for sock in sockets or []:
                    sock.close()
                loop = asyncio.get_running_loop()
                deadline = loop.time() + self.config.timeout_graceful_shutdown
                await asyncio.sleep(self.grace_s)
                while drain.active and loop.time() < deadline and not self.force_exit:
                    await asyncio.sleep(0.05)
            await super().shutdown(sockets)

    return DrainingServer


def run_app(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    graceful_timeout: float = 30.0,
    log_level: str = "info",
) -> None:
    """Serve ``app`` (from ``create_app``) with uvicorn until SIGINT/SIGTERM, shutting down gracefully."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=graceful_timeout,
        server_header=False,
    )
    draining_server_class()(config).run()


@dataclass(frozen=True)
class ServeSettings:
    """What a serving process needs to load its extractor and build its app: picklable, so that
    each worker of ``serve --workers N`` builds its own from the same settings."""

    model_dir: str
    api_key: str | None = None
    actors: str | None = None
    limits: ServiceLimits | None = None
    batching: BatchSettings | None = None
    device: str = "auto"
    batch_size: int | None = None
    threads: int | None = None
    precision: str = "auto"


def build_app(settings: ServeSettings) -> FastAPI:
    """Load the model of ``settings`` (once) and the app serving it."""
    from inference.extractor import Extractor

    limit_malloc_arenas()
    extractor = Extractor.from_pretrained(
        settings.model_dir,
        device=settings.device,
        batch_size=settings.batch_size,
        threads=settings.threads,
        precision=settings.precision,
        actors=settings.actors,
    )
    return create_app(extractor, limits=settings.limits, batching=settings.batching, api_key=settings.api_key)


def serve(
    model_dir: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    api_key: str | None = None,
    actors: str | Path | None = None,
    limits: ServiceLimits | None = None,
    batching: BatchSettings | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    threads: int | None = None,
    precision: str = "auto",
    workers: int | str = 1,
    graceful_timeout: float = 30.0,
    log_level: str = "info",
) -> None:
    """Load the model and serve it until SIGINT/SIGTERM; in-flight requests are finished.

    ``workers`` processes (or ``"auto"``: see ``workers.resolve_workers``) share the port, each with
    its own copy of the model; ``threads`` then defaults to the cores divided among them."""
    from inference.extractor import check_model
    from inference.service.workers import resolve_workers, run_workers

    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV) or None
    if host not in LOOPBACK_HOSTS and api_key is None:
        logger.warning("serving on %s without an API key: anyone who can reach it can use it", host)
    workers, threads = resolve_workers(workers, threads)
    settings = ServeSettings(
        model_dir=str(model_dir),
        api_key=api_key,
        actors=None if actors is None else str(actors),
        limits=limits,
        batching=batching,
        device=device,
        batch_size=batch_size,
        threads=threads,
        precision=precision,
    )
    if workers == 1:
        run_app(build_app(settings), host, port, graceful_timeout=graceful_timeout, log_level=log_level)
        return
    check_model(model_dir, precision)  # a bad directory or actor table fails here, once, not in every worker
    if actors is not None:
        actor_table(actors)
    run_workers(settings, workers, host, port, graceful_timeout=graceful_timeout, log_level=log_level)
