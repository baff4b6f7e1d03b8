"""Corpus documents -> model windows with BIO labels, via inference's alignment code."""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import inference.alignment
from inference.alignment import IGNORE_INDEX, SpecialTokens, make_windows, tokenize_text, unit_tags
from inference.spans import Document, Span
from training.finetune.distil import TeacherRows, unit_targets


@dataclass
class WindowFeatures:
    input_ids: list[int]
    labels: list[int]
    # With a teacher (``distil``): per position its tag probabilities, [] where the label is ignored.
    teacher: list[list[float]] | None = None

    def row(self) -> dict[str, Any]:
        """What the batch collator takes: ``input_ids``, ``labels`` and any ``teacher`` rows."""
        row: dict[str, Any] = {"input_ids": self.input_ids, "labels": self.labels}
        return row if self.teacher is None else {**row, "teacher": self.teacher}


class UnalignedSpanError(ValueError):
    pass


def document_windows(
    document: Document,
    tokenizer: Any,
    label2id: dict[str, int],
    max_length: int,
    stride: int,
    teacher: TeacherRows | None = None,
) -> list[WindowFeatures]:
    """Every window of a document with a label on the first token of each unit inside it, and
    with ``teacher`` (the teacher's rows for the document) each unit's soft target beside it.

    Units in the overlap of two windows are labelled in both, so no gold label is dropped.
    """
    tokenized = tokenize_text(tokenizer, document.text)
    tags, lost = unit_tags(tokenized.units, document.spans)
    if lost:
        raise UnalignedSpanError(_describe_lost(document, lost))
    gold = [label2id[tag] for tag in tags]
    targets = None
    if teacher is not None:
        targets = unit_targets([u.start for u in tokenized.units], gold, teacher, len(label2id))
    special = SpecialTokens.of(tokenizer)
    prefix = len(special.prefix)
    features = []
    for window in make_windows(tokenized, max_length - special.count, stride):
        input_ids = special.wrap(tokenized.token_ids[window.start : window.end])
        labels = [IGNORE_INDEX] * len(input_ids)
        soft: list[list[float]] | None = None if targets is None else [[] for _ in input_ids]
        for index, unit in enumerate(tokenized.units):
            if window.start <= unit.token < window.end:
                labels[prefix + unit.token - window.start] = gold[index]
                if soft is not None and targets is not None:
                    soft[prefix + unit.token - window.start] = targets[index]
        features.append(WindowFeatures(input_ids, labels, soft))
    return features


def training_windows(
    documents: list[Document],
    tokenizer: Any,
    label2id: dict[str, int],
    max_length: int,
    stride: int,
    cache_dir: str | Path,
    teacher: list[TeacherRows] | None = None,
) -> tuple[list[WindowFeatures], bool]:
    """``document_windows`` of every document, in order, through a ``datasets`` map whose result is
    cached in ``cache_dir`` by a fingerprint of the documents, the tokenizer, the labels, the window
    settings and the windowing code: a second run on the same data and tokenizer reads the windows
    back instead of tokenizing. ``teacher`` (one entry per document, ``distil.teacher_rows``) adds
    soft targets and joins the fingerprint. Returns the windows and whether they came from the
    cache."""
    import datasets
    from datasets.fingerprint import Hasher

    rows = [
        {"id": d.id, "text": d.text, "spans": json.dumps([s.to_dict() for s in d.spans]), "row": i}
        for i, d in enumerate(documents)
    ]
    content = hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()
    teacher_key = None if teacher is None else _teacher_digest(teacher)
    fingerprint = Hasher.hash([content, tokenizer, label2id, max_length, stride, _code_digest(), teacher_key])
    cache_file = Path(cache_dir) / f"windows-{fingerprint}.arrow"
    cached = cache_file.is_file()
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    table = datasets.Dataset.from_list(rows, features=_row_features())
    windows = table.map(
        _windows_batch,
        batched=True,
        remove_columns=table.column_names,
        fn_kwargs={
            "tokenizer": tokenizer,
            "label2id": label2id,
            "max_length": max_length,
            "stride": stride,
            "teacher": teacher,
        },
        cache_file_name=str(cache_file),
        load_from_cache_file=True,
        new_fingerprint=fingerprint,
        desc="tokenizing windows",
    )
    soft = windows["teacher"] if teacher is not None else [None] * len(windows)
    triples = zip(windows["input_ids"], windows["labels"], soft, strict=True)
    features = [WindowFeatures(ids, labels, targets) for ids, labels, targets in triples]
    return features, cached


def _row_features() -> Any:
    import datasets

    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "text": datasets.Value("string"),
            "spans": datasets.Value("string"),
            "row": datasets.Value("int64"),
        }
    )


def _windows_batch(
    batch: dict[str, list[Any]],
    tokenizer: Any,
    label2id: dict[str, int],
    max_length: int,
    stride: int,
    teacher: list[TeacherRows] | None,
) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"input_ids": [], "labels": [], "teacher": []}
    columns = zip(batch["id"], batch["text"], batch["spans"], batch["row"], strict=True)
    for doc_id, text, spans, row in columns:
        document = Document(doc_id, text, [Span.from_dict(s) for s in json.loads(spans)])
        rows = teacher[row] if teacher is not None else None
        for window in document_windows(document, tokenizer, label2id, max_length, stride, rows):
            out["input_ids"].append(window.input_ids)
            out["labels"].append(window.labels)
            out["teacher"].append(window.teacher)
    if teacher is None:
        del out["teacher"]
    return out


def _teacher_digest(teacher: list[TeacherRows]) -> str:
    digest = hashlib.sha256()
    for rows in teacher:
        for start in sorted(rows):
            digest.update(start.to_bytes(8, "little"))
            digest.update(np.asarray(rows[start], dtype=np.float32).tobytes())
    return digest.hexdigest()


def _code_digest() -> str:
    """The windowing code itself (this module and ``inference.alignment``), so that a change to it
    never reads windows cached before."""
    sources = [inspect.getsource(inference.alignment), Path(__file__).read_text(encoding="utf-8")]
    return hashlib.sha256("".join(sources).encode()).hexdigest()


def _describe_lost(document: Document, lost: list[Span]) -> str:
    shown = ", ".join(f"[{s.start}:{s.end}] {document.text[s.start : s.end]!r}" for s in lost)
    return f"document {document.id!r}: span(s) not on token boundaries of this tokenizer: {shown}"
