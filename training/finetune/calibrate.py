"""Per-label minimum span scores, chosen on the dev split once a model is trained.

A span's score is the mean probability of its tags. The model tags more perpetrators than the
annotators do (precision well below recall on dev, test and FA-KES alike), and its spurious spans
score lower than its right ones, so dropping a label's spans that score under a minimum trades a
little recall for more precision. Each label's minimum is the grid value with the best exact-span
micro F1 on dev, one label at a time; a minimum is kept only if it gains at least ``MIN_GAIN``
(a few spans on a small dev set are noise). ``conflict-ie train`` calibrates the saved model on its
dev file; ``conflict-ie calibrate`` redoes it for an existing model or another dev set. The minimums
live in the model directory's ``conflict_ie.json`` and ``Extractor`` applies them.

``search_min_scores`` is the search for any metric computed from one prediction pass made without
minimums; ``tune_ree_min_scores`` uses it for MUC-4's role-filler entity F1, and ``calibrated_copy``
writes the result as a new model directory (``benchmarks/muc4_eval.py --tune-min-scores-on dev``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from inference.atomic import staged_directory, write_json
from inference.model_dir import SETTINGS_FILE, read_settings
from inference.results import Entity
from inference.spans import LABELS, Document, Span
from training.evaluation.metrics import Labels, span_scores
from training.evaluation.ree import predicted_entities, ree_scores
from training.evaluation.report import RECORD_FILE

GRID = (0.0, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
# For a document-level metric, where a role's best minimum can lie anywhere (MUC-4 WEAPON's is low).
FINE_GRID = tuple(round(0.05 * step, 2) for step in range(20))  # 0.0 .. 0.95
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
    return search_min_scores(lambda chosen: dev_f1(documents, entities, chosen, labels), labels)


def search_min_scores(
    objective: Callable[[dict[str, float]], float],
    labels: Sequence[str],
    grid: Sequence[float] = GRID,
    rounds: int = 1,
    min_gain: float = MIN_GAIN,
) -> tuple[dict[str, float], dict[str, float]]:
    """Coordinate ascent over per-label minimums: one label at a time, in order, the grid value that
    maximises ``objective(minimums)`` with the others fixed, taken only if it gains ``min_gain``;
    ``rounds`` passes over the labels at most (stopping once a pass changes nothing). Ties go to the
    lower minimum; 0 means no minimum and is left out of the result. Returns (minimums,
    {"before": objective without minimums, "after": objective with them})."""
    chosen: dict[str, float] = {}
    before = best = objective(chosen)
    for _ in range(rounds):
        changed = False
        for label in labels:
            current = chosen.get(label, 0.0)
            scored = {value: objective(_with(chosen, label, value)) for value in grid if value != current}
            value = max(scored, key=lambda v: (scored[v], -v), default=current)
            if value != current and scored[value] >= best + min_gain:
                chosen, best, changed = _with(chosen, label, value), scored[value], True
        if not changed:
            break
    return chosen, {"before": before, "after": best}


def _with(minimums: dict[str, float], label: str, value: float) -> dict[str, float]:
    changed = {**minimums, label: value}
    return {key: v for key, v in changed.items() if v > 0}


def tune_ree_min_scores(
    gold: list[dict[str, list[list[str]]]], entities: list[list[Entity]], roles: Sequence[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """Per-role minimums that maximise role-filler entity micro F1 (``training.evaluation.ree``)
    against ``gold`` (per document, role -> entities as mention strings), for entities predicted
    without minimums: coordinate ascent on ``FINE_GRID`` until a pass over the roles changes nothing."""

    def micro_f1(min_scores: dict[str, float]) -> float:
        predicted = [predicted_entities(found, min_scores) for found in entities]
        return float(ree_scores(gold, predicted, roles)["micro"]["f1"])

    return search_min_scores(micro_f1, roles, FINE_GRID, rounds=len(roles))


def write_min_scores(model_dir: Path, min_scores: dict[str, float], summary: dict[str, Any]) -> None:
    """Record the minimums in the model's settings (what ``Extractor`` reads) and training record."""
    settings = {**read_settings(model_dir), "min_scores": min_scores}
    write_json(model_dir / SETTINGS_FILE, settings, ensure_ascii=True)
    record_path = model_dir / RECORD_FILE
    if record_path.is_file():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        record["calibration"] = {"min_scores": min_scores, **summary}
        write_json(record_path, record, ensure_ascii=True)


def calibrated_copy(
    model_dir: str | Path, output: str | Path, min_scores: dict[str, float], summary: dict[str, Any]
) -> Path:
    """A copy of ``model_dir`` at ``output`` whose settings carry ``min_scores`` (and whose training
    record, ``summary``): built beside ``output`` and put in its place whole; ``model_dir`` is not
    touched and an ``output`` already there is replaced only once the copy is complete."""
    source, target = Path(model_dir), Path(output)
    with staged_directory(target) as staging:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        write_min_scores(staging, min_scores, summary)
    return target


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
