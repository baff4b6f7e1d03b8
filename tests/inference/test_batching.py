"""Batching shared by training and the Extractor: length groups and transformers' padding."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from conftest import CORPUS

from inference.alignment import IGNORE_INDEX, tag_names
from inference.batching import length_grouped_batches, window_collator
from tests.batch_order import LENGTHS
from training.corpus.store import load_documents
from training.finetune.features import document_windows


@pytest.fixture(scope="module")
def windows(tokenizer):
    label2id = {name: i for i, name in enumerate(tag_names())}
    documents = load_documents(CORPUS / "dev.jsonl")[:12]
    return [w for d in documents for w in document_windows(d, tokenizer, label2id, 64, 16)]


def test_training_batches_are_padded_on_the_right_with_ignored_labels(tokenizer, windows):
    """What the hand-written padder gave: ids padded with the pad token, mask 0, labels -100."""
    collate = window_collator(tokenizer)
    for begin in range(0, len(windows), 7):
        items = windows[begin : begin + 7]
        batch = collate([item.row() for item in items])
        width = max(len(item.input_ids) for item in items)
        assert set(batch) == {"input_ids", "attention_mask", "labels"}
        for row, item in enumerate(items):
            padding = width - len(item.input_ids)
            assert batch["input_ids"][row].tolist() == item.input_ids + [tokenizer.pad_token_id] * padding
            assert batch["attention_mask"][row].tolist() == [1] * len(item.input_ids) + [0] * padding
            assert batch["labels"][row].tolist() == item.labels + [IGNORE_INDEX] * padding
        assert all(tensor.dtype == torch.int64 for tensor in batch.values())
    assert any(len(w.input_ids) < 64 for w in windows), "some windows must need padding"


def test_padding_to_a_multiple_adds_only_masked_ignored_positions(tokenizer, windows):
    items = [w.row() for w in windows[:7]]
    plain = window_collator(tokenizer)(items)
    rounded = window_collator(tokenizer, pad_to_multiple_of=16)(items)
    width = plain["input_ids"].shape[1]
    assert rounded["input_ids"].shape[1] == -(-width // 16) * 16
    for name, fill in (
        ("input_ids", tokenizer.pad_token_id),
        ("attention_mask", 0),
        ("labels", IGNORE_INDEX),
    ):
        assert rounded[name][:, :width].tolist() == plain[name].tolist()
        assert (rounded[name][:, width:] == fill).all()


def test_training_batches_come_in_few_shapes(tokenizer, windows):
    from training.finetune.train import PAD_TO_MULTIPLE_OF, training_loader

    loader, _ = training_loader(windows, tokenizer, batch_size=4, seed=13)
    widths = {batch["input_ids"].shape[1] for batch in loader}
    assert widths and all(w % PAD_TO_MULTIPLE_OF == 0 for w in widths)


def test_extractor_batches_are_the_same_padding_as_numpy_arrays(tokenizer, windows):
    items = windows[:9]
    as_numpy = window_collator(tokenizer, return_tensors="np")([{"input_ids": w.input_ids} for w in items])
    as_torch = window_collator(tokenizer)([w.row() for w in items])
    assert set(as_numpy) == {"input_ids", "attention_mask"}
    for name in as_numpy:
        assert as_numpy[name].dtype == np.int64
        assert as_numpy[name].tolist() == as_torch[name].tolist()


def test_windows_are_padded_on_the_right_whatever_the_tokenizer_says(tokenizer):
    left = copy.deepcopy(tokenizer)
    left.padding_side = "left"
    items = [
        {"input_ids": [101, 7, 102], "labels": [-100, 1, -100]},
        {"input_ids": [101, 102], "labels": [-100, -100]},
    ]
    batch = window_collator(left)(items)
    assert batch["input_ids"][1].tolist() == [101, 102, tokenizer.pad_token_id]
    assert batch["labels"][1].tolist() == [-100, -100, IGNORE_INDEX]
    assert left.padding_side == "left", "the caller's tokenizer is left as it was"


def test_a_tokenizer_without_padding_token_is_refused_by_name(tokenizer):
    no_pad = copy.deepcopy(tokenizer)
    no_pad.pad_token = None
    with pytest.raises(ValueError, match="has no padding token"):
        window_collator(no_pad)


def test_training_batch_order_is_pinned():
    """The order training has always drawn (seed 13, epoch 1): resumed and old runs depend on it."""
    assert length_grouped_batches(LENGTHS, 4, 13 + 1) == [
        [3, 26, 11, 19],
        [1, 24, 9, 17],
        [7, 15],
        [4, 27, 12, 20],
        [6, 29, 14, 22],
        [5, 28, 13, 21],
        [0, 23, 8, 16],
        [2, 25, 10, 18],
    ]


def test_training_batches_hold_every_window_once_in_length_groups():
    lengths = [(37 * i) % 251 + 3 for i in range(300)]
    batches = length_grouped_batches(lengths, 8, seed=5)
    assert sorted(i for batch in batches for i in batch) == list(range(300))
    assert all(1 <= len(batch) <= 8 for batch in batches)
    assert length_grouped_batches(lengths, 8, seed=6) != batches
    # within a pool of 32 batches members are neighbours in length: far less spread than at random
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 0.2 * (max(lengths) - min(lengths))
