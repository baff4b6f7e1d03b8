"""Annotation-tool commands: pre-annotate, suggest."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from inference.atomic import write_text
from inference.model_dir import PRECISIONS
from training.commands.common import (
    BATCH_SIZE_HELP,
    PRECISION_HELP,
    PREDICT_INPUTS,
    UsageError,
    read_inputs,
    refuse_directory_output,
)


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    for add in (_pre_annotate, _suggest):
        add(subparsers)


def _pre_annotate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pre-annotate", help="a model's entities as tasks Label Studio or doccano import as pre-annotations"
    )
    p.add_argument("--model", required=True)
    p.add_argument("files", nargs="+", help=PREDICT_INPUTS)
    p.add_argument("--to", dest="target_format", required=True, choices=["label-studio", "doccano"])
    p.add_argument(
        "--output",
        required=True,
        help="tasks file (Label Studio: JSON, with <name>.label_config.xml beside it; doccano: JSONL)",
    )
    p.add_argument(
        "--model-version", help="shown in the tool (default: the model's name and a digest of its record)"
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    p.add_argument("--batch-size", type=int, help=BATCH_SIZE_HELP)
    p.set_defaults(func=cmd_pre_annotate)


def _suggest(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "suggest", help="the unannotated documents the model is least sure about, with why"
    )
    p.add_argument("--model", required=True)
    p.add_argument("--pool", nargs="+", required=True, help=f"unannotated documents: {PREDICT_INPUTS}")
    p.add_argument("-k", type=int, default=20, help="how many documents to suggest (default 20)")
    p.add_argument("--output", help="write the ranking as JSON Lines (default: print it)")
    p.add_argument(
        "--exclude",
        nargs="*",
        default=[],
        help="corpus files already annotated: their ids and texts are skipped",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    p.add_argument("--batch-size", type=int, help=BATCH_SIZE_HELP)
    p.set_defaults(func=cmd_suggest)


def cmd_pre_annotate(args: argparse.Namespace) -> int:
    from inference import Extractor
    from training.annotate.preannotate import model_version, predict_documents, write_pre_annotations

    refuse_directory_output(args.output)
    items = read_inputs(args.files)
    extractor = Extractor.from_pretrained(
        args.model, device=args.device, batch_size=args.batch_size, precision=args.precision
    )
    documents = predict_documents(extractor, items, progress=True)
    version = args.model_version or model_version(args.model)
    written = write_pre_annotations(args.target_format, args.output, documents, version)
    entities = sum(len(d.entities) for d in documents)
    print(
        f"wrote {len(documents)} {args.target_format} tasks ({entities} pre-annotated entities, model "
        f"version {version}) to {', '.join(map(str, written))}"
    )
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    from inference import Extractor
    from training.annotate.uncertainty import rank_documents

    refuse_directory_output(args.output)
    if args.k < 1:
        raise UsageError("-k must be at least 1")
    items = _unannotated(read_inputs(args.pool), args.exclude)
    extractor = Extractor.from_pretrained(
        args.model, device=args.device, batch_size=args.batch_size, precision=args.precision
    )
    ranked = rank_documents(extractor, items, progress=True)[: args.k]
    lines = [json.dumps({"rank": n, **u.to_dict()}, ensure_ascii=False) for n, u in enumerate(ranked, 1)]
    if args.output:
        write_text(Path(args.output), "".join(f"{line}\n" for line in lines))
    for number, u in enumerate(ranked, start=1):
        weakest = u.uncertain_spans[0] if u.uncertain_spans else None
        why = (
            f"weakest span {weakest['text']!r} {weakest['label']} {weakest['score']}"
            if weakest
            else "no span"
        )
        word = u.uncertain_words[0] if u.uncertain_words else None
        why += f"; least sure word {word['text']!r} {word['tags']}" if word else ""
        print(
            f"{number:3d}  {u.score:.4f}  {u.id}  ({why})", file=sys.stderr if not args.output else sys.stdout
        )
    if args.output:
        print(f"wrote the {len(ranked)} most uncertain of {len(items)} documents to {args.output}")
    else:
        print("\n".join(lines))
    return 0


def _unannotated(items: list[tuple[str, str]], exclude: list[str]) -> list[tuple[str, str]]:
    """The pool without the documents (by id or by text) of the annotated corpus files ``exclude``."""
    from training.corpus.store import load_documents

    # Only ids and texts matter here: any label set is accepted (the model's schema may not be the default).
    annotated = [d for path in exclude for d in load_documents(path, schema=None)]
    ids, texts = {d.id for d in annotated}, {d.text for d in annotated}
    kept = [(doc_id, text) for doc_id, text in items if doc_id not in ids and text not in texts]
    if not kept:
        raise UsageError("no document of the pool is left to rank (all are in the --exclude files)")
    return kept


