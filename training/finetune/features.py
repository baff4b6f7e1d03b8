"""Corpus documents -> model windows with BIO labels, via inference's alignment code."""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import inference.alignment
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


def training_windows(
    documents: list[Document],
    tokenizer: Any,
    label2id: dict[str, int],
    max_length: int,
    stride: int,
    cache_dir: str | Path,
) -> tuple[list[WindowFeatures], bool]:
    """``document_windows`` of every document, in order, through a ``datasets`` map whose result is
    cached in ``cache_dir`` by a fingerprint of the documents, the tokenizer, the labels, the window
    settings and the windowing code: a second run on the same data and tokenizer reads the windows
    back instead of tokenizing. Returns the windows and whether they came from the cache."""
    import datasets
    from datasets.fingerprint import Hasher

    rows = [
        {"id": d.id, "text": d.text, "spans": json.dumps([s.to_dict() for s in d.spans])} for d in documents
    ]
    content = hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()
    fingerprint = Hasher.hash([content, tokenizer, label2id, max_length, stride, _code_digest()])
    cache_file = Path(cache_dir) / f"windows-{fingerprint}.arrow"
    cached = cache_file.is_file()
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    table = datasets.Dataset.from_list(rows, features=_row_features())
    windows = table.map(
        _windows_batch,
        batched=True,
        remove_columns=table.column_names,
        fn_kwargs={"tokenizer": tokenizer, "label2id": label2id, "max_length": max_length, "stride": stride},
        cache_file_name=str(cache_file),
        load_from_cache_file=True,
        new_fingerprint=fingerprint,
        desc="tokenizing windows",
    )
    pairs = zip(windows["input_ids"], windows["labels"], strict=True)
    features = [WindowFeatures(ids, labels) for ids, labels in pairs]
    return features, cached


def _row_features() -> Any:
    import datasets

    return datasets.Features(
        {"id": datasets.Value("string"), "text": datasets.Value("string"), "spans": datasets.Value("string")}
    )


def _windows_batch(
    batch: dict[str, list[Any]], tokenizer: Any, label2id: dict[str, int], max_length: int, stride: int
) -> dict[str, list[list[int]]]:
    out: dict[str, list[list[int]]] = {"input_ids": [], "labels": []}
    for doc_id, text, spans in zip(batch["id"], batch["text"], batch["spans"], strict=True):
        document = Document(doc_id, text, [Span.from_dict(s) for s in json.loads(spans)])
        for window in document_windows(document, tokenizer, label2id, max_length, stride):
            out["input_ids"].append(window.input_ids)
            out["labels"].append(window.labels)
    return out


def _code_digest() -> str:
    """The windowing code itself (this module and ``inference.alignment``), so that a change to it
    never reads windows cached before."""
    sources = [inspect.getsource(inference.alignment), Path(__file__).read_text(encoding="utf-8")]
    return hashlib.sha256("".join(sources).encode()).hexdigest()


def _describe_lost(document: Document, lost: list[Span]) -> str:
    shown = ", ".join(f"[{s.start}:{s.end}] {document.text[s.start : s.end]!r}" for s in lost)
    return f"document {document.id!r}: span(s) not on token boundaries of this tokenizer: {shown}"
