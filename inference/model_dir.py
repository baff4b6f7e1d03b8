"""Finding and safely loading a token-classification model directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SETTINGS_FILE = "conflict_ie.json"
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


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda[:N]'")
    return device


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
