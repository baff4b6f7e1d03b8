"""One optimizer step: the token loss (optionally weighted by label, optionally mixed with a teacher's
(``distil``)), micro-batches, clipping.

A batch may be split into micro-batches of ``micro_batch_size`` windows that go forward and
backward one after another: the loss of each is its share of the whole batch's loss (summed over
its tokens, divided by the batch's total), so the gradient is the one of the whole batch while only
one micro-batch's activations are held at a time.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inference.schema import LabelSchema
from training.finetune.config import DEFAULT_LABEL_WEIGHTS, ConfigError

IGNORED = -100  # the label of special tokens, padding and the non-first pieces of a word


def _silent(_: str) -> None:
    pass


@dataclass(frozen=True)
class StepSettings:
    max_grad_norm: float = 1.0
    micro_batch_size: int = 0  # 0 = the whole batch at once
    tag_weights: tuple[float, ...] | None = None  # per tag id; None = every tag weighs 1
    teacher_weight: float = 0.0  # share of the loss that is the teacher's (batches with "teacher")
    teacher_temperature: float = 1.0


def step_settings(config: Any, schema: LabelSchema) -> StepSettings:
    """The step settings of a training config: ``label_weights`` become one weight per tag."""
    weights = tag_weights(config.label_weights, schema)
    teacher_weight = config.teacher_weight if config.teacher else 0.0
    return StepSettings(
        config.max_grad_norm, config.micro_batch_size, weights, teacher_weight, config.teacher_temperature
    )


def tag_weights(label_weights: dict[str, float], schema: LabelSchema) -> tuple[float, ...] | None:
    """A weight per tag of ``schema``: each ``B-``/``I-`` tag of a weighted label (all its outcomes)
    gets the label's weight, every other tag (``O`` included) 1. The default weights apply to the
    labels of the schema that has them; weights given otherwise must name the schema's labels."""
    if label_weights == DEFAULT_LABEL_WEIGHTS:
        label_weights = {label: w for label, w in label_weights.items() if label in schema.labels}
    if not label_weights:
        return None
    unknown = sorted(set(label_weights) - set(schema.labels))
    if unknown:
        raise ConfigError(
            f"label_weights: {', '.join(unknown)} not among the schema's labels ({', '.join(schema.labels)})"
        )
    return tuple(
        1.0 if tag == "O" else label_weights.get(tag[2:].split(":", 1)[0], 1.0) for tag in schema.tag_names()
    )


def micro_batches(batch: dict[str, Any], size: int) -> list[dict[str, Any]]:
    """``batch`` split along its first dimension into pieces of at most ``size`` rows."""
    rows = len(batch["input_ids"])
    if size <= 0 or size >= rows:
        return [batch]
    starts = range(0, rows, size)
    return [{key: value[start : start + size] for key, value in batch.items()} for start in starts]


def token_loss_sum(logits: Any, labels: Any, weights: Any | None) -> Any:
    """Cross-entropy summed over the labelled tokens, each weighted by its gold tag's weight."""
    import torch

    return torch.nn.functional.cross_entropy(
        logits.float().flatten(0, 1), labels.flatten(), weight=weights, ignore_index=IGNORED, reduction="sum"
    )


def teacher_loss_sum(logits: Any, teacher: Any, labels: Any, weights: Any | None, temperature: float) -> Any:
    """KL divergence from the teacher's tag distribution to the model's, both softened by
    ``temperature``, times its square (so that its gradients keep their scale as it changes),
    summed over the labelled tokens, each weighted by its gold tag's weight as in ``token_loss_sum``."""
    import torch

    labelled = labels != IGNORED
    log_model = torch.log_softmax(logits.float()[labelled] / temperature, dim=-1)
    log_teacher = torch.log_softmax(teacher[labelled].clamp(min=1e-12).log() / temperature, dim=-1)
    divergence = (log_teacher.exp() * (log_teacher - log_model)).sum(-1) * temperature**2
    if weights is not None:
        divergence = divergence * weights[labels[labelled]]
    return divergence.sum()


def piece_loss_sum(logits: Any, piece: dict[str, Any], weights: Any | None, settings: StepSettings) -> Any:
    """The gold tags' loss of a (micro-)batch, mixed with the teacher's when it carries one."""
    gold = token_loss_sum(logits, piece["labels"], weights)
    share = settings.teacher_weight
    if "teacher" not in piece or share == 0:
        return gold
    soft = teacher_loss_sum(logits, piece["teacher"], piece["labels"], weights, settings.teacher_temperature)
    return (1 - share) * gold + share * soft


def loss_total(labels: Any, weights: Any | None) -> Any:
    """What the summed loss is divided by: the labelled tokens (their weights, when weighted), as
    ``cross_entropy``'s mean does."""
    labelled = labels != IGNORED
    if weights is None:
        return labelled.sum().clamp(min=1)
    return weights[labels[labelled]].sum().clamp(min=1e-6)


def train_step(
    model: Any,
    batch: dict[str, Any],
    optimizer: Any,
    scheduler: Any,
    accelerator: Any,
    settings: StepSettings,
    mark: Callable[[str], None] = _silent,
) -> Any:
    """One optimizer step on ``batch``; returns the batch's mean loss. ``mark`` is called after each
    forward pass, each backward pass and the optimizer step with their names
    (``benchmarks/profile_training.py`` times them)."""
    import torch

    weights = None
    if settings.tag_weights is not None:
        weights = torch.tensor(settings.tag_weights, device=batch["labels"].device)
    total = loss_total(batch["labels"], weights)
    pieces = micro_batches(batch, settings.micro_batch_size)
    loss = torch.zeros((), device=batch["labels"].device)
    for index, piece in enumerate(pieces):
        # Gradients are reduced across processes once, after the last piece.
        sync = index == len(pieces) - 1
        with contextlib.nullcontext() if sync else accelerator.no_sync(model):
            inputs = {key: value for key, value in piece.items() if key not in ("labels", "teacher")}
            piece_loss = piece_loss_sum(model(**inputs).logits, piece, weights, settings) / total
            mark("forward")
            accelerator.backward(piece_loss)
            mark("backward")
        loss += piece_loss.detach()
    # Without clipping, the fresh head's first large gradients collapse the encoder into
    # predicting the label prior for every token (measured: loss stuck at its entropy).
    accelerator.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()
    release_freed_memory()
    mark("optimizer")
    return loss


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return None


ONEDNN_CACHE_CAPACITY = 16


def limit_kernel_cache() -> None:
    """Keep oneDNN's cache of prepared kernels small (``ONEDNN_PRIMITIVE_CACHE_CAPACITY``, unless
    set). Length-grouped batches come in many shapes and each shape's kernels stay cached (1,024
    by default): a training's memory grew by 204 MB over its first 60 steps with the default and
    by 94 MB with 16, at the same speed. oneDNN reads the variable when it first runs a kernel."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(ONEDNN_CACHE_CAPACITY))


def peak_memory_mb() -> float | None:
    """This process's peak resident memory so far (None where ``resource`` is missing)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS, KiB elsewhere


def release_freed_memory() -> None:
    """Hand the heap's free pages back to the system (glibc). Batches of varying shapes leave the
    heap fragmented, and glibc otherwise keeps the freed memory, so a training's RSS creeps up."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
