"""Scoring predicted spans against gold: seqeval strict IOB2 and exact character spans."""

from __future__ import annotations

from collections import Counter
from typing import Any

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from inference.alignment import tokenize_text, unit_tags
from inference.spans import CASUALTY_COUNT, LABELS, Document, Span


def prf(true_positives: int, predicted: int, gold: int) -> dict[str, float]:
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold}


def span_scores(gold: list[list[Span]], predicted: list[list[Span]]) -> dict[str, Any]:
    """Exact character-span P/R/F1 per label, micro and macro (outcome not required to match)."""
    tp: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    for gold_spans, pred_spans in zip(gold, predicted, strict=True):
        gold_keys = {(s.start, s.end, s.label) for s in gold_spans}
        pred_keys = {(s.start, s.end, s.label) for s in pred_spans}
        for _, _, label in gold_keys:
            n_gold[label] += 1
        for key in pred_keys:
            n_pred[key[2]] += 1
            tp[key[2]] += key in gold_keys
    per_label = {label: prf(tp[label], n_pred[label], n_gold[label]) for label in LABELS}
    micro = prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    macro_f1 = sum(v["f1"] for v in per_label.values()) / len(per_label)
    return {"per_label": per_label, "micro": micro, "macro": {"f1": macro_f1}}


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


def seqeval_scores(
    texts: list[str], gold: list[list[Span]], predicted: list[list[Span]], tokenizer: Any
) -> dict[str, Any]:
    """seqeval strict IOB2 over the units of ``tokenizer`` (labels without outcome)."""
    gold_tags, pred_tags = [], []
    for text, gold_spans, pred_spans in zip(texts, gold, predicted, strict=True):
        units = tokenize_text(tokenizer, text).units
        gold_tags.append(unit_tags(units, gold_spans, type_of=_label)[0])
        pred_tags.append(unit_tags(units, pred_spans, type_of=_label)[0])
    report = classification_report(
        gold_tags, pred_tags, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    per_label = {label: _seqeval_row(report[label]) if label in report else prf(0, 0, 0) for label in LABELS}
    return {
        "per_label": per_label,
        "micro": _seqeval_row(report["micro avg"]),
        "macro": {"f1": float(report["macro avg"]["f1-score"])},
    }


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
    """The full report: seqeval strict (headline), exact spans, outcome accuracy."""
    gold = [d.spans for d in documents]
    texts = [d.text for d in documents]
    return {
        "documents": len(documents),
        "seqeval_strict": seqeval_scores(texts, gold, predicted, tokenizer),
        "span_exact": span_scores(gold, predicted),
        "outcome": outcome_accuracy(gold, predicted),
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [f"documents: {report['documents']}"]
    for section in ("seqeval_strict", "span_exact"):
        scores = report[section]
        lines.append(
            f"{section}:  micro F1 {scores['micro']['f1']:.4f}  macro F1 {scores['macro']['f1']:.4f}"
        )
        for label, row in scores["per_label"].items():
            lines.append(
                f"  {label:15s} P {row['precision']:.4f}  R {row['recall']:.4f}  "
                f"F1 {row['f1']:.4f}  n={row['support']}"
            )
    outcome = report["outcome"]
    lines.append(f"outcome accuracy {outcome['accuracy']:.4f} on {outcome['matched_counts']} matched counts")
    return "\n".join(lines)
