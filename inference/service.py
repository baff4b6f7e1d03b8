"""HTTP service over one ``Extractor``: ``GET /health``, ``POST /extract``.

Requests are parsed by hand from the raw body (not by a pydantic body parameter) so that every bad
input (too large, invalid UTF-8, invalid JSON, wrong types) gets a precise JSON error instead of a
generic one. Concurrent requests are micro-batched: they wait in an asyncio queue, a collector takes
everything that arrived within a few milliseconds, and a single worker thread runs one ``extract``
call for all of it, so the model sees full batches and the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

API_KEY_HEADER = "X-API-Key"
API_KEY_ENV = "CONFLICT_IE_API_KEY"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

logger = logging.getLogger("conflict_ie.service")


@dataclass(frozen=True)
class ServiceLimits:
    max_body_bytes: int = 1024 * 1024
    max_texts: int = 64
    max_text_chars: int = 50_000
    # Texts waiting for the model across all requests; beyond this new requests get 503.
    max_pending_texts: int = 2048


@dataclass(frozen=True)
class BatchSettings:
    max_wait_ms: float = 5.0  # how long the collector waits for more requests after the first
    max_batch_texts: int = 64  # a collected batch stops growing here (one request is never split)


# ---------------------------------------------------------------- schema (for OpenAPI and clients)


class ExtractRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(description="Raw texts (news reports); each gets its own result.")
    ids: list[str | int] | None = Field(
        default=None, description="Optional caller ids, one per text, echoed back in the results."
    )


class Entity(BaseModel):
    model_config = ConfigDict(extra="allow")
    label: str = Field(description="CASUALTY_COUNT, VICTIM_TYPE or PERPETRATOR")
    start: int = Field(description="Character offset in the text (Python string index)")
    end: int = Field(description="Exclusive end offset")
    text: str
    score: float
    outcome: str | None = Field(default=None, description="killed or injured, on counts")


class Result(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | int | None = Field(default=None, description="Present when the request had ids")
    entities: list[Entity]
    records: list[dict[str, Any]] | None = Field(
        default=None, description="One record per casualty count: its value, victims and perpetrator"
    )


class ExtractResponse(BaseModel):
    results: list[Result] = Field(description="One result per input text, in input order")


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


# ---------------------------------------------------------------- errors and parsing


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.where = status, code, message, where


def error_response(status: int, code: str, message: str, where: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "where": where}},
        status_code=status,
        headers={"WWW-Authenticate": "ApiKey"} if status == 401 else None,
    )


def _type_name(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def parse_extract_request(body: bytes, limits: ServiceLimits) -> tuple[list[str], list[str | int] | None]:
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
    unknown = sorted(set(payload) - {"texts", "ids"})
    if unknown:
        raise ApiError(
            422, "unknown_field", f"unknown field {unknown[0]!r}; expected 'texts' and 'ids'", unknown[0]
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
        return texts, None
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
    return texts, ids


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "bad_request", "invalid Content-Length header", "headers")
        if int(declared) > limit:
            raise ApiError(413, "body_too_large", f"body of {declared} bytes; at most {limit}", "body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"body exceeds {limit} bytes", "body")
        chunks.append(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- micro-batching


PerText = dict[str, Any]  # one text's result: {"entities": [...], ...}


def per_text_results(extractor: Any) -> Callable[[list[str]], list[PerText]]:
    """The extractor's richest per-text output: entities and records where it can link them."""
    if callable(getattr(extractor, "extract_records", None)):
        return extractor.extract_records

    def entities_only(texts: list[str]) -> list[PerText]:
        return [{"entities": entities} for entities in extractor.extract(texts)]

    return entities_only


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future[list[PerText]]


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
    max_pending_texts: int = 2048
    stats: BatchStats = field(default_factory=BatchStats)

    def __post_init__(self) -> None:
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="conflict-ie-extract")
        self._pending = 0
        self._task = asyncio.get_running_loop().create_task(self._collect())

    @property
    def pending(self) -> int:
        """Texts submitted and not yet answered."""
        return self._pending

    async def submit(self, texts: list[str]) -> list[PerText]:
        if self._pending + len(texts) > self.max_pending_texts:
            raise ApiError(503, "overloaded", "too many texts waiting for the model; retry later", None)
        future: asyncio.Future[list[PerText]] = asyncio.get_running_loop().create_future()
        self._pending += len(texts)
        await self._queue.put(_Job(texts, future))
        return await future

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
            batch, count, closing = [first], len(first.texts), False
            while count < self.settings.max_batch_texts and not self._queue.empty():
                job = self._queue.get_nowait()
                if job is None:
                    closing = True
                    break
                batch.append(job)
                count += len(job.texts)
            await self._run(loop, batch)
            if closing:
                return

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Job]) -> None:
        texts = [text for job in batch for text in job.texts]
        try:
            await self._forward(loop, batch, texts)
        finally:
            self._pending -= len(texts)
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


# ---------------------------------------------------------------- the app


def create_app(
    extractor: Any,
    *,
    limits: ServiceLimits | None = None,
    batching: BatchSettings | None = None,
    api_key: str | None = None,
) -> FastAPI:
    """A FastAPI app serving ``extractor``: anything with ``extract(list[str])``, and optionally
    ``extract_records(list[str])`` giving ``{"entities", "records"}`` per text."""
    limits = limits or ServiceLimits()
    batching = batching or BatchSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.batcher = MicroBatcher(per_text_results(extractor), batching, limits.max_pending_texts)
        yield
        await app.state.batcher.close()

    app = FastAPI(
        title="conflict-ie",
        version="0.1.0",
        description="Casualty counts (killed/injured), victim types and perpetrators in conflict news.",
        lifespan=lifespan,
    )
    key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)
    expected = api_key.encode("utf-8") if api_key else None

    def check_key(supplied: str | None = Security(key_header)) -> None:
        if expected is not None and (
            supplied is None or not hmac.compare_digest(supplied.encode("utf-8"), expected)
        ):
            raise ApiError(401, "unauthorized", f"missing or wrong {API_KEY_HEADER} header", "headers")

    @app.exception_handler(ApiError)
    async def on_api_error(_: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.where)

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

    backend = getattr(extractor, "backend", extractor)
    described = {
        "backend": type(backend).__name__,
        "device": str(getattr(backend, "device", "unknown")),
        "precision": str(getattr(backend, "precision", "unknown")),
    }

    @app.get("/health", response_model=HealthResponse)
    async def health() -> dict[str, str]:
        return {"status": "ok", **described}

    error_docs: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorResponse, "description": description}
        for status, description in [
            (400, "Invalid UTF-8 or invalid JSON"),
            (401, "Missing or wrong API key"),
            (413, "Body, number of texts or a text over the limits"),
            (422, "Well-formed JSON of the wrong shape"),
            (503, "Too many texts waiting"),
        ]
    }
    request_schema = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ExtractRequest.model_json_schema()}},
        }
    }

    @app.post(
        "/extract",
        dependencies=[Security(check_key)] if expected is not None else [],
        responses={200: {"model": ExtractResponse}, **error_docs},
        openapi_extra=request_schema,
    )
    async def extract(request: Request) -> JSONResponse:
        """Entities (and casualty records) for each text, in input order.

        Concurrent requests share forward passes."""
        texts, ids = parse_extract_request(await read_body(request, limits.max_body_bytes), limits)
        results = await request.app.state.batcher.submit(texts) if texts else []
        if ids is not None:
            results = [{"id": i, **result} for i, result in zip(ids, results, strict=True)]
        return JSONResponse({"results": results})

    return app


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


def serve(
    model_dir: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    api_key: str | None = None,
    limits: ServiceLimits | None = None,
    batching: BatchSettings | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    threads: int | None = None,
    precision: str = "auto",
    graceful_timeout: float = 30.0,
    log_level: str = "info",
) -> None:
    """Load the model once and serve it until SIGINT/SIGTERM; in-flight requests are finished."""
    import uvicorn

    from inference.extractor import Extractor

    limit_malloc_arenas()
    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV) or None
    if host not in LOOPBACK_HOSTS and api_key is None:
        logger.warning("serving on %s without an API key: anyone who can reach it can use it", host)
    extractor = Extractor.from_pretrained(
        model_dir, device=device, batch_size=batch_size, threads=threads, precision=precision
    )
    app = create_app(extractor, limits=limits, batching=batching, api_key=api_key)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=graceful_timeout,
        server_header=False,
    )
    uvicorn.Server(config).run()
