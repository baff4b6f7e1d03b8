"""The scripts of benchmarks/ as modules, and the tiny inputs their tests train on."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import yaml
from conftest import CORPUS, ROOT, tiny_training_config

from training.corpus.store import load_documents, write_documents


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def write_tiny_inputs(work: Path, tiny_base: Path, train_documents: int) -> Path:
    """In ``work``: the first ``train_documents`` of the train split, 3 dev documents, 2 test documents
    as ``fakes.jsonl`` (standing in for FA-KES gold-dev) and a config training the tiny base on them.
    Returns the config's path."""
    write_documents(work / "train.jsonl", load_documents(CORPUS / "train.jsonl")[:train_documents])
    write_documents(work / "dev.jsonl", load_documents(CORPUS / "dev.jsonl")[:3])
    write_documents(work / "fakes.jsonl", load_documents(CORPUS / "test.jsonl")[:2])
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_training_config(tiny_base, work)), encoding="utf-8")
    return config
