"""doccano: the JSON Lines reader and exporter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inference.spans import Document
from training.corpus.formats.common import EXPORT_NAMES, Imported, Predicted, _DocumentBuilder
from training.corpus.problems import Problem
from training.corpus.textfiles import InputFileError, read_utf8


def read_doccano(path: str | Path, default_outcome: str | None = None, text_field: str = "text") -> Imported:
    path = Path(path)
    documents: list[Document] = []
    places: list[str] = []
    issues: list[Problem] = []
    try:
        text = read_utf8(path)
    except InputFileError as error:
        return Imported([], [Problem(error.path, error.line or None, error.message)])
    for number, line in enumerate(text.split("\n"), start=1):
        where = f"{path}:{number}"
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as error:
            issues.append(Problem(where, None, f"invalid JSON: {error.msg} at column {error.colno}"))
            continue
        if not isinstance(raw, dict) or not isinstance(raw.get(text_field), str):
            issues.append(
                Problem(where, None, f"expected an object with a string {text_field!r}; line skipped")
            )
            continue
        meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
        doc_id = raw.get("doc_id", meta.get("doc_id", meta.get("id", raw.get("id", f"{path.stem}-{number}"))))
        builder = _DocumentBuilder(where, str(doc_id), raw[text_field], default_outcome)
        entries = raw.get("label", raw.get("labels", []))
        if not isinstance(entries, list):
            entries = [entries]
        for index, entry in enumerate(entries):
            if isinstance(entry, list | tuple) and len(entry) == 3:
                builder.add(f"{where} label {index}", entry[0], entry[1], [entry[2]])
            else:
                issues.append(
                    Problem(
                        f"{where} label {index}",
                        None,
                        f"expected [start, end, label], got {entry!r} (not a span)",
                    )
                )
        for index, entity in enumerate(raw.get("entities") or []):
            if not isinstance(entity, dict):
                issues.append(Problem(f"{where} entity {index}", None, "an entity must be an object"))
                continue
            start = entity.get("start_offset", entity.get("start"))
            end = entity.get("end_offset", entity.get("end"))
            names, outcomes = [entity.get("label")], [entity.get("outcome")]
            builder.add(f"{where} entity {index}", start, end, names, outcomes, key=entity.get("id"))
        relations = raw.get("relations")
        if isinstance(relations, list):
            builder.relations_annotated = True
            for index, relation in enumerate(relations):
                if not isinstance(relation, dict):
                    issues.append(Problem(f"{where} relation {index}", None, "a relation must be an object"))
                    continue
                names = [relation.get("type")] if relation.get("type") else []
                builder.add_relation(
                    f"{where} relation {index}", relation.get("from_id"), relation.get("to_id"), names
                )
        documents.append(builder.build())
        places.append(where)
        issues.extend(builder.issues)
    return Imported(documents, issues, places)


def to_doccano(documents: list[Document]) -> list[dict[str, Any]]:
    """doccano JSONL: ``label`` lists, or ``entities`` + ``relations`` where a document has relations
    (the export format of doccano's relation projects)."""
    lines: list[dict[str, Any]] = []
    for document in documents:
        spans = sorted(document.spans)
        line: dict[str, Any] = {"doc_id": document.id, "text": document.text}
        if document.relations is None:
            line["label"] = [[s.start, s.end, EXPORT_NAMES[(s.label, s.outcome)]] for s in spans]
        else:
            line["entities"] = [
                {
                    "id": n,
                    "label": EXPORT_NAMES[(s.label, s.outcome)],
                    "start_offset": s.start,
                    "end_offset": s.end,
                }
                for n, s in enumerate(spans)
            ]
            line["relations"] = [
                {"id": n, "from_id": r.head, "to_id": r.tail, "type": r.type}
                for n, r in enumerate(document.relations)
            ]
        lines.append(line)
    return lines


def to_doccano_predictions(documents: list[Predicted], model_version: str) -> list[dict[str, Any]]:
    """doccano's sequence-labelling JSONL import with the model's entities as the ``label`` list (they
    become the document's labels, to correct). doccano has no place for scores: the other keys
    (``doc_id``, ``model_version``, ``confidence`` and ``label_scores``, parallel to ``label``) are
    kept as the document's metadata, shown beside the text, and come back in its export."""
    return [
        {
            "text": document.text,
            "label": [
                [e.start, e.end, EXPORT_NAMES[(e.label, e.outcome)]]
                for e in document.entities
            ],
            "doc_id": document.id,
            "model_version": model_version,
            "confidence": round(document.confidence, 4),
            "label_scores": [e.score for e in document.entities],
        }
        for document in documents
    ]
