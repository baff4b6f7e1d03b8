"""Corpus documents -> model windows with BIO labels, via inference's alignment code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inference.alignment import IGNORE_INDEX, SpecialTokens, make_windows, tokenize_text, unit_tags
from inference.spans import Document, Span


@dataclass
class WindowFeatures:
    input_ids: list[int]
    labels: list[int]


class UnalignedSpanError(ValueError):
    pass


def document_windows(
    document: Document, tokenizer: Any, label2id: dict[str, int], max_length: int, stride: int
) -> list[WindowFeatures]:
    """Every window of a document with a label on the first token of each unit inside it.

    Units in the overlap of two windows are labelled in both, so no gold label is dropped.
    """
    tokenized = tokenize_text(tokenizer, document.text)
    tags, lost = unit_tags(tokenized.units, document.spans)
    if lost:
        raise UnalignedSpanError(_describe_lost(document, lost))
    special = SpecialTokens.of(tokenizer)
    prefix = len(special.prefix)
    features = []
    for window in make_windows(tokenized, max_length - special.count, stride):
        input_ids = special.wrap(tokenized.token_ids[window.start : window.end])
        labels = [IGNORE_INDEX] * len(input_ids)
        for unit, tag in zip(tokenized.units, tags, strict=True):
            if window.start <= unit.token < window.end:
                labels[prefix + unit.token - window.start] = label2id[tag]
        features.append(WindowFeatures(input_ids, labels))
    return features


def corpus_windows(
    documents: list[Document], tokenizer: Any, label2id: dict[str, int], max_length: int, stride: int
) -> list[WindowFeatures]:
    """``document_windows`` of every document, in order."""
    return [
        window
        for document in documents
        for window in document_windows(document, tokenizer, label2id, max_length, stride)
    ]


def _describe_lost(document: Document, lost: list[Span]) -> str:
    shown = ", ".join(f"[{s.start}:{s.end}] {document.text[s.start : s.end]!r}" for s in lost)
    return f"document {document.id!r}: span(s) not on token boundaries of this tokenizer: {shown}"
