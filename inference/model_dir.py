"""Finding and safely loading a token-classification model directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inference.cpu import native_bf16

SETTINGS_FILE = "conflict_ie.json"
# Written by ``conflict-ie train``: what the model was trained on and how (read by reports and cards).
RECORD_FILE = "training_record.json"
DEFAULT_SETTINGS: dict[str, Any] = {"max_length": 256, "stride": 64}


class ModelDirError(ValueError):
    """A model directory that cannot be used; the message says what is missing and where."""


def check_model_dir(path: str | Path) -> Path:
    """Refuse a directory without config, tokenizer or safetensors weights, before loading."""
    directory = Path(path)
    if not directory.is_dir():
        raise ModelDirError(f"model directory {directory} does not exist")
    if not (directory / "config.json").is_file():
        raise ModelDirError(f"{directory}: no config.json; not a Hugging Face model directory")
    has_safetensors = any(directory.glob("*.safetensors")) or any(directory.glob("*.safetensors.index.json"))
    if not has_safetensors:
        pickles = sorted(p.name for p in directory.glob("*.bin")) + sorted(
            p.name for p in directory.glob("*.pt")
        )
        detail = f" (found only pickle weights: {', '.join(pickles)})" if pickles else ""
        raise ModelDirError(f"{directory}: no safetensors weights{detail}; pickle weights are never loaded")
    check_tokenizer_files(directory)
    return directory


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer.model", "vocab.json")


def check_tokenizer_files(directory: Path) -> None:
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise ModelDirError(f"{directory}: no tokenizer files ({', '.join(TOKENIZER_FILES)})")


def read_settings(directory: Path) -> dict[str, Any]:
    settings = dict(DEFAULT_SETTINGS)
    path = directory / SETTINGS_FILE
    if path.is_file():
        try:
            settings.update(json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError as error:
            raise ModelDirError(f"{path}: invalid JSON ({error})") from error
    return settings


def settings_min_scores(
    directory: Path, settings: dict[str, Any], labels: tuple[str, ...] | None = None
) -> dict[str, float]:
    """The ``min_scores`` of a model's settings (label -> minimum span score), checked against the
    model's labels (by default the default schema's)."""
    from inference.spans import LABELS

    labels = labels or LABELS
    raw = settings.get("min_scores", {})
    valid = isinstance(raw, dict) and all(
        label in labels and isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
        for label, value in raw.items()
    )
    if not valid:
        raise ModelDirError(
            f"{directory / SETTINGS_FILE}: min_scores must map labels ({', '.join(labels)}) to numbers "
            f"in [0, 1], got {raw!r}"
        )
    return {label: float(value) for label, value in raw.items()}


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda[:N]'")
    return device


PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")


def resolve_precision(precision: str, device: str) -> str:
    """ "auto": float16 on CUDA, bfloat16 on CPUs with native bf16, else float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: use {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.startswith("cuda"):
            return "fp16"
        return "bf16" if native_bf16() else "fp32"
    if precision == "int8":
        raise ValueError(
            "precision 'int8' is for exported models (conflict-ie export: ONNX int8/ or OpenVINO); "
            "a PyTorch model runs in fp32, bf16 or fp16"
        )
    if precision == "fp16" and not device.startswith("cuda"):
        raise ValueError(f"precision 'fp16' needs a CUDA device, not {device!r}; use 'bf16' or 'fp32' on CPU")
    return precision


def load_model_and_tokenizer(directory: Path, device: str) -> tuple[Any, Any]:
    from transformers import AutoModelForTokenClassification

    tokenizer = load_tokenizer(directory)
    model = AutoModelForTokenClassification.from_pretrained(
        directory, use_safetensors=True, trust_remote_code=False
    )
    model.to(device).eval()
    return model, tokenizer


def load_tokenizer(directory: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=False)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelDirError(f"{directory}: the tokenizer has no fast version (offsets are needed)")
    return tokenizer
