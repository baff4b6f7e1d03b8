"""One optimizer step: its loss is the model's own, micro-batches give the whole batch's update,
and label weights reach the B- and I- tags of their label only."""

from __future__ import annotations

import copy
import os
import platform

import pytest

from inference.schema import DEFAULT_SCHEMA
from training.finetune.config import ConfigError, config_from_dict
from training.finetune.step import (
    IGNORED,
    StepSettings,
    _malloc_trim,
    limit_kernel_cache,
    loss_total,
    micro_batches,
    step_settings,
    tag_weights,
    token_loss_sum,
    train_step,
)
from training.finetune.train import load_base_model, start_accelerator


@pytest.fixture(scope="module")
def model_and_batch(tiny_base):
    import torch

    model, tokenizer = load_base_model(str(tiny_base))
    texts = [
        "Rebels shelled the town, killing 12 civilians.",
        "Two soldiers died.",
        "A quiet day.",
        "No news.",
    ]
    batch = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, len(DEFAULT_SCHEMA.tag_names()), batch["input_ids"].shape, generator=generator)
    labels[batch["attention_mask"] == 0] = IGNORED
    labels[:, 0] = IGNORED
    batch["labels"] = labels
    return model, batch


def one_step(model, batch, settings: StepSettings):
    """The weights after one SGD step from ``model``'s (dropout off, so the step is deterministic)."""
    import torch

    model = copy.deepcopy(model).eval()
    accelerator = start_accelerator(config_from_dict({"mixed_precision": "no"}))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    passes: list[str] = []
    with torch.enable_grad():
        loss = train_step(model, batch, optimizer, scheduler, accelerator, settings, passes.append)
    assert passes.count("forward") == len(micro_batches(batch, settings.micro_batch_size))
    return loss, {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.fixture(autouse=True)
def _no_grad_outside_steps():
    import torch

    with torch.no_grad():
        yield


def test_unweighted_loss_is_the_models_own(model_and_batch):
    model, batch = model_and_batch
    model = model.eval()
    expected = model(**batch).loss
    logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    ours = token_loss_sum(logits, batch["labels"], None) / loss_total(batch["labels"], None)
    assert float(ours) == pytest.approx(float(expected), rel=1e-5)


def test_micro_batches_give_the_whole_batchs_update(model_and_batch):
    model, batch = model_and_batch
    whole_loss, whole = one_step(model, batch, StepSettings(max_grad_norm=1.0))
    split_loss, split = one_step(model, batch, StepSettings(max_grad_norm=1.0, micro_batch_size=3))
    assert float(split_loss) == pytest.approx(float(whole_loss), rel=1e-5)
    before = dict(model.named_parameters())
    moved = [name for name in whole if not bool((whole[name] == before[name]).all())]
    assert moved, "the step changed no weight"
    for name in whole:
        assert split[name].allclose(whole[name], atol=1e-6), name


def test_micro_batches_split_rows_in_order(model_and_batch):
    _, batch = model_and_batch
    pieces = micro_batches(batch, 3)
    assert [len(p["input_ids"]) for p in pieces] == [3, 1]
    assert bool((pieces[1]["labels"] == batch["labels"][3:]).all())
    assert micro_batches(batch, 0) == [batch] and micro_batches(batch, 4) == [batch]


def test_label_weights_reach_that_labels_tags_only():
    weights = tag_weights({"PERPETRATOR": 2.0}, DEFAULT_SCHEMA)
    tags = DEFAULT_SCHEMA.tag_names()
    assert len(weights) == len(tags)
    for tag, weight in zip(tags, weights, strict=True):
        assert weight == (2.0 if tag.endswith("-PERPETRATOR") else 1.0), tag
    counts = [t for t, w in zip(tags, weights, strict=True) if t.startswith("B-CASUALTY_COUNT") and w == 1.0]
    assert counts  # every outcome of an unweighted label stays at 1
    assert tag_weights({}, DEFAULT_SCHEMA) is None


def test_weighted_loss_is_a_weighted_mean(model_and_batch):
    import torch

    model, batch = model_and_batch
    logits = model.eval()(**{k: v for k, v in batch.items() if k != "labels"}).logits
    labels = batch["labels"]
    ones = torch.ones(len(DEFAULT_SCHEMA.tag_names()))
    plain = token_loss_sum(logits, labels, None) / loss_total(labels, None)
    assert float(token_loss_sum(logits, labels, ones) / loss_total(labels, ones)) == pytest.approx(
        float(plain)
    )
    heavy = torch.tensor(tag_weights({"PERPETRATOR": 3.0}, DEFAULT_SCHEMA))
    per_token = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORED, reduction="none"
    )
    kept = labels.flatten() != IGNORED
    token_weights = heavy[labels.flatten()[kept]]
    expected = (per_token[kept] * token_weights).sum() / token_weights.sum()
    weighted = token_loss_sum(logits, labels, heavy) / loss_total(labels, heavy)
    assert float(weighted) == pytest.approx(float(expected), rel=1e-5)


def test_default_weight_applies_where_the_schema_has_perpetrators():
    from inference.schema import LabelSchema

    default = config_from_dict({})
    assert default.label_weights == {"PERPETRATOR": 2.0}
    weighted = step_settings(default, DEFAULT_SCHEMA).tag_weights
    assert weighted is not None and max(weighted) == 2.0
    muc4 = LabelSchema(labels=("PERP_IND", "PERP_ORG", "TARGET", "VICTIM", "WEAPON"))
    assert step_settings(default, muc4).tag_weights is None
    with pytest.raises(ConfigError, match="PERPETRATOR not among the schema's labels"):
        step_settings(config_from_dict({"label_weights": {"PERPETRATOR": 3.0}}), muc4)


def test_unknown_weighted_label_is_refused_before_training():
    config = config_from_dict({"label_weights": {"PERPETRATORS": 2.0}})
    with pytest.raises(ConfigError, match=r"label_weights: PERPETRATORS not among the schema's labels"):
        step_settings(config, DEFAULT_SCHEMA)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_memory_is_handed_back_on_glibc():
    trim = _malloc_trim()
    assert trim is not None and trim(0) in (0, 1)


def test_the_kernel_cache_is_limited_unless_the_user_chose_a_size(monkeypatch):
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    limit_kernel_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "16"
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "512")
    limit_kernel_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "512"
