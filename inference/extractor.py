"""``Extractor``: load a trained model once, extract entities from many texts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from inference.alignment import (
    SpecialTokens,
    TokenizedText,
    Unit,
    Window,
    assign_units,
    join_split_names,
    make_windows,
    spans_from_unit_probs,
    tokenize_text,
)
from inference.batching import similar_length_batches, window_collator
from inference.cpu import cpu_kind
from inference.model_dir import (
    check_model_dir,
    load_model_and_tokenizer,
    load_tokenizer,
    read_settings,
    resolve_device,
    resolve_precision,
    settings_min_scores,
)
from inference.results import CountValue, Entity, TextResult
from inference.schema import DEFAULT_SCHEMA, LabelSchema, read_schema, schema_from_tag_names
from inference.text.actors import ActorTable, actor_table
from inference.text.counts import parse_count
from inference.text.events import build_event
from inference.text.records import build_records


class Backend(Protocol):
    """Runs the network: padded id and mask arrays in, tag probabilities out."""

    device: str

    def probabilities(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...


class TorchBackend:
    """``precision`` as ``resolve_precision`` returns it: "fp32", "bf16" (autocast, so layer norms
    and softmax stay float32) or "fp16" (CUDA: the weights themselves in float16)."""

    def __init__(self, model: Any, device: str, precision: str = "fp32") -> None:
        import torch

        if precision == "fp16":
            model = model.half()
        self.model = model
        self.device = device
        self.precision = precision
        self._autocast_dtype = torch.bfloat16 if precision == "bf16" else None

    def probabilities(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        import torch

        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        autocast = torch.autocast(
            device_type, dtype=self._autocast_dtype, enabled=self._autocast_dtype is not None
        )
        with torch.inference_mode(), autocast:
            logits = self.model(
                input_ids=torch.from_numpy(input_ids).to(self.device),
                attention_mask=torch.from_numpy(attention_mask).to(self.device),
            ).logits
            return torch.softmax(logits.float(), dim=-1).cpu().numpy()


CPU_BATCH_SIZE = 16
GPU_BATCH_SIZE = 64


@dataclass
class UnitProbabilities:
    """A text's units (``inference.alignment.Unit``) and their tag probabilities, one row each."""

    units: list[Unit]
    probs: np.ndarray


@dataclass
class _WindowJob:
    document: int
    window: Window
    input_ids: list[int]


def backend_of(model_dir: str | Path) -> str:
    """The backend ``auto`` loads ``model_dir`` with: "openvino", "onnx" or "torch"."""
    from inference.backends.onnx import is_onnx_dir
    from inference.backends.openvino import is_openvino_dir

    if is_openvino_dir(model_dir):
        return "openvino"
    return "onnx" if is_onnx_dir(model_dir) else "torch"


def check_model(model_dir: str | Path, precision: str = "auto") -> Path:
    """Refuse a directory that ``Extractor.from_pretrained`` could not load, without loading it, with
    the checks of the backend ``auto`` would use. Returns the directory that would be loaded."""
    from inference.backends.onnx import choose_onnx_directory
    from inference.backends.openvino import choose_directory

    backend = backend_of(model_dir)
    if backend == "openvino":
        return choose_directory(model_dir, precision)[0]
    if backend == "onnx":
        return choose_onnx_directory(model_dir, precision)
    return check_model_dir(model_dir)


def _load_backend(
    model_dir: str | Path, backend: str, device: str, threads: int | None, precision: str
) -> tuple[Backend, Path, dict[int, str], Any]:
    """(runner, model directory, id -> tag name, tokenizer) for ``Extractor.from_pretrained``."""
    from inference.backends.onnx import load_onnx
    from inference.backends.openvino import load_openvino

    if backend == "auto":
        backend = backend_of(model_dir)
    if backend == "openvino":
        runner, directory, id2label = load_openvino(model_dir, device, threads, precision)
        return runner, directory, id2label, load_tokenizer(directory)
    if backend == "onnx":
        runner, directory, id2label = load_onnx(model_dir, device, threads, precision)
        return runner, directory, id2label, load_tokenizer(directory)
    if backend != "torch":
        raise ValueError(f"unknown backend {backend!r}: use 'auto', 'torch', 'onnx' or 'openvino'")
    directory = check_model_dir(model_dir)
    resolved = resolve_device(device)
    chosen = resolve_precision(precision, resolved)
    if threads and resolved == "cpu":
        import torch

        torch.set_num_threads(threads)
    model, tokenizer = load_model_and_tokenizer(directory, resolved)
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    return TorchBackend(model, resolved, chosen), directory, id2label, tokenizer


class Extractor:
    """Tags casualty counts, victim types and perpetrators in raw texts.

    >>> extractor = Extractor.from_pretrained("runs/default/model")
    >>> extractor.extract(["Gunmen killed 12 villagers."])
    [[Entity(label='PERPETRATOR', start=0, end=6, text='Gunmen', score=...), ...]]
    """

    def __init__(
        self,
        backend: Backend,
        tokenizer: Any,
        id2label: dict[int, str],
        max_length: int = 256,
        stride: int = 64,
        batch_size: int = 16,
        min_scores: dict[str, float] | None = None,
        schema: LabelSchema | None = None,
        actors: str | Path | ActorTable | None = None,
    ) -> None:
        self.backend = backend
        # Perpetrator spans to actor ids in records and events; None: the shipped Syrian-war table.
        self.actors = actor_table(actors)
        self.tokenizer = tokenizer
        self.tag_names = [id2label[i] for i in range(len(id2label))]
        # The model directory's schema; without one, the labels and outcomes its tags name.
        self.schema = schema or schema_from_tag_names(self.tag_names)
        self.batch_size = batch_size
        self.max_length = max_length
        self.stride = stride
        # Spans of a label scoring under its minimum are dropped (``training.finetune.calibrate``).
        self.min_scores = dict(min_scores or {})
        self._special = SpecialTokens.of(tokenizer)
        self._content_tokens = max_length - self._special.count
        self._prefix = len(self._special.prefix)
        self._collate = window_collator(tokenizer, return_tensors="np")

    @classmethod
    def from_pretrained(
        cls,
        model_dir: str | Path,
        device: str = "auto",
        batch_size: int | None = None,
        *,
        backend: str = "auto",
        threads: int | None = None,
        precision: str = "auto",
        min_scores: dict[str, float] | None = None,
        actors: str | Path | ActorTable | None = None,
    ) -> Extractor:
        """Load a model directory: PyTorch safetensors, ONNX (``model.onnx``) or OpenVINO
        (``model.xml``, or the export directory above its ``fp32/`` and ``int8/``); see ``export``.

        ``batch_size`` is windows per forward pass: by default 16 on CPU, 64 on CUDA.
        ``backend`` is "auto" (by what the directory holds), "torch", "onnx" or "openvino";
        ``threads`` caps CPU threads (for torch this is process-wide). ``precision`` for PyTorch:
        "auto" (float16 on CUDA, bfloat16 on CPUs that multiply it natively, else float32), "fp32",
        "bf16" or "fp16" (CUDA only). The ONNX backend runs what was exported. OpenVINO: "auto"
        picks the fastest the CPU supports (``inference.backends.openvino.AUTO_ORDER``), or "fp32",
        "bf16" (native only) or "int8".
        ``min_scores`` (label -> minimum span score) replaces the model directory's own, the ones
        ``conflict-ie train`` chose on dev; ``{}`` keeps every span.
        ``actors`` replaces the shipped actor alias table (``inference/text/data/actors_syria.yaml``)
        with a YAML file of the same shape or an ``ActorTable``; it is checked before the model loads.
        """
        table = actor_table(actors)
        runner, directory, id2label, tokenizer = _load_backend(model_dir, backend, device, threads, precision)
        settings = read_settings(directory)
        schema = read_schema(directory, [id2label[i] for i in range(len(id2label))])
        if batch_size is None:
            batch_size = GPU_BATCH_SIZE if runner.device.startswith("cuda") else CPU_BATCH_SIZE
        elif batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        return cls(
            runner,
            tokenizer,
            id2label,
            max_length=int(settings["max_length"]),
            stride=int(settings["stride"]),
            batch_size=batch_size,
            min_scores=(
                settings_min_scores(directory, settings, schema.labels) if min_scores is None else min_scores
            ),
            schema=schema,
            actors=table,
        )

    def runtime(self) -> dict[str, str]:
        """What runs the network: backend, device, precision and the CPU kind ``auto`` chose for
        (``inference.cpu.cpu_kind``), for /health, reports and the card."""
        return {
            "backend": type(self.backend).__name__,
            "device": str(getattr(self.backend, "device", "unknown")),
            "precision": str(getattr(self.backend, "precision", "unknown")),
            "cpu": cpu_kind(),
        }

    def extract(self, texts: list[str], progress: bool = False) -> list[list[Entity]]:
        """Entities per text; ``progress`` shows a bar over the model's batches on stderr."""
        return [
            self.decode(text, text_probs)
            for text, text_probs in zip(texts, self.unit_probabilities(texts, progress), strict=True)
        ]

    def unit_probabilities(self, texts: list[str], progress: bool = False) -> list[UnitProbabilities]:
        """Per text, its units and each unit's tag probabilities (one row per unit, columns in
        ``tag_names`` order), each unit read from the window where it has the most context: what
        ``extract`` decodes into entities."""
        tokenized, windows, jobs = self._jobs(texts)
        window_probs = self._run(jobs, progress)
        by_document: list[list[np.ndarray]] = [[] for _ in texts]
        for job, probs in zip(jobs, window_probs, strict=True):
            by_document[job.document].append(probs)
        results = []
        for t, doc_windows, probs in zip(tokenized, windows, by_document, strict=True):
            owners = assign_units(t, doc_windows)
            rows = [
                probs[owner][self._prefix + unit.token - doc_windows[owner].start]
                for unit, owner in zip(t.units, owners, strict=True)
            ]
            matrix = np.stack(rows) if rows else np.zeros((0, len(self.tag_names)), dtype=np.float32)
            results.append(UnitProbabilities(t.units, matrix))
        return results

    def extract_records(self, texts: list[str], progress: bool = False) -> list[TextResult]:
        """Per text its entities as ``extract`` gives them and records linking each count to its
        victims and perpetrator (``inference.text.records``); ``records`` is None for a schema without
        a count role."""
        results = self.extract(texts, progress)
        if not self.schema.has_records:
            return [TextResult(entities) for entities in results]
        return [
            TextResult(entities, build_records(text, self._in_roles(entities), self.actors))
            for text, entities in zip(texts, results, strict=True)
        ]

    def _in_roles(self, entities: list[Entity]) -> list[Entity]:
        """The entities that play a role, labelled as the record linker knows them; the same
        entities for the default schema."""
        if self.schema.roles == DEFAULT_SCHEMA.roles:
            return entities
        relabelled = [(self.schema.role_label(e.label), e) for e in entities]
        return [replace(e, label=role) for role, e in relabelled if role is not None]

    def extract_events(self, texts: list[str], progress: bool = False) -> list[dict[str, Any]]:
        """Per text the JSON of ``extract_records`` plus ``"event"``: the main event's killed and
        injured totals by category, actor id and cause (``inference.text.events``)."""
        return [
            {**result.to_dict(), "event": self._event(text, result)}
            for text, result in zip(texts, self.extract_records(texts, progress), strict=True)
        ]

    def _event(self, text: str, result: TextResult) -> dict[str, Any]:
        return build_event(text, result.entities, result.records or [], self.actors).to_dict()

    def model_inputs(self, texts: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The padded ``(input_ids, attention_mask)`` batches ``extract`` feeds the backend for
        ``texts``: what int8 calibration should see."""
        jobs = self._jobs(texts)[2]
        for batch in similar_length_batches([len(job.input_ids) for job in jobs], self.batch_size):
            yield self._pad(jobs, batch)

    def _jobs(self, texts: list[str]) -> tuple[list[TokenizedText], list[list[Window]], list[_WindowJob]]:
        if isinstance(texts, str):
            raise TypeError("extract() takes a list of texts, not a single string")
        tokenized = [tokenize_text(self.tokenizer, text) for text in texts]
        windows = [make_windows(t, self._content_tokens, self.stride) for t in tokenized]
        jobs = [
            _WindowJob(doc, window, self._special.wrap(t.token_ids[window.start : window.end]))
            for doc, (t, doc_windows) in enumerate(zip(tokenized, windows, strict=True))
            for window in doc_windows
        ]
        return tokenized, windows, jobs

    def _pad(self, jobs: list[_WindowJob], batch: list[int]) -> tuple[np.ndarray, np.ndarray]:
        padded = self._collate([{"input_ids": jobs[i].input_ids} for i in batch])
        return padded["input_ids"], padded["attention_mask"]

    def _run(self, jobs: list[_WindowJob], progress: bool = False) -> list[np.ndarray]:
        """Forward every window, in batches of similar length so that padding stays small."""
        batches: Iterable[list[int]] = similar_length_batches(
            [len(job.input_ids) for job in jobs], self.batch_size
        )
        if progress:
            from tqdm.auto import tqdm  # a dependency of transformers

            batches = tqdm(list(batches), desc="batches", unit="batch")
        results: list[np.ndarray | None] = [None] * len(jobs)
        for batch in batches:
            probs = self.backend.probabilities(*self._pad(jobs, batch))
            for row, i in enumerate(batch):
                results[i] = probs[row, : len(jobs[i].input_ids)]
        return [r for r in results if r is not None]

    def decode(self, text: str, text_probs: UnitProbabilities) -> list[Entity]:
        """The entities of one text from its ``unit_probabilities`` (what ``extract`` returns for it),
        so that a caller needing both the probabilities and the entities runs the model once."""
        # Names are joined before the minimums, as calibration (which decodes without them) sees them.
        decoded = spans_from_unit_probs(text_probs.units, text_probs.probs.tolist(), self.tag_names)
        entities = []
        for span, score in join_split_names(text, decoded):
            if score < self.min_scores.get(span.label, 0.0):
                continue
            words = text[span.start : span.end]
            count = CountValue.of(parse_count(words)) if span.label == self.schema.count else None
            entities.append(
                Entity(span.label, span.start, span.end, words, round(float(score), 4), span.outcome, count)
            )
        return entities
