"""How unsure a model is about a document: what ``suggest`` ranks unannotated documents by.

The measure, per document, from the tag probabilities of its units (the words the model tags, each
read from the window where it has most context, as ``Extractor.unit_probabilities`` gives them):

* **token uncertainty**: the mean of ``1 - max tag probability`` over the most uncertain tenth of
  the document's units (at least one). A mean over all units would be drowned by the many words
  the model is sure are outside any entity, and would favour short texts; a tenth of the document
  keeps it normalised for length.
* **span uncertainty**: the mean of ``1 - score`` over the spans the model predicts (a span's score
  is the mean probability of its tags, as in ``extract``; every span, before the calibrated minimum
  scores drop the weak ones, since those are the ones worth a look); 0 when it predicts none.

``score = (token uncertainty + span uncertainty) / 2``, in [0, 1]: high for a document with weak
spans or contested words, low for one the model reads with confidence. ``1 - score`` is the
confidence ``pre-annotate`` gives Label Studio as the prediction's ``score`` (its Data Manager sorts
tasks by it, lowest first).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from inference.alignment import spans_from_unit_probs
from inference.extractor import UnitProbabilities

TOP_SHARE = 0.1
SHOWN = 5


@dataclass
class DocumentUncertainty:
    id: str
    score: float
    token_uncertainty: float
    span_uncertainty: float
    units: int
    uncertain_spans: list[dict[str, Any]]  # the weakest predicted spans, weakest first
    uncertain_words: list[dict[str, Any]]  # the most uncertain units with their two likeliest tags

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def document_uncertainty(
    doc_id: str, text: str, probs: UnitProbabilities, tag_names: list[str], shown: int = SHOWN
) -> DocumentUncertainty:
    matrix = probs.probs.astype(np.float64)
    if len(matrix) == 0:
        return DocumentUncertainty(doc_id, 0.0, 0.0, 0.0, 0, [], [])
    unsure = 1.0 - matrix.max(axis=1)
    top = max(1, math.ceil(TOP_SHARE * len(unsure)))
    token_part = float(np.sort(unsure)[-top:].mean())
    spans = spans_from_unit_probs(probs.units, matrix.tolist(), tag_names)
    span_part = float(np.mean([1.0 - score for _, score in spans])) if spans else 0.0
    weakest = sorted(spans, key=lambda pair: (pair[1], pair[0].start))[:shown]
    span_rows = [
        {**span.to_dict(), "text": text[span.start : span.end], "score": round(float(score), 4)}
        for span, score in weakest
    ]
    word_rows = []
    for index in np.argsort(-unsure, kind="stable")[:shown]:
        unit = probs.units[int(index)]
        likeliest = np.argsort(-matrix[index], kind="stable")[:2]
        tags = [[tag_names[int(t)], round(float(matrix[index, t]), 4)] for t in likeliest]
        word_rows.append(
            {"start": unit.start, "end": unit.end, "text": text[unit.start : unit.end], "tags": tags}
        )
    score = (token_part + span_part) / 2
    return DocumentUncertainty(
        doc_id, round(score, 6), round(token_part, 6), round(span_part, 6), len(matrix), span_rows, word_rows
    )


def rank_documents(
    extractor: Any, items: list[tuple[str, str]], progress: bool = False
) -> list[DocumentUncertainty]:
    """Every (id, text) with its uncertainty, most uncertain first (ties by id)."""
    texts = [text for _, text in items]
    probabilities = extractor.unit_probabilities(texts, progress)
    measured = [
        document_uncertainty(doc_id, text, probs, extractor.tag_names)
        for (doc_id, text), probs in zip(items, probabilities, strict=True)
    ]
    return sorted(measured, key=lambda u: (-u.score, u.id))
