"""Model soups: one model whose weights are the mean of several fine-tuned ones.

Fine-tuned copies of one base model (another seed, another learning rate, another epoch count)
usually lie in one basin of the loss, so the mean of their weights works as one model: part of an
ensemble's gain at one model's cost (Wortsman et al. 2022, "Model soups", ICML). ``uniform`` takes
the mean of every ingredient; ``greedy`` ranks the ingredients by dev F1 and adds each one only if
the soup's dev F1 does not fall (the paper's greedy soup), so a bad ingredient is left out.

Dev F1 is the model as it would be saved: exact-span micro F1 once each label's minimum span score
is chosen on the dev file, as ``train`` chooses them (the minimums depend on the weights, so a soup
scored without them would be judged at another model's thresholds). The soup is written like a
trained model (``training_record.json`` is the first chosen ingredient's, with a ``soup`` section
naming every ingredient): an ordinary model directory for ``Extractor``, ``evaluate`` and ``card``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.atomic import staged_directory
from inference.model_dir import RECORD_FILE, TOKENIZER_FILES, check_model_dir, read_settings
from inference.schema import model_schema
from training.finetune.config import ConfigError

METHODS = ("uniform", "greedy")
WEIGHTS_FILE = "model.safetensors"
# config.json fields that must agree for weights to be averaged (the rest is bookkeeping).
SHAPE_FIELDS = (
    "model_type",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "vocab_size",
    "id2label",
)


class SoupError(ConfigError):
    """Ingredients that cannot be averaged; the message names the directory and what differs."""


def check_ingredients(model_dirs: list[Path]) -> None:
    """Refuse fewer than two directories, or any whose architecture, labels, tokenizer or windows
    differ from the first's."""
    if len(model_dirs) < 2:
        raise SoupError(f"a soup needs at least two model directories, got {len(model_dirs)}")
    first = model_dirs[0]
    expected = _fingerprint(first)
    for directory in model_dirs[1:]:
        found = _fingerprint(directory)
        differing = [key for key in expected if expected[key] != found[key]]
        if differing:
            raise SoupError(f"{directory} cannot be averaged with {first}: {', '.join(differing)} differ")


def _fingerprint(directory: Path) -> dict[str, Any]:
    check_model_dir(directory)
    if not (directory / WEIGHTS_FILE).is_file():
        raise SoupError(f"{directory}: no {WEIGHTS_FILE} (sharded or exported weights are not averaged)")
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    settings = read_settings(directory)
    tokenizer = hashlib.sha256()
    for name in TOKENIZER_FILES:
        if (directory / name).is_file():
            tokenizer.update(name.encode() + (directory / name).read_bytes())
    return {
        **{f"config.json {key}": config.get(key) for key in SHAPE_FIELDS},
        "label schema": model_schema(directory).to_dict(),
        "tokenizer": tokenizer.hexdigest(),
        "windows (max_length, stride)": (settings["max_length"], settings["stride"]),
    }


def mean_weights(states: list[dict[str, Any]]) -> dict[str, Any]:
    """The element-wise mean of state dicts with the same keys and shapes, accumulated in float32
    and returned in the first one's dtypes."""
    import torch

    keys = set(states[0])
    for index, state in enumerate(states[1:], start=1):
        if set(state) != keys:
            raise SoupError(f"ingredient {index} has other weight names than ingredient 0")
    mean = {}
    for key, first in states[0].items():
        if any(state[key].shape != first.shape for state in states):
            raise SoupError(f"weight {key} has different shapes across the ingredients")
        total = torch.zeros(first.shape, dtype=torch.float32)
        for state in states:
            total += state[key].float()
        mean[key] = (total / len(states)).to(first.dtype)
    return mean


def make_soup(
    model_dirs: list[str | Path],
    output: str | Path,
    dev_file: str | Path,
    method: str = "greedy",
    device: str = "auto",
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Average ``model_dirs`` into ``output`` (``method``: uniform or greedy), with minimum span
    scores chosen on ``dev_file``; returns the record's ``soup`` section. ``output`` appears only
    complete, and an existing one is replaced only with ``overwrite``."""
    from safetensors.torch import load_file

    from training.evaluation.report import model_record_digest

    if method not in METHODS:
        raise SoupError(f"unknown soup method {method!r}: use {' or '.join(METHODS)}")
    dirs = [Path(d) for d in model_dirs]
    target = Path(output)
    if target.resolve() in {d.resolve() for d in dirs}:
        raise SoupError(f"output {target} is one of the ingredients; write the soup elsewhere")
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise SoupError(f"output directory {target} exists and is not empty (use --overwrite)")
    check_ingredients(dirs)
    score = dev_scorer(dirs[0], dev_file, device)
    states = [load_file(str(d / WEIGHTS_FILE)) for d in dirs]
    alone = [score(state).f1 for state in states]
    for directory, f1 in zip(dirs, alone, strict=True):
        log(f"ingredient {directory}: dev exact-span F1 {f1:.4f} (minimum span scores chosen on dev)")
    chosen, result = choose(states, alone, score, method, lambda i, text: log(f"  + {dirs[i]}: {text}"))
    soup = {
        "method": method,
        "dev_file": str(dev_file),
        "dev_f1": result.f1,
        "ingredients": [
            {
                "model": str(d),
                "record_sha256": model_record_digest(d),
                "dev_f1": alone[i],
                "in_soup": i in chosen,
            }
            for i, d in enumerate(dirs)
        ],
    }
    weights = mean_weights([states[i] for i in chosen])
    _write_soup(dirs[chosen[0]], target, weights, result.min_scores, result.calibration, soup)
    log(
        f"soup of {len(chosen)} of {len(dirs)} models: dev exact-span F1 {result.f1:.4f} (best alone "
        f"{max(alone):.4f}); minimum span scores {result.min_scores or 'none'}; saved {target}"
    )
    return soup


@dataclass
class DevResult:
    f1: float  # exact-span micro F1 with the minimums below
    min_scores: dict[str, float]
    calibration: dict[str, float]  # F1 before and after the minimums


def dev_scorer(template: Path, dev_file: str | Path, device: str) -> Callable[[dict[str, Any]], DevResult]:
    """A function scoring weights on ``dev_file`` as they would be saved: the model of ``template``
    with those weights, each label's minimum span score chosen on the same file."""
    from inference.extractor import Extractor, TorchBackend
    from inference.model_dir import load_model_and_tokenizer, resolve_device
    from training.corpus.store import load_documents
    from training.finetune.calibrate import tune_min_scores

    schema = model_schema(template)
    documents = load_documents(dev_file, schema)
    settings = read_settings(template)
    model, tokenizer = load_model_and_tokenizer(template, resolve_device(device))
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    windows = int(settings["max_length"]), int(settings["stride"])
    extractor = Extractor(
        TorchBackend(model, str(model.device)), tokenizer, id2label, *windows, schema=schema
    )

    def score(weights: dict[str, Any]) -> DevResult:
        model.load_state_dict(weights)
        entities = extractor.extract([d.text for d in documents])
        min_scores, f1 = tune_min_scores(documents, entities, schema.labels)
        return DevResult(f1["after"], min_scores, f1)

    return score


def choose(
    states: list[dict[str, Any]],
    alone: list[float],
    score: Callable[[dict[str, Any]], DevResult],
    method: str,
    log: Callable[[int, str], None],
) -> tuple[list[int], DevResult]:
    """The ingredients of the soup (indices, the best alone first) and its dev result: all of them
    (uniform), or each in turn, best first, kept where the soup's dev F1 does not fall (greedy)."""
    order = sorted(range(len(states)), key=lambda i: -alone[i])
    chosen = order if method == "uniform" else order[:1]
    result = score(mean_weights([states[i] for i in chosen]))
    if method == "greedy":
        for candidate in order[1:]:
            trial = score(mean_weights([states[i] for i in [*chosen, candidate]]))
            log(
                candidate,
                f"dev exact-span F1 {trial.f1:.4f} ({'kept' if trial.f1 >= result.f1 else 'left out'})",
            )
            if trial.f1 >= result.f1:
                chosen, result = [*chosen, candidate], trial
    return chosen, result


def _write_soup(
    template: Path,
    target: Path,
    weights: dict[str, Any],
    min_scores: dict[str, float],
    calibration: dict[str, float],
    soup: dict[str, Any],
) -> None:
    """A copy of ``template`` with the averaged weights, a ``soup`` section in its training record
    and the soup's minimums (written as ``calibrate`` writes them)."""
    from safetensors.torch import save_file

    from inference.atomic import write_json
    from training.corpus.permissions import apply_umask
    from training.finetune.calibrate import write_min_scores

    with staged_directory(target) as staging:
        shutil.copytree(template, staging, dirs_exist_ok=True)
        contiguous = {k: v.contiguous() for k, v in weights.items()}
        save_file(contiguous, str(staging / WEIGHTS_FILE), metadata={"format": "pt"})
        record_path = staging / RECORD_FILE
        record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
        write_json(record_path, {**record, "soup": soup}, ensure_ascii=True)
        write_min_scores(staging, min_scores, {"dev_file": soup["dev_file"], "dev_exact_f1": calibration})
        apply_umask(staging)
