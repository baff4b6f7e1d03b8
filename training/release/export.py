"""``conflict-ie export``: a trained model as ONNX (fp32 and dynamically quantized int8) or OpenVINO
(``training.release.export_openvino``), F1-checked.

The output directory holds ``fp32/`` and ``int8/``, each a model directory that ``Extractor`` loads,
and ``export.json`` with the strict F1 of every variant on the gold file. Everything is built in a
hidden staging directory beside the output and moved into place only when every check passed, so a
refused export leaves nothing behind.
"""

from __future__ import annotations

import inspect
import json
import logging
import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inference.atomic import staged_directory
from inference.backends.onnx import ONNX_FILE, OnnxBackend
from inference.model_dir import SETTINGS_FILE, check_model_dir, load_tokenizer, read_settings
from inference.schema import SCHEMA_FILE, model_schema
from inference.spans import Document
from training.corpus.permissions import apply_umask

OPSET = 17
FORMATS = ("onnx", "openvino")
# Model types whose attention/LayerNorm/GELU subgraphs ONNX Runtime's BERT optimizer knows how to fuse.
FUSABLE_TYPES = {"bert", "roberta", "xlm-roberta", "distilbert", "electra"}
# fp32 ONNX against PyTorch on the probe input: anything above this is an export bug, not rounding.
MAX_LOGIT_DIFF = 1e-3
PROBE_TEXTS = [
    "Gunmen killed at least 12 villagers and wounded 30 others near the border, officials said.",
    "An air strike hit a market on Tuesday.",
]
# int8 weights in 7 bits unless asked for 8: on a CPU without VNNI, ONNX Runtime sums each pair of
# uint8 x int8 products in 16 bits (VPMADDUBSW), which 8-bit weights overflow (inference.cpu).
INT8_WEIGHT_BITS = (7, 8)


class ExportError(ValueError):
    """An export that cannot be made or that failed a check; nothing was written."""


def strict_f1(model_dir: Path, documents: list[Document], precision: str = "fp32") -> float:
    """seqeval strict micro F1 (0-1) of a model directory (PyTorch, ONNX or OpenVINO) on gold documents."""
    from inference.extractor import Extractor
    from training.evaluation.report import evaluate_extractor

    extractor = Extractor.from_pretrained(model_dir, device="cpu", precision=precision)
    report = evaluate_extractor(extractor, documents, details=False)[0]
    return float(report["seqeval_strict"]["micro"]["f1"])


def export(
    model_dir: str | Path,
    output: str | Path,
    gold: str | Path | None = None,
    *,
    max_f1_drop: float = 0.5,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
    format: str = "onnx",
    calibration: str | Path | None = None,
    int8_weight_bits: int = 7,
) -> dict[str, Any]:
    """Write ``output/fp32`` and ``output/int8``; refuse if any precision loses more than
    ``max_f1_drop`` points of strict F1 on ``gold`` against the PyTorch model. Returns the manifest.

    ``format`` "onnx" (ONNX Runtime; int8 quantized dynamically) or "openvino" (fp32 also run in
    bf16 where the CPU has it; int8 quantized statically on ``calibration``, a corpus file, and
    left out without one: ``training.release.export_openvino``). ``int8_weight_bits`` 7 (ONNX int8
    that runs right on every CPU) or 8 (a little more precise, for CPUs with VNNI or AMX only)."""
    from training.corpus.store import load_documents

    if format not in FORMATS:
        raise ExportError(f"unknown format {format!r}: use {' or '.join(FORMATS)}")
    if calibration is not None and format != "openvino":
        raise ExportError("--calibration is for --format openvino (ONNX int8 is quantized dynamically)")
    if int8_weight_bits not in INT8_WEIGHT_BITS:
        raise ExportError(f"int8 weights have 7 or 8 bits, not {int8_weight_bits}")
    if int8_weight_bits != 7 and format != "onnx":
        raise ExportError("--int8-weight-bits is for --format onnx (OpenVINO quantizes on its own terms)")
    source = check_model_dir(model_dir)
    output = Path(output)
    if output.exists() and not overwrite:
        raise ExportError(f"{output} already exists; pass --overwrite to replace it")
    if output.resolve() == source.resolve():
        raise ExportError(f"{output} is the model being exported; choose another output directory")
    schema = model_schema(source)
    documents = load_documents(gold, schema) if gold is not None else None
    calibration_docs = load_documents(calibration, schema) if calibration is not None else None
    created = _make_parents(output.parent)
    try:
        with staged_directory(output, suffix=".partial") as staging:
            if format == "openvino":
                from training.release.export_openvino import build_openvino

                manifest = build_openvino(source, staging, documents, calibration_docs, max_f1_drop, log)
                manifest["calibration"] = str(calibration) if calibration is not None else None
            else:
                manifest = _build(source, staging, documents, max_f1_drop, log, int8_weight_bits)
            manifest["gold"] = str(gold) if gold is not None else None
            (staging / "export.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            apply_umask(staging)
    except BaseException:
        for directory in reversed(created):
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
        raise
    return manifest


def _build(
    source: Path,
    staging: Path,
    documents: list[Document] | None,
    max_f1_drop: float,
    log: Callable[[str], None],
    weight_bits: int = 7,
) -> dict[str, Any]:
    fp32_dir, int8_dir = staging / "fp32", staging / "int8"
    for directory in (fp32_dir, int8_dir):
        directory.mkdir()
    copy_support_files(source, fp32_dir, precision="fp32")
    copy_support_files(source, int8_dir, precision="int8", int8_weight_bits=weight_bits)
    raw = staging / "raw.onnx"
    log(f"exporting {source} to ONNX (opset {OPSET})")
    model_type, reference = _export_onnx(source, raw)
    fused = _optimize(raw, fp32_dir / ONNX_FILE, source, model_type)
    raw.unlink()
    difference = _probe_difference(fp32_dir, reference)
    if difference > MAX_LOGIT_DIFF:
        raise ExportError(f"ONNX fp32 logits differ from PyTorch by {difference:.2e} on a probe text")
    manifest: dict[str, Any] = {
        "source": str(source),
        "opset": OPSET,
        "fused": fused,
        "fp32_max_logit_diff": difference,
        "int8_weight_bits": weight_bits,
        "max_f1_drop_points": max_f1_drop,
        "strict_f1": None,
        "int8_left_out": None,
    }
    recipes = int8_recipes(fp32_dir / ONNX_FILE)
    if documents is None:
        name, kept_float = next(iter(recipes.items()))
        _quantize_logged(fp32_dir, int8_dir, name, kept_float, weight_bits, log)
        log("no --gold file: F1 not checked")
        return {**manifest, "int8_recipe": name, "int8_kept_float": kept_float}
    scores = {"pytorch": strict_f1(source, documents), "onnx-fp32": strict_f1(fp32_dir, documents)}
    check_f1_gate(scores, len(documents), max_f1_drop, log)  # a float loss refuses before any int8 work
    float_scores = len(scores)
    tried = _first_passing_recipe(
        recipes, fp32_dir, int8_dir, documents, scores["pytorch"], max_f1_drop, weight_bits, log
    )
    name = list(tried)[-1]
    scores["onnx-int8"] = tried[name]
    manifest.update(strict_f1=scores, int8_recipe=name, int8_kept_float=recipes[name], int8_recipes_f1=tried)
    left_out = check_f1_gate(scores, len(documents), max_f1_drop, log, logged=float_scores)
    leave_out_int8(staging, manifest, left_out)
    return manifest


def _first_passing_recipe(
    recipes: dict[str, list[str]],
    fp32_dir: Path,
    int8_dir: Path,
    documents: list[Document],
    pytorch_f1: float,
    max_f1_drop: float,
    weight_bits: int,
    log: Callable[[str], None],
) -> dict[str, float]:
    """Quantize ``int8_dir`` by each recipe in turn until one loses at most ``max_f1_drop`` points
    against ``pytorch_f1``; returns each tried recipe's strict F1, the one left in place last."""
    tried: dict[str, float] = {}
    for name, kept_float in recipes.items():
        _quantize_logged(fp32_dir, int8_dir, name, kept_float, weight_bits, log)
        tried[name] = strict_f1(int8_dir, documents)
        loss = 100 * (pytorch_f1 - tried[name])
        if not loses_too_much(loss, max_f1_drop):
            break
        log(f"  int8 by {name}: strict F1 {100 * tried[name]:.2f}, {loss:.2f} points lost")
    return tried


def int8_recipes(path: Path) -> dict[str, list[str]]:
    """The matrix products each int8 recipe keeps float, fastest recipe first: the export takes the
    first whose F1 passes the gate. The second also keeps the feed-forward outputs, whose input (the
    GELU's output, 4x the hidden size) has outliers that one activation scale rounds away:
    all-mpnet-base-v2 lost 2.3 points of strict F1 with the first and 0.2 with the second. A graph
    with no GELU (or none past the first layer) has only the first."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph  # read once for both recipes
    first = first_layer_nodes(graph)
    recipes = {"first-layer-float": first}
    after_gelu = feed_forward_outputs(graph, exclude=first)
    if after_gelu:
        recipes["first-layer-and-feed-forward-outputs-float"] = first + after_gelu
    return recipes


def _quantize_logged(
    fp32_dir: Path,
    int8_dir: Path,
    recipe: str,
    kept_float: list[str],
    weight_bits: int,
    log: Callable[[str], None],
) -> None:
    kept = f"{recipe}: {len(kept_float)} products"
    log(f"quantizing to int8 (dynamic, per-channel {weight_bits}-bit weights; {kept})")
    _quantize(fp32_dir / ONNX_FILE, int8_dir / ONNX_FILE, kept_float, weight_bits)


def loses_too_much(points_lost: float, max_f1_drop: float) -> bool:
    """The F1 gate's one comparison (with room for float rounding at exactly the bound)."""
    return points_lost > max_f1_drop + 1e-9


def check_f1_gate(
    scores: dict[str, float],
    documents: int,
    max_f1_drop: float,
    log: Callable[[str], None],
    logged: int = 0,
) -> dict[str, float]:
    """Log each strict F1 after the first ``logged`` (an earlier call's) and refuse if a float
    variant loses more than ``max_f1_drop`` points against ``scores["pytorch"]``. An int8 variant
    (``*-int8``) that does is left out instead, not the whole export: returns those with the points
    each loses. Exports call it on the float scores before quantizing, so a float loss costs no
    int8 work, and again with the int8 ones."""
    for name, value in list(scores.items())[logged:]:
        log(f"  strict F1 {name:14s} {100 * value:6.2f}")
    losses = {name: 100 * (scores["pytorch"] - value) for name, value in scores.items() if name != "pytorch"}
    too_much = {name: loss for name, loss in losses.items() if loses_too_much(loss, max_f1_drop)}
    refused = {name: loss for name, loss in too_much.items() if not name.endswith("-int8")}
    if refused:
        detail = ", ".join(f"{name} loses {loss:.2f}" for name, loss in refused.items())
        raise ExportError(
            f"refused: {detail} points of strict F1 on {documents} gold documents "
            f"(PyTorch {100 * scores['pytorch']:.2f}; at most {max_f1_drop} allowed); nothing written"
        )
    for name, loss in too_much.items():
        log(
            f"{name} left out: it loses {loss:.2f} points of strict F1 on {documents} gold documents "
            f"(at most {max_f1_drop} allowed); the float model is written without it"
        )
    return too_much


def leave_out_int8(staging: Path, manifest: dict[str, Any], left_out: dict[str, float]) -> None:
    """Remove the int8 model the F1 gate left out, and say why in the manifest."""
    if left_out:
        shutil.rmtree(staging / "int8")
    reasons = [
        f"{name} lost {loss:.2f} points of strict F1 on the gold file" for name, loss in left_out.items()
    ]
    manifest["int8_left_out"] = "; ".join(reasons) or None


def _make_parents(directory: Path) -> list[Path]:
    """Create ``directory`` and missing ancestors; return those created, outermost first."""
    missing = []
    current = directory.resolve()
    while not current.exists():
        missing.append(current)
        current = current.parent
    directory.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def copy_support_files(source: Path, target: Path, precision: str, **settings: Any) -> None:
    """The config, schema, settings (``precision`` and ``settings`` added) and tokenizer of ``source``."""
    shutil.copy2(source / "config.json", target / "config.json")
    if (source / SCHEMA_FILE).is_file():
        shutil.copy2(source / SCHEMA_FILE, target / SCHEMA_FILE)
    written = {**read_settings(source), "precision": precision, **settings}
    (target / SETTINGS_FILE).write_text(json.dumps(written, indent=2) + "\n", encoding="utf-8")
    load_tokenizer(source).save_pretrained(target)


def _load_eager(source: Path) -> Any:
    from transformers import AutoModelForTokenClassification

    # Eager attention traces to the MatMul/Softmax pattern that ONNX Runtime fuses into one op.
    return AutoModelForTokenClassification.from_pretrained(
        source, use_safetensors=True, trust_remote_code=False, attn_implementation="eager"
    ).eval()


def probe_inputs(source: Path) -> dict[str, np.ndarray]:
    tokenizer = load_tokenizer(source)
    encoding = tokenizer(PROBE_TEXTS, padding=True, return_tensors="np")
    return {
        "input_ids": encoding["input_ids"].astype(np.int64),
        "attention_mask": encoding["attention_mask"].astype(np.int64),
    }


def _export_onnx(source: Path, path: Path) -> tuple[str, np.ndarray]:
    """Trace the model to ONNX with dynamic batch and length; return its type and probe logits."""
    import torch

    model = _load_eager(source)
    probe = probe_inputs(source)
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in inspect.signature(model.forward).parameters:
        names.append("token_type_ids")
    tensors = {name: torch.from_numpy(probe.get(name, np.zeros_like(probe["input_ids"]))) for name in names}
    with torch.inference_mode():
        reference = model(**tensors).logits.numpy()
    dynamic = {name: {0: "batch", 1: "sequence"} for name in [*names, "logits"]}
    with warnings.catch_warnings():
        # The TorchScript exporter warns about traced Python conditions that are constant for BERT-like
        # encoders; the probe comparison below is the real check.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            tuple(tensors[name] for name in names),
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    return str(model.config.model_type), reference


def _optimize(raw: Path, target: Path, source: Path, model_type: str) -> bool:
    """Fuse attention, LayerNorm and GELU for ONNX Runtime where it knows the model type."""
    if model_type not in FUSABLE_TYPES:
        shutil.copy2(raw, target)
        return False
    from onnxruntime.transformers import optimizer

    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    heads = config.get("num_attention_heads", config.get("n_heads", 0))
    hidden = config.get("hidden_size", config.get("dim", 0))
    quiet = logging.getLogger("onnxruntime")
    previous = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        optimized = optimizer.optimize_model(
            str(raw), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1
        )
    finally:
        quiet.setLevel(previous)
    optimized.save_model_to_file(str(target))
    return bool(optimized.get_fused_operator_statistics().get("Attention", 0))


def first_layer_nodes(graph: Any) -> list[str]:
    """The matrix products of an ONNX ``graph``'s first encoder layer. Its input is the embedding
    output, whose outliers int8 rounds worst: quantizing every layer lost 0.9 point of strict F1 on
    the dev split, keeping this one in float32 lost 0.2 (measured on the default model)."""
    products = [node for node in graph.node if node.op_type in ("MatMul", "Attention")]
    first_attention = next((node.name for node in products if node.op_type == "Attention"), None)
    return [node.name for node in products if "/layer.0/" in node.name or node.name == first_attention]


GELU_OPS = {"Erf", "Gelu", "FastGelu", "BiasGelu", "QuickGelu"}


def feed_forward_outputs(graph: Any, exclude: Sequence[str] = ()) -> list[str]:
    """The matrix products of an ONNX ``graph`` that read a GELU's output (a fused GELU op, or the
    erf pattern's closing products, traced back through Mul and Add only): each layer's
    feed-forward output projection."""
    producer = {output: node for node in graph.node for output in node.output}

    def after_gelu(tensor: str, depth: int = 4) -> bool:
        node = producer.get(tensor)
        if node is None:
            return False
        if node.op_type in GELU_OPS:
            return True
        passes = depth > 1 and node.op_type in ("Mul", "Add")
        return passes and any(after_gelu(i, depth - 1) for i in node.input)

    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and node.name not in exclude and after_gelu(node.input[0])
    ]


def _quantize(source: Path, target: Path, kept_float: list[str], weight_bits: int = 7) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs a generic pre-processing hint on the root logger
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=weight_bits == 7,
            nodes_to_exclude=kept_float,
            # Fused contrib ops defeat ONNX shape inference; their weights are float32.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(previous)


def _probe_difference(directory: Path, reference: np.ndarray) -> float:
    probe = probe_inputs(directory)
    logits = OnnxBackend(directory / ONNX_FILE, "cpu").logits(probe["input_ids"], probe["attention_mask"])
    mask = probe["attention_mask"].astype(bool)
    return float(np.abs(logits - reference)[mask].max())
