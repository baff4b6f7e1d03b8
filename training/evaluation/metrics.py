"""Scoring predicted spans against gold: seqeval (strict IOB2 and default), exact and overlapping
character spans, outcome accuracy.

Every score is also available as per-document counts (true positives, predicted, gold) so that
``training.evaluation.bootstrap`` can resample documents; summed over documents they give the same micro
scores as the whole-set functions (checked in the tests).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from seqeval.metrics import classification_report
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2, Entities

from inference.alignment import Unit, tokenize_text, unit_tags
from inference.spans import LABELS, Document, Span

# Every function scoring per label takes ``labels``, the model's (``LabelSchema.labels``); by
# default the default schema's. A label outside them is never counted.
Labels = Sequence[str]

SEQEVAL_MODES = ("strict", "default")
# Per label: (true positives, predicted, gold) in one document.
DocumentCounts = dict[str, tuple[int, int, int]]


def prf(true_positives: int, predicted: int, gold: int) -> dict[str, float]:
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold}


def scores_from_counts(documents: list[DocumentCounts], labels: Labels = LABELS) -> dict[str, Any]:
    """P/R/F1 per label, micro and macro (over all labels) from per-document counts."""
    totals = {label: [0, 0, 0] for label in labels}
    for counts in documents:
        for label, triple in counts.items():
            for i, value in enumerate(triple):
                totals[label][i] += value
    per_label = {label: prf(*totals[label]) for label in labels}
    micro = prf(*(sum(totals[label][i] for label in labels) for i in range(3)))
    macro_f1 = sum(v["f1"] for v in per_label.values()) / len(per_label)
    return {"per_label": per_label, "micro": micro, "macro": {"f1": macro_f1}}


def exact_counts(gold_spans: list[Span], pred_spans: list[Span], labels: Labels = LABELS) -> DocumentCounts:
    """Exact character-span matches in one document (outcome not required to match)."""
    gold_keys = {(s.label, s.start, s.end) for s in gold_spans}
    pred_keys = {(s.label, s.start, s.end) for s in pred_spans}
    return _matches_by_label(gold_keys, pred_keys, labels)


def _matches_by_label(gold: set[tuple], pred: set[tuple], labels: Labels) -> DocumentCounts:
    """(true positives, predicted, gold) per label, for entities keyed ``(label, ...)``."""
    return {
        label: (
            sum(1 for k in pred if k[0] == label and k in gold),
            sum(1 for k in pred if k[0] == label),
            sum(1 for k in gold if k[0] == label),
        )
        for label in labels
    }


def overlap_pairs(
    gold_spans: list[Span], pred_spans: list[Span], labels: Labels = LABELS
) -> list[tuple[Span, Span]]:
    """One-to-one (gold, predicted) pairs of the same label that share at least one character.

    Spans of one label never overlap each other, so walking both lists left to right and taking
    the first free overlapping prediction gives a maximum matching.
    """
    pairs: list[tuple[Span, Span]] = []
    for label in labels:
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


def overlap_counts(gold_spans: list[Span], pred_spans: list[Span], labels: Labels = LABELS) -> DocumentCounts:
    matched = Counter(g.label for g, _ in overlap_pairs(gold_spans, pred_spans, labels))
    return {
        label: (
            matched[label],
            sum(1 for s in set(pred_spans) if s.label == label),
            sum(1 for s in set(gold_spans) if s.label == label),
        )
        for label in labels
    }


def span_scores(
    gold: list[list[Span]], predicted: list[list[Span]], labels: Labels = LABELS
) -> dict[str, Any]:
    """Exact character-span P/R/F1 per label, micro and macro (outcome not required to match)."""
    counts = [exact_counts(g, p, labels) for g, p in zip(gold, predicted, strict=True)]
    return scores_from_counts(counts, labels)


def span_overlap_scores(
    gold: list[list[Span]], predicted: list[list[Span]], labels: Labels = LABELS
) -> dict[str, Any]:
    """Like ``span_scores``, but a prediction counts when it overlaps a gold span of its label
    (one-to-one): lenient on boundaries, strict on labels."""
    counts = [overlap_counts(g, p, labels) for g, p in zip(gold, predicted, strict=True)]
    return scores_from_counts(counts, labels)


def outcome_accuracy(gold: list[list[Span]], predicted: list[list[Span]]) -> dict[str, Any]:
    """Share of exactly found gold counts (spans with an outcome) whose predicted outcome is right;
    ``None`` (n/a) when no gold count was found exactly, since there is nothing to be right or wrong
    about."""
    correct = total = 0
    for gold_spans, pred_spans in zip(gold, predicted, strict=True):
        pred_outcome = {(s.label, s.start, s.end): s.outcome for s in pred_spans if s.outcome is not None}
        for span in gold_spans:
            key = (span.label, span.start, span.end)
            if span.outcome is not None and key in pred_outcome:
                total += 1
                correct += pred_outcome[key] == span.outcome
    return {"accuracy": correct / total if total else None, "matched_counts": total}


def format_share(value: float | None) -> str:
    """A share with four decimals, or ``n/a`` where it is undefined (``None``)."""
    return "n/a" if value is None else f"{value:.4f}"


def seqeval_from_tags(
    gold_tags: list[list[str]], pred_tags: list[list[str]], mode: str, labels: Labels = LABELS
) -> dict[str, Any]:
    """seqeval's classification report in ``mode`` "strict" (IOB2) or "default" (conlleval)."""
    _check_mode(mode)
    options: dict[str, Any] = {"mode": "strict", "scheme": IOB2} if mode == "strict" else {}
    report = classification_report(gold_tags, pred_tags, output_dict=True, zero_division=0, **options)
    per_label = {label: _seqeval_row(report[label]) if label in report else prf(0, 0, 0) for label in labels}
    return {
        "per_label": per_label,
        "micro": _seqeval_row(report["micro avg"]),
        "macro": {"f1": float(report["macro avg"]["f1-score"])},
    }


def _check_mode(mode: str) -> None:
    if mode not in SEQEVAL_MODES:
        raise ValueError(f"unknown seqeval mode {mode!r}: use one of {', '.join(SEQEVAL_MODES)}")


@dataclass
class TaggedSpans:
    """One text's spans for seqeval: IOB2 tags over its units for the spans they can carry (on
    units, not overlapping an earlier span), and every other span as an entity of its own."""

    units: list[Unit]
    tags: list[str]
    others: set[tuple[Any, ...]]


def tag_spans(units: list[Unit], spans: list[Span], side: str) -> TaggedSpans:
    """Entities are keyed ``(label, start, end)``; a span off the units also carries ``side`` so that
    it never matches: a span the units cannot express is an error, never a match and never dropped."""
    starts, ends = {u.start for u in units}, {u.end for u in units}
    tagged: list[Span] = []
    others: set[tuple[Any, ...]] = set()
    reach = -1
    for span in sorted({Span(s.start, s.end, s.label) for s in spans}):
        if span.start not in starts or span.end not in ends or span.start >= span.end:
            others.add((span.label, span.start, span.end, side))
        elif span.start < reach:
            others.add((span.label, span.start, span.end))
        else:
            tagged.append(span)
            reach = span.end
    return TaggedSpans(units, unit_tags(units, tagged, type_of=_label)[0], others)


def seqeval_entities(tagged: TaggedSpans, mode: str) -> set[tuple[Any, ...]]:
    """seqeval's entities of the tags in ``mode`` as character spans, and the spans not tagged."""
    _check_mode(mode)
    if mode == "strict":
        found = [(e.tag, e.start, e.end - 1) for e in Entities([tagged.tags], IOB2).entities[0]]
    else:
        found = get_entities(tagged.tags)
    units = tagged.units
    return {(label, units[first].start, units[last].end) for label, first, last in found} | tagged.others


def seqeval_document_counts(
    gold: TaggedSpans, predicted: TaggedSpans, mode: str, labels: Labels = LABELS
) -> DocumentCounts:
    """One document's counts, with seqeval's own entity extraction for ``mode``."""
    return _matches_by_label(seqeval_entities(gold, mode), seqeval_entities(predicted, mode), labels)


def seqeval_from_counts(documents: list[DocumentCounts], labels: Labels = LABELS) -> dict[str, Any]:
    """Scores from seqeval counts; macro F1 over the labels found in gold or predictions, as seqeval's."""
    scores = scores_from_counts(documents, labels)
    present = [label for label in labels if any(sum(c.get(label, (0, 0, 0))[1:]) for c in documents)]
    f1s = [scores["per_label"][label]["f1"] for label in present]
    scores["macro"] = {"f1": sum(f1s) / len(f1s) if f1s else 0.0}
    return scores


def seqeval_counts(
    text: str, gold: list[Span], predicted: list[Span], tokenizer: Any, labels: Labels = LABELS
) -> dict[str, DocumentCounts]:
    """One document's counts in each seqeval mode, on the units of ``tokenizer``."""
    units = tokenize_text(tokenizer, text).units
    tagged_gold, tagged_pred = tag_spans(units, gold, "gold"), tag_spans(units, predicted, "predicted")
    return {
        f"seqeval_{m}": seqeval_document_counts(tagged_gold, tagged_pred, m, labels) for m in SEQEVAL_MODES
    }


def seqeval_scores(
    texts: list[str],
    gold: list[list[Span]],
    predicted: list[list[Span]],
    tokenizer: Any,
    mode: str = "strict",
    labels: Labels = LABELS,
) -> dict[str, Any]:
    """seqeval over the units of ``tokenizer`` (labels without outcome); strict IOB2 by default."""
    _check_mode(mode)
    rows = [seqeval_counts(*item, tokenizer, labels) for item in zip(texts, gold, predicted, strict=True)]
    return seqeval_from_counts([row[f"seqeval_{mode}"] for row in rows], labels)


def _label(span: Span) -> str:
    return span.label


def _seqeval_row(row: dict[str, Any]) -> dict[str, float]:
    return {
        "precision": float(row["precision"]),
        "recall": float(row["recall"]),
        "f1": float(row["f1-score"]),
        "support": int(row["support"]),
    }


def evaluate(
    documents: list[Document], predicted: list[list[Span]], tokenizer: Any, labels: Labels = LABELS
) -> dict[str, Any]:
    """The scores: seqeval strict (headline) and default, exact and overlapping spans, outcomes."""
    gold = [d.spans for d in documents]
    rows = [
        seqeval_counts(d.text, d.spans, p, tokenizer, labels)
        for d, p in zip(documents, predicted, strict=True)
    ]
    return {
        "documents": len(documents),
        "seqeval_strict": seqeval_from_counts([row["seqeval_strict"] for row in rows], labels),
        "seqeval_default": seqeval_from_counts([row["seqeval_default"] for row in rows], labels),
        "span_exact": span_scores(gold, predicted, labels),
        "span_overlap": span_overlap_scores(gold, predicted, labels),
        "outcome": outcome_accuracy(gold, predicted),
    }


def document_counts(
    documents: list[Document], predicted: list[list[Span]], tokenizer: Any, labels: Labels = LABELS
) -> list[dict[str, DocumentCounts]]:
    """Per document and score section, the counts behind ``evaluate``'s micro scores."""
    return [
        {
            **seqeval_counts(document.text, document.spans, pred_spans, tokenizer, labels),
            "span_exact": exact_counts(document.spans, pred_spans, labels),
            "span_overlap": overlap_counts(document.spans, pred_spans, labels),
        }
        for document, pred_spans in zip(documents, predicted, strict=True)
    ]


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
    lines.append(
        f"outcome accuracy {format_share(outcome['accuracy'])} on {outcome['matched_counts']} matched counts"
    )
    return "\n".join(lines)
