"""An ONNX Runtime ``Backend`` for ``Extractor``, and the layout of an exported ONNX model directory.

``conflict-ie export`` writes ``OUTPUT/fp32`` and ``OUTPUT/int8``; each is a complete model directory
(``model.onnx``, ``config.json`` for the tag names, the tokenizer files, ``conflict_ie.json``) that
``Extractor.from_pretrained`` recognises by its ``model.onnx``. An ONNX file holds no pickled code.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from inference.cpu import cpu_flags, int8_pairs_saturate
from inference.model_dir import ModelDirError, check_tokenizer_files, read_settings

logger = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
EXPORT_VARIANTS = ("fp32", "int8")


def is_onnx_dir(path: str | Path) -> bool:
    """True for an ONNX model directory, or for an export directory holding ONNX variants."""
    directory = Path(path)
    return (directory / ONNX_FILE).is_file() or any(
        (directory / variant / ONNX_FILE).is_file() for variant in EXPORT_VARIANTS
    )


def choose_onnx_directory(
    path: str | Path, precision: str = "auto", device: str = "cpu", flags: frozenset[str] | None = None
) -> Path:
    """The ONNX model directory to load, checked: ``path`` itself when it holds a ``model.onnx``,
    else the export's ``fp32/`` or ``int8/`` below it. ``precision`` "auto" takes int8 on a CPU (the
    fastest path on every CPU measured, RESULTS.md) unless the export has none or its 8-bit
    weights can saturate on this CPU (``flags``, this CPU's by default), and fp32 on a GPU; "fp32"
    and "int8" ask for one. A model directory runs as exported: "int8" refuses a float one."""
    directory = Path(path)
    if precision not in ("auto", *EXPORT_VARIANTS):
        raise ValueError(
            f"precision {precision!r} is for the PyTorch backend; an ONNX model runs as exported "
            "(auto, fp32 or int8)"
        )
    variants = [v for v in EXPORT_VARIANTS if (directory / v / ONNX_FILE).is_file()]
    if (directory / ONNX_FILE).is_file() or not variants:
        checked = check_onnx_dir(directory)
        exported = str(read_settings(checked).get("precision", "fp32"))
        if precision == "int8" and exported != "int8":
            raise ValueError(f"{directory} holds the {exported} export; precision 'int8' needs the int8 one")
        return checked
    if precision == "auto":
        int8 = directory / "int8"
        cpu = cpu_flags() if flags is None else flags
        usable = "int8" in variants and not saturates_here(read_settings(int8), cpu)
        precision = "int8" if usable and device == "cpu" else "fp32"
    if precision not in variants:
        raise ModelDirError(f"{directory}: no {precision}/ model (its export.json says why)")
    return check_onnx_dir(directory / precision)


def check_onnx_dir(path: str | Path) -> Path:
    directory = Path(path)
    if not directory.is_dir():
        raise ModelDirError(f"model directory {directory} does not exist")
    if not (directory / ONNX_FILE).is_file():
        raise ModelDirError(f"{directory}: no {ONNX_FILE}; not an ONNX model directory")
    if not (directory / "config.json").is_file():
        raise ModelDirError(f"{directory}: no config.json (needed for the tag names)")
    check_tokenizer_files(directory)
    return directory


def read_id2label(directory: Path) -> dict[int, str]:
    path = directory / "config.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))["id2label"]
        return {int(k): str(v) for k, v in raw.items()}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelDirError(f"{path}: cannot read id2label ({error})") from error


def resolve_onnx_device(device: str) -> str:
    """Like ``resolve_device`` but asks ONNX Runtime, not torch, what it can run on."""
    import onnxruntime as ort

    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "auto":
        return "cuda" if has_cuda else "cpu"
    if device.startswith("cuda"):
        if not has_cuda:
            raise ValueError(f"device {device!r} requested but this onnxruntime build has no CUDA provider")
        return device
    if device != "cpu":
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda[:N]'")
    return device


class OnnxBackend:
    """Runs ``model.onnx`` with ONNX Runtime; same contract as ``TorchBackend``."""

    def __init__(
        self, path: str | Path, device: str = "cpu", threads: int | None = None, precision: str = "fp32"
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = threads
        if device.startswith("cuda"):
            index = int(device.partition(":")[2] or 0)
            providers: list[Any] = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        self.device = device
        self.precision = precision  # what the export wrote: "fp32" or "int8"
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self._inputs = {i.name for i in self.session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self._inputs
        if missing:
            raise ModelDirError(f"{path}: the ONNX graph lacks inputs {sorted(missing)}")

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        (logits,) = self.session.run(["logits"], feeds)
        return logits.astype(np.float32, copy=False)

    def probabilities(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        logits = self.logits(input_ids, attention_mask)
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)


def load_onnx(
    model_dir: str | Path, device: str = "auto", threads: int | None = None, precision: str = "auto"
) -> tuple[OnnxBackend, Path, dict[int, str]]:
    """Backend, checked directory and tag names of an ONNX model directory, or of the variant of an
    export directory that ``precision`` chooses (``choose_onnx_directory``)."""
    resolved = resolve_onnx_device(device)
    directory = choose_onnx_directory(model_dir, precision, resolved)
    id2label = read_id2label(directory)
    settings = read_settings(directory)
    exported = str(settings.get("precision", "fp32"))
    backend = OnnxBackend(directory / ONNX_FILE, resolved, threads, exported)
    warning = saturation_warning(directory, settings, cpu_flags()) if backend.device == "cpu" else None
    if warning:
        logger.warning(warning)
    return backend, directory, id2label


def saturates_here(settings: dict[str, Any], flags: frozenset[str]) -> bool:
    """True for an int8 model with 8-bit weights (exports older than the ``int8_weight_bits``
    setting had them) on a CPU whose int8 products can overflow."""
    eight_bits = settings.get("int8_weight_bits", 8) == 8
    return settings.get("precision") == "int8" and eight_bits and int8_pairs_saturate(flags)


def saturation_warning(directory: Path, settings: dict[str, Any], flags: frozenset[str]) -> str | None:
    """What to tell whoever runs the model of ``directory`` where it ``saturates_here``; else None."""
    if not saturates_here(settings, flags):
        return None
    return (
        f"{directory} has 8-bit int8 weights, whose products can saturate on this CPU (no VNNI or "
        "AMX): its F1 may fall far below the float model's (all-mpnet-base-v2 fell to 0); "
        "re-export it with conflict-ie export (7-bit weights by default) or load its fp32 model"
    )
