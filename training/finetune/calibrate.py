"""Per-label minimum span scores, chosen on the dev split once a model is trained.

A span's score is the mean probability of its tags. The model tags more perpetrators than the
annotators do (precision well below recall on dev, test and FA-KES alike), and its spurious spans
score lower than its right ones, so dropping a label's spans that score under a minimum trades a
little recall for more precision. Each label's minimum is the grid value with the best exact-span
micro F1 on dev, one label at a time; a minimum is kept only if it gains at least ``MIN_GAIN``
(a few spans on a small dev set are noise). ``conflict-ie train`` calibrates the saved model on its
dev file; ``conflict-ie calibrate`` redoes it for an existing model or another dev set. The minimums
live in the model directory's ``conflict_ie.json`` and ``Extractor`` applies them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inference.atomic import write_json
from inference.model_dir import SETTINGS_FILE, read_settings
from inference.results import Entity
from inference.spans import LABELS, Document, Span
from training.evaluation.metrics import Labels, span_scores
from training.evaluation.report import RECORD_FILE

GRID = (0.0, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
MIN_GAIN = 0.002


def keep_confident(entities: list[Entity], min_scores: dict[str, float]) -> list[Span]:
    return [e.span for e in entities if e.score >= min_scores.get(e.label, 0.0)]


def dev_f1(
    documents: list[Document],
    entities: list[list[Entity]],
    min_scores: dict[str, float],
    labels: Labels = LABELS,
) -> float:
    predicted = [keep_confident(found, min_scores) for found in entities]
    return float(span_scores([d.spans for d in documents], predicted, labels)["micro"]["f1"])


def tune_min_scores(
    documents: list[Document], entities: list[list[Entity]], labels: Labels = LABELS
) -> tuple[dict[str, float], dict[str, float]]:
    """(minimums by label, {"before": F1, "after": F1}) for entities predicted without minimums;
    ``labels`` are the model's, tuned in their order."""
    chosen: dict[str, float] = {}
    before = best = dev_f1(documents, entities, chosen, labels)
    for label in labels:
        scored = {value: dev_f1(documents, entities, {**chosen, label: value}, labels) for value in GRID[1:]}
        value = max(scored, key=lambda v: (scored[v], -v))  # ties: the lower minimum
        if scored[value] >= best + MIN_GAIN:
            chosen[label], best = value, scored[value]
    return chosen, {"before": before, "after": best}


def write_min_scores(model_dir: Path, min_scores: dict[str, float], summary: dict[str, Any]) -> None:
    """Record the minimums in the model's settings (what ``Extractor`` reads) and training record."""
    settings = {**read_settings(model_dir), "min_scores": min_scores}
    write_json(model_dir / SETTINGS_FILE, settings, ensure_ascii=True)
    record_path = model_dir / RECORD_FILE
    if record_path.is_file():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        record["calibration"] = {"min_scores": min_scores, **summary}
        write_json(record_path, record, ensure_ascii=True)


def calibrate(model_dir: str | Path, dev_file: str | Path, device: str = "auto") -> dict[str, Any]:
    """Choose and write the minimums of a saved PyTorch model directory on ``dev_file``."""
    from inference.extractor import Extractor
    from inference.schema import model_schema
    from training.corpus.store import load_documents

    directory = Path(model_dir)
    documents = load_documents(dev_file, model_schema(directory))
    extractor = Extractor.from_pretrained(directory, device=device, precision="fp32", min_scores={})
    entities = extractor.extract([d.text for d in documents])
    min_scores, scores = tune_min_scores(documents, entities, extractor.schema.labels)
    summary = {"dev_file": str(dev_file), "dev_exact_f1": scores}
    write_min_scores(directory, min_scores, summary)
    return {"min_scores": min_scores, **summary}
