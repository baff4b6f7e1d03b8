"""Agreement between two annotations of the same documents, scored with
``training.evaluation.metrics``'s exact span scores: micro and per-label P/R/F1 (symmetric: F1 does
not depend on which side is called gold), the lenient overlap scores, and the outcome agreement on
counts both sides marked exactly.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from inference.spans import Document, Span
from training.corpus.quality import label_name
from training.evaluation.metrics import format_share, outcome_accuracy, span_overlap_scores, span_scores


class AgreementError(ValueError):
    pass


def agreement(
    first: list[Document], second: list[Document], only_common: bool = False
) -> tuple[dict[str, Any], list[tuple[str, list[Span], list[Span]]]]:
    """Span agreement of two annotations matched by document id, and per document the spans only
    in the first and only in the second annotation."""
    for name, documents in (("first", first), ("second", second)):
        seen = Counter(d.id for d in documents)
        repeated = sorted(doc_id for doc_id, n in seen.items() if n > 1)
        if repeated:
            raise AgreementError(f"the {name} annotation has duplicate ids: {', '.join(repeated[:10])}")
    by_id = {d.id: d for d in second}
    only_first = sorted(d.id for d in first if d.id not in by_id)
    common_ids = {d.id for d in first} & set(by_id)
    only_second = sorted(doc_id for doc_id in by_id if doc_id not in common_ids)
    if (only_first or only_second) and not only_common:
        raise AgreementError(
            f"the files hold different documents: {len(only_first)} id(s) only in the first "
            f"({', '.join(only_first[:10])}), {len(only_second)} only in the second "
            f"({', '.join(only_second[:10])}); pass --only-common to compare the shared ones"
        )
    pairs = [(d, by_id[d.id]) for d in first if d.id in common_ids]
    if not pairs:
        raise AgreementError("no document id is in both annotations")
    different = [a.id for a, b in pairs if a.text != b.text]
    if different:
        raise AgreementError(f"texts differ between the annotations for id(s): {', '.join(different[:10])}")
    gold, other = [a.spans for a, _ in pairs], [b.spans for _, b in pairs]
    report = {
        "documents": len(pairs),
        "only_in_first": only_first,
        "only_in_second": only_second,
        "spans": {"first": sum(map(len, gold)), "second": sum(map(len, other))},
        "span_exact": span_scores(gold, other),
        "span_overlap": span_overlap_scores(gold, other),
        "outcome": outcome_accuracy(gold, other),
    }
    differences = []
    for (a, _), spans_a, spans_b in zip(pairs, gold, other, strict=True):
        keys_b = {(s.start, s.end, s.label) for s in spans_b}
        keys_a = {(s.start, s.end, s.label) for s in spans_a}
        missing = [s for s in spans_a if (s.start, s.end, s.label) not in keys_b]
        extra = [s for s in spans_b if (s.start, s.end, s.label) not in keys_a]
        if missing or extra:
            differences.append((a.id, missing, extra))
    return report, differences


def format_agreement(report: dict[str, Any]) -> str:
    lines = [
        f"documents compared: {report['documents']}  spans: first {report['spans']['first']}, "
        f"second {report['spans']['second']}"
    ]
    for section in ("span_exact", "span_overlap"):
        scores = report[section]
        lines.append(f"{section}: micro F1 {scores['micro']['f1']:.4f}  macro F1 {scores['macro']['f1']:.4f}")
        for label, row in scores["per_label"].items():
            lines.append(
                f"  {label:15s} F1 {row['f1']:.4f}  (P {row['precision']:.4f} R {row['recall']:.4f} "
                f"taking the first as reference; n={row['support']})"
            )
    outcome = report["outcome"]
    lines.append(
        f"outcome agreement {format_share(outcome['accuracy'])} on {outcome['matched_counts']} "
        "counts marked by both"
    )
    for side in ("only_in_first", "only_in_second"):
        if report[side]:
            lines.append(f"{side.replace('_', ' ')} (not compared): {', '.join(report[side])}")
    return "\n".join(lines)


def format_differences(documents: dict[str, Document], differences: list[Any]) -> str:
    lines = []
    for doc_id, missing, extra in differences:
        text = documents[doc_id].text
        for mark, spans in (("-", missing), ("+", extra)):
            for span in spans:
                covered = text[span.start : span.end]
                lines.append(f"{doc_id} {mark} [{span.start}:{span.end}] {label_name(span)} {covered!r}")
    return "\n".join(lines)
