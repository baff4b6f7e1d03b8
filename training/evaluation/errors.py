"""False positives and false negatives per document, each with the words around it.

Errors are judged on exact character spans (the unit a user of the extractor sees) and sorted
into kinds, so that a summary can say what goes wrong most often:

* false positive: ``boundary`` (overlaps a gold span of its label), ``label`` (overlaps only gold
  spans of another label), ``spurious`` (overlaps nothing);
* false negative: ``boundary``, ``label``, ``missed`` (no prediction overlaps it);
* ``outcome``: a count found exactly, with the wrong outcome (killed / injured).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from inference.spans import Span

CONTEXT_WORDS = 6
_NON_SPACE = re.compile(r"\S+")
_SPACES = re.compile(r"\s+")


def context(text: str, start: int, end: int, words: int = CONTEXT_WORDS) -> dict[str, str]:
    """Up to ``words`` words either side of ``text[start:end]``, whitespace squashed to one space."""
    before = list(_NON_SPACE.finditer(text, 0, start))
    left_start = before[-words].start() if len(before) >= words else 0
    after = list(_NON_SPACE.finditer(text, end))[:words]
    right_end = after[-1].end() if after else end
    left = _SPACES.sub(" ", text[left_start:start])
    right = _SPACES.sub(" ", text[end:right_end])
    return {
        "left": ("…" if left_start > 0 else "") + left.lstrip(),
        "text": text[start:end],
        "right": right.rstrip() + ("…" if right_end < len(text.rstrip()) else ""),
    }


def context_line(item: dict[str, Any]) -> str:
    ctx = item["context"]
    return f"{ctx['left']}[{ctx['text']}]{ctx['right']}"


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def _kind(span: Span, others: list[Span], none: str) -> tuple[str, Span | None]:
    touching = [o for o in others if _overlaps(span, o)]
    same = [o for o in touching if o.label == span.label]
    if same:
        return "boundary", same[0]
    if touching:
        return "label", touching[0]
    return none, None


def _item(text: str, span: Span, kind: str, counterpart: Span | None, words: int) -> dict[str, Any]:
    item: dict[str, Any] = {"type": kind, **span.to_dict(), "text": text[span.start : span.end]}
    if counterpart is not None:
        item["other"] = {**counterpart.to_dict(), "text": text[counterpart.start : counterpart.end]}
    item["context"] = context(text, span.start, span.end, words)
    return item


def document_errors(
    text: str, gold: list[Span], predicted: list[Span], words: int = CONTEXT_WORDS
) -> dict[str, list[dict[str, Any]]]:
    """Lists of false positives, false negatives and outcome errors, in text order."""
    gold_keys = {(s.start, s.end, s.label) for s in gold}
    pred_keys = {(s.start, s.end, s.label) for s in predicted}
    false_positives = [
        _item(text, span, *_kind(span, gold, "spurious"), words)
        for span in sorted(set(predicted))
        if (span.start, span.end, span.label) not in gold_keys
    ]
    false_negatives = [
        _item(text, span, *_kind(span, predicted, "missed"), words)
        for span in sorted(set(gold))
        if (span.start, span.end, span.label) not in pred_keys
    ]
    # Spans with an outcome (counts, in the default schema) whose outcome is wrong.
    gold_outcome = {(s.label, s.start, s.end): s for s in gold if s.outcome is not None}
    outcome_errors = [
        _item(text, span, "outcome", gold_outcome[(span.label, span.start, span.end)], words)
        for span in sorted(set(predicted))
        if (span.label, span.start, span.end) in gold_outcome
        and gold_outcome[(span.label, span.start, span.end)].outcome != span.outcome
    ]
    return {
        "false_positives": false_positives,
        "false_negatives": false_negatives,
        "outcome_errors": outcome_errors,
    }


def error_summary(per_document: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How often each (error, kind, label) occurs over all documents, most frequent first."""
    counts: Counter[tuple[str, str, str]] = Counter()
    examples: dict[tuple[str, str, str], str] = {}
    for document in per_document:
        for error in ("false_positives", "false_negatives", "outcome_errors"):
            for item in document["errors"][error]:
                key = (error, item["type"], item["label"])
                counts[key] += 1
                examples.setdefault(key, f"{document['id']}: {context_line(item)}")
    return [
        {"error": key[0], "type": key[1], "label": key[2], "count": count, "example": examples[key]}
        for key, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def format_errors(per_document: list[dict[str, Any]], limit: int = 10) -> str:
    """The most frequent error kinds, then every document's errors with their context."""
    lines = ["most frequent errors:"]
    for row in error_summary(per_document)[:limit]:
        lines.append(f"  {row['count']:4d}  {row['error']:16s} {row['type']:9s} {row['label']}")
    for document in per_document:
        errors = document["errors"]
        if not any(errors.values()):
            continue
        lines.append(f"{document['id']}:")
        for error, tag in (("false_positives", "FP"), ("false_negatives", "FN"), ("outcome_errors", "OUT")):
            for item in errors[error]:
                lines.append(f"  {tag:3s} {item['label']:14s} {item['type']:9s} {context_line(item)}")
    return "\n".join(lines)
