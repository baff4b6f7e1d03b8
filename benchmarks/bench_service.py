"""The HTTP service under load: for each number of concurrent clients (default 1, 4, 16, 64), each
sending ~500-word reports for ``--seconds``, the p50/p90/p99 latency of the answered requests,
throughput, 503 rejections (counted apart from errors) and the server's resident memory (all its
processes: the parent and every ``--workers`` worker). A client answered 503 waits the seconds its
``Retry-After`` asks for before its next request, as a well-behaved client does.

First, in this process and before the server starts, the baseline the throughput is judged against:
``Extractor.extract_records`` (what ``/extract`` runs: entities and records) called on the same
reports ``--baseline-batch`` at a time (default 16) for ``--baseline-seconds``, with the model,
device, precision, windows per forward pass and CPU threads the server gets (read from the same
``serve`` options; ``auto`` resolves to the same choice, checked against the server's ``/health``).
With ``--workers N`` the baseline is one process with the threads of all N workers together, and each
level's throughput is that of all workers together: the share says what serving costs over calling
the library in batches on the same cores.

Then starts ``conflict-ie serve`` once as a subprocess on 127.0.0.1 (a free port), runs the levels one
after another (each after a short unmeasured warm-up), then stops it with SIGTERM. Beside the
measured figures it gives the arithmetic bound (``roofline.py``): with N clients that each wait for
their answer, the mean latency can be no lower than N reports' encoder FLOPs divided by this
machine's float32 matrix-multiply rate, whatever the server does. Prints a markdown table and
writes the JSON. Usage:

    .venv/bin/python benchmarks/bench_service.py --model runs/default/model [--clients 1 4 16 64]
        [--seconds 60] [--baseline-seconds 60] [--baseline-batch 16] [--workers 2]
        [--serve-arg=--precision --serve-arg=fp32]
"""

from __future__ import annotations

import argparse
import gc
import itertools
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

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import httpx  # noqa: E402
from roofline import encoder_flops, gemm_gflops, window_lengths  # noqa: E402

from inference.atomic import write_json  # noqa: E402
from inference.model_dir import load_tokenizer, read_settings  # noqa: E402
from inference.service.workers import resolve_workers  # noqa: E402
from training.cli import build_parser  # noqa: E402
from training.corpus.store import load_documents  # noqa: E402

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


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (the workers of ``serve --workers``), from /proc."""
    pids, index = [pid], 0
    while index < len(pids):
        children = Path(f"/proc/{pids[index]}/task/{pids[index]}/children")
        if children.exists():
            pids += [int(child) for child in children.read_text().split()]
        index += 1
    return pids


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory of ``pid`` and its descendants, from /proc: current (VmRSS summed) and the
    sum of each process's peak (VmHWM; an upper bound, the peaks need not coincide)."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    for member in process_tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except FileNotFoundError:  # exited meanwhile
            continue
        for line in lines:
            key, _, rest = line.partition(":")
            if key in values:
                values[key] += int(rest.split()[0]) / 1024
    return values


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def arithmetic_bound(model_dir: Path, reports: list[str], clients: list[int]) -> dict[int, dict[str, float]]:
    """The float32 arithmetic limit of serving ``reports`` with this model on this machine, for each
    number of clients (the GEMM rate is measured once)."""
    from transformers import AutoConfig

    settings = read_settings(model_dir)
    tokenizer = load_tokenizer(model_dir)
    lengths = window_lengths(tokenizer, reports, int(settings["max_length"]), int(settings["stride"]))
    config = AutoConfig.from_pretrained(model_dir)
    per_report = encoder_flops(config, lengths) / len(reports) / 1e9
    peak = gemm_gflops(config.hidden_size, config.intermediate_size)
    return {
        count: {
            "gflop_per_report": per_report,
            "gemm_fp32_gflops_per_s": peak,
            "max_requests_per_s": peak / per_report,
            "min_mean_latency_s": count * per_report / peak,
        }
        for count in clients
    }


def serve_command(args: argparse.Namespace, port: int) -> list[str]:
    """The ``conflict-ie serve`` arguments of this run (after ``conflict-ie``)."""
    command = ["serve", "--model", str(args.model), "--port", str(port), "--log-level", "warning"]
    return command + ["--workers", args.workers, *args.serve_arg]


def run_baseline(args: argparse.Namespace, reports: list[str]) -> dict[str, Any]:
    """The in-process ``Extractor`` baseline: the model the server's workers load, built from the
    same ``serve`` options; with ``--workers N`` one process gets the CPU threads of all N (without
    ``--threads``, the runtime's default: all cores, as one worker gets). The model is freed after."""
    from inference.extractor import Extractor

    options = build_parser().parse_args(serve_command(args, 0))
    workers, threads = resolve_workers(options.workers, options.threads)
    threads = None if threads is None else threads * workers
    extractor = Extractor.from_pretrained(
        options.model,
        device=options.device,
        batch_size=options.batch_size,
        threads=threads,
        precision=options.precision,
        actors=options.actors,
    )
    seconds = args.seconds if args.baseline_seconds is None else args.baseline_seconds
    measured = measure_baseline(extractor, reports, args.words, args.baseline_batch, seconds)
    runtime = extractor.runtime()
    together = f"all {workers} workers together" if workers > 1 else "the one worker"
    baseline = {
        **measured,
        "processes": 1,
        "compared_with": f"{together} against this one process",
        "server_workers": workers,
        "threads_asked": threads,
        "torch_threads": torch_threads() if runtime["backend"] == "TorchBackend" else None,
        "windows_per_forward": extractor.batch_size,
        "runtime": runtime,
    }
    del extractor
    gc.collect()
    return baseline


def measure_baseline(
    extractor: Any, reports: list[str], words: int, batch: int, seconds: float
) -> dict[str, Any]:
    """Reports and words a second of ``extractor.extract_records`` on ``batch`` reports a call, for
    ``seconds`` (at least one call) after one unmeasured call."""
    batches = [reports[i : i + batch] for i in range(0, len(reports), batch)]
    extractor.extract_records(batches[0])  # warm-up, not counted
    calls, done, start = 0, 0, time.perf_counter()
    for texts in itertools.cycle(batches):
        extractor.extract_records(texts)
        calls, done = calls + 1, done + len(texts)
        if (elapsed := time.perf_counter() - start) >= seconds:
            break
    return {
        "method": "Extractor.extract_records, in this process",
        "reports_per_call": batch,
        "calls": calls,
        "reports": done,
        "wall_s": elapsed,
        "throughput": {"requests_per_s": done / elapsed, "words_per_s": done * words / elapsed},
    }


def torch_threads() -> int | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.get_num_threads()


def run_load(
    url: str,
    reports: list[str],
    clients: int,
    headers: dict[str, str],
    *,
    seconds: float = 0,
    requests: int = 0,
) -> dict[str, Any]:
    """``clients`` threads, each sending one report at a time, until ``seconds`` have passed (or
    ``requests`` have been sent in all). Latencies of answered (200) requests; 503s and errors apart."""
    latencies: list[float] = []
    rejected: list[float] = []
    failures: list[str] = []
    counter = iter(range(requests or sys.maxsize))
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds if seconds else float("inf")

    def client() -> None:
        with httpx.Client(base_url=url, timeout=300, headers=headers) as session:
            while time.perf_counter() < stop_at:
                with lock:
                    number = next(counter, None)
                if number is None:
                    return
                start = time.perf_counter()
                try:
                    response = session.post("/extract", json={"texts": [reports[number % len(reports)]]})
                except httpx.TransportError as error:
                    with lock:
                        failures.append(f"{type(error).__name__}: {error}")
                    continue
                elapsed = time.perf_counter() - start
                with lock:
                    if response.status_code == 200:
                        latencies.append(elapsed)
                    elif response.status_code == 503:
                        rejected.append(elapsed)
                    else:
                        failures.append(f"{response.status_code} {response.text[:200]}")
                if response.status_code == 503:
                    # As a well-behaved client does: wait as told before the next request, rather
                    # than spend the server's CPU on refusals.
                    time.sleep(max(0.0, min(retry_after(response), stop_at - time.perf_counter())))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return {"latencies": latencies, "rejected": rejected, "failures": failures, "wall_s": wall}


def retry_after(response: Any) -> float:
    """Seconds a 503's ``Retry-After`` asks for (1 when it is missing or not a number)."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def start_server(args: argparse.Namespace, env: dict[str, str]) -> tuple[subprocess.Popen, str, float]:
    """``conflict-ie serve`` on a free port, once its /health answers: the process, URL, startup s."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "training.cli", *serve_command(args, port)]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    started = time.perf_counter()
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return server, url, time.perf_counter() - started
        except httpx.TransportError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        if time.perf_counter() - started > 300:
            server.kill()
            raise SystemExit("the server did not come up within 300 s")
        time.sleep(0.2)


def level_report(
    clients: int, words: int, result: dict[str, Any], memory: dict[str, float], baseline: dict[str, float]
) -> dict[str, Any]:
    """One row: latency percentiles of the answered requests, throughput (also as a share of the
    ``baseline`` throughput), rejections, memory."""
    latencies, wall = result["latencies"], result["wall_s"]
    throughput = {"requests_per_s": len(latencies) / wall, "words_per_s": len(latencies) * words / wall}
    latency = {
        name: percentile(latencies, share) if latencies else None
        for name, share in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("max", 1.0))
    }
    latency["mean"] = statistics.fmean(latencies) if latencies else None
    return {
        "clients": clients,
        "answered": len(latencies),
        "rejected_503": len(result["rejected"]),
        "errors": len(result["failures"]),
        "error_examples": result["failures"][:3],
        "wall_s": wall,
        "latency_s": latency,
        "throughput": throughput,
        "share_of_baseline": {name: rate / baseline[name] for name, rate in throughput.items()},
        "server_rss_mb": {"now": memory["VmRSS"], "peak": memory["VmHWM"]},
    }


def markdown_table(levels: list[dict[str, Any]]) -> str:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = [
        "| clients | answered | 503 | errors | p50 s | p90 s | p99 s | req/s | words/s "
        "| share of `Extractor` | RSS MB | peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level in levels:
        lat, rate, rss = level["latency_s"], level["throughput"], level["server_rss_mb"]
        lines.append(
            f"| {level['clients']} | {level['answered']} | {level['rejected_503']} | {level['errors']} "
            f"| {seconds(lat['p50'])} | {seconds(lat['p90'])} | {seconds(lat['p99'])} "
            f"| {rate['requests_per_s']:.2f} | {rate['words_per_s']:.0f} "
            f"| {level['share_of_baseline']['requests_per_s']:.0%} | {rss['now']:.0f} | {rss['peak']:.0f} |"
        )
    return "\n".join(lines)


def check_runtime(url: str, runtime: dict[str, str]) -> dict[str, Any]:
    """The server's /health; exits when its backend, device or precision is not the baseline's."""
    health = httpx.get(f"{url}/health", timeout=30).json()
    differ = [key for key in ("backend", "device", "precision") if health.get(key) != runtime[key]]
    if differ:
        raise SystemExit(f"the server runs {health}, the baseline {runtime}: they differ in {differ}")
    return health


def baseline_line(baseline: dict[str, Any]) -> str:
    runtime, rate = baseline["runtime"], baseline["throughput"]
    threads = baseline["torch_threads"] or baseline["threads_asked"] or "default"
    return (
        f"baseline: Extractor.extract_records in one process, {baseline['reports_per_call']} reports a call, "
        f"{runtime['backend']} {runtime['device']} {runtime['precision']}, {threads} threads: "
        f"{rate['requests_per_s']:.2f} reports/s, {rate['words_per_s']:.0f} words/s; "
        f"each share is {baseline['compared_with']}"
    )


def cpu_name() -> str:
    from inference.cpu import this_cpu

    return this_cpu().model_name


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--model", required=True, help="model directory (PyTorch or an ONNX variant)")
    parser.add_argument("--data", type=Path, default=default_data(), help=".jsonl: texts for the reports")
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[1, 4, 16, 64], help="concurrent clients, a run each"
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per run")
    parser.add_argument("--words", type=int, default=500, help="words per report")
    parser.add_argument(
        "--baseline-seconds", type=float, help="seconds of the Extractor baseline (default: --seconds)"
    )
    parser.add_argument(
        "--baseline-batch", type=int, default=16, help="reports per Extractor call (default 16)"
    )
    parser.add_argument("--workers", default="1", help="serve --workers: a number or auto")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra serve argument, repeatable")
    parser.add_argument(
        "--server-cpus",
        type=cpu_list,
        help="CPUs (e.g. 0 or 0,1) for the server and the baseline; default: all this process may use",
    )
    parser.add_argument(
        "--client-cpus",
        type=cpu_list,
        help="CPUs for the clients once the baseline is measured, so they do not take the server's",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "runs" / "bench" / "service.json")
    args = parser.parse_args(argv)
    if args.baseline_batch < 1:
        parser.error("--baseline-batch must be at least 1")
    return args


def cpu_list(text: str) -> set[int]:
    """``0`` or ``0,1``: CPUs this machine has."""
    try:
        cpus = {int(part) for part in text.split(",")}
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of CPU numbers") from None
    unknown = cpus - os.sched_getaffinity(0)
    if unknown:
        raise argparse.ArgumentTypeError(f"CPUs {sorted(unknown)} are not available to this process")
    return cpus


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    allowed = os.sched_getaffinity(0)
    try:
        if args.server_cpus:
            os.sched_setaffinity(0, args.server_cpus)  # the baseline, and the server it starts, run there
        return run(args)
    finally:
        os.sched_setaffinity(0, allowed)


def run(args: argparse.Namespace) -> int:
    texts = [d.text for d in load_documents(args.data)]
    reports = make_reports(texts, args.words, 64)
    os.environ.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")  # here and in the server
    env = dict(os.environ)
    headers = {"X-API-Key": env["CONFLICT_IE_API_KEY"]} if env.get("CONFLICT_IE_API_KEY") else {}
    baseline = run_baseline(args, reports)
    server, url, startup_s = start_server(args, env)
    if args.client_cpus:
        os.sched_setaffinity(0, args.client_cpus)
    levels = []
    try:
        server_runtime = check_runtime(url, baseline["runtime"])
        server_affinity = sorted(os.sched_getaffinity(server.pid))
        idle = memory_mb(server.pid)
        for clients in args.clients:
            run_load(url, reports, clients, headers, requests=clients)  # warm-up, not counted
            result = run_load(url, reports, clients, headers, seconds=args.seconds)
            memory = memory_mb(server.pid)
            levels.append(level_report(clients, args.words, result, memory, baseline["throughput"]))
            print(f"{clients} clients: {levels[-1]['answered']} answered", file=sys.stderr)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()

    report = {
        "model": str(args.model),
        "data": str(args.data),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "workers": args.workers,
        "serve_args": args.serve_arg,
        "server_cpus": sorted(args.server_cpus) if args.server_cpus else None,
        "client_cpus": sorted(args.client_cpus) if args.client_cpus else None,
        "server_affinity": server_affinity,
        "seconds_per_run": args.seconds,
        "words_per_report": args.words,
        "startup_s": startup_s,
        "server_rss_mb_after_model_load": idle["VmRSS"],
        "server_runtime": server_runtime,
        "baseline": baseline,
        "levels": levels,
        "load_average": os.getloadavg(),
        "arithmetic_bound": arithmetic_bound(Path(args.model), reports, args.clients),
    }
    print(
        f"{args.model}, --workers {args.workers}, {args.words}-word reports, "
        f"{args.seconds:g} s a run, {report['cpu']}"
    )
    print(f"server RSS after loading: {idle['VmRSS']:.0f} MB (all its processes)")
    if args.server_cpus or args.client_cpus:
        print(f"server and baseline on CPUs {server_affinity}, clients on {sorted(args.client_cpus or [])}")
    print(baseline_line(baseline) + "\n")
    print(markdown_table(levels))
    bound = report["arithmetic_bound"][args.clients[0]]
    print(
        f"\narithmetic bound: {bound['gflop_per_report']:.2f} GFLOP a report at "
        f"{bound['gemm_fp32_gflops_per_s']:.1f} GFLOP/s -> at most "
        f"{bound['max_requests_per_s']:.2f} req/s (float32)"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.output, report, ensure_ascii=True)
    print(f"wrote {args.output}")
    return 1 if any(level["errors"] for level in levels) else 0


if __name__ == "__main__":
    sys.exit(main())
