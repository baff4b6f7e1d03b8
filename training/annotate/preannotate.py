"""Pre-annotation: a model's entities as tasks Label Studio or doccano import as pre-annotations."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from inference.atomic import write_text
from training.annotate.uncertainty import document_uncertainty
from training.corpus.formats import (
    LABEL_CONFIG,
    Predicted,
    to_doccano_predictions,
    to_label_studio_predictions,
)

TARGETS = ("label-studio", "doccano")
VERSION_FILES = ("training_record.json", "model.safetensors", "model.onnx", "config.json")


def model_version(model_dir: str | Path) -> str:
    """The model's card name and the first 8 hex digits of the SHA-256 of its training record (else
    of its weights or config): two trainings into the same directory get different versions."""
    from training.release.card import card_name

    directory = Path(model_dir)
    for name in VERSION_FILES:
        if (directory / name).is_file():
            digest = hashlib.sha256((directory / name).read_bytes()).hexdigest()
            return f"{card_name(directory)}-{digest[:8]}"
    return card_name(directory)


def predict_documents(
    extractor: Any, items: list[tuple[str, str]], progress: bool = False
) -> list[Predicted]:
    """Each (id, text) with the entities ``extract`` gives and the model's confidence in the document
    (1 - ``training.annotate.uncertainty``'s score), from one pass of the model."""
    texts = [text for _, text in items]
    predicted = []
    for (doc_id, text), probs in zip(items, extractor.unit_probabilities(texts, progress), strict=True):
        uncertainty = document_uncertainty(doc_id, text, probs, extractor.tag_names)
        predicted.append(Predicted(doc_id, text, extractor.decode(text, probs), 1.0 - uncertainty.score))
    return predicted


def config_path(output: str | Path) -> Path:
    """Where the Label Studio labelling config goes: beside the tasks, ``<name>.label_config.xml``."""
    output = Path(output)
    return output.with_name(f"{output.stem}.label_config.xml")


def write_pre_annotations(
    target: str, output: str | Path, documents: list[Predicted], version: str
) -> list[Path]:
    """Write the tasks (atomically) and, for Label Studio, the labelling config beside them."""
    if target == "label-studio":
        tasks = to_label_studio_predictions(documents, version)
        write_text(config_path(output), LABEL_CONFIG)
        write_text(output, json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
        return [Path(output), config_path(output)]
    if target == "doccano":
        lines = (json.dumps(line, ensure_ascii=False) for line in to_doccano_predictions(documents, version))
        write_text(output, "".join(f"{line}\n" for line in lines))
        return [Path(output)]
    raise ValueError(f"unknown pre-annotation target {target!r} (use {' or '.join(TARGETS)})")
