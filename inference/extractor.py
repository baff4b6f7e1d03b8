"""``Extractor``: load a trained model once, extract entities from many texts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from inference.alignment import (
    SpecialTokens,
    TokenizedText,
    Window,
    assign_units,
    make_windows,
    spans_from_unit_probs,
    tokenize_text,
)
from inference.counts import parse_count
from inference.model_dir import (
    check_model_dir,
    load_model_and_tokenizer,
    load_tokenizer,
    read_settings,
    resolve_device,
)
from inference.records import build_records
from inference.spans import CASUALTY_COUNT


class Backend(Protocol):
    """Runs the network: padded id and mask arrays in, tag probabilities out."""

    def probabilities(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...


class TorchBackend:
    def __init__(self, model: Any, device: str, half: bool = False) -> None:
        if half:
            if not device.startswith("cuda"):
                raise ValueError(f"half precision needs a CUDA device, not {device!r}")
            model = model.half()
        self.model = model
        self.device = device

    def probabilities(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            logits = self.model(
                input_ids=torch.from_numpy(input_ids).to(self.device),
                attention_mask=torch.from_numpy(attention_mask).to(self.device),
            ).logits
            return torch.softmax(logits.float(), dim=-1).cpu().numpy()


@dataclass
class _WindowJob:
    document: int
    window: Window
    input_ids: list[int]


class Extractor:
    """Tags casualty counts, victim types and perpetrators in raw texts.

    >>> extractor = Extractor.from_pretrained("runs/default/model")
    >>> extractor.extract(["Gunmen killed 12 villagers."])
    [[{'label': 'PERPETRATOR', 'start': 0, 'end': 6, 'text': 'Gunmen', 'score': ...}, ...]]
    """

    def __init__(
        self,
        backend: Backend,
        tokenizer: Any,
        id2label: dict[int, str],
        max_length: int = 256,
        stride: int = 64,
        batch_size: int = 16,
    ) -> None:
        self.backend = backend
        self.tokenizer = tokenizer
        self.tag_names = [id2label[i] for i in range(len(id2label))]
        self.batch_size = batch_size
        self.max_length = max_length
        self.stride = stride
        self._special = SpecialTokens.of(tokenizer)
        self._content_tokens = max_length - self._special.count
        self._prefix = len(self._special.prefix)

    @classmethod
    def from_pretrained(
        cls,
        model_dir: str | Path,
        device: str = "auto",
        batch_size: int = 16,
        *,
        backend: str = "auto",
        threads: int | None = None,
        half: bool = False,
    ) -> Extractor:
        """Load a model directory: PyTorch safetensors, or ONNX (``model.onnx``, see ``export``).

        ``backend`` is "auto" (ONNX when the directory holds ``model.onnx``), "torch" or "onnx";
        ``threads`` caps CPU threads (for torch this is process-wide); ``half`` runs the PyTorch
        model in float16, CUDA only.
        """
        from inference.onnx_backend import is_onnx_dir, load_onnx

        if backend == "auto":
            backend = "onnx" if is_onnx_dir(model_dir) else "torch"
        runner: Backend
        if backend == "onnx":
            if half:
                raise ValueError("half precision is for the PyTorch backend; export an int8 model instead")
            runner, directory, id2label = load_onnx(model_dir, device, threads)
            tokenizer = load_tokenizer(directory)
        elif backend == "torch":
            directory = check_model_dir(model_dir)
            resolved = resolve_device(device)
            if threads and resolved == "cpu":
                import torch

                torch.set_num_threads(threads)
            model, tokenizer = load_model_and_tokenizer(directory, resolved)
            id2label = {int(k): v for k, v in model.config.id2label.items()}
            runner = TorchBackend(model, resolved, half=half)
        else:
            raise ValueError(f"unknown backend {backend!r}: use 'auto', 'torch' or 'onnx'")
        settings = read_settings(directory)
        return cls(
            runner,
            tokenizer,
            id2label,
            max_length=int(settings["max_length"]),
            stride=int(settings["stride"]),
            batch_size=batch_size,
        )

    def extract(self, texts: list[str], progress: bool = False) -> list[list[dict[str, Any]]]:
        """Entities per text; ``progress`` shows a bar over the model's batches on stderr."""
        if isinstance(texts, str):
            raise TypeError("extract() takes a list of texts, not a single string")
        tokenized = [tokenize_text(self.tokenizer, text) for text in texts]
        windows = [make_windows(t, self._content_tokens, self.stride) for t in tokenized]
        jobs = [
            _WindowJob(doc, window, self._special.wrap(t.token_ids[window.start : window.end]))
            for doc, (t, doc_windows) in enumerate(zip(tokenized, windows, strict=True))
            for window in doc_windows
        ]
        window_probs = self._run(jobs, progress)
        by_document: list[list[np.ndarray]] = [[] for _ in texts]
        for job, probs in zip(jobs, window_probs, strict=True):
            by_document[job.document].append(probs)
        return [
            self._decode(text, t, w, p)
            for text, t, w, p in zip(texts, tokenized, windows, by_document, strict=True)
        ]

    def extract_records(self, texts: list[str], progress: bool = False) -> list[dict[str, Any]]:
        """Per text ``{"entities": [...], "records": [...]}``: entities as ``extract`` gives them,
        records linking each count to its victims and perpetrator (``inference.records``)."""
        results = self.extract(texts, progress)
        return [
            {"entities": entities, "records": build_records(text, entities)}
            for text, entities in zip(texts, results, strict=True)
        ]

    def _run(self, jobs: list[_WindowJob], progress: bool = False) -> list[np.ndarray]:
        """Forward every window, batched by similar length so padding stays small."""
        order = sorted(range(len(jobs)), key=lambda i: len(jobs[i].input_ids), reverse=True)
        results: list[np.ndarray | None] = [None] * len(jobs)
        pad_id = self.tokenizer.pad_token_id or 0
        starts: Iterable[int] = range(0, len(order), self.batch_size)
        if progress:
            from tqdm.auto import tqdm  # a dependency of transformers

            starts = tqdm(starts, desc="batches", unit="batch")
        for begin in starts:
            batch = order[begin : begin + self.batch_size]
            width = max(len(jobs[i].input_ids) for i in batch)
            input_ids = np.full((len(batch), width), pad_id, dtype=np.int64)
            attention_mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                ids = jobs[i].input_ids
                input_ids[row, : len(ids)] = ids
                attention_mask[row, : len(ids)] = 1
            probs = self.backend.probabilities(input_ids, attention_mask)
            for row, i in enumerate(batch):
                results[i] = probs[row, : len(jobs[i].input_ids)]
        return [r for r in results if r is not None]

    def _decode(
        self, text: str, tokenized: TokenizedText, windows: list[Window], probs: list[np.ndarray]
    ) -> list[dict[str, Any]]:
        owners = assign_units(tokenized, windows)
        unit_probs = [
            probs[owner][self._prefix + unit.token - windows[owner].start].tolist()
            for unit, owner in zip(tokenized.units, owners, strict=True)
        ]
        entities = []
        for span, score in spans_from_unit_probs(tokenized.units, unit_probs, self.tag_names):
            entity: dict[str, Any] = {
                "label": span.label,
                "start": span.start,
                "end": span.end,
                "text": text[span.start : span.end],
                "score": round(float(score), 4),
            }
            if span.outcome is not None:
                entity["outcome"] = span.outcome
            if span.label == CASUALTY_COUNT:
                entity["count"] = parse_count(entity["text"])
            entities.append(entity)
        return entities
