"""The HTTP service on a real uvicorn server on 127.0.0.1: answers, bad input, concurrency, shutdown."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import ServerThread, free_port, wait_until_serving

from inference.cpu import cpu_kind
from inference.extractor import Extractor
from inference.model_dir import ModelDirError
from inference.service.app import API_KEY_ENV, BatchSettings, ServiceLimits, create_app, per_text_results
from training.corpus.store import load_documents

ROOT = Path(__file__).resolve().parents[3]
# A deadline long enough that a loaded CI machine never turns these correctness checks into 503s
# (overload answers are tested in test_service_overload.py).
LIMITS = ServiceLimits(max_body_bytes=64 * 1024, max_texts=8, max_text_chars=6000, deadline_s=600)


@pytest.fixture(scope="module")
def extractor(busy_model: Path) -> Extractor:
    return Extractor.from_pretrained(busy_model, device="cpu", batch_size=8, precision="fp32")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    documents = load_documents(ROOT / "data" / "annotations" / "dev.jsonl")
    return [d.text[:800] for d in documents][:12] + [
        "Gunmen killed 12 villagers and wounded 30 others on Tuesday.",
        "",
        "   ",
        "Ünïcödé: 3 killed in Aleppo — “officials” said. 😀",
    ]


@pytest.fixture(scope="module")
def server(extractor: Extractor) -> Iterator[ServerThread]:
    app = create_app(extractor, limits=LIMITS, batching=BatchSettings(max_wait_ms=5))
    with ServerThread(app) as running:
        yield running


def post(server: ServerThread, body: Any, **kwargs: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return httpx.post(f"{server.url}/extract", content=content, headers=headers, timeout=30, **kwargs)


def same_result(got: dict[str, Any], want: dict[str, Any]) -> bool:
    """A text's result as the service gives it equals the direct one (``id`` aside)."""
    rest = {k: v for k, v in got.items() if k not in ("id", "entities")}
    return same_entities(got["entities"], want["entities"]) and rest == {
        k: v for k, v in want.items() if k != "entities"
    }


def same_entities(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> bool:
    """Equal entities; scores may differ by one unit of their 4-decimal rounding across batch shapes."""

    def without_score(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != "score"} for e in entities]

    return without_score(got) == without_score(want) and all(
        abs(a["score"] - b["score"]) <= 2e-4 for a, b in zip(got, want, strict=True)
    )


def test_health_and_openapi_schema(server: ServerThread):
    health = httpx.get(f"{server.url}/health")
    assert health.status_code == 200 and health.json() == {
        "status": "ok",
        "backend": "TorchBackend",
        "device": "cpu",
        "precision": "fp32",
        "cpu": cpu_kind(),
        "pid": os.getpid(),  # the app runs in this process's server thread
    }
    schema = httpx.get(f"{server.url}/openapi.json").json()
    body = schema["paths"]["/extract"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["texts"] and set(body["properties"]) == {"texts", "ids", "events"}
    assert body["properties"]["events"]["default"] is False
    event = schema["components"]["schemas"]["Event"]
    assert {"killed", "injured", "actor", "actors", "cause", "records"} <= set(event["properties"])
    toll = schema["components"]["schemas"]["Toll"]["properties"]
    assert set(toll) == {"civilians", "children", "women", "non_civilians"}
    assert all(field.get("description") for field in [*toll.values(), *event["properties"].values()])
    assert {"200", "400", "413", "422"} <= set(schema["paths"]["/extract"]["post"]["responses"])
    assert "/health" in schema["paths"]


def test_events_are_answered_only_when_asked(server: ServerThread, extractor: Extractor, texts):
    chosen = texts[-4:]
    plain = post(server, {"texts": chosen})
    assert all("event" not in result for result in plain.json()["results"])
    asked = post(server, {"texts": chosen, "ids": [1, 2, 3, 4], "events": True}).json()["results"]
    direct = extractor.extract_events(chosen)
    assert [r["id"] for r in asked] == [1, 2, 3, 4]
    assert all(same_result(got, want) for got, want in zip(asked, direct, strict=True))
    assert post(server, {"texts": chosen, "events": False}).content == plain.content


def test_the_service_takes_a_replacement_actor_table(extractor: Extractor, tmp_path: Path):
    path = tmp_path / "actors.yaml"
    path.write_text("actors:\n  turkey: [turkish army]\n", encoding="utf-8")
    with ServerThread(create_app(extractor, limits=LIMITS, actors=path)) as running:
        text = "The Turkish army shelled the village, killing 4 civilians."
        [result] = post(running, {"texts": [text], "events": True}).json()["results"]
    assert set(result["event"]["actors"]) <= {"turkey"}
    assert extractor.actors is None  # the caller's extractor keeps its table
    path.write_text("actors:\n  turkey: turkish army\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"actors.yaml: actors\['turkey'\]"):
        create_app(extractor, actors=path)


def test_extract_answers_in_input_order_with_ids(server: ServerThread, extractor: Extractor, texts):
    chosen = texts[:3] + texts[-4:]
    response = post(server, {"texts": chosen, "ids": ["a", 7, "c", "d", "e", "f", "g"]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["id"] for r in results] == ["a", 7, "c", "d", "e", "f", "g"]
    direct = per_text_results(extractor)(chosen)
    assert all(same_result(r, d) for r, d in zip(results, direct, strict=True))
    assert any(r["entities"] for r in results), "the busy model should find something"
    for result, text in zip(results, chosen, strict=True):
        assert all(text[e["start"] : e["end"]] == e["text"] for e in result["entities"])
    without_ids = post(server, {"texts": chosen[:2]}).json()["results"]
    assert [set(r) for r in without_ids] == [set(d) for d in direct[:2]] and "id" not in without_ids[0]
    assert post(server, {"texts": []}).json() == {"results": []}


def bad_inputs() -> list[tuple[str, bytes, int, str, str | None]]:
    """(case, raw body, status, error code, where) for every kind of bad request."""
    big_text = "killed " * 1000  # 7000 characters > max_text_chars
    return [
        ("invalid utf-8", b'{"texts": ["\xff\xfe killed"]}', 400, "invalid_utf8", "body"),
        ("truncated json", b'{"texts": ["a"', 400, "invalid_json", "body"),
        ("not json", b"texts=a", 400, "invalid_json", "body"),
        ("empty body", b"", 400, "invalid_json", "body"),
        ("deep nesting", b"[" * 50_000 + b"]" * 50_000, 413, "body_too_large", "body"),
        (
            "nesting under the size limit",
            b'{"texts": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
            400,
            "invalid_json",
            "body",
        ),
        ("array body", b'["a", "b"]', 422, "wrong_type", "body"),
        ("string body", b'"a"', 422, "wrong_type", "body"),
        ("missing texts", b'{"ids": ["a"]}', 422, "missing_field", "texts"),
        ("unknown field", b'{"texts": ["a"], "text": "b"}', 422, "unknown_field", "text"),
        ("events not a boolean", b'{"texts": ["a"], "events": "yes"}', 422, "wrong_type", "events"),
        ("texts a string", b'{"texts": "Gunmen killed 12"}', 422, "wrong_type", "texts"),
        ("texts null", b'{"texts": null}', 422, "wrong_type", "texts"),
        ("a number in texts", b'{"texts": ["a", 12]}', 422, "wrong_type", "texts[1]"),
        ("an object in texts", b'{"texts": [{"text": "a"}]}', 422, "wrong_type", "texts[0]"),
        ("lone surrogate", b'{"texts": ["ok", "bad \\ud800 here"]}', 422, "invalid_text", "texts[1]"),
        ("ids not a list", b'{"texts": ["a"], "ids": "x"}', 422, "wrong_type", "ids"),
        ("ids too short", b'{"texts": ["a", "b"], "ids": ["x"]}', 422, "length_mismatch", "ids"),
        ("id of wrong type", b'{"texts": ["a", "b"], "ids": ["x", [1]]}', 422, "wrong_type", "ids[1]"),
        ("boolean id", b'{"texts": ["a"], "ids": [true]}', 422, "wrong_type", "ids[0]"),
        ("too many texts", json.dumps({"texts": ["a"] * 9}).encode(), 413, "too_many_texts", "texts"),
        ("text too long", json.dumps({"texts": ["a", big_text]}).encode(), 413, "text_too_long", "texts[1]"),
        ("body too large", json.dumps({"texts": ["a" * 70_000]}).encode(), 413, "body_too_large", "body"),
    ]


@pytest.mark.parametrize("case,body,status,code,where", bad_inputs(), ids=[c[0] for c in bad_inputs()])
def test_bad_input_gets_a_json_error_and_the_server_stays_up(server, case, body, status, code, where):
    response = post(server, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code and error["where"] == where and error["message"]
    assert post(server, {"texts": ["Two soldiers were killed."]}).status_code == 200


def test_chunked_body_over_the_limit_is_refused(server: ServerThread):
    def chunks() -> Iterator[bytes]:
        yield b'{"texts": ["'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"]}'

    response = httpx.post(f"{server.url}/extract", content=chunks(), timeout=30)
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"


def test_unknown_routes_and_methods_get_json_errors(server: ServerThread):
    missing = httpx.get(f"{server.url}/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = httpx.get(f"{server.url}/extract")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


def test_200_requests_from_16_clients_match_the_extractor(server: ServerThread, extractor: Extractor, texts):
    direct = dict(zip(texts, per_text_results(extractor)(texts), strict=True))
    rng = random.Random(4)
    requests = [rng.sample(range(len(texts)), rng.randint(1, 4)) for _ in range(200)]
    before = server.server.config.app.state.batcher.stats.requests

    def client(worker: int) -> list[tuple[list[int], dict[str, Any]]]:
        answers = []
        with httpx.Client(base_url=server.url, timeout=60) as session:
            for number in range(worker, len(requests), 16):
                picked = requests[number]
                ids = [f"{number}-{i}" for i in picked]
                response = session.post("/extract", json={"texts": [texts[i] for i in picked], "ids": ids})
                assert response.status_code == 200, response.text
                answers.append((picked, response.json()))
        return answers

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = [a for batch in pool.map(client, range(16)) for a in batch]
    assert len(answers) == 200
    for picked, payload in answers:
        results = payload["results"]
        assert [r["id"].split("-")[1] for r in results] == [str(i) for i in picked]
        for index, result in zip(picked, results, strict=True):
            assert same_result(result, direct[texts[index]])
    stats = server.server.config.app.state.batcher.stats
    assert stats.requests - before == 200
    assert stats.largest_batch_requests > 1, "concurrent requests were never micro-batched together"


def test_api_key_is_required_when_configured(extractor: Extractor):
    app = create_app(extractor, limits=LIMITS, api_key="s3cret")
    with ServerThread(app) as running:
        body = {"texts": ["Three civilians were killed."]}
        assert post(running, body).status_code == 401
        wrong = post(running, body, headers={"X-API-Key": "guess"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
        assert post(running, body, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert httpx.get(f"{running.url}/health").status_code == 200
        schema = httpx.get(f"{running.url}/openapi.json").json()
        assert "X-API-Key" in json.dumps(schema["components"]["securitySchemes"])


def test_a_failing_request_does_not_fail_the_others_in_its_batch(extractor: Extractor):
    class Fragile:
        backend = extractor.backend

        def extract(self, texts: list[str]) -> list[list[dict[str, Any]]]:
            if "BOOM" in texts:
                raise RuntimeError("model failure")
            return extractor.extract(texts)

    app = create_app(Fragile(), batching=BatchSettings(max_wait_ms=50))
    with ServerThread(app) as running, ThreadPoolExecutor(max_workers=4) as pool:
        bodies = [{"texts": ["BOOM"]}] + [{"texts": [f"{n} people were killed."]} for n in range(3)]
        responses = list(pool.map(lambda b: post(running, b), bodies))
    assert responses[0].status_code == 500 and responses[0].json()["error"]["code"] == "internal_error"
    assert [r.status_code for r in responses[1:]] == [200, 200, 200]


def test_too_many_waiting_texts_get_503_and_the_rest_still_answer(extractor: Extractor):
    release = threading.Event()

    class Blocked:
        backend = extractor.backend

        def extract(self, texts: list[str]) -> list[list[dict[str, Any]]]:
            release.wait(timeout=30)
            return extractor.extract(texts)

    limits = ServiceLimits(max_texts=2, max_pending_texts=2)
    with ServerThread(create_app(Blocked(), limits=limits)) as running, ThreadPoolExecutor(2) as pool:
        waiting = [pool.submit(post, running, {"texts": [f"{n} killed."]}) for n in (1, 2)]
        batcher = running.server.config.app.state.batcher
        deadline = time.monotonic() + 30
        while batcher.pending < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = post(running, {"texts": ["3 killed."]})
        release.set()
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "overloaded"
        assert [f.result().status_code for f in waiting] == [200, 200]


def test_cli_serve_binds_loopback_takes_key_from_env_and_shuts_down_gracefully(busy_model: Path, extractor):
    port = free_port()
    env = {**os.environ, API_KEY_ENV: "from-env", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "training.cli", "serve", "--model", str(busy_model), "--port", str(port)]
    command += ["--precision", "fp32"]  # compared with the float32 extractor below
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(process, port, seconds=90, poll=0.2)
        if shutil.which("ss"):
            listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True)
            local_addresses = [line.split()[3] for line in listening.stdout.splitlines()]
            assert local_addresses == [f"127.0.0.1:{port}"]
        assert post_raw_status(port, {"texts": ["a"]}, key=None) == 401

        # An in-flight request: headers and half the body sent, then SIGTERM, then the rest.
        text = "Gunmen killed 12 villagers and wounded 30 others."
        body = json.dumps({"texts": [text], "ids": ["last"]}).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            connection.sendall(
                f"POST /extract HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"X-API-Key: from-env\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body[:10]
            )
            time.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            connection.sendall(body[10:])
            reply = b""
            while chunk := connection.recv(65536):
                reply += chunk
        head, _, payload = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), reply
        result = json.loads(payload)["results"][0]
        assert result["id"] == "last" and same_result(result, per_text_results(extractor)([text])[0])
        # uvicorn re-raises the signal once it has shut down cleanly, so the exit is "killed by SIGTERM".
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
        log = process.stdout.read().decode()
        assert "Application shutdown complete" in log and "Traceback" not in log, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def post_raw_status(port: int, body: dict[str, Any], key: str | None) -> int:
    headers = {"X-API-Key": key} if key else {}
    return httpx.post(f"http://127.0.0.1:{port}/extract", json=body, headers=headers, timeout=30).status_code


def test_pickle_only_and_incomplete_model_dirs_are_refused(tiny_model: Path, tmp_path: Path):
    pickle_only = tmp_path / "pickle-only"
    pickle_only.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (pickle_only / name).write_bytes((tiny_model / name).read_bytes())
    (pickle_only / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ModelDirError, match=r"found only pickle weights: pytorch_model\.bin.*never loaded"):
        Extractor.from_pretrained(pickle_only, device="cpu")

    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    for name in ("config.json", "model.safetensors"):
        (no_tokenizer / name).write_bytes((tiny_model / name).read_bytes())
    with pytest.raises(ModelDirError, match="no tokenizer files"):
        Extractor.from_pretrained(no_tokenizer, device="cpu")

    no_config = tmp_path / "no-config"
    no_config.mkdir()
    (no_config / "model.safetensors").write_bytes((tiny_model / "model.safetensors").read_bytes())
    with pytest.raises(ModelDirError, match="no config.json"):
        Extractor.from_pretrained(no_config, device="cpu")
    with pytest.raises(ModelDirError, match="does not exist"):
        Extractor.from_pretrained(tmp_path / "nowhere", device="cpu")


def test_cli_serve_refuses_a_bad_model_dir_with_a_clear_error(tmp_path: Path, capsys):
    from training.cli import main

    assert main(["serve", "--model", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path), "--max-texts", "0"]) == 2
    assert "--max-texts must be at least 1" in capsys.readouterr().err
