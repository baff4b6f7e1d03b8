"""Windows into batches, for training and for the ``Extractor`` alike: grouped by length so that
padding stays small, and padded by transformers' token-classification collator.

The two differ only in order: training shuffles (``length_grouped_batches``), the ``Extractor``
goes longest first and keeps a short window out of a batch of long ones (``similar_length_batches``).
"""

from __future__ import annotations

import copy
import random
from typing import Any

from inference.alignment import IGNORE_INDEX

# A window joins a batch only if padding it to the batch's longest window wastes at most this share:
# a document's short last window then runs on its own instead of padded to a full window.
MAX_PADDING_SHARE = 0.2
# Training sorts by length within pools of this many batches, so batch order stays random.
POOL_BATCHES = 32


def cut_by_length(
    order: list[int], lengths: list[int], batch_size: int, max_padding_share: float = 1.0
) -> list[list[int]]:
    """``order`` (indices into ``lengths``, sorted by length either way) cut into consecutive
    batches of at most ``batch_size``; a batch also ends before a window that would pad its
    shortest member by more than ``max_padding_share`` of the longest."""
    batches: list[list[int]] = []
    for index in order:
        current = batches[-1] if batches else None
        if current is None or len(current) == batch_size:
            batches.append([index])
            continue
        short, long = sorted((lengths[current[0]], lengths[index]))
        if short < (1 - max_padding_share) * long:
            batches.append([index])
        else:
            current.append(index)
    return batches


def similar_length_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices into ``lengths``, longest first, cut into batches of at most ``batch_size`` whose
    shortest member is no more than ``MAX_PADDING_SHARE`` shorter than their longest."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)
    return cut_by_length(order, lengths, batch_size, MAX_PADDING_SHARE)


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    """Shuffled batches of similar lengths: less padding, still random order across batches."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * POOL_BATCHES
    batches: list[list[int]] = []
    for begin in range(0, len(order), pool):
        chunk = sorted(order[begin : begin + pool], key=lengths.__getitem__)
        batches.extend(cut_by_length(chunk, lengths, batch_size))
    rng.shuffle(batches)
    return batches


def window_collator(tokenizer: Any, return_tensors: str = "pt", pad_to_multiple_of: int | None = None) -> Any:
    """Pads windows (mappings with ``input_ids`` and, in training, ``labels``) to the batch's
    longest, rounded up to ``pad_to_multiple_of`` if given: ids with the pad token, attention mask
    0, labels ``IGNORE_INDEX``. ``return_tensors`` is "pt" or "np" (int64 arrays)."""
    from transformers import DataCollatorForTokenClassification

    if tokenizer.pad_token_id is None:
        raise ValueError(f"tokenizer {tokenizer.name_or_path!r} has no padding token to batch windows with")
    if tokenizer.padding_side != "right":
        # Windows keep their first token at position 0, where the model learnt it; the caller's
        # tokenizer is left as it is.
        tokenizer = copy.copy(tokenizer)
        tokenizer.padding_side = "right"
    return DataCollatorForTokenClassification(
        tokenizer,
        label_pad_token_id=IGNORE_INDEX,
        return_tensors=return_tensors,
        pad_to_multiple_of=pad_to_multiple_of,
    )
