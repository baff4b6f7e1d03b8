"""``conflict-ie``: a thin command line over the library. Heavy imports happen per command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_SPLITS = [f"data/annotations/{split}.jsonl" for split in ("train", "dev", "test")]


class UsageError(ValueError):
    pass


def cmd_validate(args: argparse.Namespace) -> int:
    from training.corpus import read_documents, validate_files

    problems = validate_files(args.paths)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    total = sum(len(read_documents(p)[0]) for p in args.paths)
    print(f"ok: {total} documents in {len(args.paths)} file(s)")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from training.corpus import label_counts, load_documents

    keys = ["CASUALTY_COUNT:killed", "CASUALTY_COUNT:injured", "VICTIM_TYPE", "PERPETRATOR"]
    print(f"{'split':28s} {'docs':>5s} {'words':>7s} " + " ".join(f"{k:>22s}" for k in keys))
    totals: dict[str, int] = {}
    for path in args.paths:
        documents = load_documents(path)
        counts = label_counts(documents)
        words = sum(len(d.text.split()) for d in documents)
        print(
            f"{Path(path).name:28s} {len(documents):5d} {words:7d} "
            + " ".join(f"{counts[k]:22d}" for k in keys)
        )
        for key, value in [("docs", len(documents)), ("words", words)] + [(k, counts[k]) for k in keys]:
            totals[key] = totals.get(key, 0) + value
    print(
        f"{'total':28s} {totals['docs']:5d} {totals['words']:7d} "
        + " ".join(f"{totals[k]:22d}" for k in keys)
    )
    return 0


def _parse_overrides(pairs: list[str]) -> dict[str, Any]:
    import yaml

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--set expects KEY=VALUE, got {pair!r}")
        overrides[key] = yaml.safe_load(value)
    return overrides


def cmd_train(args: argparse.Namespace) -> int:
    from training.config import load_config
    from training.train import train

    config = load_config(args.config, _parse_overrides(args.set))
    train(config, args.output, overwrite=args.overwrite, resume=args.resume)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from inference import Extractor
    from training.corpus import load_documents
    from training.evaluate import entities_to_spans, evaluate, format_report

    documents = load_documents(args.data)
    extractor = Extractor.from_pretrained(args.model, device=args.device)
    entities = extractor.extract([d.text for d in documents])
    predicted = [entities_to_spans(e) for e in entities]
    report = evaluate(documents, predicted, extractor.tokenizer)
    report["model"] = str(args.model)
    report["data"] = str(args.data)
    print(format_report(report))
    if any(d.relations is not None for d in documents):
        from inference.records import build_records
        from training.relations_eval import format_relation_report, link_gold_spans, relation_scores

        records = [build_records(d.text, e) for d, e in zip(documents, entities, strict=True)]
        report["records"] = {
            "predicted_spans": relation_scores(documents, records),
            "gold_spans": relation_scores(documents, link_gold_spans(documents)),
        }
        for name, scores in report["records"].items():
            print(format_relation_report(f"records from {name.replace('_', ' ')}", scores))
    if args.output:
        _write_json(Path(args.output), report)
    return 0


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def read_inputs(paths: list[str]) -> list[tuple[str, str]]:
    """(id, text) pairs from .jsonl files (fields id, text) or plain text files."""
    items: list[tuple[str, str]] = []
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"input file {path} does not exist")
        if path.suffix == ".jsonl":
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError as error:
                    raise UsageError(f"{path}:{number}: invalid JSON ({error.msg})") from error
                if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
                    raise UsageError(f"{path}:{number}: expected an object with a string 'text'")
                items.append((str(raw.get("id", f"{path.name}:{number}")), raw["text"]))
        else:
            items.append((path.stem, path.read_text(encoding="utf-8")))
    return items


def cmd_predict(args: argparse.Namespace) -> int:
    from inference import Extractor

    items = read_inputs(args.files)
    extractor = Extractor.from_pretrained(args.model, device=args.device, batch_size=args.batch_size)
    results = extractor.extract_records([text for _, text in items])
    for (doc_id, _), result in zip(items, results, strict=True):
        print(json.dumps({"id": doc_id, **result}, ensure_ascii=False))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from training.corpus import write_documents
    from training.markup import read_markup

    documents, errors = read_markup(Path(args.input))
    if errors:
        raise UsageError("\n".join(str(e) for e in errors))
    write_documents(args.output, documents)
    print(f"wrote {len(documents)} documents to {args.output}")
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from training.corpus import SPLIT_SHARES, assign_split, load_documents, validate_files, write_documents

    documents = [d for path in args.inputs for d in load_documents(path)]
    by_split: dict[str, list] = {split: [] for split, _ in SPLIT_SHARES}
    for document in documents:
        by_split[assign_split(document.id)].append(document)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    paths = [output / f"{split}.jsonl" for split in by_split]
    for path, split_docs in zip(paths, by_split.values(), strict=True):
        write_documents(path, sorted(split_docs, key=lambda d: d.id))
    problems = validate_files(paths)
    if problems:
        raise UsageError("\n".join(str(p) for p in problems))
    print(" ".join(f"{split}: {len(docs)}" for split, docs in by_split.items()))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from inference.service import BatchSettings, ServiceLimits, serve

    for name in ("max_body_bytes", "max_texts", "max_text_chars", "batch_size"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    serve(
        args.model,
        args.host,
        args.port,
        api_key=args.api_key,
        limits=ServiceLimits(
            max_body_bytes=args.max_body_bytes, max_texts=args.max_texts, max_text_chars=args.max_text_chars
        ),
        batching=BatchSettings(max_wait_ms=args.max_wait_ms),
        device=args.device,
        batch_size=args.batch_size,
        threads=args.threads,
        half=args.half,
        log_level=args.log_level,
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from training.export import ExportError, export

    if args.max_f1_drop < 0:
        raise UsageError("--max-f1-drop must be >= 0")
    try:
        export(args.model, args.output, args.gold, max_f1_drop=args.max_f1_drop, overwrite=args.overwrite)
    except ExportError as error:
        raise UsageError(str(error)) from error
    print(f"wrote {args.output}/fp32 and {args.output}/int8 (details in {args.output}/export.json)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conflict-ie", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check corpus files; every problem with file and line")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("stats", help="documents, words and spans per label and split")
    p.add_argument("paths", nargs="*", default=DEFAULT_SPLITS)
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("train", help="fine-tune a model on the corpus")
    p.add_argument("--config", default="training/configs/default.yaml")
    p.add_argument("--output", required=True, help="model directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.add_argument("--resume", action="store_true", help="continue a killed run from its last checkpoint")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)"
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a model against gold annotations")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--output", help="write the full report as JSON")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="extract entities and casualty records; one JSON line per document")
    p.add_argument("--model", required=True)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("files", nargs="+", help=".jsonl (id, text) or plain text files")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("split", help="split documents into train/dev/test (stable, by id)")
    p.add_argument("inputs", nargs="+", help="corpus .jsonl files")
    p.add_argument("--output-dir", default="data/annotations")
    p.set_defaults(func=cmd_split)

    p = sub.add_parser("convert", help="convert annotations into the corpus format")
    p.add_argument("--from", dest="source_format", choices=["markup"], default="markup")
    p.add_argument("input")
    p.add_argument("--output", required=True)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("serve", help="HTTP service: POST /extract, GET /health, OpenAPI at /docs")
    p.add_argument("--model", required=True, help="model directory (PyTorch or exported ONNX)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", help="require this X-API-Key header on /extract (or set CONFLICT_IE_API_KEY)")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=16, help="windows per forward pass")
    p.add_argument("--threads", type=int, help="CPU threads for the model")
    p.add_argument("--half", action="store_true", help="float16 on CUDA")
    p.add_argument("--max-body-bytes", type=int, default=1024 * 1024)
    p.add_argument("--max-texts", type=int, default=64, help="texts per request")
    p.add_argument("--max-text-chars", type=int, default=50_000, help="characters per text")
    p.add_argument("--max-wait-ms", type=float, default=5.0, help="micro-batching window")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", help="write ONNX fp32 and int8 models, checked for F1 on a gold file")
    p.add_argument("--model", required=True, help="trained model directory")
    p.add_argument("--output", required=True, help="directory to write (fp32/, int8/, export.json)")
    p.add_argument("--gold", help="gold .jsonl: refuse the export if strict F1 drops too much")
    p.add_argument("--max-f1-drop", type=float, default=0.5, help="points of strict F1 (default 0.5)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from inference.model_dir import ModelDirError
    from training.config import ConfigError
    from training.corpus import CorpusError
    from training.features import UnalignedSpanError

    try:
        return args.func(args)
    except (UsageError, ConfigError, CorpusError, ModelDirError, UnalignedSpanError) as error:
        print(f"conflict-ie {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
