"""The full evaluation report of a model, or of any system's predictions, on gold documents.

Beyond ``evaluate``'s scores it holds what a later reader needs without the model: bootstrap
intervals, and per document the predictions, the counts behind every micro score, and the
errors with their context. A fingerprint of the gold (per document and overall) lets
``compare`` refuse reports made on different gold.

``evaluate_extractor`` is the one evaluation path of a model (extract from the gold texts, score),
which training, calibration checks, export and the benchmarks call; ``run_evaluation`` (a model
directory) and ``evaluate_predictions`` (entities in the ``predict`` JSONL shape, from any system)
differ only in where the entities come from: both score them with ``build_report``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.model_dir import RECORD_FILE
from inference.results import Entity
from inference.schema import DEFAULT_SCHEMA, LabelSchema
from inference.spans import Document, Span
from training.evaluation.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, confidence_interval
from training.evaluation.errors import CONTEXT_WORDS, document_errors, error_summary
from training.evaluation.metrics import SECTIONS, document_counts, evaluate
from training.evaluation.predictions import default_tokenizer_path, read_predictions

if TYPE_CHECKING:
    from inference.extractor import Extractor


def document_fingerprint(document: Document) -> str:
    """sha256 of a gold document's id, text and spans (relations left out: not scored here)."""
    spans = [s.to_dict() for s in sorted(document.spans)]
    payload = {"id": document.id, "text": document.text, "spans": spans}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def gold_digest(fingerprints: list[str]) -> str:
    return hashlib.sha256("\n".join(fingerprints).encode()).hexdigest()


def model_record_digest(model_dir: str | Path) -> str | None:
    """sha256 of the model's training record: names the trained model whatever its path."""
    path = Path(model_dir) / RECORD_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def build_report(
    documents: list[Document],
    predicted: list[list[Span]],
    shown: list[list[dict[str, Any]]],
    tokenizer: Any,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    context_words: int = CONTEXT_WORDS,
    schema: LabelSchema = DEFAULT_SCHEMA,
) -> dict[str, Any]:
    """Every score of the ``predicted`` spans (per document) against the gold ``documents``, on the
    word units of ``tokenizer``; ``shown`` is each document's entities as the report lists them (their
    JSON). A ``records`` section when any document has gold relations and the schema has records.
    Per label in ``schema``'s labels. The one scoring path of ``evaluate --model`` and ``--predictions``."""
    report = evaluate(documents, predicted, tokenizer, schema.labels)
    counts = document_counts(documents, predicted, tokenizer, schema.labels)
    report["bootstrap"] = {
        section: confidence_interval([c[section] for c in counts], resamples, seed) for section in SECTIONS
    }
    fingerprints = [document_fingerprint(d) for d in documents]
    per_document = [
        {
            "id": document.id,
            "gold_sha256": fingerprint,
            "entities": document_entities,
            "counts": {
                section: {label: list(triple) for label, triple in by_label.items()}
                for section, by_label in document_counts_row.items()
            },
            "errors": document_errors(document.text, document.spans, spans, context_words),
        }
        for document, fingerprint, document_entities, spans, document_counts_row in zip(
            documents, fingerprints, shown, predicted, counts, strict=True
        )
    ]
    report["errors"] = error_summary(per_document)
    report["gold"] = {"sha256": gold_digest(fingerprints), "documents": len(documents)}
    report["per_document"] = per_document
    if schema.has_records and any(d.relations is not None for d in documents):
        report["records"] = record_scores(documents, predicted)
    return report


def record_scores(documents: list[Document], predicted: list[list[Span]]) -> dict[str, Any]:
    """Links and records from the predicted spans (the whole pipeline) and from the gold spans (the
    linker alone) against the gold relations. Counts are read from the text (a predicted ``count``
    is not trusted)."""
    from inference.text.records import build_records
    from training.corpus.links import link_gold_spans
    from training.evaluation.relations import relation_scores

    records = [build_records(d.text, spans) for d, spans in zip(documents, predicted, strict=True)]
    return {
        "predicted_spans": relation_scores(documents, records),
        "gold_spans": relation_scores(documents, link_gold_spans(documents)),
    }


def evaluate_extractor(
    extractor: Extractor,
    documents: list[Document],
    details: bool = True,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    progress: bool = False,
) -> tuple[dict[str, Any], list[list[Entity]]]:
    """The one evaluation path of a model: extract from the gold texts, score the spans. Returns
    the report and the entities. ``details``: the full report of ``build_report`` (intervals, per
    document errors, records); without, ``evaluate``'s scores alone (training's dev checks, the
    export gate, benchmarks)."""
    entities = extractor.extract([d.text for d in documents], progress=progress)
    predicted = [[e.span for e in found] for found in entities]
    if not details:
        return evaluate(documents, predicted, extractor.tokenizer, extractor.schema.labels), entities
    shown = [[e.to_dict() for e in found] for found in entities]
    report = build_report(
        documents, predicted, shown, extractor.tokenizer, resamples, seed, schema=extractor.schema
    )
    return report, entities


def run_evaluation(
    model: str | Path,
    data: str | Path,
    device: str = "auto",
    batch_size: int | None = None,
    precision: str = "auto",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    progress: bool = False,
) -> tuple[dict[str, Any], list[Document], list[list[Span]]]:
    """Load the gold and the model, extract, build the report: (report, documents, predicted spans)."""
    from inference import Extractor
    from inference.schema import model_schema
    from training.corpus.store import load_documents

    documents = load_documents(data, model_schema(model))
    extractor = Extractor.from_pretrained(model, device=device, batch_size=batch_size, precision=precision)
    scores, entities = evaluate_extractor(extractor, documents, True, resamples, seed, progress)
    report = {
        "model": str(model),
        "data": str(data),
        "model_record_sha256": model_record_digest(model),
        "precision": getattr(extractor.backend, "precision", None),
        "runtime": extractor.runtime(),
        **scores,
    }
    return report, documents, [[e.span for e in found] for found in entities]


def predictions_evaluation(
    predictions: str | Path | list[Any],
    data: str | Path,
    tokenizer: Any = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    schema: LabelSchema | None = None,
) -> tuple[dict[str, Any], list[Document], list[list[Span]]]:
    """Check the predictions against the gold, build the report: (report, documents, predicted spans).

    ``tokenizer`` (a tokenizer, or the directory of one or of a model) gives seqeval its word units;
    by default the packaged all-MiniLM-L6-v2's, which the default model uses. The labels scored are
    ``schema``'s: by default those of the model directory named as ``tokenizer``, else the default
    schema's; a gold or predicted label outside them is refused with its file and line.
    """
    from training.corpus.store import CorpusError, read_documents

    if schema is None:
        schema = _directory_schema(tokenizer)
    located, problems = read_documents(data, schema)
    if problems:
        raise CorpusError(problems)
    entities = read_predictions(predictions, located, str(data), schema)
    if tokenizer is None or isinstance(tokenizer, str | Path):
        from inference.model_dir import load_tokenizer

        source = str(tokenizer) if tokenizer is not None else default_tokenizer_path()
        tokenizer = load_tokenizer(Path(source))
    else:
        source = getattr(tokenizer, "name_or_path", None)
    is_file = not isinstance(predictions, list)
    documents = [document for _, document in located]
    predicted = [[Span.from_dict(e) for e in found] for found in entities]
    report = {
        "predictions": str(predictions) if is_file else None,
        "predictions_sha256": hashlib.sha256(Path(predictions).read_bytes()).hexdigest() if is_file else None,
        "data": str(data),
        "tokenizer": source,
        **build_report(documents, predicted, entities, tokenizer, resamples, seed, schema=schema),
    }
    return report, documents, predicted


def _directory_schema(tokenizer: Any) -> LabelSchema:
    """The schema of a model directory given as the tokenizer; the default schema otherwise."""
    if isinstance(tokenizer, str | Path) and (Path(tokenizer) / "config.json").is_file():
        from inference.schema import model_schema

        config = json.loads((Path(tokenizer) / "config.json").read_text(encoding="utf-8"))
        if "id2label" in config:
            return model_schema(tokenizer)
    return DEFAULT_SCHEMA


def evaluate_predictions(
    predictions: str | Path | list[Any],
    data: str | Path,
    tokenizer: Any = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    schema: LabelSchema | None = None,
) -> dict[str, Any]:
    """The report of ``evaluate --model`` for any system's predictions: a JSONL file or a list of
    ``{"id", "entities": [{"label", "start", "end", "text", "outcome"?}]}`` objects, one per gold
    document, in any order (other fields are ignored). See ``predictions_evaluation``."""
    return predictions_evaluation(predictions, data, tokenizer, resamples, seed, schema)[0]
