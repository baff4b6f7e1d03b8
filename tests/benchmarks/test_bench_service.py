"""The service benchmark on the tiny model: a real server, two short client levels, and the in-process
``Extractor`` baseline each level's throughput is given as a share of."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmark_scripts import load_benchmark
from conftest import CORPUS

WORDS = 60


@pytest.fixture(scope="module")
def script():
    return load_benchmark("bench_service")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, script) -> tuple[dict, str]:
    import contextlib
    import io

    output = tmp_path_factory.mktemp("bench-service") / "service.json"
    args = ["--model", str(tiny_model), "--data", str(CORPUS / "test.jsonl"), "--clients", "1", "2"]
    args += ["--seconds", "1", "--words", str(WORDS), "--baseline-seconds", "1", "--baseline-batch", "4"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert script.main([*args, "--output", str(output)]) == 0
    return json.loads(output.read_text(encoding="utf-8")), printed.getvalue()


def test_baseline_runs_what_the_server_runs(run: tuple[dict, str]) -> None:
    report, _ = run
    baseline = report["baseline"]
    assert baseline["method"].startswith("Extractor.extract_records")
    assert baseline["reports_per_call"] == 4 and baseline["calls"] >= 1
    assert baseline["reports"] >= 4 * baseline["calls"] - 3 and baseline["wall_s"] >= 1
    assert baseline["processes"] == 1 and baseline["server_workers"] == 1
    assert baseline["threads_asked"] is None and baseline["windows_per_forward"] == 16
    for key in ("backend", "device", "precision"):
        assert baseline["runtime"][key] == report["server_runtime"][key]
    rate = baseline["throughput"]
    assert rate["requests_per_s"] == pytest.approx(baseline["reports"] / baseline["wall_s"])
    assert rate["words_per_s"] == pytest.approx(rate["requests_per_s"] * WORDS)


def test_each_level_is_a_share_of_the_baseline(run: tuple[dict, str]) -> None:
    report, printed = run
    baseline = report["baseline"]["throughput"]
    assert [level["clients"] for level in report["levels"]] == [1, 2]
    for level in report["levels"]:
        assert level["answered"] > 0 and level["errors"] == 0
        for unit in ("requests_per_s", "words_per_s"):
            share = level["share_of_baseline"][unit]
            assert share == pytest.approx(level["throughput"][unit] / baseline[unit])
            assert 0 < share < 10  # a server cannot run many times faster than the library it calls
    assert "| share of `Extractor` |" in printed and "baseline: Extractor.extract_records" in printed
    for level in report["levels"]:
        assert f"| {level['share_of_baseline']['requests_per_s']:.0%} |" in printed
    assert set(report["arithmetic_bound"]) == {"1", "2"}


def test_workers_baseline_is_one_process_with_all_their_threads(tiny_model: Path, script) -> None:
    import torch

    options = ["--model", str(tiny_model), "--workers", "2", "--serve-arg=--threads", "--serve-arg=1"]
    args = script.parse_args(
        [*options, "--words", str(WORDS), "--baseline-seconds", "0.1", "--baseline-batch", "2"]
    )
    reports = script.make_reports([d.text for d in script.load_documents(CORPUS / "test.jsonl")], WORDS, 4)
    before = torch.get_num_threads()
    try:
        baseline = script.run_baseline(args, reports)
    finally:
        torch.set_num_threads(before)  # torch's thread count is process-wide
    assert baseline["server_workers"] == 2 and baseline["processes"] == 1
    assert baseline["threads_asked"] == 2 and baseline["torch_threads"] == 2
    assert baseline["compared_with"] == "all 2 workers together against this one process"
    assert baseline["reports"] >= 2 and baseline["throughput"]["requests_per_s"] > 0


def test_clients_wait_what_retry_after_asks(script) -> None:
    import httpx

    def answer(headers: dict[str, str]) -> httpx.Response:
        return httpx.Response(503, headers=headers)

    assert script.retry_after(answer({"Retry-After": "3"})) == 3.0
    assert script.retry_after(answer({})) == 1.0
    assert script.retry_after(answer({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})) == 1.0


def test_server_and_clients_can_be_kept_on_cpus_of_their_own(
    tmp_path: Path, tiny_model: Path, script, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    allowed = os.sched_getaffinity(0)
    server_cpu, client_cpu = min(allowed), max(allowed)
    output = tmp_path / "service.json"
    args = ["--model", str(tiny_model), "--data", str(CORPUS / "test.jsonl"), "--clients", "1"]
    args += ["--seconds", "0.5", "--words", str(WORDS), "--baseline-seconds", "0.5", "--baseline-batch", "2"]
    args += ["--server-cpus", str(server_cpu), "--client-cpus", str(client_cpu), "--output", str(output)]
    assert script.main(args) == 0
    report = json.loads(output.read_text(encoding="utf-8"))
    assert report["server_affinity"] == report["server_cpus"] == [server_cpu]
    assert report["client_cpus"] == [client_cpu]
    assert os.sched_getaffinity(0) == allowed  # the caller's CPUs are given back
    assert f"server and baseline on CPUs [{server_cpu}], clients on [{client_cpu}]" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        script.parse_args(["--model", str(tiny_model), "--server-cpus", "0,x"])
    with pytest.raises(SystemExit):
        script.parse_args(["--model", str(tiny_model), "--server-cpus", str(max(allowed) + 64)])
