"""The training profile on the tiny model: a few steps in both precisions, the JSON it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmark_scripts import load_benchmark, write_tiny_inputs

PARTS = ("load_data", "load_model", "tokenization", "forward", "backward", "optimizer")
PARTS += ("dev_evaluation", "checkpoints", "calibrate_and_save")


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> dict:
    work = tmp_path_factory.mktemp("profile")
    config = write_tiny_inputs(work, tiny_base, train_documents=12)
    script = load_benchmark("profile_training")
    # Whole batches for the precisions, then micro-batches of 4 and packed dropout masks beside them.
    args = ["--config", str(config), "--set", "epochs=2", "micro_batch_size=0"]
    args += ["--steps", "3", "--warmup", "1", "--micro-batch-sizes", "4", "--dropout-masks", "packed"]
    assert script.main([*args, "--output", str(work / "profile.json")], log=lambda _: None) == 0
    return json.loads((work / "profile.json").read_text(encoding="utf-8"))


def test_steps_are_timed_in_both_precisions(result: dict) -> None:
    assert result["profiled"]["precisions"] == ["no", "bf16"]
    assert result["profiled"]["variants"] == ["no", "bf16", "no+micro4", "no+packed"]
    for precision in ("no", "bf16", "no+micro4", "no+packed"):
        steps = result["steps"][precision]
        assert steps["steps"] == 3 and len(steps["per_step"]) == 3
        assert all(steps["seconds"][part] > 0 for part in ("forward", "backward", "optimizer"))
        assert 0 < steps["tokens"] <= steps["padded_tokens"] and steps["tokens_per_second"] > 0


def test_padding_and_overlap_of_an_epoch(result: dict) -> None:
    data = result["data"]
    assert data["train_documents"] == 12 and data["dev_documents"] == 3
    assert data["windows"] >= 12 and data["windows"] / 8 <= data["batches"] <= data["windows"]
    assert 0 < data["real_tokens"] <= data["padded_tokens"] and 0 <= data["padding_share"] < 1
    # max_length 64, stride 16: corpus documents span several windows, which repeat tokens.
    assert data["window_tokens"] > data["document_tokens"] > 0 and 0 < data["overlap_share"] < 1


def test_estimate_adds_up_over_epochs(result: dict) -> None:
    for precision, estimate in result["estimate"].items():
        assert estimate["epochs"] == 2 and estimate["steps_per_epoch"] == result["data"]["batches"]
        assert set(estimate["seconds"]) == set(PARTS) and all(v > 0 for v in estimate["seconds"].values())
        assert estimate["total_seconds"] == pytest.approx(sum(estimate["seconds"].values()))
        assert sum(estimate["share"].values()) == pytest.approx(1.0)
        assert estimate["seconds"]["dev_evaluation"] == pytest.approx(
            2 * result["phases"]["dev_evaluation"]["seconds"]
        )
        padding = estimate["of_forward_backward_seconds"]["padding"]
        compute = estimate["seconds"]["forward"] + estimate["seconds"]["backward"]
        assert padding == pytest.approx(compute * result["data"]["padding_share"]), precision


def test_memory_by_phase_and_what_holds_it(result: dict) -> None:
    memory = result["memory"]
    phases = ["load_data", "load_model", "tokenize_uncached", "tokenize_cached", "loader", "steps_no"]
    phases += ["dev_evaluation", "checkpoint", "calibrate_and_save", "steps_bf16", "steps_no+micro4"]
    phases += ["steps_no+packed"]
    assert list(result["phases"]) == phases
    assert all(result["phases"][p]["peak_rss_mb"] >= result["phases"][p]["rss_after_mb"] > 50 for p in phases)
    assert memory["peak_rss_mb"] == max(memory["peak_rss_by_phase_mb"].values())
    held = memory["largest_batch_step"]["no"]
    assert held["parameters"] > 1_000_000  # the tiny BERT: its embeddings alone are 30522 x 32
    assert held["weights_mb"] == pytest.approx(held["parameters"] * 4 / 2**20)
    assert held["optimizer_state_mb"] == pytest.approx(2 * held["weights_mb"], rel=1e-3)  # two moments, step
    assert held["batch_shape"][0] <= 8 and held["batch_shape"][1] <= 64
    assert held["saved_for_backward_mb"] > held["attention_matrices_mb"] > 0  # attention dropout 0.1
    # torch's dropout masks (the default) keep SDPA; packed ones run attention through their own function
    assert held["attention"] == {"implementation": "sdpa", "dropout": 0.1}
    packed = memory["largest_batch_step"]["no+packed"]["attention"]
    assert packed == {"implementation": "conflict-ie-packed-dropout", "dropout": 0.1}
    assert all(step["rss_after_mb"] > 50 for step in result["steps"]["no"]["per_step"])
    assert memory["windows_in_memory"]["windows"] == result["data"]["windows"]
    # The largest batch (up to 8 windows) in micro-batches of 4: each holds about half the activations.
    split = memory["largest_batch_step"]["no+micro4"]
    assert held["batch_shape"][0] == 8 and held["micro_batches"] == 1 and split["micro_batches"] == 2
    assert split["saved_for_backward_mb"] < 0.75 * held["saved_for_backward_mb"]


def test_names_the_cpu(result: dict) -> None:
    cpu = result["cpu"]
    assert cpu["model_name"] and isinstance(cpu["native_bf16"], bool) and cpu["torch_threads"] >= 1
    assert all(
        flag in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
        for flag in cpu["flags"]
    )


def test_arithmetic_against_the_gemm_rate(result: dict) -> None:
    work = result["arithmetic"]
    assert set(work) == set(result["profiled"]["variants"])
    assert work["no"]["gemm_dtype"] == "float32" and work["bf16"]["gemm_dtype"] == "bfloat16"
    first = work["no"]
    # The same windows and epochs for every variant: the same work, each at its own precision's rate.
    assert all(w["training_gflop"] == first["training_gflop"] > 0 for w in work.values())
    # the windows' tokens with their two special tokens each ([CLS], [SEP])
    assert first["epoch_window_tokens"] == result["data"]["window_tokens"] + 2 * result["data"]["windows"]
    for name, w in work.items():
        assert w["gemm_gflops_per_s"] > 0 and w["measured_gflops_per_s"] > 0, name
        assert w["least_forward_backward_seconds"] == pytest.approx(
            w["training_gflop"] / w["gemm_gflops_per_s"]
        )
        assert w["share_of_gemm_rate"] == pytest.approx(w["measured_gflops_per_s"] / w["gemm_gflops_per_s"])


def test_auto_is_profiled_once_as_what_it_resolves_to(tmp_path: Path, tiny_base: Path) -> None:
    """A config in ``auto`` runs bf16 or float32 here; both are already in ``--precisions``, so no
    third, duplicate variant is timed."""
    config = write_tiny_inputs(tmp_path, tiny_base, train_documents=4)
    script = load_benchmark("profile_training")
    args = ["--config", str(config), "--set", "epochs=1", "mixed_precision=auto"]
    args += ["--steps", "1", "--warmup", "0", "--precisions", "no", "bf16"]
    assert script.main([*args, "--output", str(tmp_path / "profile.json")], log=lambda _: None) == 0
    result = json.loads((tmp_path / "profile.json").read_text(encoding="utf-8"))
    assert result["profiled"]["variants"] == ["no", "bf16"]


def test_a_phase_peak_is_never_below_its_rss_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """VmRSS and VmHWM are read one after the other, from per-CPU counters the kernel syncs lazily;
    under load the high-water mark read second came out below the RSS read first (a CI run)."""
    script = load_benchmark("profile_training")
    readings = {"VmRSS": 812.0, "VmHWM": 809.5}
    monkeypatch.setattr(script, "_status_mb", readings.get)
    monkeypatch.setattr(script, "reset_peak", lambda: True)
    phases = script.Phases()
    with phases.measure("step"):
        pass
    assert phases.results["step"]["peak_rss_mb"] >= phases.results["step"]["rss_after_mb"] == 812.0
