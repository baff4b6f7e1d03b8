"""The inference benchmark's goal lines, on rows as it measures them."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmark_scripts import load_benchmark
from conftest import ROOT


@pytest.fixture(scope="module")
def bench():
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(ROOT / "benchmarks"))  # it imports roofline.py beside it
        yield load_benchmark("bench_inference")


def row(name: str, batch: int, speedup: float, f1_drop: float) -> dict:
    return {
        "name": name,
        "batch": batch,
        "speedup_vs_pipeline": speedup,
        "f1_drop_points_vs_extractor": f1_drop,
    }


ROWS = [
    row("pipeline", 1, 1.0, 0.3),
    row("extractor", 1, 1.3, 0.0),
    row("onnx-int8", 1, 2.2, -0.4),
    row("openvino-int8", 1, 2.5, 0.5),  # faster, but loses more than the gate allows
    row("openvino-int8", 16, 3.0, 0.0),
]


def test_fastest_path_within_the_f1_gate(bench) -> None:
    assert bench.fastest_within_gate(ROWS) == "onnx-int8"
    assert bench.fastest_within_gate(ROWS, batch=16) == "openvino-int8"
    assert bench.fastest_within_gate([row("pipeline", 1, 1.0, 0.0)]) is None


def test_goal_by_cpu_kind(bench) -> None:
    assert bench.batch1_goal(frozenset({"avx2", "fma"})) == 2.0
    assert bench.batch1_goal(frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"})) == 3.0
    goals = bench._goals(ROWS, "extractor", None)
    name = f"fastest_batch1_within_0.3_points>={bench.batch1_goal():g} (onnx-int8)"
    assert goals[name] == 2.2


def test_a_missing_export_directory_is_exported_there_and_reused(bench, busy_model: Path, tmp_path: Path):
    given = tmp_path / "onnx"
    assert bench.ensure_export(busy_model, given, tmp_path / "scratch", "onnx") == given
    assert (given / "fp32" / "model.onnx").is_file() and (given / "int8" / "model.onnx").is_file()
    written = (given / "export.json").stat().st_mtime_ns
    assert bench.ensure_export(busy_model, given, tmp_path / "scratch", "onnx") == given
    assert (given / "export.json").stat().st_mtime_ns == written  # an existing export is not redone
    assert not (tmp_path / "scratch").exists()
