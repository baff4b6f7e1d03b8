"""Issue #17: the service degrades cleanly. Every error is readable by every common client (urllib
sends the whole body before reading), overload answers say when to retry, shutdown never resets
an open connection, the OpenAPI schema is complete and /docs works offline."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import Echo, ServerThread, free_port, wait_until_serving

from inference.service.app import BatchSettings, ServiceLimits, create_app
from inference.spans import LABELS, OUTCOMES

ROOT = Path(__file__).resolve().parents[3]
LIMITS = ServiceLimits(max_body_bytes=64 * 1024, max_texts=8, max_text_chars=6000)


@pytest.fixture(scope="module")
def echo_server():
    with ServerThread(create_app(Echo(), limits=LIMITS, batching=BatchSettings(max_wait_ms=1))) as running:
        yield running


def urllib_post(url: str, body: bytes, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


# ---------------------------------------------------------------- 1. a body over the limit


@pytest.mark.parametrize("size", [20 * 1024 * 1024, 200 * 1024])
def test_urllib_sending_a_body_over_the_limit_reads_the_413(echo_server, size):
    body = b'{"texts": ["' + b"x" * size + b'"]}'
    status, headers, payload = urllib_post(f"{echo_server.url}/extract", body)
    assert status == 413, payload
    assert json.loads(payload)["error"]["code"] == "body_too_large"
    assert headers.get("connection", headers.get("Connection")) == "close"
    ok = urllib_post(f"{echo_server.url}/extract", b'{"texts": ["3 killed."]}')
    assert ok[0] == 200


def test_http_client_chunked_body_over_the_limit_reads_the_413(echo_server):
    connection = http.client.HTTPConnection("127.0.0.1", echo_server.port, timeout=60)
    try:
        chunks = (b"x" * 65536 for _ in range(64))  # 4 MiB without a Content-Length
        connection.request("POST", "/extract", body=chunks, encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 413 and json.loads(response.read())["error"]["code"] == "body_too_large"
    finally:
        connection.close()


# ---------------------------------------------------------------- 2. the queue bound


def test_max_pending_texts_must_hold_a_full_request():
    with pytest.raises(ValueError, match=r"max_texts \(10000\) is above max_pending_texts \(2048\)"):
        ServiceLimits(max_texts=10_000, max_pending_texts=2048)
    assert ServiceLimits(max_texts=10_000).max_pending_texts == 10_000  # the default follows max_texts
    assert ServiceLimits().max_pending_texts >= ServiceLimits().max_texts


def test_a_request_of_max_texts_is_answered_on_an_idle_server():
    limits = ServiceLimits(max_texts=3000, max_body_bytes=1024 * 1024)  # no --max-pending-texts given
    with ServerThread(create_app(Echo(), limits=limits)) as running:
        response = httpx.post(f"{running.url}/extract", json={"texts": ["a"] * 2049}, timeout=60)
        assert response.status_code == 200 and len(response.json()["results"]) == 2049


def test_every_503_says_when_to_retry():
    release = threading.Event()

    class Blocked(Echo):
        def extract(self, texts: list[str]) -> list[list[dict[str, Any]]]:
            release.wait(timeout=30)
            return super().extract(texts)

    limits = ServiceLimits(max_texts=2, max_pending_texts=2)
    with ServerThread(create_app(Blocked(), limits=limits)) as running:
        waiting = threading.Thread(
            target=httpx.post,
            args=(f"{running.url}/extract",),
            kwargs={"json": {"texts": ["a", "b"]}, "timeout": 30},
        )
        waiting.start()
        batcher = running.server.config.app.state.batcher
        deadline = time.monotonic() + 30
        while batcher.pending < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = httpx.post(f"{running.url}/extract", json={"texts": ["c"]}, timeout=30)
        release.set()
        waiting.join(timeout=30)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "overloaded"
    assert int(refused.headers["retry-after"]) >= 1


def test_cli_refuses_max_texts_above_max_pending_texts(tmp_path: Path, capsys):
    from training.cli import main

    assert (
        main(["serve", "--model", str(tmp_path), "--max-texts", "10000", "--max-pending-texts", "2048"]) == 2
    )
    err = capsys.readouterr().err
    assert "--max-texts (10000)" in err and "--max-pending-texts (2048)" in err
    # Without --max-pending-texts the bound follows --max-texts: the model directory is the next error.
    assert main(["serve", "--model", str(tmp_path / "missing"), "--max-texts", "10000"]) == 2
    assert "does not exist" in capsys.readouterr().err


# ---------------------------------------------------------------- 3. shutdown with keep-alive connections

SLOW_SERVER = textwrap.dedent(
    """
    import sys, time
    from inference.service.app import create_app, run_app

    class Slow:
        def extract(self, texts):
            time.sleep(2.0)
            return [[] for _ in texts]

    run_app(create_app(Slow()), "127.0.0.1", int(sys.argv[1]), graceful_timeout=20, log_level="info")
    """
)


def test_requests_on_open_connections_after_sigterm_get_503_not_a_reset():
    port = free_port()
    command = [sys.executable, "-c", SLOW_SERVER, str(port)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(process, port, seconds=60, poll=0.1)

        idle = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # a keep-alive connection
        idle.request("GET", "/health")
        first = idle.getresponse()
        assert first.status == 200 and first.getheader("connection") != "close"
        first.read()

        slow_answer: dict[str, Any] = {}

        def slow_request() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("POST", "/extract", body=b'{"texts": ["a"]}')
            response = connection.getresponse()
            slow_answer.update(
                status=response.status, close=response.getheader("connection"), body=response.read()
            )
            connection.close()

        in_flight = threading.Thread(target=slow_request)
        in_flight.start()
        time.sleep(0.5)  # the slow request is in the model
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # shutdown has begun

        idle.request(
            "POST", "/extract", body=b'{"texts": ["b"]}', headers={"Content-Type": "application/json"}
        )
        refused = idle.getresponse()
        payload = json.loads(refused.read())
        assert refused.status == 503 and payload["error"]["code"] == "shutting_down"
        assert refused.getheader("connection") == "close" and int(refused.getheader("retry-after")) >= 1
        idle.close()

        in_flight.join(timeout=30)
        assert slow_answer["status"] == 200 and json.loads(slow_answer["body"]) == {
            "results": [{"entities": []}]
        }
        assert slow_answer["close"] == "close"
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
        log = process.stdout.read().decode()
        assert "Traceback" not in log, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# ---------------------------------------------------------------- 4. the OpenAPI schema


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def non_null(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    options = [o for o in node.get("anyOf", [node]) if o.get("type") != "null"]
    assert len(options) == 1, node
    return resolve(schema, options[0])


def test_openapi_schema_is_complete(echo_server, busy_model: Path):
    from inference.extractor import Extractor

    extractor = Extractor.from_pretrained(busy_model, device="cpu", precision="fp32")
    schema = httpx.get(f"{echo_server.url}/openapi.json").json()
    post = schema["paths"]["/extract"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["texts"]["maxItems"] == LIMITS.max_texts
    assert body["properties"]["texts"]["items"]["maxLength"] == LIMITS.max_text_chars
    assert non_null(schema, body["properties"]["ids"])["maxItems"] == LIMITS.max_texts
    assert "Retry-After" in post["responses"]["503"]["headers"]

    response = resolve(schema, post["responses"]["200"]["content"]["application/json"]["schema"])
    assert response["properties"]["results"]["maxItems"] == LIMITS.max_texts
    result = resolve(schema, response["properties"]["results"]["items"])
    entity = resolve(schema, result["properties"]["entities"]["items"])
    assert entity["properties"]["label"]["enum"] == list(LABELS)
    assert non_null(schema, entity["properties"]["outcome"])["enum"] == list(OUTCOMES)
    count = non_null(schema, entity["properties"]["count"])
    assert set(count["properties"]) == {"best", "low", "high"}
    for name in ("best", "low", "high"):
        assert {o["type"] for o in count["properties"][name]["anyOf"]} == {"integer", "null"}
    record = resolve(schema, non_null(schema, result["properties"]["records"])["items"])
    assert record["type"] == "object" and record.get("additionalProperties") is not True

    # The record model is the shape the extractor gives and README documents.
    text = "Gunmen killed 12 villagers and wounded 30 others in Zamfara on Tuesday."
    records = [r for result in extractor.extract_records([text] * 3) for r in result.to_dict()["records"]]
    assert records, "the busy model should link something"
    assert all(set(r) == set(record["properties"]) for r in records)
    assert set(records[0]["count"]) == set(resolve(schema, record["properties"]["count"])["properties"])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shape = readme[readme.index("### Records (`inference/text/records.py`)") :].split("```")[1]
    assert all(f'"{name}"' in shape for name in record["properties"])


# ---------------------------------------------------------------- 5. docs offline


def test_docs_need_nothing_outside_the_server(echo_server):
    page = httpx.get(f"{echo_server.url}/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert re.findall(r"https?://", html) == [], "the page must not load anything from elsewhere"
    assert re.findall(r"<script[^>]*\bsrc=", html) == [] and re.findall(r"<link[^>]*\bhref=", html) == []
    assert 'fetch("openapi.json")' in html  # relative: it renders this server's schema
    assert httpx.get(f"{echo_server.url}/openapi.json").status_code == 200
    assert "/docs" not in httpx.get(f"{echo_server.url}/openapi.json").json()["paths"]
