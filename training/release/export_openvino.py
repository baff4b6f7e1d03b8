"""``conflict-ie export --format openvino``: the PyTorch model converted by ``openvino.convert_model``
(OpenVINO cannot read the ORT-optimised ONNX graph, with its ``com.microsoft`` fused ops), and an
int8 copy quantized by NNCF, statically, on windows of a calibration corpus.

``fp32/`` holds float32 weights and runs in float32, or in bfloat16 through OpenVINO's
inference-precision hint where the CPU multiplies bfloat16 natively; ``int8/`` holds the quantized
model. Each precision this CPU can run is checked against the F1 gate.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from inference.backends.openvino import OPENVINO_FILE, OpenVinoBackend, auto_precision, float_ops_precision
from inference.cpu import cpu_description, native_bf16
from inference.spans import Document

# Calibration windows: enough for stable activation ranges (NNCF's default subset is 300 samples).
CALIBRATION_WINDOWS = 300


def build_openvino(
    source: Path,
    staging: Path,
    documents: list[Document] | None,
    calibration: list[Document] | None,
    max_f1_drop: float,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Write ``staging/fp32`` (and ``staging/int8`` with a calibration corpus); return the manifest."""
    from training.release.export import (
        MAX_LOGIT_DIFF,
        ExportError,
        check_f1_gate,
        copy_support_files,
        leave_out_int8,
        probe_inputs,
        strict_f1,
    )

    fp32_dir = staging / "fp32"
    fp32_dir.mkdir()
    copy_support_files(source, fp32_dir, precision="fp32")
    log(f"converting {source} with openvino.convert_model")
    model, reference = _convert(source, probe_inputs(source))
    _save(model, fp32_dir / OPENVINO_FILE)
    difference = _probe_difference(fp32_dir, reference)
    if difference > MAX_LOGIT_DIFF:
        raise ExportError(f"OpenVINO fp32 logits differ from PyTorch by {difference:.2e} on a probe text")
    variants = {"fp32": fp32_dir}
    manifest: dict[str, Any] = {
        "format": "openvino",
        "source": str(source),
        "cpu": cpu_description(),
        "fp32_max_logit_diff": difference,
        "calibration_windows": None,
        "max_f1_drop_points": max_f1_drop,
        "strict_f1": None,
        "int8_left_out": None,
    }
    scores = {} if documents is None else _float_scores(source, fp32_dir, documents, max_f1_drop, log)
    if calibration is None:
        log("no --calibration corpus: no int8 model")
    else:
        int8_dir = staging / "int8"
        int8_dir.mkdir()
        copy_support_files(source, int8_dir, precision="int8")
        samples = calibration_samples(fp32_dir, [d.text for d in calibration])
        log(f"quantizing to int8 with NNCF (static, {len(samples)} calibration windows)")
        _save(_quantize(model, samples), int8_dir / OPENVINO_FILE)
        manifest["calibration_windows"] = len(samples)
        # What the int8 model's float operations run in here (and so what the F1 gate measured).
        manifest["int8_float_ops"] = float_ops_precision("int8")
        variants["int8"] = int8_dir
    manifest["auto_precision"] = auto_precision(tuple(variants))
    if documents is None:
        log("no --gold file: F1 not checked")
        return manifest
    float_scores = len(scores)
    if "int8" in variants:
        scores["openvino-int8"] = strict_f1(variants["int8"], documents, "int8")
    manifest["strict_f1"] = scores
    left_out = check_f1_gate(scores, len(documents), max_f1_drop, log, logged=float_scores)
    leave_out_int8(staging, manifest, left_out)
    if manifest["int8_left_out"]:
        manifest["auto_precision"] = auto_precision(tuple(v for v in variants if v != "int8"))
    return manifest


def _float_scores(
    source: Path, fp32_dir: Path, documents: list[Document], max_f1_drop: float, log: Callable[[str], None]
) -> dict[str, float]:
    """Strict F1 of PyTorch and of the OpenVINO float model (fp32, and bf16 where the CPU has it);
    refuses the export here, before any int8 work, if a float one loses too much."""
    from training.release.export import check_f1_gate, strict_f1

    scores = {"pytorch": strict_f1(source, documents)}
    for precision in ("fp32", "bf16") if native_bf16() else ("fp32",):
        scores[f"openvino-{precision}"] = strict_f1(fp32_dir, documents, precision)
    check_f1_gate(scores, len(documents), max_f1_drop, log)
    return scores


def _convert(source: Path, probe: dict[str, np.ndarray]) -> tuple[Any, np.ndarray]:
    """The model as an OpenVINO graph with dynamic batch and length, and its PyTorch probe logits."""
    import openvino as ov
    import torch
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(
        source, use_safetensors=True, trust_remote_code=False
    ).eval()
    tensors = {name: torch.from_numpy(array) for name, array in probe.items()}
    with torch.inference_mode():
        reference = model(**tensors).logits.numpy()
    with warnings.catch_warnings():
        # Tracing warns about Python conditions that are constant for an encoder; the probe
        # comparison after saving is the real check.
        warnings.simplefilter("ignore")
        converted = ov.convert_model(model, example_input=tensors)
    converted.outputs[0].get_tensor().set_names({"logits"})
    return converted, reference


def _save(model: Any, path: Path) -> None:
    import openvino as ov

    ov.save_model(model, str(path), compress_to_fp16=False)


def calibration_samples(fp32_dir: Path, texts: list[str]) -> list[dict[str, np.ndarray]]:
    """Up to ``CALIBRATION_WINDOWS`` windows, one per sample, exactly as ``Extractor`` feeds them."""
    from inference.extractor import Extractor

    if not any(text.strip() for text in texts):
        from training.release.export import ExportError

        raise ExportError("the calibration corpus has no text to calibrate on")
    extractor = Extractor.from_pretrained(fp32_dir, precision="fp32", batch_size=1)
    samples = []
    for input_ids, attention_mask in extractor.model_inputs(texts):
        samples.append({"input_ids": input_ids, "attention_mask": attention_mask})
        if len(samples) == CALIBRATION_WINDOWS:
            break
    return samples


def _quantize(model: Any, samples: list[dict[str, np.ndarray]]) -> Any:
    import logging

    import nncf

    nncf_logger = logging.getLogger("nncf")
    previous = nncf_logger.level
    nncf_logger.setLevel(logging.ERROR)  # progress bars and per-step notes on every export
    try:
        return nncf.quantize(
            model,
            nncf.Dataset(samples),
            model_type=nncf.ModelType.TRANSFORMER,  # keeps softmax, layer norm and GELU in float
            preset=nncf.QuantizationPreset.MIXED,  # asymmetric activations: GELU outputs are skewed
            subset_size=len(samples),
        )
    finally:
        nncf_logger.setLevel(previous)


def _probe_difference(directory: Path, reference: np.ndarray) -> float:
    from training.release.export import probe_inputs

    probe = probe_inputs(directory)
    backend = OpenVinoBackend(directory / OPENVINO_FILE, "fp32")
    logits = backend.logits(probe["input_ids"], probe["attention_mask"])
    mask = probe["attention_mask"].astype(bool)
    return float(np.abs(logits - reference)[mask].max())
