"""Where a training's time and memory go, measured on the pieces ``train`` itself runs.

For a config (the default one unless ``--config``; ``--set KEY=VALUE`` as for ``train``) it times
loading and checking the data, tokenizing the windows (uncached, then from the cache), the forward
pass, backward pass and clipped optimizer step of sampled real batches of an epoch (after warm-up
steps) under each mixed precision side by side, a dev evaluation, an epoch checkpoint and the final
calibration and save. It counts the padding of one epoch's length-grouped batches and the tokens
the stride repeats, and records the peak RSS of every phase (the kernel's high-water mark, reset
before each phase where /proc allows) with what holds memory: weights, gradients and optimizer
state, the tensors autograd keeps for the backward pass of the longest batch, the windows.
From these it estimates a full training (steps per epoch x epochs) and each part's share, and
sets the encoder arithmetic of a full training against the matrix-multiply rate this CPU sustains
on the model's shapes in each precision (``roofline.py``): the least time forward and backward
could take, whatever the implementation.
The phases run in this order in one process, as in ``train``: a phase's RSS includes what the
allocator kept from the ones before (the steps of the first precision, for the second).

    PYTHONPATH=. .venv/bin/python benchmarks/profile_training.py [--config training/configs/default.yaml]
        [--set KEY=VALUE ...] [--steps 20] [--warmup 2] [--precisions no bf16] [--output profile.json]

Nothing is written but ``--output``; the window cache and the saved model go to a temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.finetune.step import StepSettings

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
MB = 1024 * 1024
STEP_PARTS = ("forward", "backward", "optimizer")


# --- memory -------------------------------------------------------------------------------------


def _status_mb(key: str) -> float | None:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status in MB (None where there is no /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb() -> float:
    current = _status_mb("VmRSS")
    return current if current is not None else peak_mb()


def peak_mb() -> float:
    """The process's peak RSS since the last ``reset_peak`` (since start where it cannot be reset)."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> bool:
    """Start a new high-water mark (Linux: ``5`` into /proc/self/clear_refs); False where not allowed.
    It resets ``ru_maxrss`` too: a ``/usr/bin/time -v`` around the profile sees the last phases only."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Phases:
    """Seconds, RSS before and after, and peak RSS of each named phase, in the order run."""

    results: dict[str, dict[str, float]] = field(default_factory=dict)
    peak_resets: bool = True

    @contextlib.contextmanager
    def measure(self, name: str) -> Iterator[None]:
        self.peak_resets = reset_peak() and self.peak_resets
        before, started = rss_mb(), time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        after = rss_mb()
        self.results[name] = {
            "seconds": seconds,
            "rss_before_mb": before,
            "rss_after_mb": after,
            # The two are read one after the other from counters the kernel syncs lazily, so the
            # high-water mark can come out a little below the RSS read just before it.
            "peak_rss_mb": max(peak_mb(), after),
        }


def tensor_mb(tensors: Any) -> float:
    return sum(t.numel() * t.element_size() for t in tensors) / MB


def state_memory(model: Any, optimizer: Any) -> dict[str, float]:
    """Weights, gradients (while they exist: zero_grad frees them) and AdamW's moments, in MB."""
    import torch

    parameters = list(model.parameters())
    moments = [v for s in optimizer.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
    return {
        "parameters": sum(p.numel() for p in parameters),
        "weights_mb": tensor_mb(parameters),
        "gradients_mb": tensor_mb(parameters),  # one per weight during backward and the step
        "optimizer_state_mb": tensor_mb(moments),
    }


@contextlib.contextmanager
def saved_for_backward(found: dict[int, tuple[int, bool]]) -> Iterator[None]:
    """Records every tensor storage autograd keeps for the backward pass in ``found``: its bytes,
    and whether it is an attention matrix (batch x heads x length x length: scores, probabilities,
    dropout masks; what ``scaled_dot_product_attention`` keeps when it cannot use a fused kernel)."""
    import torch

    def pack(tensor: Any) -> Any:
        storage = tensor.untyped_storage()
        square = tensor.dim() == 4 and tensor.shape[-1] == tensor.shape[-2] > 1
        found[storage.data_ptr()] = (storage.nbytes(), square)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        yield


# --- data -----------------------------------------------------------------------------------------


def padding_and_overlap(loader: Any, features: list[Any], documents: list[Any], tokenizer: Any) -> dict:
    """Real and padded tokens over one epoch of the loader's batches, and the tokens that windows
    repeat because of the stride (window tokens without special tokens minus the documents' tokens)."""
    from inference.alignment import SpecialTokens, tokenize_text

    real = padded = 0
    for batch in loader:
        real += int(batch["attention_mask"].sum())
        padded += batch["attention_mask"].numel()
    special = SpecialTokens.of(tokenizer).count
    window_tokens = sum(len(f.input_ids) - special for f in features)
    document_tokens = sum(len(tokenize_text(tokenizer, d.text).token_ids) for d in documents)
    return {
        "batches": len(loader),
        "windows": len(features),
        "real_tokens": real,
        "padded_tokens": padded,
        "padding_share": (padded - real) / padded,
        "document_tokens": document_tokens,
        "window_tokens": window_tokens,
        "overlap_tokens": window_tokens - document_tokens,
        "overlap_share": (window_tokens - document_tokens) / window_tokens,
    }


def sample_batches(loader: Any, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` batches drawn at random from one epoch of the loader, in their epoch order."""
    chosen = set(random.Random(seed).sample(range(len(loader)), min(count, len(loader))))
    return [batch for index, batch in enumerate(loader) if index in chosen]


# --- steps ----------------------------------------------------------------------------------------


@dataclass
class StepTimer:
    """``train_step``'s ``mark``: seconds since the previous mark, by part."""

    synchronize: Callable[[], None]
    seconds: dict[str, float] = field(default_factory=dict)
    last: float = field(default_factory=time.perf_counter)

    def __call__(self, part: str) -> None:
        self.synchronize()
        now = time.perf_counter()
        self.seconds[part] = self.seconds.get(part, 0.0) + now - self.last
        self.last = now


def prepared_training(variant: Variant, config: Any, base_model: str, schema: Any, steps: int) -> tuple:
    """Accelerator, model, optimizer and scheduler as ``train`` prepares them, for ``variant``'s
    precision and dropout masks."""
    from accelerate.utils import set_seed

    from training.finetune.dropout import apply_dropout_masks
    from training.finetune.train import build_optimizer, load_base_model, start_accelerator

    accelerator = start_accelerator(replace(config, mixed_precision=variant.precision))
    set_seed(config.seed)
    model, _ = load_base_model(base_model, schema, config.attention_dropout)
    apply_dropout_masks(model, variant.dropout_masks or config.dropout_masks)
    optimizer, scheduler = build_optimizer(model, config, steps=steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    model.train()
    return accelerator, model, optimizer, scheduler


def profile_steps(
    prepared: tuple, batches: list[dict[str, Any]], warmup: int, settings: StepSettings
) -> dict[str, Any]:
    """Forward, backward and optimizer seconds of ``train_step`` on each batch after ``warmup``."""
    import torch

    from training.finetune.step import train_step

    accelerator, model, optimizer, scheduler = prepared
    device = accelerator.device
    synchronize = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    steps = []
    rss_after_warmup = rss_mb()
    for index, batch in enumerate(batches):
        batch = {k: v.to(device) for k, v in batch.items()}
        timer = StepTimer(synchronize)
        train_step(model, batch, optimizer, scheduler, accelerator, settings, timer)
        if index + 1 == warmup:
            rss_after_warmup = rss_mb()
        if index >= warmup:
            mask = batch["attention_mask"]
            sizes = {"tokens": int(mask.sum()), "padded_tokens": mask.numel(), "rss_after_mb": rss_mb()}
            steps.append({**timer.seconds, **sizes})
    return summarise_steps(steps, rss_after_warmup)


def summarise_steps(steps: list[dict[str, float]], rss_after_warmup: float) -> dict[str, Any]:
    total = {key: sum(s[key] for s in steps) for key in (*STEP_PARTS, "tokens", "padded_tokens")}
    seconds = sum(total[part] for part in STEP_PARTS)
    return {
        "steps": len(steps),
        "seconds": {part: total[part] for part in STEP_PARTS},
        "seconds_per_step": seconds / len(steps),
        "tokens_per_second": total["tokens"] / seconds,
        "forward_backward_seconds_per_padded_token": (total["forward"] + total["backward"])
        / total["padded_tokens"],
        "tokens": total["tokens"],
        "padded_tokens": total["padded_tokens"],
        "rss_growth_over_steps_mb": rss_mb() - rss_after_warmup,
        "per_step": steps,
    }


def longest_step_memory(prepared: tuple, batch: dict[str, Any], settings: StepSettings) -> dict[str, Any]:
    """What one step on the epoch's largest batch holds: the tensors saved for backward (of its
    largest micro-batch), the state, and the step's peak RSS above the RSS before it."""
    from training.finetune.step import train_step

    accelerator, model, optimizer, scheduler = prepared
    batch = {k: v.to(accelerator.device) for k, v in batch.items()}
    found: dict[int, tuple[int, bool]] = {}
    pieces: list[tuple[float, float]] = []  # (saved, attention matrices) of each micro-batch, MB

    def after_each_backward(part: str) -> None:
        if part == "backward":
            sizes = list(found.values())
            pieces.append((sum(n for n, _ in sizes) / MB, sum(n for n, square in sizes if square) / MB))
            found.clear()

    reset_peak()
    before = rss_mb()
    with saved_for_backward(found):
        train_step(model, batch, optimizer, scheduler, accelerator, settings, after_each_backward)
    config = accelerator.unwrap_model(model).config
    return {
        "batch_shape": list(batch["input_ids"].shape),
        "attention": {
            "implementation": config._attn_implementation,
            "dropout": config.attention_probs_dropout_prob,
        },
        "micro_batches": len(pieces),
        "saved_for_backward_mb": max(saved for saved, _ in pieces),
        "attention_matrices_mb": max(attention for _, attention in pieces),
        "step_peak_above_before_mb": peak_mb() - before,
        **state_memory(model, optimizer),
    }


# --- the run --------------------------------------------------------------------------------------


def cpu_description() -> dict[str, Any]:
    import torch

    from inference import cpu

    threads = torch.get_num_threads()
    return {**cpu.cpu_description(), "native_bf16": cpu.native_bf16(), "torch_threads": threads}


@dataclass(frozen=True)
class Variant:
    """One way of stepping that is timed: a mixed precision and the step settings."""

    name: str
    precision: str
    settings: StepSettings
    dropout_masks: str | None = None  # None: the config's


def step_variants(
    config: Any,
    schema: Any,
    precisions: list[str],
    micro_batch_sizes: list[int],
    dropout_masks: list[str] | None = None,
) -> list[Variant]:
    """Each precision with the config's step settings, then the config's precision with each
    other micro-batch size (named ``<precision>+micro<N>``) and each other dropout mask kind
    (``<precision>+<kind>``)."""
    from training.finetune.step import step_settings

    base = step_settings(config, schema)
    precision = config.mixed_precision
    variants = [Variant(p, p, base) for p in precisions]
    for size in micro_batch_sizes:
        if size != config.micro_batch_size:
            settings = replace(base, micro_batch_size=size)
            variants.append(Variant(f"{precision}+micro{size}", precision, settings))
    for kind in dropout_masks or []:
        if kind != config.dropout_masks:
            variants.append(Variant(f"{precision}+{kind}", precision, base, kind))
    return variants


def profile(
    config: Any,
    steps: int,
    warmup: int,
    precisions: list[str],
    log: Callable[[str], None],
    micro_batch_sizes: list[int] | None = None,
    dropout_masks: list[str] | None = None,
) -> dict:
    """The measurements (see the module docstring) as one JSON-ready mapping."""
    from training.finetune.train import load_base_model, load_data, resolve_base_model, training_loader

    phases = Phases()
    with phases.measure("load_data"):
        data = load_data(config, log)
    variants = step_variants(config, data.schema, precisions, micro_batch_sizes or [], dropout_masks)
    base_model = resolve_base_model(config.base_model)
    with phases.measure("load_model"):
        model, tokenizer = load_base_model(base_model, data.schema, config.attention_dropout)
    given = config.to_dict()
    with tempfile.TemporaryDirectory(prefix="profile-training-") as work:
        config = replace(config, cache_dir=str(Path(work) / "cache"))
        features = tokenize_twice(phases, data, tokenizer, model, config, log)
        with phases.measure("loader"):
            loader, sampler = training_loader(features, tokenizer, config.batch_size, config.seed)
        sampler.set_epoch(1)
        padding = padding_and_overlap(loader, features, data.train, tokenizer)
        batches = sample_batches(loader, warmup + steps, config.seed)
        warmup = min(warmup, len(batches) - 1)  # an epoch shorter than warmup + steps: fewer warm-ups
        largest = max(loader, key=lambda b: b["attention_mask"].numel())
        total_steps = len(loader) * config.epochs
        model_config = model.config
        del model
        results, memory = {}, {}
        for variant in variants:
            log(f"profiling {len(batches) - warmup} steps with {variant.name}")
            with phases.measure(f"steps_{variant.name}"):
                prepared = prepared_training(variant, config, base_model, data.schema, total_steps)
                results[variant.name] = profile_steps(prepared, batches, warmup, variant.settings)
                results[variant.name]["mixed_precision"] = prepared[0].mixed_precision
            memory[variant.name] = longest_step_memory(prepared, largest, variant.settings)
            if variant.name == config.mixed_precision:
                end_of_training(phases, prepared, tokenizer, data, config, Path(work), log)
            del prepared
    names = [variant.name for variant in variants]
    return {
        "cpu": cpu_description(),
        "config": given,
        "profiled": {
            "steps": len(batches) - warmup,
            "warmup": warmup,
            "precisions": precisions,
            "variants": names,
        },
        "data": {"train_documents": len(data.train), "dev_documents": len(data.dev), **padding},
        "steps": results,
        "phases": phases.results,
        "memory": memory_summary(phases, memory, features),
        "estimate": {name: estimate(phases.results, results[name], padding, config) for name in names},
        "arithmetic": arithmetic(model_config, features, results, config.epochs),
    }


def tokenize_twice(phases: Phases, data: Any, tokenizer: Any, model: Any, config: Any, log: Callable) -> list:
    """``cached_windows`` into an empty cache (tokenizes), then again (reads the cache)."""
    from training.finetune.train import cached_windows, start_accelerator

    accelerator = start_accelerator(config)
    output = Path(config.cache_dir).parent / "model"
    for name in ("tokenize_uncached", "tokenize_cached"):
        with phases.measure(name):
            features, step = cached_windows(data, tokenizer, model, config, output, accelerator, log)
        assert step["cached"] == (name == "tokenize_cached")
    return features


def end_of_training(
    phases: Phases, prepared: tuple, tokenizer: Any, data: Any, config: Any, work: Path, log: Callable
) -> None:
    """One epoch's dev evaluation and checkpoint, then the best weights read back, calibrated and saved."""
    from training.finetune.checkpoint import Checkpoints
    from training.finetune.train import evaluate_model, save_best

    accelerator, model, _, _ = prepared
    unwrapped = accelerator.unwrap_model(model)
    device = str(accelerator.device)
    with phases.measure("dev_evaluation"):
        report = evaluate_model(unwrapped, tokenizer, data.dev, config, device, data.schema)
    dev_f1 = report["seqeval_strict"]["micro"]["f1"]
    output = work / "model"
    checkpoints = Checkpoints(output, config, accelerator)
    progress = checkpoints.start_fresh()
    progress.epochs_done, progress.history = 1, [{"epoch": 1, "dev_f1": dev_f1}]
    with phases.measure("checkpoint"):
        checkpoints.save_best(unwrapped)
        checkpoints.save(progress)
    record = {"history": progress.history, "best_epoch": 1, "warnings": []}
    with phases.measure("calibrate_and_save"):
        unwrapped.load_state_dict(checkpoints.load_best())
        save_best(unwrapped, tokenizer, data, config, record, output, device, log)


def memory_summary(phases: Phases, steps: dict[str, dict], features: list[Any]) -> dict[str, Any]:
    """Peak RSS by phase, the largest of them, and what holds memory."""
    peaks = {name: result["peak_rss_mb"] for name, result in phases.results.items()}
    return {
        "peak_rss_mb": max(peaks.values()),
        "peak_phase": max(peaks, key=peaks.__getitem__),
        "peak_rss_by_phase_mb": peaks,
        "peaks_reset_per_phase": phases.peak_resets,
        "windows_in_memory": {
            "windows": len(features),
            "token_ids": sum(len(f.input_ids) for f in features),
            "loader_dataset_rss_mb": phases.results["loader"]["rss_after_mb"]
            - phases.results["loader"]["rss_before_mb"],
        },
        "largest_batch_step": steps,
    }


def estimate(phases: dict[str, dict], steps: dict[str, Any], padding: dict, config: Any) -> dict[str, Any]:
    """A full training's seconds by part: forward and backward scale with an epoch's padded tokens,
    the optimizer step with its batches, dev evaluation and checkpoints with epochs."""
    measured = steps["seconds"]
    per_padded = {part: measured[part] / steps["padded_tokens"] for part in ("forward", "backward")}
    epochs = config.epochs
    parts = {
        "load_data": phases["load_data"]["seconds"],
        "load_model": phases["load_model"]["seconds"],
        "tokenization": phases["tokenize_uncached"]["seconds"],
        "forward": per_padded["forward"] * padding["padded_tokens"] * epochs,
        "backward": per_padded["backward"] * padding["padded_tokens"] * epochs,
        "optimizer": measured["optimizer"] / steps["steps"] * padding["batches"] * epochs,
        "dev_evaluation": phases["dev_evaluation"]["seconds"] * epochs,
        "checkpoints": phases["checkpoint"]["seconds"] * epochs,
        "calibrate_and_save": phases["calibrate_and_save"]["seconds"],
    }
    total = sum(parts.values())
    compute = parts["forward"] + parts["backward"]
    within = {  # parts of forward + backward, not added to the total
        "padding": compute * padding["padding_share"],
        "stride_overlap": compute * (1 - padding["padding_share"]) * padding["overlap_share"],
    }
    return {
        "steps_per_epoch": padding["batches"],
        "epochs": epochs,
        "total_seconds": total,
        "seconds": parts,
        "share": {name: seconds / total for name, seconds in parts.items()},
        "of_forward_backward_seconds": within,
        "of_forward_backward_share": {name: seconds / total for name, seconds in within.items()},
    }


# A training step multiplies three times what a forward pass does: the forward products, then in
# the backward pass the gradients of each product's input and of its weights.
PASSES_PER_STEP = 3
GEMM_DTYPES = {"no": "float32", "bf16": "bfloat16", "fp16": "float16"}


def arithmetic(model_config: Any, features: list[Any], steps: dict[str, Any], epochs: int) -> dict[str, Any]:
    """The encoder arithmetic of a full training (the windows' real tokens, no padding) against this
    CPU's matrix-multiply rate on the model's shapes in each variant's precision: the least time
    forward and backward can take at that rate, and the share of it the measured steps reached."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))  # roofline.py, beside this script
    from roofline import encoder_flops, gemm_gflops

    hidden, inner = model_config.hidden_size, model_config.intermediate_size
    lengths = [len(f.input_ids) for f in features]
    epoch_flops = PASSES_PER_STEP * encoder_flops(model_config, lengths)
    training_gflop = epoch_flops * epochs / 1e9
    tokens = sum(lengths)
    rates: dict[str, float] = {}
    out = {}
    for name, measured in steps.items():
        dtype = GEMM_DTYPES[measured["mixed_precision"]]
        if dtype not in rates:
            rates[dtype] = gemm_gflops(hidden, inner, dtype=dtype)
        seconds = measured["seconds"]["forward"] + measured["seconds"]["backward"]
        reached = epoch_flops / tokens * measured["tokens"] / seconds / 1e9
        out[name] = {
            "gemm_dtype": dtype,
            "training_gflop": training_gflop,
            "epoch_window_tokens": tokens,
            "gemm_gflops_per_s": rates[dtype],
            "least_forward_backward_seconds": training_gflop / rates[dtype],
            "measured_gflops_per_s": reached,
            "share_of_gemm_rate": reached / rates[dtype],
        }
    return out


def markdown(result: dict[str, Any]) -> str:
    """The estimate by part for each precision, the phases' peak RSS, the state and activations."""
    cpu = result["cpu"]
    precisions = result["profiled"]["variants"]
    estimates = result["estimate"]
    lines = [
        f"CPU: {cpu['model_name']} ({cpu['kind']}; flags {', '.join(cpu['flags']) or 'none'}; "
        f"native bf16 {cpu['native_bf16']}; {cpu['torch_threads']} torch threads)",
        f"{result['data']['train_documents']} documents, {result['data']['windows']} windows, "
        f"{estimates[precisions[0]]['steps_per_epoch']} steps x {estimates[precisions[0]]['epochs']} epochs; "
        f"padding {result['data']['padding_share']:.1%} of batch tokens, stride overlap "
        f"{result['data']['overlap_share']:.1%} of window tokens",
        "",
        "| part | " + " | ".join(f"{p}: seconds | {p}: share" for p in precisions) + " |",
        "|---|" + "---|---|" * len(precisions),
    ]
    names = [*estimates[precisions[0]]["seconds"], "padding", "stride_overlap"]
    for name in names:
        cells = []
        for p in precisions:
            seconds = {**estimates[p]["seconds"], **estimates[p]["of_forward_backward_seconds"]}[name]
            cells.append(f"{seconds:.1f} | {seconds / estimates[p]['total_seconds']:.1%}")
        label = f"(within forward+backward) {name}" if name in ("padding", "stride_overlap") else name
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    totals = " | ".join(
        f"{estimates[p]['total_seconds']:.1f} ({estimates[p]['total_seconds'] / 60:.1f} min) | 100%"
        for p in precisions
    )
    lines.append(f"| total | {totals} |")
    lines += ["", "| arithmetic | " + " | ".join(precisions) + " |", "|---|" + "---|" * len(precisions)]
    work = result["arithmetic"]
    for key, form in (
        ("gemm_dtype", "{}"),
        ("training_gflop", "{:,.0f}"),
        ("gemm_gflops_per_s", "{:.1f}"),
        ("least_forward_backward_seconds", "{:.0f}"),
        ("measured_gflops_per_s", "{:.1f}"),
        ("share_of_gemm_rate", "{:.0%}"),
    ):
        lines.append(f"| {key} | " + " | ".join(form.format(work[p][key]) for p in precisions) + " |")
    speeds = ", ".join(f"{p} {result['steps'][p]['tokens_per_second']:.0f}" for p in precisions)
    memory = result["memory"]
    growth = ", ".join(f"{p} {result['steps'][p]['rss_growth_over_steps_mb']:+.0f} MB" for p in precisions)
    lines += [
        "",
        f"training tokens/s (measured steps): {speeds}",
        f"peak RSS {memory['peak_rss_mb']:.0f} MB (in {memory['peak_phase']}); "
        f"RSS over the measured steps: {growth}",
        "",
        "| phase | seconds | peak RSS MB |",
    ]
    lines.append("|---|---|---|")
    for name, phase in result["phases"].items():
        lines.append(f"| {name} | {phase['seconds']:.2f} | {phase['peak_rss_mb']:.0f} |")
    held = memory["largest_batch_step"]
    first = held[precisions[0]]
    lines += [
        "",
        f"one step on the largest batch {first['batch_shape']}, attention "
        f"{first['attention']['implementation']} with dropout {first['attention']['dropout']} (MB):",
        "",
        "| held | " + " | ".join(precisions) + " |",
        "|---|" + "---|" * len(precisions),
    ]
    for key in (
        "weights_mb",
        "gradients_mb",
        "optimizer_state_mb",
        "saved_for_backward_mb",
        "attention_matrices_mb",
        "step_peak_above_before_mb",
    ):
        lines.append(f"| {key} | " + " | ".join(f"{held[p][key]:.0f}" for p in precisions) + " |")
    return "\n".join(lines)


def _resolved_precision(setting: str) -> str:
    import torch

    from training.finetune.config import resolve_mixed_precision

    return resolve_mixed_precision(setting, "cuda" if torch.cuda.is_available() else "cpu")


def main(argv: list[str] | None = None, log: Callable[[str], None] | None = None) -> int:
    from training.finetune.config import DROPOUT_MASKS, ConfigError, load_config, parse_overrides

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "training" / "configs" / "default.yaml"))
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--steps", type=int, default=20, help="sampled batches timed per precision")
    parser.add_argument("--warmup", type=int, default=2, help="batches run before timing")
    parser.add_argument("--precisions", nargs="+", default=["no", "bf16"], choices=["no", "bf16", "fp16"])
    parser.add_argument(
        "--micro-batch-sizes",
        nargs="*",
        type=int,
        default=[],
        help="also time the config's precision with these micro_batch_size values",
    )
    parser.add_argument(
        "--dropout-masks",
        nargs="*",
        default=[],
        choices=DROPOUT_MASKS,
        help="also time the config's precision with these dropout_masks values",
    )
    parser.add_argument("--output", help="write the result as JSON here")
    args = parser.parse_args(argv)
    log = log or (lambda line: print(line, file=sys.stderr))
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be at least 1 and --warmup at least 0")
    try:
        config = load_config(args.config, parse_overrides(args.set))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # The config's own precision is timed too, as what "auto" resolves to on this machine, so it is
    # not timed twice where --precisions already names it.
    config = replace(config, mixed_precision=_resolved_precision(config.mixed_precision))
    precisions = list(dict.fromkeys([*args.precisions, config.mixed_precision]))
    result = profile(
        config, args.steps, args.warmup, precisions, log, args.micro_batch_sizes, args.dropout_masks
    )
    print(markdown(result))
    if args.output:
        from inference.atomic import write_json

        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        write_json(Path(args.output), result, ensure_ascii=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
