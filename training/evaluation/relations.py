"""Scoring casualty records against gold ``relations`` (count -> victim / perpetrator links).

Two views, both over the documents that carry a ``relations`` field:

* ``links``: every (count span, victim or perpetrator span, type) link is one item; precision,
  recall and F1 per type and micro-averaged. Spans must match exactly.
* ``records``: one item per count: (count span, set of victim spans, set of perpetrator spans).
  A predicted record is right only when the whole triple equals the gold one.
* ``records_per_type``: the same per link type: (count span, set of that type's spans), so a
  record's victims can be right while its perpetrators are wrong.

With gold spans as input (``training.corpus.links.link_gold_spans``) the scores measure the linker
alone; with a model's entities they measure the whole pipeline.
"""

from __future__ import annotations

from typing import Any

from inference.results import Record
from inference.spans import CASUALTY_COUNT, Document
from training.corpus.links import Key, gold_links, record_links
from training.evaluation.metrics import prf

RecordKey = tuple[Key, frozenset[Key], frozenset[Key]]
TYPES = ("victim", "perpetrator")


def gold_record_keys(document: Document) -> set[RecordKey]:
    links = gold_links(document)
    keys = set()
    for span in document.spans:
        if span.label != CASUALTY_COUNT:
            continue
        head = (span.start, span.end)
        victims = frozenset(t for h, t, kind in links if h == head and kind == "victim")
        perpetrators = frozenset(t for h, t, kind in links if h == head and kind == "perpetrator")
        keys.add((head, victims, perpetrators))
    return keys


def record_keys(records: list[Record]) -> set[RecordKey]:
    return {
        (
            (r.count.start, r.count.end),
            frozenset((s.start, s.end) for s in r.victims),
            frozenset((s.start, s.end) for s in r.perpetrators),
        )
        for r in records
    }


def record_keys_of_type(keys: set[RecordKey], kind: str) -> set[tuple[Key, frozenset[Key]]]:
    return {(head, victims if kind == "victim" else perpetrators) for head, victims, perpetrators in keys}


def relation_scores(documents: list[Document], predicted: list[list[Record]]) -> dict[str, Any]:
    """Link and record P/R/F1 over the documents whose ``relations`` is not None."""
    true_positive = dict.fromkeys(TYPES, 0)
    n_predicted = dict.fromkeys(TYPES, 0)
    n_gold = dict.fromkeys(TYPES, 0)
    records_right = records_predicted = records_gold = 0
    typed_right = dict.fromkeys(TYPES, 0)
    typed_predicted = dict.fromkeys(TYPES, 0)
    typed_gold = dict.fromkeys(TYPES, 0)
    used = 0
    for document, records in zip(documents, predicted, strict=True):
        if document.relations is None:
            continue
        used += 1
        gold, mine = gold_links(document), record_links(records)
        for kind in TYPES:
            gold_kind = {link for link in gold if link[2] == kind}
            mine_kind = {link for link in mine if link[2] == kind}
            true_positive[kind] += len(gold_kind & mine_kind)
            n_predicted[kind] += len(mine_kind)
            n_gold[kind] += len(gold_kind)
        gold_records, my_records = gold_record_keys(document), record_keys(records)
        records_right += len(gold_records & my_records)
        records_predicted += len(my_records)
        records_gold += len(gold_records)
        for kind in TYPES:
            gold_typed = record_keys_of_type(gold_records, kind)
            my_typed = record_keys_of_type(my_records, kind)
            typed_right[kind] += len(gold_typed & my_typed)
            typed_predicted[kind] += len(my_typed)
            typed_gold[kind] += len(gold_typed)
    per_type = {kind: prf(true_positive[kind], n_predicted[kind], n_gold[kind]) for kind in TYPES}
    micro = prf(sum(true_positive.values()), sum(n_predicted.values()), sum(n_gold.values()))
    return {
        "documents": used,
        "links": {"per_type": per_type, "micro": micro},
        "records": prf(records_right, records_predicted, records_gold),
        "records_per_type": {
            kind: prf(typed_right[kind], typed_predicted[kind], typed_gold[kind]) for kind in TYPES
        },
    }


def format_relation_report(name: str, scores: dict[str, Any]) -> str:
    links, records = scores["links"], scores["records"]
    lines = [
        f"{name} ({scores['documents']} linked documents): link micro F1 {links['micro']['f1']:.4f}  "
        f"record F1 {records['f1']:.4f} (P {records['precision']:.4f} R {records['recall']:.4f} "
        f"n={records['support']})"
    ]
    for kind, row in links["per_type"].items():
        scores_text = f"P {row['precision']:.4f}  R {row['recall']:.4f}  F1 {row['f1']:.4f}"
        lines.append(f"  {kind:15s} {scores_text}  n={row['support']}")
    for kind, row in scores.get("records_per_type", {}).items():
        lines.append(f"  record F1, {kind} sets only: {row['f1']:.4f}  n={row['support']}")
    return "\n".join(lines)
