"""Issue #17: ``serve --workers N`` answers on one port from N processes, each with the model loaded
once, exactly as one process does, and SIGTERM stops them all after their requests in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from servers import free_port, wait_until_serving

from inference.service.workers import resolve_workers
from training.cli import main
from training.corpus.store import load_documents

ROOT = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def start_server(model: Path, *options: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    command = [sys.executable, "-m", "training.cli", "serve", "--model", str(model), "--port", str(port)]
    command += ["--precision", "fp32", "--threads", "1", *options]  # the same arithmetic in every process
    process = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return process, port


def stop(process: subprocess.Popen) -> str:
    """SIGTERM first: the parent stops its workers (killed, it would leave them holding the pipe)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()
    return process.stdout.read().decode()


def parent_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def test_two_workers_answer_like_one_from_both_pids_and_sigterm_stops_all(busy_model: Path):
    texts = [d.text[:800] for d in load_documents(ROOT / "data" / "annotations" / "dev.jsonl")][:12]
    bodies = [
        {"texts": texts[i : i + 3], "ids": list(range(i, i + 3)), "events": i % 2 == 0} for i in range(10)
    ]
    single, single_port = start_server(busy_model)
    double, double_port = start_server(busy_model, "--workers", "2")
    try:
        wait_until_serving(single, single_port, seconds=120, poll=0.2)
        wait_until_serving(double, double_port, seconds=120, poll=0.2)

        def answers(port: int) -> list[dict]:
            with ThreadPoolExecutor(4) as pool:  # concurrent, so that both workers take some
                replies = pool.map(lambda b: httpx.post(f"http://127.0.0.1:{port}/extract", json=b), bodies)
                return [reply.json() for reply in replies]

        expected = answers(single_port)
        assert any(r["entities"] for answer in expected for r in answer["results"])
        assert answers(double_port) == expected

        with ThreadPoolExecutor(8) as pool:  # a new connection each: the kernel spreads them
            health = list(pool.map(lambda _: httpx.get(f"http://127.0.0.1:{double_port}/health"), range(80)))
        pids = {reply.json()["pid"] for reply in health}
        assert len(pids) == 2 and all(parent_of(pid) == double.pid for pid in pids), pids
        assert httpx.get(f"http://127.0.0.1:{single_port}/health").json()["pid"] == single.pid

        double.send_signal(signal.SIGTERM)
        assert double.wait(timeout=60) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
        log = stop(double)
        assert log.count("Application shutdown complete") == 2 and "Traceback" not in log, log
        assert "leaked" not in log, log
    finally:
        stop(single)
        stop(double)


def test_a_worker_that_cannot_load_the_model_stops_the_server(busy_model: Path):
    process, _ = start_server(busy_model, "--workers", "2", "--device", "cuda:7")
    try:
        assert process.wait(timeout=120) == 1
        log = stop(process)
        assert "could not load the model" in log and "CUDA is not available" in log, log
    finally:
        stop(process)


def test_two_workers_serve_an_onnx_export(busy_model: Path, tmp_path: Path):
    """An exported model is served by several workers as by one. The parent checked the directory
    as a PyTorch one before starting them, and refused an export ("no safetensors weights")."""
    assert main(["export", "--model", str(busy_model), "--output", str(tmp_path / "onnx")]) == 0
    process, port = start_server(tmp_path / "onnx" / "int8", "--workers", "2")
    try:
        wait_until_serving(process, port, seconds=120, poll=0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["backend"] == "OnnxBackend"
        reply = httpx.post(
            f"http://127.0.0.1:{port}/extract", json={"texts": ["Gunmen killed 12 villagers."]}
        )
        assert reply.status_code == 200 and len(reply.json()["results"]) == 1
    finally:
        stop(process)


@pytest.mark.parametrize(
    ("workers", "threads", "cores", "expected"),
    [
        ("auto", None, 2, (1, None)),  # one worker per 2 cores: a 2-core machine keeps one
        ("auto", None, 16, (8, 2)),
        ("auto", 4, 16, (4, 4)),
        ("auto", 1, 2, (2, 1)),
        (2, None, 2, (2, 1)),  # the cores shared among the workers
        (3, None, 16, (3, 5)),
        (1, None, 16, (1, None)),  # one worker keeps the runtime's default
        (4, 8, 2, (4, 8)),  # as asked, with a warning
    ],
)
def test_workers_and_threads_follow_the_cores(workers, threads, cores, expected):
    assert resolve_workers(workers, threads, cores) == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_cli_refuses_a_bad_worker_count(value: str, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--model", "x", "--workers", value])
    assert exit_info.value.code == 2
    assert f"expected a whole number of at least 1 or 'auto', got {value!r}" in capsys.readouterr().err


def test_workers_refuse_a_precision_the_export_cannot_run_before_starting(busy_model: Path, tmp_path: Path):
    assert main(["export", "--model", str(busy_model), "--output", str(tmp_path / "onnx")]) == 0
    process, _ = start_server(tmp_path / "onnx" / "fp32", "--workers", "2", "--precision", "bf16")
    assert process.wait(timeout=60) == 2
    log = stop(process)
    assert "precision 'bf16' is for the PyTorch backend" in log and "could not load" not in log, log
