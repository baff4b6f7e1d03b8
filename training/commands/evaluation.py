"""Evaluation commands: evaluate, compare."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from inference.atomic import write_json, write_text
from inference.model_dir import PRECISIONS
from training.commands.common import PRECISION_HELP, UsageError, read_json


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    for add in (_evaluate, _compare):
        add(subparsers)


def _evaluate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="score a model, or any system's predictions, against gold")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="model directory: extract from the gold texts, then score")
    source.add_argument(
        "--predictions",
        metavar="FILE",
        help="predict-shaped JSONL of any system, one line per gold document: score it",
    )
    p.add_argument("--data", required=True, help="gold .jsonl")
    p.add_argument(
        "--tokenizer",
        metavar="DIR",
        help="with --predictions: tokenizer (or model) directory whose words are seqeval's units "
        "(default: the packaged all-MiniLM-L6-v2, the default model's)",
    )
    p.add_argument("--output", help="write the full report as JSON (with predictions and errors)")
    p.add_argument("--html", metavar="FILE", help="write a page of predictions against gold")
    p.add_argument("--errors", action="store_true", help="print every false positive and negative")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of documents")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--device", help="with --model (default auto)")
    p.add_argument("--precision", choices=PRECISIONS, help=f"with --model (default auto); {PRECISION_HELP}")
    p.set_defaults(func=cmd_evaluate)


def _compare(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare", help="compare two reports, models or sets of trainings on the same gold, paired bootstrap"
    )
    p.add_argument("reports", nargs="*", help="two report JSON files from evaluate --output: A B")
    p.add_argument("--models", nargs=2, metavar=("A", "B"), help="evaluate two model directories instead")
    p.add_argument(
        "--a",
        nargs="+",
        metavar="REPORT",
        help="several reports of system A (trainings with other seeds), with --b: mean scores, "
        "bootstrap over documents pooling each side's runs",
    )
    p.add_argument("--b", nargs="+", metavar="REPORT", help="several reports of system B, with --a")
    p.add_argument("--data", help="gold .jsonl for --models")
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    p.add_argument("--output", help="write the comparison as JSON")
    p.set_defaults(func=cmd_compare)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from training.evaluation.errors import format_errors
    from training.evaluation.metrics import format_report
    from training.evaluation.report import predictions_evaluation, run_evaluation

    if args.resamples < 1:
        raise UsageError("--resamples must be at least 1")
    if args.model:
        if args.tokenizer:
            raise UsageError("--tokenizer is for --predictions; a model is scored on its own tokenizer")
        report, documents, predicted = run_evaluation(
            args.model,
            args.data,
            device=args.device or "auto",
            precision=args.precision or "auto",
            resamples=args.resamples,
            seed=args.seed,
            progress=True,
        )
    else:
        if args.device or args.precision:
            raise UsageError("--device and --precision are for --model; predictions are already made")
        report, documents, predicted = predictions_evaluation(
            args.predictions, args.data, args.tokenizer, resamples=args.resamples, seed=args.seed
        )
    print(format_report(report))
    print(format_errors(report["per_document"], limit=10) if args.errors else _top_errors(report))
    if "records" in report:
        from training.evaluation.relations import format_relation_report

        for name, scores in report["records"].items():
            print(format_relation_report(f"records from {name.replace('_', ' ')}", scores))
    if args.html:
        from training.evaluation.html import render_html

        title = f"{args.model or args.predictions} on {args.data}"
        page = render_html(documents, predicted, title, report)
        write_text(Path(args.html), page)
    if args.output:
        write_json(Path(args.output), report)
    return 0


def _top_errors(report: dict[str, Any], limit: int = 5) -> str:
    lines = ["most frequent errors (every one, with context, in the JSON report or with --errors):"]
    for row in report["errors"][:limit]:
        kind = f"{row['error']:16s} {row['type']:9s} {row['label']:15s}"
        lines.append(f"  {row['count']:4d}  {kind} {row['example']}")
    return "\n".join(lines)


def cmd_compare(args: argparse.Namespace) -> int:
    from training.evaluation.compare import CompareError, compare_runs, format_comparison

    usage = "give two report files, --models A B with --data FILE, or --a REPORT... --b REPORT..."
    if args.resamples < 1:
        raise UsageError("--resamples must be at least 1")
    if args.a or args.b:
        if not (args.a and args.b) or args.reports or args.models or args.data:
            raise UsageError(usage)
        runs = ([read_json(Path(path)) for path in args.a], [read_json(Path(path)) for path in args.b])
        names = (args.a, args.b)
    elif args.models:
        if args.reports or not args.data:
            raise UsageError(usage)
        from training.evaluation.report import run_evaluation

        options = {
            "device": args.device,
            "precision": args.precision,
            "resamples": args.resamples,
            "seed": args.seed,
            "progress": True,
        }
        runs = tuple([run_evaluation(model, args.data, **options)[0]] for model in args.models)
        names = ([args.models[0]], [args.models[1]])
    else:
        if len(args.reports) != 2 or args.data:
            raise UsageError(usage)
        runs = tuple([read_json(Path(path))] for path in args.reports)
        names = ([args.reports[0]], [args.reports[1]])
    try:
        result = compare_runs(runs[0], runs[1], args.resamples, args.seed, names)
    except CompareError as error:
        raise UsageError(str(error)) from error
    print(format_comparison(result))
    if args.output:
        write_json(Path(args.output), result)
    return 0
