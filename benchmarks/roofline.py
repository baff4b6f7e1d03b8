"""How close a path runs to the machine's arithmetic limit.

Two numbers, both measured or counted, never assumed:

- the floating-point operations the encoder needs for the windows a set of texts becomes (dense
  layers and attention, multiply and add counted as two), from the model's config;
- the matrix-multiply rate this machine sustains on the model's own feed-forward shapes
  (``torch.mm``, the same BLAS the model's linear layers call), in float32 or, for a bf16 path
  (training under bf16 autocast: ``profile_training.py``), in bfloat16.

Their ratio bounds every implementation of the model in that precision on this machine: a path
running at the GEMM rate cannot be made faster by scheduling, batching or another runtime, only by
doing less arithmetic (lower precision, a smaller model) or by other hardware.
"""

from __future__ import annotations

import time
from typing import Any

from inference.alignment import SpecialTokens, make_windows, tokenize_text


def window_lengths(tokenizer: Any, texts: list[str], max_length: int, stride: int) -> list[int]:
    """Token count (special tokens included) of every window ``Extractor`` runs for ``texts``."""
    special = SpecialTokens.of(tokenizer)
    lengths = []
    for text in texts:
        tokenized = tokenize_text(tokenizer, text)
        for window in make_windows(tokenized, max_length - special.count, stride):
            lengths.append(window.end - window.start + special.count)
    return lengths


def encoder_flops(config: Any, lengths: list[int]) -> float:
    """Floating-point operations of one forward pass over windows of ``lengths`` tokens."""
    hidden, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    # Per token and layer: Q, K, V and output projections (4 h^2) and the feed-forward pair (2 h i).
    dense = layers * (4 * hidden * hidden + 2 * hidden * inner) + hidden * config.num_labels
    flops = 0.0
    for length in lengths:
        # Scores Q K^T and the weighted sum of V: each length^2 * hidden multiply-adds per layer.
        flops += 2 * (length * dense + layers * 2 * length * length * hidden)
    return flops


def gemm_gflops(
    hidden: int,
    inner: int,
    rows: tuple[int, ...] = (128, 256, 512, 2048),
    seconds: float = 1.0,
    dtype: str = "float32",
) -> float:
    """Best sustained GFLOP/s of the feed-forward products (r x hidden x inner and back) in ``dtype``
    (a torch dtype name: float32, bfloat16) over several row counts ``r`` (tokens per call): the best
    the BLAS (oneDNN for bfloat16) does on this model's shapes."""
    import torch

    kind = getattr(torch, dtype)
    generator = torch.Generator().manual_seed(0)
    up = torch.randn(hidden, inner, generator=generator).to(kind)
    down = torch.randn(inner, hidden, generator=generator).to(kind)
    best = 0.0
    with torch.inference_mode():
        for count in rows:
            x = torch.randn(count, hidden, generator=generator).to(kind)
            torch.mm(torch.mm(x, up), down)  # warm-up
            pairs, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:
                torch.mm(torch.mm(x, up), down)
                pairs += 1
            best = max(best, pairs * 2 * (2 * count * hidden * inner) / elapsed / 1e9)
    return best
