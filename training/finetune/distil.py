"""Knowledge distillation: a trained model (the teacher, a larger encoder say) tags the training
documents once, and the model being trained (the student) learns from a mix of the gold tags and the
teacher's tag probabilities (Hinton et al. 2015, "Distilling the knowledge in a neural network").

The teacher's probabilities are read per unit (``Extractor.unit_probabilities``), so teacher and
student may tokenize differently: a student unit takes the row of the teacher unit that starts at
the same character, and a unit the teacher split or glued differently keeps its gold tag alone.
The probabilities are cached by a fingerprint of the documents, the teacher's files and the tags.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from inference.atomic import atomic_path
from inference.spans import Document
from training.finetune.config import ConfigError

# Per training document: the character where a teacher unit starts -> its tag probabilities, in
# the student's tag order.
TeacherRows = dict[int, np.ndarray]
_FORMAT = 1  # bumped when what is cached changes


def teacher_tag_names(teacher_dir: str | Path) -> list[str]:
    """The tags of a teacher model directory, read from its ``config.json`` without loading it."""
    from inference.extractor import check_model

    directory = check_model(teacher_dir, precision="fp32")
    try:
        id2label = json.loads((directory / "config.json").read_text(encoding="utf-8"))["id2label"]
        return [id2label[str(i)] for i in range(len(id2label))]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"teacher {teacher_dir}: no readable id2label in config.json ({error})") from error


def check_teacher(teacher_dir: str | Path, tag_names: list[str]) -> None:
    """Refuse a teacher that is no model directory or does not tag the student's tags."""
    try:
        theirs = teacher_tag_names(teacher_dir)
    except (FileNotFoundError, ValueError) as error:
        raise ConfigError(f"teacher: {error}") from error
    if sorted(theirs) != sorted(tag_names):
        raise ConfigError(
            f"teacher {teacher_dir} tags {', '.join(theirs)}; the model being trained tags "
            f"{', '.join(tag_names)}: a teacher must have the same tags"
        )


def teacher_rows(
    documents: list[Document],
    teacher_dir: str | Path,
    tag_names: list[str],
    cache_dir: str | Path,
    log: Callable[[str], None] = print,
) -> list[TeacherRows]:
    """The teacher's tag probabilities for every unit of every document, from the cache when the
    same documents were tagged by the same teacher before."""
    check_teacher(teacher_dir, tag_names)
    cache = Path(cache_dir) / f"teacher-{_fingerprint(documents, teacher_dir, tag_names)}.npz"
    if cache.is_file():
        log(f"teacher probabilities of {len(documents)} documents read from {cache}")
        return _read(cache, len(documents))
    log(f"tagging {len(documents)} training documents with the teacher {teacher_dir}")
    rows = tag_with_teacher(documents, teacher_dir, tag_names)
    _write(cache, rows)
    log(f"teacher probabilities cached in {cache}")
    return rows


def tag_with_teacher(
    documents: list[Document], teacher_dir: str | Path, tag_names: list[str]
) -> list[TeacherRows]:
    """Run the teacher over the documents: each unit's probabilities, columns in ``tag_names`` order."""
    from inference.extractor import Extractor

    extractor = Extractor.from_pretrained(teacher_dir, min_scores={})
    columns = [extractor.tag_names.index(tag) for tag in tag_names]
    probabilities = extractor.unit_probabilities([d.text for d in documents], progress=True)
    return [
        {unit.start: row[columns] for unit, row in zip(p.units, p.probs, strict=True)} for p in probabilities
    ]


def unit_targets(starts: list[int], gold: list[int], rows: TeacherRows, tags: int) -> list[list[float]]:
    """A probability row per student unit (starting at ``starts``, gold tag ids ``gold``): the
    teacher's for the unit starting at the same character, else the gold tag's one-hot row."""
    targets = []
    for start, tag in zip(starts, gold, strict=True):
        row = rows.get(start)
        if row is None:
            row = np.zeros(tags, dtype=np.float32)
            row[tag] = 1.0
        targets.append([float(p) for p in row])
    return targets


def _fingerprint(documents: list[Document], teacher_dir: str | Path, tag_names: list[str]) -> str:
    digest = hashlib.sha256(json.dumps([_FORMAT, tag_names, [d.text for d in documents]]).encode())
    # Every file below the directory: an OpenVINO export keeps its weights in fp32/ and int8/.
    for path in sorted(Path(teacher_dir).rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(teacher_dir)).encode())
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 22), b""):
                    digest.update(block)
    return digest.hexdigest()[:32]


def _write(path: Path, rows: list[TeacherRows]) -> None:
    arrays: dict[str, Any] = {}
    for i, document in enumerate(rows):
        starts = sorted(document)
        arrays[f"starts_{i}"] = np.asarray(starts, dtype=np.int64)
        arrays[f"probs_{i}"] = np.stack([document[s] for s in starts]) if starts else np.zeros((0, 0))
    with atomic_path(path) as temporary, temporary.open("wb") as handle:
        np.savez(handle, **arrays)


def _read(path: Path, documents: int) -> list[TeacherRows]:
    with np.load(path) as arrays:
        return [
            dict(zip(arrays[f"starts_{i}"].tolist(), arrays[f"probs_{i}"], strict=True))
            for i in range(documents)
        ]


def teacher_collator(collate: Callable[[list[dict[str, Any]]], Any], tags: int) -> Callable[..., Any]:
    """``collate`` (the windows' padding collator) that also pads each window's ``teacher`` rows
    into a ``teacher`` tensor of (windows, positions, tags), zeros where a label is ignored."""

    def collate_with_teacher(features: list[dict[str, Any]]) -> Any:
        import torch

        soft = [feature["teacher"] for feature in features]
        batch = collate([{k: v for k, v in f.items() if k != "teacher"} for f in features])
        length = batch["input_ids"].shape[1]
        targets = torch.zeros((len(features), length, tags), dtype=torch.float32)
        for window, rows in enumerate(soft):
            for position, row in enumerate(rows):
                if row:
                    targets[window, position] = torch.tensor(row)
        batch["teacher"] = targets
        return batch

    return collate_with_teacher
