"""The HTTP service under load: p50/p99 latency and throughput with concurrent clients sending
~500-word reports, and the peak resident memory of the server process.

Starts ``conflict-ie serve`` as a subprocess on 127.0.0.1 (a free port), sends a bounded number of
requests from N client threads, then stops it with SIGTERM. Beside the measured figures it prints
the arithmetic bound (``roofline.py``): with N clients that each wait for their answer, the mean
latency can be no lower than N reports' encoder FLOPs divided by this machine's float32
matrix-multiply rate, whatever the server does. Usage:

    .venv/bin/python benchmarks/bench_service.py --model runs/default/model [--clients 16]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from roofline import encoder_flops, gemm_gflops, window_lengths

from inference.atomic import write_json
from inference.model_dir import load_tokenizer, read_settings
from training.corpus.store import load_documents

ROOT = Path(__file__).resolve().parents[1]
FAKES_GOLD = ROOT.parent / "shared" / "datasets" / "fa-kes" / "gold-dev.jsonl"
TEST_SPLIT = ROOT / "data" / "annotations" / "test.jsonl"
_WORD = re.compile(r"\S+")


def default_data() -> Path:
    return FAKES_GOLD if FAKES_GOLD.is_file() else TEST_SPLIT


def make_reports(texts: list[str], words: int, count: int) -> list[str]:
    """``count`` reports of ``words`` words: documents joined in turn, each report starting elsewhere."""
    reports = []
    for first in range(count):
        pieces, total, index = [], 0, first
        while total < words:
            text = texts[index % len(texts)]
            pieces.append(text)
            total += len(text.split())
            index += 1
        joined = "\n\n".join(pieces)
        last = list(_WORD.finditer(joined))[words - 1]
        reports.append(joined[: last.end()])
    return reports


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def memory_mb(pid: int) -> dict[str, float]:
    """Current (VmRSS) and peak (VmHWM) resident memory of a process, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def arithmetic_bound(model_dir: Path, reports: list[str], clients: int) -> dict[str, float]:
    """The float32 arithmetic limit of serving ``reports`` with this model on this machine."""
    from transformers import AutoConfig

    settings = read_settings(model_dir)
    tokenizer = load_tokenizer(model_dir)
    lengths = window_lengths(tokenizer, reports, int(settings["max_length"]), int(settings["stride"]))
    config = AutoConfig.from_pretrained(model_dir)
    per_report = encoder_flops(config, lengths) / len(reports) / 1e9
    peak = gemm_gflops(config.hidden_size, config.intermediate_size)
    return {
        "gflop_per_report": per_report,
        "gemm_fp32_gflops_per_s": peak,
        "max_requests_per_s": peak / per_report,
        "min_mean_latency_s": clients * per_report / peak,
    }


def run_load(
    url: str, reports: list[str], clients: int, requests: int, headers: dict[str, str]
) -> dict[str, Any]:
    latencies: list[float] = []
    failures: list[str] = []
    counter = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=120, headers=headers) as session:
            while True:
                with lock:
                    number = next(counter, None)
                if number is None:
                    return
                start = time.perf_counter()
                response = session.post("/extract", json={"texts": [reports[number % len(reports)]]})
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return {"latencies": latencies, "failures": failures, "wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--model", required=True, help="model directory (PyTorch or an ONNX variant)")
    parser.add_argument("--data", type=Path, default=default_data(), help=".jsonl: texts for the reports")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=320, help="timed requests in all (one report each)")
    parser.add_argument("--words", type=int, default=500, help="words per report")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra serve argument, repeatable")
    parser.add_argument("--output", type=Path, default=ROOT / "runs" / "bench" / "service.json")
    args = parser.parse_args(argv)

    texts = [d.text for d in load_documents(args.data)]
    reports = make_reports(texts, args.words, 64)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "training.cli", "serve", "--model", str(args.model), "--port", str(port)]
    command += ["--log-level", "warning", *args.serve_arg]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    headers = {"X-API-Key": env["CONFLICT_IE_API_KEY"]} if env.get("CONFLICT_IE_API_KEY") else {}
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        started = time.perf_counter()
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None:
                raise SystemExit(f"the server exited with {server.returncode}")
            if time.perf_counter() - started > 300:
                raise SystemExit("the server did not come up within 300 s")
            time.sleep(0.2)
        startup_s = time.perf_counter() - started
        idle = memory_mb(server.pid)
        run_load(url, reports, args.clients, args.clients, headers)  # warm-up, not counted
        result = run_load(url, reports, args.clients, args.requests, headers)
        peak = memory_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()

    latencies = result["latencies"]
    report = {
        "model": str(args.model),
        "data": str(args.data),
        "clients": args.clients,
        "requests": args.requests,
        "words_per_report": args.words,
        "serve_args": args.serve_arg,
        "startup_s": startup_s,
        "failures": len(result["failures"]),
        "failure_examples": result["failures"][:3],
        "latency_s": {
            "p50": percentile(latencies, 0.50),
            "p90": percentile(latencies, 0.90),
            "p99": percentile(latencies, 0.99),
            "max": max(latencies),
            "mean": statistics.fmean(latencies),
        },
        "throughput": {
            "requests_per_s": len(latencies) / result["wall_s"],
            "words_per_s": len(latencies) * args.words / result["wall_s"],
        },
        "server_rss_mb": {"after_model_load": idle["VmRSS"], "peak": peak["VmHWM"]},
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    report["arithmetic_bound"] = arithmetic_bound(Path(args.model), reports, args.clients)
    report["goals"] = {
        "p99<=1s": report["latency_s"]["p99"] <= 1.0,
        "peak_rss<=800MB": report["server_rss_mb"]["peak"] <= 800,
    }
    lat = report["latency_s"]
    print(f"{args.requests} requests of {args.words} words from {args.clients} clients ({args.model})")
    columns = ["p50 s", "p90 s", "p99 s", "max s", "req/s", "words/s", "idle MB", "peak MB"]
    print(" ".join(f"{c:>8s}" for c in columns))
    print(
        f"{lat['p50']:8.3f} {lat['p90']:8.3f} {lat['p99']:8.3f} {lat['max']:8.3f} "
        f"{report['throughput']['requests_per_s']:8.2f} {report['throughput']['words_per_s']:8.0f} "
        f"{idle['VmRSS']:8.0f} {peak['VmHWM']:8.0f}"
    )
    bound = report["arithmetic_bound"]
    print(
        f"arithmetic bound: {bound['gflop_per_report']:.1f} GFLOP a report at "
        f"{bound['gemm_fp32_gflops_per_s']:.1f} GFLOP/s -> at most {bound['max_requests_per_s']:.2f} req/s, "
        f"mean latency with {args.clients} clients at least {bound['min_mean_latency_s']:.2f} s (float32)"
    )
    print(f"failures: {report['failures']}  goals: {report['goals']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.output, report, ensure_ascii=True)
    print(f"wrote {args.output}")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
