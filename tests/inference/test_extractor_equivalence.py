"""The fast ``Extractor`` path (length-sorted padded batches, windows batched across documents)
gives the same entities as the plainest way of running the model."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer

from inference.alignment import spans_from_unit_probs, tokenize_text
from inference.batching import similar_length_batches
from inference.cpu import native_bf16
from inference.extractor import Extractor
from inference.model_dir import resolve_precision
from inference.results import Entity
from training.corpus.store import load_documents

ROOT = Path(__file__).resolve().parents[2]


def without_scores(results: list[list[Entity]]) -> list[list[Entity]]:
    return [[replace(e, score=0.0) for e in entities] for entities in results]


def assert_same(got: list[list[Entity]], want: list[list[Entity]]) -> None:
    """Same entities and offsets; scores within one unit of their 4-decimal rounding."""
    assert without_scores(got) == without_scores(want)
    for entities_got, entities_want in zip(got, want, strict=True):
        for a, b in zip(entities_got, entities_want, strict=True):
            assert a.score == pytest.approx(b.score, abs=2e-4)


@pytest.fixture(scope="module")
def extractor(busy_model: Path) -> Extractor:
    return Extractor.from_pretrained(busy_model, device="cpu", batch_size=16, precision="fp32")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    documents = load_documents(ROOT / "data" / "annotations" / "dev.jsonl")[:6]
    long_report = "\n\n".join(d.text for d in documents[:3])  # many windows of 64 tokens
    return [d.text for d in documents] + [
        long_report,
        "Gunmen killed 12 villagers.",
        "",
        "   \n ",
        "Ünïcödé — “3 killed”, 😀 5 injured.",
    ]


def test_the_busy_model_finds_many_entities(extractor: Extractor, texts):
    results = extractor.extract(texts)
    assert sum(len(entities) for entities in results) > 100
    for text, entities in zip(texts, results, strict=True):
        assert all(text[e.start : e.end] == e.text for e in entities)


def test_batch_size_and_grouping_do_not_change_results(extractor: Extractor, texts):
    batched = extractor.extract(texts)
    alone = [extractor.extract([text])[0] for text in texts]
    order = list(range(len(texts)))
    random.Random(1).shuffle(order)
    shuffled = extractor.extract([texts[i] for i in order])
    unshuffled = [shuffled[order.index(i)] for i in range(len(texts))]
    original = extractor.batch_size
    try:
        extractor.batch_size = 1  # no padding at all: every window runs on its own
        unpadded = extractor.extract(texts)
        extractor.batch_size = 64  # all windows of all texts in one or two forward passes
        one_pass = extractor.extract(texts)
    finally:
        extractor.batch_size = original
    for other in (alone, unshuffled, unpadded, one_pass):
        assert_same(other, batched)


def test_single_window_texts_match_the_plain_transformers_model(busy_model: Path, extractor: Extractor):
    """Independent path: the model called directly on one text, first token of each unit decoded."""
    model = AutoModelForTokenClassification.from_pretrained(busy_model, use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(busy_model)
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    texts = [
        "Gunmen killed 12 villagers and wounded 30 others near Gao on Tuesday.",
        "An air strike on a market in Idlib killed at least 19 civilians, including four children.",
        "Police said two attackers were shot dead.",
    ]
    expected = []
    for text in texts:
        units = tokenize_text(tokenizer, text).units
        encoding = tokenizer(text, return_tensors="pt")
        assert encoding["input_ids"].shape[1] <= extractor.max_length
        with torch.inference_mode():
            probs = torch.softmax(model(**encoding).logits[0], dim=-1).numpy()
        unit_probs = [probs[1 + unit.token].tolist() for unit in units]  # +1 for [CLS]
        expected.append(
            [
                (span.label, span.start, span.end, span.outcome, round(float(score), 4))
                for span, score in spans_from_unit_probs(units, unit_probs, names)
            ]
        )
    got = [
        [(e.label, e.start, e.end, e.outcome, e.score) for e in entities]
        for entities in extractor.extract(texts)
    ]
    assert [[g[:4] for g in doc] for doc in got] == [[e[:4] for e in doc] for doc in expected]
    assert sum(map(len, got)) > 0
    for doc_got, doc_expected in zip(got, expected, strict=True):
        assert np.allclose([g[4] for g in doc_got], [e[4] for e in doc_expected], atol=2e-4)


def test_thread_setting_does_not_change_results(busy_model: Path, extractor: Extractor, texts):
    threads = torch.get_num_threads()
    try:
        single = Extractor.from_pretrained(busy_model, device="cpu", threads=1, precision="fp32")
        assert torch.get_num_threads() == 1
        assert_same(single.extract(texts), extractor.extract(texts))
    finally:
        torch.set_num_threads(threads)


def test_bad_options_are_refused(busy_model: Path):
    with pytest.raises(ValueError, match="precision 'fp16' needs a CUDA device"):
        Extractor.from_pretrained(busy_model, device="cpu", precision="fp16")
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        Extractor.from_pretrained(busy_model, device="cpu", precision="int4")
    with pytest.raises(ValueError, match="unknown backend 'tensorflow'"):
        Extractor.from_pretrained(busy_model, backend="tensorflow")
    with pytest.raises(TypeError, match="list of texts"):
        Extractor.from_pretrained(busy_model, device="cpu").extract("a single string")


def test_precision_auto_picks_what_the_hardware_runs_fast():
    assert resolve_precision("auto", "cuda:0") == "fp16"
    assert resolve_precision("auto", "cpu") == ("bf16" if native_bf16() else "fp32")
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"


def test_bf16_finds_the_entities_float32_finds(busy_model: Path, extractor: Extractor, texts):
    """bf16 rounds activations to 3 significant digits: on this random-headed model, where many
    tokens sit near a decision boundary, nearly every entity must still come out the same."""
    bf16 = Extractor.from_pretrained(busy_model, device="cpu", batch_size=16, precision="bf16")
    assert bf16.backend.precision == "bf16" and extractor.backend.precision == "fp32"
    reference = {(i, e.label, e.start, e.end) for i, doc in enumerate(extractor.extract(texts)) for e in doc}
    rounded = {(i, e.label, e.start, e.end) for i, doc in enumerate(bf16.extract(texts)) for e in doc}
    assert len(reference) > 50
    assert 2 * len(reference & rounded) / (len(reference) + len(rounded)) >= 0.9


def test_batches_group_windows_of_similar_length():
    lengths = [256, 110, 256, 250, 30, 100, 256]
    batches = similar_length_batches(lengths, batch_size=2)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert all(len(batch) <= 2 for batch in batches)
    for batch in batches:  # longest first; no member padded by more than the allowed share
        assert all(lengths[i] >= 0.8 * lengths[batch[0]] for i in batch)
        assert lengths[batch[0]] == max(lengths[i] for i in batch)
    # a document's full window and its short remainder do not share a batch
    assert similar_length_batches([256, 110], batch_size=16) == [[0], [1]]
    assert similar_length_batches([], batch_size=16) == []
