"""Training-time copies of documents as badly delivered feeds deliver them (punctuation gone)."""

from __future__ import annotations

import random

from inference.spans import Document, Span, cuts_word

# Apostrophes stay: dropping them glues "Syria's" into one word and cuts the span "Syria".
STRIPPED = set(',.;:!?"()[]“”')


def strip_punctuation(document: Document) -> Document | None:
    """The document without punctuation, spans moved with their text; None if a span would break."""
    kept: list[str] = []
    new_index: list[int] = []  # position in the new text of each old character (or of the next kept)
    for char in document.text:
        new_index.append(len(kept))
        if char not in STRIPPED:
            kept.append(char)
    new_index.append(len(kept))
    text = "".join(kept)
    spans = []
    for span in document.spans:
        start, end = new_index[span.start], new_index[span.end]
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start == end or cuts_word(text, start, end):
            return None
        spans.append(Span(start, end, span.label, span.outcome))
    return Document(f"{document.id}#nopunct", text, spans)


def augment(documents: list[Document], share: float, seed: int) -> list[Document]:
    """The documents plus punctuation-stripped copies of a seeded random share of them."""
    rng = random.Random(seed)
    copies = [strip_punctuation(d) for d in documents if rng.random() < share]
    return documents + [c for c in copies if c is not None]
