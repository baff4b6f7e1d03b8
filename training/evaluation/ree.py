"""Role-filler entity F1, the document-level metric of MUC-4 as GRIT and GTT evaluate it
(Du, Rush & Cardie 2021: CEAF-REE with the strict similarity).

Per document and role, gold entities are sets of coreferent mention strings and predicted entities
are sets of mention strings; a predicted entity matches a gold entity when all its mentions are
among the gold entity's mentions (strings compared after ``normalize``), and matches are one to one
(a maximum matching). Precision is matches / predicted entities, recall matches / gold entities;
per role, and micro-averaged over roles by summing the counts. A tagger's spans become entities by
``entities_from_spans``, so a gold entity counts as found when one of its mentions was tagged.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from inference.results import Entity as Extracted

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)

Entity = Sequence[str]


def normalize(mention: str) -> str:
    """Lower-case, drop ASCII punctuation and the articles a/an/the, collapse white space."""
    text = "".join(ch for ch in mention.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def matches(gold: list[Entity], predicted: list[Entity]) -> int:
    """Size of a maximum one-to-one matching of predicted to gold entities, where a predicted
    entity may match a gold one when every one of its mentions is a gold mention (normalised)."""
    gold_sets = [{normalize(m) for m in entity} for entity in gold]
    allowed = [
        [g for g, mentions in enumerate(gold_sets) if {normalize(m) for m in entity} <= mentions]
        for entity in predicted
    ]
    owner: dict[int, int] = {}  # gold entity -> predicted entity

    def augment(p: int, seen: set[int]) -> bool:
        for g in allowed[p]:
            if g in seen:
                continue
            seen.add(g)
            if g not in owner or augment(owner[g], seen):
                owner[g] = p
                return True
        return False

    return sum(augment(p, set()) for p in range(len(predicted)))


def entities_from_spans(texts: Iterable[str]) -> list[list[str]]:
    """A tagger's predicted entities of one role, from its span texts in document order: mentions
    whose normalised words lie inside another's ("bomb" in "car bomb", "fmln" in "the fmln
    guerrillas") are one entity, given by its first mention.

    A tagger has no coreference, and under the strict similarity an entity of several mentions
    matches only if every one is a gold mention, so each entity keeps one. Merging contained
    mentions was chosen on the MUC-4 dev split (micro F1 46.32 with each distinct text its own
    entity, 47.15 merged)."""
    entities: list[tuple[str, list[str]]] = []  # (first mention, normalised mentions)
    for text in texts:
        mention = normalize(text)
        if not mention:
            continue
        for _, mentions in entities:
            if any(f" {mention} " in f" {m} " or f" {m} " in f" {mention} " for m in mentions):
                mentions.append(mention)
                break
        else:
            entities.append((text, [mention]))
    return [[first] for first, _ in entities]


def predicted_entities(
    found: Iterable[Extracted], min_scores: Mapping[str, float] | None = None
) -> dict[str, list[list[str]]]:
    """A tagger's predicted entities of one document by role (label): its spans, in the order
    ``Extractor`` gives them, that score at least their label's minimum, through
    ``entities_from_spans``. Filtering here is what ``Extractor`` does with the same ``min_scores``,
    so minimums can be searched over one prediction pass made without any."""
    minimums = min_scores or {}
    by_label: dict[str, list[str]] = {}
    for entity in found:
        if entity.score >= minimums.get(entity.label, 0.0):
            by_label.setdefault(entity.label, []).append(entity.text)
    return {label: entities_from_spans(texts) for label, texts in by_label.items()}


def ree_scores(
    gold: list[dict[str, list[Entity]]], predicted: list[dict[str, list[Entity]]], roles: Sequence[str]
) -> dict[str, Any]:
    """Per role and micro: precision, recall, F1 and the counts (matched, predicted, gold), over
    documents given as role -> entities (a role missing from a document has no entity)."""
    counts = {role: [0, 0, 0] for role in roles}
    for gold_doc, pred_doc in zip(gold, predicted, strict=True):
        for role in roles:
            gold_entities = [e for e in gold_doc.get(role, []) if e]
            pred_entities = [e for e in pred_doc.get(role, []) if e]
            row = counts[role]
            row[0] += matches(gold_entities, pred_entities)
            row[1] += len(pred_entities)
            row[2] += len(gold_entities)
    per_role = {role: _prf(*counts[role]) for role in roles}
    micro = _prf(*(sum(counts[role][i] for role in roles) for i in range(3)))
    return {"per_role": per_role, "micro": micro}


def _prf(matched: int, predicted: int, gold: int) -> dict[str, Any]:
    precision = matched / predicted if predicted else 0.0
    recall = matched / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "matched": matched,
        "predicted": predicted,
        "gold": gold,
    }
