"""Throughput and strict F1, side by side on one model and one set of documents:

- ``transformers.pipeline("token-classification", aggregation_strategy="first", stride=...)`` as users
  call it (one text per call) and at batch 16;
- ``Extractor`` (PyTorch) at batch 1 and 16, in float32 and in the precision ``"auto"`` picks
  (bfloat16 on CPUs that multiply it natively, so the row is left out elsewhere);
- ``Extractor`` on the ONNX fp32 and int8 exports, at batch 1 and 16;
- ``Extractor`` on the OpenVINO export: fp32, bf16 (only where the CPU has it natively) and int8,
  at batch 1 and 16, and which of them ``auto`` picks on this CPU; where the CPU has native bf16,
  also int8 with its float operations in f32 (``ov-int8-f32ops``) beside the default bf16 ones.

"batch N" means N documents per call. Tokens/s counts each document's tokens once (no special tokens,
no window overlap), so every row measures the same work. Each row also gets the GFLOP/s it reached
(the encoder's arithmetic for the Extractor's windows, ``roofline.py``) and its share of the float32
matrix-multiply rate this machine sustains on the model's shapes: a float32 path at that rate
cannot be made faster on this machine, and ``fp32_speedup_ceiling`` says how far above the
pipeline that is. Usage:

    PYTHONPATH=. .venv/bin/python benchmarks/bench_inference.py --model runs/default/model \
        [--onnx DIR] [--openvino DIR]

(from the repository root: ``PYTHONPATH=.`` imports this checkout, not an installed copy).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roofline import encoder_flops, gemm_gflops, window_lengths

from inference.alignment import tokenize_text
from inference.atomic import write_json
from inference.extractor import Extractor
from inference.model_dir import read_settings
from inference.spans import Document, Span
from training.corpus.store import load_documents
from training.evaluation.metrics import evaluate

ROOT = Path(__file__).resolve().parents[1]
FAKES_GOLD = ROOT.parent / "shared" / "datasets" / "fa-kes" / "gold-dev.jsonl"
TEST_SPLIT = ROOT / "data" / "annotations" / "test.jsonl"
TRAIN_SPLIT = ROOT / "data" / "annotations" / "train.jsonl"

# transformers and torch are imported lazily, so these still apply.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def default_data() -> Path:
    return FAKES_GOLD if FAKES_GOLD.is_file() else TEST_SPLIT


def strict_f1(documents: list[Document], predicted: list[list[Span]], tokenizer: Any) -> float:
    return float(evaluate(documents, predicted, tokenizer)["seqeval_strict"]["micro"]["f1"])


def in_batches(texts: list[str], size: int) -> list[list[str]]:
    return [texts[i : i + size] for i in range(0, len(texts), size)]


def pipeline_runner(model_dir: Path, stride: int, max_length: int, batch: int) -> Callable[[list[str]], Any]:
    from transformers import AutoTokenizer, pipeline

    # Same window size as the Extractor (the model was trained on it); stride as the user would pass.
    tokenizer = AutoTokenizer.from_pretrained(model_dir, model_max_length=max_length)
    pipe = pipeline(
        "token-classification",
        model=str(model_dir),
        tokenizer=tokenizer,
        aggregation_strategy="first",
        stride=stride,
        device="cpu",
    )

    def spans_of(groups: list[dict[str, Any]]) -> list[Span]:
        spans = []
        for group in groups:
            label, _, outcome = str(group["entity_group"]).partition(":")
            spans.append(Span(int(group["start"]), int(group["end"]), label, outcome or None))
        return spans

    def run(texts: list[str]) -> list[list[Span]]:
        if batch == 1:
            return [spans_of(pipe(text)) for text in texts]
        return [spans_of(groups) for groups in pipe(texts, batch_size=batch)]

    return run


def extractor_runner(extractor: Extractor, batch: int) -> Callable[[list[str]], list[list[Span]]]:
    def run(texts: list[str]) -> list[list[Span]]:
        return [
            [entity.span for entity in entities]
            for chunk in in_batches(texts, batch)
            for entities in extractor.extract(chunk)
        ]

    return run


def ensure_export(model_dir: Path, given: Path | None, scratch: Path, format: str) -> Path:
    """``given`` where it exists; else ``model_dir`` exported (``format`` "onnx" or "openvino") to
    ``given``, kept for the next run, or without ``given`` to a scratch folder."""
    if given is not None and given.exists():
        return given
    from training.release.export import export

    output = given or scratch / format
    print(f"exporting {model_dir} to {output} ({format})", file=sys.stderr)
    calibration = TRAIN_SPLIT if format == "openvino" else None
    export(
        model_dir,
        output,
        format=format,
        calibration=calibration,
        log=lambda message: print(f"  {message}", file=sys.stderr),
    )
    return output


def cpu_name() -> str:
    from inference.cpu import cpu_description

    cpu = cpu_description()
    return f"{cpu['model_name']} ({cpu['kind']}: {', '.join(cpu['flags'])})"


Runner = tuple[str, int, Callable[[list[str]], list[list[Span]]]]  # path name, batch, run
BATCHES = (1, 16)


def _parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--model", required=True, type=Path, help="trained PyTorch model directory")
    parser.add_argument(
        "--onnx",
        type=Path,
        help="an ONNX export directory (fp32/, int8/); exported there if it does not exist",
    )
    parser.add_argument("--data", type=Path, default=default_data(), help="gold .jsonl (texts and spans)")
    parser.add_argument("--max-docs", type=int, help="use only the first N documents")
    parser.add_argument("--repeat", type=int, default=1, help="timed rounds over all paths; best kept")
    parser.add_argument("--threads", type=int, help="CPU threads for torch and ONNX Runtime")
    parser.add_argument("--skip-onnx", action="store_true")
    parser.add_argument(
        "--openvino", type=Path, help="an OpenVINO export directory; exported there if it does not exist"
    )
    parser.add_argument("--skip-openvino", action="store_true", help="(also skipped without openvino)")
    parser.add_argument("--output", type=Path, default=ROOT / "runs" / "bench" / "inference.json")
    return parser


def _at_each_batch(name: str, extractor: Extractor) -> list[Runner]:
    return [(name, batch, extractor_runner(extractor, batch)) for batch in BATCHES]


def _pytorch_runners(
    model_dir: Path, extractor: Extractor, fast: Extractor, max_length: int, stride: int
) -> list[Runner]:
    """The pipeline and the Extractor in float32 and (where it is not float32) in ``auto``."""
    runners: list[Runner] = []
    for batch in BATCHES:
        runners.append(("pipeline", batch, pipeline_runner(model_dir, stride, max_length, batch)))
        runners.append(("extractor", batch, extractor_runner(extractor, batch)))
        if fast.backend.precision != "fp32":
            runners.append((f"extractor-{fast.backend.precision}", batch, extractor_runner(fast, batch)))
    return runners


def _onnx_runners(args: argparse.Namespace, scratch: Path) -> list[Runner]:
    onnx_dir = ensure_export(args.model, args.onnx, scratch, "onnx")
    runners: list[Runner] = []
    for variant in ("fp32", "int8"):
        onnx = Extractor.from_pretrained(onnx_dir / variant, device="cpu", threads=args.threads)
        runners += _at_each_batch(f"onnx-{variant}", onnx)
    return runners


def _openvino_runners(args: argparse.Namespace, scratch: Path) -> tuple[list[Runner], str]:
    """Every OpenVINO precision this CPU runs, and the name of the path ``auto`` picks."""
    from inference.backends.openvino import OPENVINO_FILE, OpenVinoBackend, auto_precision
    from inference.cpu import native_bf16

    openvino_dir = ensure_export(args.model, args.openvino, scratch, "openvino")
    variants = tuple(v for v in ("fp32", "int8") if (openvino_dir / v).is_dir())
    runners: list[Runner] = []
    for precision in [p for p in ("fp32", "bf16", "int8") if p != "bf16" or native_bf16()]:
        if precision == "int8" and "int8" not in variants:
            continue
        openvino = Extractor.from_pretrained(openvino_dir, precision=precision, threads=args.threads)
        runners += _at_each_batch(f"openvino-{precision}", openvino)
    if "int8" in variants and native_bf16():
        # The same int8 model with its float operations in f32: what bf16 ones gain on this CPU.
        f32_ops = Extractor.from_pretrained(openvino_dir, precision="int8", threads=args.threads)
        int8_xml = openvino_dir / "int8" / OPENVINO_FILE
        f32_ops.backend = OpenVinoBackend(int8_xml, "int8", args.threads, float_ops="f32")
        runners += _at_each_batch("ov-int8-f32ops", f32_ops)
    return runners, f"openvino-{auto_precision(variants)}"


def _timed(
    runners: list[Runner], texts: list[str], repeat: int
) -> list[tuple[float, float, list[list[Span]]]]:
    """Each path's best wall and CPU seconds over ``repeat`` rounds, and its spans.

    Rounds over all paths, best time kept per path: load from other processes on a shared machine
    then slows every path alike instead of whichever happened to run at a busy moment. CPU seconds
    (this process, all its threads) beside the wall clock: on a machine shared with other work they
    measure each path's own work, whatever share of the core it was given.
    """
    best = [float("inf")] * len(runners)
    best_cpu = [float("inf")] * len(runners)
    spans: list[list[list[Span]]] = [[] for _ in runners]
    for _, _, run in runners:
        run(texts[:2])  # warm-up: first-call allocations, lazy imports, ORT graph setup
    for done in range(repeat):
        for index, (name, batch, run) in enumerate(runners):
            start, start_cpu = time.perf_counter(), time.process_time()
            spans[index] = run(texts)
            seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
            best[index] = min(best[index], seconds)
            best_cpu[index] = min(best_cpu[index], cpu_seconds)
            print(
                f"  round {done + 1} {name:10s} batch {batch:2d}: {seconds:7.2f} s ({cpu_seconds:.2f} s CPU)",
                file=sys.stderr,
            )
    return list(zip(best, best_cpu, spans, strict=True))


def _rows(
    runners: list[Runner],
    timings: list[tuple[float, float, list[list[Span]]]],
    documents: list[Document],
    tokens: int,
    tokenizer: Any,
    flops: float,
    peak: float,
) -> list[dict[str, Any]]:
    """One row per path: speed, strict F1, GFLOP/s and share of the GEMM peak, ratios to the pipeline."""
    rows = []
    for (name, batch, _), (seconds, cpu_seconds, predicted) in zip(runners, timings, strict=True):
        rows.append(
            {
                "name": name,
                "batch": batch,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "docs_per_s": len(documents) / seconds,
                "tokens_per_s": tokens / seconds,
                "strict_f1": strict_f1(documents, predicted, tokenizer),
                "gflops_per_s": flops / seconds / 1e9,
                "share_of_gemm_peak": flops / seconds / 1e9 / peak,
            }
        )
    baseline = {row["batch"]: row["tokens_per_s"] for row in rows if row["name"] == "pipeline"}
    baseline_cpu = {row["batch"]: row["cpu_seconds"] for row in rows if row["name"] == "pipeline"}
    pytorch_f1 = next(row["strict_f1"] for row in rows if row["name"] == "extractor")
    for row in rows:
        row["speedup_vs_pipeline"] = row["tokens_per_s"] / baseline[row["batch"]]
        row["cpu_speedup_vs_pipeline"] = baseline_cpu[row["batch"]] / row["cpu_seconds"]
        row["f1_drop_points_vs_extractor"] = 100 * (pytorch_f1 - row["strict_f1"])
    return rows


F1_GATE_POINTS = 0.3  # issue #17: strict F1 a faster path may lose against the Extractor in float32


def batch1_goal(flags: frozenset[str] | None = None) -> float:
    """Issue #17's goal for one document a call: 2x the pipeline on an AVX2-only CPU, else 3x."""
    from inference.cpu import cpu_kind

    return 2.0 if cpu_kind(flags) == "avx2" else 3.0


def fastest_within_gate(rows: list[dict[str, Any]], batch: int = 1) -> str | None:
    """The fastest path at ``batch`` that loses at most ``F1_GATE_POINTS`` against float32."""
    kept = [
        row
        for row in rows
        if row["batch"] == batch
        and row["name"] != "pipeline"
        and row["f1_drop_points_vs_extractor"] <= F1_GATE_POINTS
    ]
    return max(kept, key=lambda row: row["speedup_vs_pipeline"])["name"] if kept else None


def _goals(rows: list[dict[str, Any]], auto_name: str, auto_openvino: str | None) -> dict[str, float | None]:
    def ratio(name: str, batch: int) -> float | None:
        found = [r["speedup_vs_pipeline"] for r in rows if r["name"] == name and r["batch"] == batch]
        return found[0] if found else None

    goals = {
        "extractor_fp32_batch1_speedup>=3": ratio("extractor", 1),
        "extractor_fp32_batch16_speedup>=1.5": ratio("extractor", 16),
        f"{auto_name}_batch1_speedup>=3": ratio(auto_name, 1),
        f"{auto_name}_batch16_speedup>=1.5": ratio(auto_name, 16),
        "onnx_int8_batch1_speedup>=5": ratio("onnx-int8", 1),
        "openvino_int8_batch1_speedup>=5": ratio("openvino-int8", 1),
    }
    if auto_openvino is not None:
        goals[f"{auto_openvino}_batch1_speedup>=3 (openvino auto)"] = ratio(auto_openvino, 1)
    fastest, goal = fastest_within_gate(rows), batch1_goal()
    if fastest is not None:
        goals[f"fastest_batch1_within_{F1_GATE_POINTS}_points>={goal:g} ({fastest})"] = ratio(fastest, 1)
    return goals


def _print_report(report: dict[str, Any]) -> None:
    print(f"\nCPU: {report['cpu']}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    header = ["batch", "seconds", "docs/s", "tokens/s", "x pipe", "x CPU s", "F1", "GFLOP/s", "of peak"]
    widths = (5, 8, 8, 9, 7, 7, 6, 8, 8)
    print(f"{'path':14s} " + " ".join(f"{h:>{w}s}" for h, w in zip(header, widths, strict=True)))
    for row in report["rows"]:
        print(
            f"{row['name']:14s} {row['batch']:5d} {row['seconds']:8.2f} {row['docs_per_s']:8.2f} "
            f"{row['tokens_per_s']:9.0f} {row['speedup_vs_pipeline']:7.2f} "
            f"{row['cpu_speedup_vs_pipeline']:7.2f} {100 * row['strict_f1']:6.2f} "
            f"{row['gflops_per_s']:8.1f} {100 * row['share_of_gemm_peak']:7.0f}%"
        )
    print(
        f"\nencoder work {report['encoder_gflop']:.1f} GFLOP; float32 GEMM on the model's shapes "
        f"{report['gemm_fp32_gflops_per_s']:.1f} GFLOP/s; fastest possible float32 path vs the pipeline: "
        + ", ".join(f"batch {b} {v:.2f}x" for b, v in report["fp32_speedup_ceiling"].items())
    )
    print()
    for goal, value in report["goals"].items():
        print(f"{goal:60s} {'n/a' if value is None else f'{value:.2f}x'}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch
    from transformers import AutoConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    documents = load_documents(args.data)[: args.max_docs]
    texts = [d.text for d in documents]
    settings = read_settings(args.model)
    max_length, stride = int(settings["max_length"]), int(settings["stride"])
    extractor = Extractor.from_pretrained(args.model, device="cpu", precision="fp32")
    fast = Extractor.from_pretrained(args.model, device="cpu", precision="auto")
    tokens = sum(len(tokenize_text(extractor.tokenizer, text).token_ids) for text in texts)
    words = sum(len(text.split()) for text in texts)
    print(f"{len(texts)} documents, {words} words, {tokens} tokens from {args.data}", file=sys.stderr)

    runners = _pytorch_runners(args.model, extractor, fast, max_length, stride)
    auto_openvino = None
    with tempfile.TemporaryDirectory() as scratch:
        if not args.skip_onnx:
            runners += _onnx_runners(args, Path(scratch))
        if not args.skip_openvino and importlib.util.find_spec("openvino") is not None:
            openvino, auto_openvino = _openvino_runners(args, Path(scratch))
            runners += openvino
        timings = _timed(runners, texts, args.repeat)

    model_config = AutoConfig.from_pretrained(args.model)
    flops = encoder_flops(model_config, window_lengths(extractor.tokenizer, texts, max_length, stride))
    peak = gemm_gflops(model_config.hidden_size, model_config.intermediate_size)
    rows = _rows(runners, timings, documents, tokens, extractor.tokenizer, flops, peak)
    auto_name = f"extractor-{fast.backend.precision}" if fast.backend.precision != "fp32" else "extractor"
    report = {
        "model": str(args.model),
        "data": str(args.data),
        "documents": len(texts),
        "words": words,
        "tokens": tokens,
        "max_length": max_length,
        "stride": stride,
        "torch_threads": torch.get_num_threads(),
        "repeat": args.repeat,
        "load_average": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "cpu": cpu_name(),
        "openvino_auto": auto_openvino,
        "encoder_gflop": flops / 1e9,
        "gemm_fp32_gflops_per_s": peak,
        # A float32 path at the GEMM rate is this many times faster than the pipeline.
        "fp32_speedup_ceiling": {
            row["batch"]: 1 / row["share_of_gemm_peak"] for row in rows if row["name"] == "pipeline"
        },
        "rows": rows,
        "goals": _goals(rows, auto_name, auto_openvino),
    }
    _print_report(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.output, report, ensure_ascii=True)
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
