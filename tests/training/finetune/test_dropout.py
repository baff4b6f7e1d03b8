"""Packed dropout masks: the same Bernoulli dropout as torch's, and a model that saves as before."""

from __future__ import annotations

import pytest
import torch

from training.finetune.config import ConfigError, config_from_dict
from training.finetune.dropout import (
    drop_mask,
    packed_attention,
    packed_dropout,
    use_packed_dropout,
)


def test_drop_mask_drops_each_element_with_probability_p_independently():
    torch.manual_seed(0)
    n = 1_000_000
    for p in (0.1, 0.5):
        mask = drop_mask((n,), p)
        assert mask.dtype == torch.bool and mask.shape == (n,)
        dropped = mask.float()
        # five standard deviations of a binomial share
        assert abs(dropped.mean().item() - p) < 5 * (p * (1 - p) / n) ** 0.5
        # lanes of one draw and of neighbouring draws are independent: pairs drop together at p^2
        both = (dropped[:-1] * dropped[1:]).mean().item()
        assert abs(both - p * p) < 5 * (p * p * (1 - p * p) / n) ** 0.5


def test_drop_mask_of_an_odd_shape():
    assert drop_mask((3, 5, 7), 0.25).shape == (3, 5, 7)


def test_kept_bf16_values_are_scaled_without_bias():
    """1/(1-p) is not a bf16 number: each kept value is rounded once, not scaled by a rounded factor."""
    torch.manual_seed(4)
    x = (torch.rand(200_000) + 1).to(torch.bfloat16)
    out = packed_dropout(x, 0.1)
    kept = out != 0
    exact = x[kept].float() / 0.9
    relative = (out[kept].float() - exact) / exact
    # a bf16 factor 1/0.9 (1.109375) would be 0.16% low on every value
    assert abs(relative.mean().item()) < 2e-4 and relative.abs().max().item() <= 2**-8


def test_packed_dropout_zeroes_or_scales_and_its_gradient_is_the_mask():
    torch.manual_seed(1)
    x = torch.rand(64, 128) + 0.5
    x.requires_grad_(True)
    out = packed_dropout(x, 0.2)
    kept = out != 0
    assert 0.15 < 1 - kept.float().mean().item() < 0.25
    assert torch.allclose(out[kept], x[kept] / 0.8)
    out.sum().backward()
    assert torch.allclose(x.grad, kept.float() / 0.8)


def test_packed_dropout_is_the_identity_when_not_training_or_p_is_zero():
    x = torch.randn(4, 8)
    assert packed_dropout(x, 0.1, training=False) is x
    assert packed_dropout(x, 0.0) is x
    with pytest.raises(ValueError, match="dropout probability"):
        packed_dropout(x, 1.0)


def test_packed_attention_masks_padding_as_sdpa_does():
    """With nothing dropped (p below 1/65536), the eager path equals transformers' SDPA."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    torch.manual_seed(2)
    module = torch.nn.Module()
    module.is_causal = False
    module.train()
    q, k, v = (torch.randn(2, 3, 6, 4) for _ in range(3))
    mask = torch.zeros(2, 1, 6, 6)
    mask[1, :, :, 4:] = torch.finfo(torch.float32).min  # the second sequence has two padding tokens
    packed, _ = packed_attention(module, q, k, v, mask, scaling=0.5, dropout=1e-9)
    expected, _ = sdpa_attention_forward(module, q, k, v, mask, scaling=0.5)
    assert torch.allclose(packed, expected, atol=1e-5)
    # a padded key gets no attention: changing its value changes nothing
    v2 = v.clone()
    v2[1, :, 4:] = 100.0
    assert torch.allclose(
        packed_attention(module, q, k, v2, mask, scaling=0.5, dropout=1e-9)[0][1], packed[1], atol=1e-5
    )


def test_a_model_with_packed_dropout_evaluates_and_saves_as_before(tiny_base, tmp_path):
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(3)
    model = AutoModelForTokenClassification.from_pretrained(tiny_base, num_labels=5)
    model.eval()
    ids = torch.randint(1000, 5000, (2, 12))
    attention = torch.ones(2, 12, dtype=torch.long)
    attention[1, 9:] = 0
    before = model(input_ids=ids, attention_mask=attention).logits

    assert use_packed_dropout(model) > 0
    assert not any(type(m) is torch.nn.Dropout for m in model.modules())
    after = model(input_ids=ids, attention_mask=attention).logits
    assert torch.allclose(after, before, atol=1e-5)

    model.train()
    first = model(input_ids=ids, attention_mask=attention).logits
    second = model(input_ids=ids, attention_mask=attention).logits
    assert not torch.allclose(first, second)  # dropout is on
    first.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)

    model.eval()
    model.save_pretrained(tmp_path / "saved")
    assert "packed" not in (tmp_path / "saved" / "config.json").read_text(encoding="utf-8")
    reloaded = AutoModelForTokenClassification.from_pretrained(tmp_path / "saved")
    reloaded.eval()
    assert torch.allclose(reloaded(input_ids=ids, attention_mask=attention).logits, before, atol=1e-5)


def test_dropout_masks_setting():
    assert config_from_dict({}).dropout_masks == "torch"
    assert config_from_dict({"dropout_masks": "packed"}).dropout_masks == "packed"
    with pytest.raises(ConfigError, match="dropout_masks must be torch or packed"):
        config_from_dict({"dropout_masks": "auto"})


def test_a_model_without_attention_functions_gets_its_dropout_modules_swapped():
    """MPNet applies attention dropout through an ``nn.Dropout`` module of its own."""
    from transformers import MPNetConfig, MPNetForTokenClassification

    config = MPNetConfig(
        vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    model = MPNetForTokenClassification(config)
    attention_dropouts = [m for name, m in model.named_modules() if name.endswith("attn.dropout")]
    assert attention_dropouts and all(type(m) is torch.nn.Dropout for m in attention_dropouts)
    assert use_packed_dropout(model) > len(attention_dropouts)
    assert model.config._attn_implementation != "conflict-ie-packed-dropout"
    assert all(
        type(m).__name__ == "PackedDropout" for name, m in model.named_modules() if name.endswith("dropout")
    )
    model.train()
    ids = torch.randint(5, 1000, (2, 16))
    model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.sum().backward()
