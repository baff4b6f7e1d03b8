"""Scoring predicted spans against gold: seqeval (strict IOB2 and default), exact and overlapping
character spans, outcome accuracy.

Every score is also available as per-document counts (true positives, predicted, gold) so that
``training.bootstrap`` can resample documents; summed over documents they give the same micro
scores as the whole-set functions (checked in the tests).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from seqeval.metrics import classification_report
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2, Entities

from inference.alignment import tokenize_text, unit_tags
from inference.spans import CASUALTY_COUNT, LABELS, Document, Span

SEQEVAL_MODES = ("strict", "default")
# Per label: (true positives, predicted, gold) in one document.
DocumentCounts = dict[str, tuple[int, int, int]]


def prf(true_positives: int, predicted: int, gold: int) -> dict[str, float]:
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold}


def scores_from_counts(documents: list[DocumentCounts]) -> dict[str, Any]:
    """P/R/F1 per label, micro and macro (over all labels) from per-document counts."""
    totals = {label: [0, 0, 0] for label in LABELS}
    for counts in documents:
        for label, triple in counts.items():
            for i, value in enumerate(triple):
                totals[label][i] += value
    per_label = {label: prf(*totals[label]) for label in LABELS}
    micro = prf(*(sum(totals[label][i] for label in LABELS) for i in range(3)))
    macro_f1 = sum(v["f1"] for v in per_label.values()) / len(per_label)
    return {"per_label": per_label, "micro": micro, "macro": {"f1": macro_f1}}


def exact_counts(gold_spans: list[Span], pred_spans: list[Span]) -> DocumentCounts:
    """Exact character-span matches in one document (outcome not required to match)."""
    gold_keys = {(s.label, s.start, s.end) for s in gold_spans}
    pred_keys = {(s.label, s.start, s.end) for s in pred_spans}
    return _matches_by_label(gold_keys, pred_keys)


def _matches_by_label(gold: set[tuple], pred: set[tuple]) -> DocumentCounts:
    """(true positives, predicted, gold) per label, for entities keyed ``(label, ...)``."""
    return {
        label: (
            sum(1 for k in pred if k[0] == label and k in gold),
            sum(1 for k in pred if k[0] == label),
            sum(1 for k in gold if k[0] == label),
        )
        for label in LABELS
    }


def overlap_pairs(gold_spans: list[Span], pred_spans: list[Span]) -> list[tuple[Span, Span]]:
    """One-to-one (gold, predicted) pairs of the same label that share at least one character.

    Spans of one label never overlap each other, so walking both lists left to right and taking
    the first free overlapping prediction gives a maximum matching.
    """
    pairs: list[tuple[Span, Span]] = []
    for label in LABELS:
        gold = sorted({s for s in gold_spans if s.label == label})
        pred = sorted({s for s in pred_spans if s.label == label})
        used: set[int] = set()
        for g in gold:
            for j, p in enumerate(pred):
                if j not in used and p.start < g.end and g.start < p.end:
                    used.add(j)
                    pairs.append((g, p))
                    break
    return pairs


def overlap_counts(gold_spans: list[Span], pred_spans: list[Span]) -> DocumentCounts:
    matched = Counter(g.label for g, _ in overlap_pairs(gold_spans, pred_spans))
    return {
        label: (
            matched[label],
            sum(1 for s in set(pred_spans) if s.label == label),
            sum(1 for s in set(gold_spans) if s.label == label),
        )
        for label in LABELS
    }


def span_scores(gold: list[list[Span]], predicted: list[list[Span]]) -> dict[str, Any]:
    """Exact character-span P/R/F1 per label, micro and macro (outcome not required to match)."""
    return scores_from_counts([exact_counts(g, p) for g, p in zip(gold, predicted, strict=True)])


def span_overlap_scores(gold: list[list[Span]], predicted: list[list[Span]]) -> dict[str, Any]:
    """Like ``span_scores``, but a prediction counts when it overlaps a gold span of its label
    (one-to-one): lenient on boundaries, strict on labels."""
    return scores_from_counts([overlap_counts(g, p) for g, p in zip(gold, predicted, strict=True)])


def outcome_accuracy(gold: list[list[Span]], predicted: list[list[Span]]) -> dict[str, Any]:
    """Share of exactly found gold counts whose predicted outcome is right."""
    correct = total = 0
    for gold_spans, pred_spans in zip(gold, predicted, strict=True):
        pred_outcome = {(s.start, s.end): s.outcome for s in pred_spans if s.label == CASUALTY_COUNT}
        for span in gold_spans:
            if span.label == CASUALTY_COUNT and (span.start, span.end) in pred_outcome:
                total += 1
                correct += pred_outcome[(span.start, span.end)] == span.outcome
    return {"accuracy": correct / total if total else 0.0, "matched_counts": total}


def tag_sequences(texts: list[str], spans: list[list[Span]], tokenizer: Any) -> list[list[str]]:
    """IOB2 tags (labels without outcome) over the units of ``tokenizer``, one list per text."""
    return [
        unit_tags(tokenize_text(tokenizer, text).units, text_spans, type_of=_label)[0]
        for text, text_spans in zip(texts, spans, strict=True)
    ]


def seqeval_from_tags(gold_tags: list[list[str]], pred_tags: list[list[str]], mode: str) -> dict[str, Any]:
    """seqeval's classification report in ``mode`` "strict" (IOB2) or "default" (conlleval)."""
    if mode not in SEQEVAL_MODES:
        raise ValueError(f"unknown seqeval mode {mode!r}: use one of {', '.join(SEQEVAL_MODES)}")
    options: dict[str, Any] = {"mode": "strict", "scheme": IOB2} if mode == "strict" else {}
    report = classification_report(gold_tags, pred_tags, output_dict=True, zero_division=0, **options)
    per_label = {label: _seqeval_row(report[label]) if label in report else prf(0, 0, 0) for label in LABELS}
    return {
        "per_label": per_label,
        "micro": _seqeval_row(report["micro avg"]),
        "macro": {"f1": float(report["macro avg"]["f1-score"])},
    }


def seqeval_scores(
    texts: list[str],
    gold: list[list[Span]],
    predicted: list[list[Span]],
    tokenizer: Any,
    mode: str = "strict",
) -> dict[str, Any]:
    """seqeval over the units of ``tokenizer`` (labels without outcome); strict IOB2 by default."""
    return seqeval_from_tags(
        tag_sequences(texts, gold, tokenizer), tag_sequences(texts, predicted, tokenizer), mode
    )


def seqeval_document_counts(gold_tags: list[str], pred_tags: list[str], mode: str) -> DocumentCounts:
    """One document's counts, with seqeval's own entity extraction for ``mode``."""
    return _matches_by_label(_seqeval_entities(gold_tags, mode), _seqeval_entities(pred_tags, mode))


def _seqeval_entities(tags: list[str], mode: str) -> set[tuple[str, int, int]]:
    if mode == "strict":
        return {(e.tag, e.start, e.end) for e in Entities([tags], IOB2).entities[0]}
    return set(get_entities(tags))


def _label(span: Span) -> str:
    return span.label


def _seqeval_row(row: dict[str, Any]) -> dict[str, float]:
    return {
        "precision": float(row["precision"]),
        "recall": float(row["recall"]),
        "f1": float(row["f1-score"]),
        "support": int(row["support"]),
    }


def entities_to_spans(entities: list[dict[str, Any]]) -> list[Span]:
    return [Span(e["start"], e["end"], e["label"], e.get("outcome")) for e in entities]


def evaluate(documents: list[Document], predicted: list[list[Span]], tokenizer: Any) -> dict[str, Any]:
    """The scores: seqeval strict (headline) and default, exact and overlapping spans, outcomes."""
    gold = [d.spans for d in documents]
    texts = [d.text for d in documents]
    gold_tags, pred_tags = tag_sequences(texts, gold, tokenizer), tag_sequences(texts, predicted, tokenizer)
    return {
        "documents": len(documents),
        "seqeval_strict": seqeval_from_tags(gold_tags, pred_tags, "strict"),
        "seqeval_default": seqeval_from_tags(gold_tags, pred_tags, "default"),
        "span_exact": span_scores(gold, predicted),
        "span_overlap": span_overlap_scores(gold, predicted),
        "outcome": outcome_accuracy(gold, predicted),
    }


def document_counts(
    documents: list[Document], predicted: list[list[Span]], tokenizer: Any
) -> list[dict[str, DocumentCounts]]:
    """Per document and score section, the counts behind ``evaluate``'s micro scores."""
    rows = []
    for document, pred_spans in zip(documents, predicted, strict=True):
        gold_tags, pred_tags = tag_sequences([document.text] * 2, [document.spans, pred_spans], tokenizer)
        rows.append(
            {
                "seqeval_strict": seqeval_document_counts(gold_tags, pred_tags, "strict"),
                "seqeval_default": seqeval_document_counts(gold_tags, pred_tags, "default"),
                "span_exact": exact_counts(document.spans, pred_spans),
                "span_overlap": overlap_counts(document.spans, pred_spans),
            }
        )
    return rows


SECTIONS = ("seqeval_strict", "seqeval_default", "span_exact", "span_overlap")


def format_report(report: dict[str, Any]) -> str:
    lines = [f"documents: {report['documents']}"]
    intervals = report.get("bootstrap", {})
    for section in SECTIONS:
        if section not in report:
            continue
        scores = report[section]
        interval = intervals.get(section)
        ci = f"  [{interval['low']:.4f}, {interval['high']:.4f}]" if interval else ""
        lines.append(
            f"{section}:  micro F1 {scores['micro']['f1']:.4f}{ci}  macro F1 {scores['macro']['f1']:.4f}"
        )
        for label, row in scores["per_label"].items():
            lines.append(
                f"  {label:15s} P {row['precision']:.4f}  R {row['recall']:.4f}  "
                f"F1 {row['f1']:.4f}  n={row['support']}"
            )
    if intervals:
        first = next(iter(intervals.values()))
        lines.append(
            f"[low, high]: {first['confidence']:.0%} bootstrap interval over documents "
            f"({first['resamples']} resamples, seed {first['seed']})"
        )
    outcome = report["outcome"]
    lines.append(f"outcome accuracy {outcome['accuracy']:.4f} on {outcome['matched_counts']} matched counts")
    return "\n".join(lines)
