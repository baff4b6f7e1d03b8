"""Release commands: card, export."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.commands.common import UsageError


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    for add in (_card, _export):
        add(subparsers)


def _card(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "card", help="write a model card from the training record and evaluation reports"
    )
    p.add_argument("--model", required=True, help="trained model directory (with training_record.json)")
    p.add_argument("--reports", nargs="*", default=[], help="report JSON files from evaluate --output")
    p.add_argument("--output", help="card file (default model_cards/<name>.md)")
    p.add_argument(
        "--name",
        help="model name in the card (default: conflict-ie-<model directory name>, or of its parent "
        "when the directory is called model)",
    )
    p.set_defaults(func=cmd_card)


def _export(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="ONNX or OpenVINO fp32 and int8 models, F1-checked on a gold file"
    )
    p.add_argument("--model", required=True, help="trained model directory")
    p.add_argument(
        "--format",
        default="onnx",
        choices=["onnx", "openvino"],
        help="onnx (ONNX Runtime; int8 dynamic) or openvino (fp32, bf16 where native, int8 static)",
    )
    p.add_argument(
        "--calibration",
        metavar="FILE",
        help="--format openvino: corpus .jsonl whose texts calibrate int8 (without it: no int8 model)",
    )
    p.add_argument("--output", required=True, help="directory to write (fp32/, int8/, export.json)")
    p.add_argument("--gold", help="gold .jsonl: refuse the export if strict F1 drops too much")
    p.add_argument("--max-f1-drop", type=float, default=0.5, help="points of strict F1 (default 0.5)")
    p.add_argument(
        "--int8-weight-bits",
        type=int,
        default=7,
        choices=[7, 8],
        help="--format onnx: 7 (default; right on every CPU) or 8 (only for CPUs with VNNI or AMX: "
        "without them ONNX Runtime's int8 products can overflow)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.set_defaults(func=cmd_export)


def cmd_card(args: argparse.Namespace) -> int:
    from training.release.card import CardError, write_card

    try:
        path = write_card(
            Path(args.model),
            [Path(r) for r in args.reports],
            Path(args.output) if args.output else None,
            args.name,
        )
    except CardError as error:
        raise UsageError(str(error)) from error
    print(f"wrote {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from training.release.export import ExportError, export

    if args.max_f1_drop < 0:
        raise UsageError("--max-f1-drop must be >= 0")
    try:
        manifest = export(
            args.model,
            args.output,
            args.gold,
            max_f1_drop=args.max_f1_drop,
            overwrite=args.overwrite,
            format=args.format,
            calibration=args.calibration,
            int8_weight_bits=args.int8_weight_bits,
        )
    except ExportError as error:
        raise UsageError(str(error)) from error
    written = [f"{args.output}/{v}" for v in ("fp32", "int8") if (Path(args.output) / v).is_dir()]
    print(f"wrote {' and '.join(written)} (details in {args.output}/export.json)")
    if "auto_precision" in manifest:
        print(f"precision auto on this CPU: {manifest['auto_precision']}")
    return 0
