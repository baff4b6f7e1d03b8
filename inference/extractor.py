"""``Extractor``: load a trained model once, extract entities from many texts."""

from __future__ import annotations

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
from inference.model_dir import check_model_dir, load_model_and_tokenizer, read_settings, resolve_device


class Backend(Protocol):
    """Runs the network: padded id and mask arrays in, tag probabilities out."""

    def probabilities(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...


class TorchBackend:
    def __init__(self, model: Any, device: str) -> None:
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
    def from_pretrained(cls, model_dir: str | Path, device: str = "auto", batch_size: int = 16) -> Extractor:
        directory = check_model_dir(model_dir)
        settings = read_settings(directory)
        resolved = resolve_device(device)
        model, tokenizer = load_model_and_tokenizer(directory, resolved)
        id2label = {int(k): v for k, v in model.config.id2label.items()}
        return cls(
            TorchBackend(model, resolved),
            tokenizer,
            id2label,
            max_length=int(settings["max_length"]),
            stride=int(settings["stride"]),
            batch_size=batch_size,
        )

    def extract(self, texts: list[str]) -> list[list[dict[str, Any]]]:
        if isinstance(texts, str):
            raise TypeError("extract() takes a list of texts, not a single string")
        tokenized = [tokenize_text(self.tokenizer, text) for text in texts]
        windows = [make_windows(t, self._content_tokens, self.stride) for t in tokenized]
        jobs = [
            _WindowJob(doc, window, self._special.wrap(t.token_ids[window.start : window.end]))
            for doc, (t, doc_windows) in enumerate(zip(tokenized, windows, strict=True))
            for window in doc_windows
        ]
        window_probs = self._run(jobs)
        by_document: list[list[np.ndarray]] = [[] for _ in texts]
        for job, probs in zip(jobs, window_probs, strict=True):
            by_document[job.document].append(probs)
        return [
            self._decode(text, t, w, p)
            for text, t, w, p in zip(texts, tokenized, windows, by_document, strict=True)
        ]

    def _run(self, jobs: list[_WindowJob]) -> list[np.ndarray]:
        """Forward every window, batched by similar length so padding stays small."""
        order = sorted(range(len(jobs)), key=lambda i: len(jobs[i].input_ids), reverse=True)
        results: list[np.ndarray | None] = [None] * len(jobs)
        pad_id = self.tokenizer.pad_token_id or 0
        for begin in range(0, len(order), self.batch_size):
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
            entities.append(entity)
        return entities
