"""Dropout whose masks cost a fraction of torch's on a CPU.

torch's CPU dropout draws one Mersenne Twister number per element (``bernoulli_``). On the default
config that was 30% of a training step's CPU time, nearly all of it the attention probabilities' dropout (a
16 x 12 x 256 x 256 tensor per layer and batch). Here each 64-bit draw gives four 16-bit lanes,
and a lane below ``p`` x 65536 drops its element: the same Bernoulli(p) per element (p rounded to
1/65536), independent across elements, from one 64-bit draw per four elements: a 4 x 12 x 256 x 256
mask takes 6-7 ms against 18-19 for ``bernoulli_`` on 2 cores.

``use_packed_dropout(model)`` swaps every ``nn.Dropout`` module of a model for ``PackedDropout``
and, for models that pick their attention through transformers' ``AttentionInterface`` (BERT and
its kin), registers an attention function that applies it to the attention probabilities. Dropout
modules hold no weights, and the attention choice is not saved with a model, so a model trained
this way saves and loads exactly as one trained with torch's dropout.
"""

from __future__ import annotations

import functools
from typing import Any

ATTENTION = "conflict-ie-packed-dropout"
_LANES = 4  # 16-bit lanes in one 64-bit draw


def drop_mask(shape: tuple[int, ...], p: float) -> Any:
    """A boolean tensor of ``shape``, each element True (dropped) with probability ``p`` (to 1/65536)."""
    import math

    import torch

    count = math.prod(shape)
    words = torch.empty((count + _LANES - 1) // _LANES, dtype=torch.int64).random_(-(2**63), None)
    lanes = words.view(torch.int16)[:count].view(shape)
    return lanes < -32768 + round(p * 65536)


@functools.cache
def _dropout_function() -> Any:
    import torch

    class PackedDropoutFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, p: float) -> Any:
            # Scaling the kept values in place rounds each product once (in bf16 too), where a
            # mask holding 1/(1-p) would round that factor for every element alike.
            dropped = drop_mask(tuple(x.shape), p).to(x.device)
            ctx.save_for_backward(dropped)
            ctx.scale = 1.0 / (1.0 - p)
            return x.masked_fill(dropped, 0).mul_(ctx.scale)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> tuple[Any, None]:
            (dropped,) = ctx.saved_tensors
            return grad.masked_fill(dropped, 0).mul_(ctx.scale), None

    return PackedDropoutFunction


def packed_dropout(x: Any, p: float, training: bool = True) -> Any:
    """``torch.nn.functional.dropout(x, p, training)`` with packed masks."""
    if not training or p == 0:
        return x
    if not 0 < p < 1:
        raise ValueError(f"dropout probability must be from 0 up to but not including 1, got {p}")
    return _dropout_function().apply(x, p)


@functools.cache
def _module_class() -> Any:
    from torch import nn

    class PackedDropout(nn.Module):
        """``nn.Dropout`` with packed masks."""

        def __init__(self, p: float) -> None:
            super().__init__()
            self.p = p

        def forward(self, x: Any) -> Any:
            return packed_dropout(x, self.p, self.training)

        def extra_repr(self) -> str:
            return f"p={self.p}"

    return PackedDropout


def packed_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[Any, None]:
    """transformers' eager attention with packed dropout; without dropout (evaluation), its SDPA."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if dropout == 0 or not module.training:
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, **kwargs)
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    # In float32, as torch's own SDPA computes a half-precision attention with dropout on a CPU
    # (its math path); in bf16 the trained model lost 1.2-1.7 points on FA-KES gold-dev (RESULTS.md).
    with torch.autocast(query.device.type, enabled=False):
        weights = torch.matmul(query.float() * scaling, key.float().transpose(2, 3))
        if attention_mask is not None:
            weights = weights + attention_mask
        weights = packed_dropout(torch.softmax(weights, dim=-1), dropout)
        output = torch.matmul(weights, value.float()).to(value.dtype)
    return output.transpose(1, 2).contiguous(), None


def _register_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(ATTENTION, packed_attention)
    AttentionMaskInterface.register(ATTENTION, eager_mask)


def use_packed_dropout(model: Any) -> int:
    """Swap ``model``'s dropout for packed dropout in place; returns how many modules were swapped."""
    from torch import nn

    module_class = _module_class()
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                packed = module_class(child.p)
                packed.train(child.training)
                setattr(parent, name, packed)
                swapped += 1
    can_set = getattr(model, "_can_set_attn_implementation", None)
    if can_set is not None and can_set():
        _register_attention()
        model.set_attn_implementation(ATTENTION)
    return swapped


def apply_dropout_masks(model: Any, setting: str) -> None:
    """``dropout_masks`` of a training config applied to ``model``: ``packed`` swaps them in,
    ``torch`` leaves the model as it is."""
    if setting == "packed":
        use_packed_dropout(model)
