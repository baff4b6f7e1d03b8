"""Serving commands: predict (one JSON line per document, sharded over processes under accelerate
launch) and serve (the HTTP service). Both run on a service install: no training extras."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from inference.model_dir import PRECISIONS
from training.commands.common import (
    BATCH_SIZE_HELP,
    PRECISION_HELP,
    PREDICT_INPUTS,
    UsageError,
    distributed_state,
    read_inputs,
)


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    for add in (_predict, _serve):
        add(subparsers)


def _predict(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict", help="extract entities and casualty records; one JSON line per document"
    )
    p.add_argument("--model", required=True)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    p.add_argument("--batch-size", type=int, help=BATCH_SIZE_HELP)
    p.add_argument(
        "--events",
        action="store_true",
        help="add each document's main event: killed and injured totals by victim category, actor, cause",
    )
    p.add_argument(
        "--actors",
        help="actor alias table (YAML) replacing the shipped inference/text/data/actors_syria.yaml",
    )
    p.add_argument("files", nargs="+", help=PREDICT_INPUTS)
    p.set_defaults(func=cmd_predict)


def _serve(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="HTTP service: POST /extract, GET /health, OpenAPI at /docs")
    p.add_argument("--model", required=True, help="model directory (PyTorch or exported ONNX)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", help="require this X-API-Key header on /extract (or set CONFLICT_IE_API_KEY)")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, help=BATCH_SIZE_HELP)
    p.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="processes answering on the port, each with its own copy of the model (default 1); "
        "auto: one per --threads cores (2 by default), at least one",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads for the model, per worker (default: all cores, shared among --workers)",
    )
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    p.add_argument(
        "--actors",
        help="actor alias table (YAML) replacing the shipped inference/text/data/actors_syria.yaml",
    )
    _add_limit_options(p)
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=cmd_serve)


def _workers(value: str) -> int | str:
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1 or 'auto', got {value!r}")
    return int(value)


def _add_limit_options(p: argparse.ArgumentParser) -> None:
    """serve's limits on requests and on the work waiting for the model."""
    p.add_argument("--max-body-bytes", type=int, default=1024 * 1024)
    p.add_argument("--max-texts", type=int, default=64, help="texts per request")
    p.add_argument("--max-text-chars", type=int, default=50_000, help="characters per text")
    p.add_argument(
        "--max-pending-texts",
        type=int,
        help="texts waiting for the model across requests; beyond it 503 with Retry-After "
        "(default: the larger of 2048 and --max-texts; never below --max-texts)",
    )
    p.add_argument(
        "--deadline-s",
        type=float,
        default=10.0,
        help="seconds a request may wait and run: 503 with Retry-After when the work already waiting "
        "would take longer at the recent throughput, or when it has not started by then (default 10)",
    )
    p.add_argument("--max-wait-ms", type=float, default=5.0, help="micro-batching window")


def cmd_predict(args: argparse.Namespace) -> int:
    from inference import Extractor
    from inference.text.actors import actor_table
    from inference.text.events import build_event

    items = read_inputs(args.files)
    texts = [text for _, text in items]
    state = distributed_state()
    if state is None:
        extractor = Extractor.from_pretrained(
            args.model,
            device=args.device,
            batch_size=args.batch_size,
            precision=args.precision,
            actors=args.actors,
        )
        results = extractor.extract_records(texts, progress=True)
    else:
        sharded = _predict_sharded(state, args, texts)
        if sharded is None:  # not the main process: the main one prints everything
            return 0
        results = sharded
    table = actor_table(args.actors)
    for (doc_id, text), result in zip(items, results, strict=True):
        line = {"id": doc_id, **result.to_dict()}
        if args.events:
            line["event"] = build_event(text, result.entities, result.records or [], table).to_dict()
        print(json.dumps(line, ensure_ascii=False))
    return 0


def _predict_sharded(state: Any, args: argparse.Namespace, texts: list[str]) -> list[dict[str, Any]] | None:
    """Each process extracts its contiguous share of the texts; the main process gets all results,
    in input order (None elsewhere)."""
    from accelerate.utils import gather_object

    from inference import Extractor

    device = args.device
    if device == "auto":  # this process's accelerator (cuda:<local rank>), or the CPU
        device = "cpu" if state.device.type == "cpu" else str(state.device)
    extractor = Extractor.from_pretrained(
        args.model, device=device, batch_size=args.batch_size, precision=args.precision, actors=args.actors
    )
    with state.split_between_processes(list(enumerate(texts))) as shard:
        print(
            f"process {state.process_index + 1}/{state.num_processes}: {len(shard)} of {len(texts)} texts",
            file=sys.stderr,
        )
        results = extractor.extract_records([text for _, text in shard], progress=state.is_main_process)
        mine = [(index, result) for (index, _), result in zip(shard, results, strict=True)]
    gathered = gather_object(mine)
    if not state.is_main_process:
        return None
    return [result for _, result in sorted(gathered, key=lambda pair: pair[0])]


def cmd_serve(args: argparse.Namespace) -> int:
    from inference.service.app import BatchSettings, ServiceLimits, serve

    for name in (
        "max_body_bytes",
        "max_texts",
        "max_text_chars",
        "max_pending_texts",
        "batch_size",
        "threads",
    ):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_pending_texts is not None and args.max_pending_texts < args.max_texts:
        raise UsageError(
            f"--max-texts ({args.max_texts}) is above --max-pending-texts ({args.max_pending_texts}): "
            "a request that large would always be refused as overloaded; raise --max-pending-texts"
        )
    if not args.deadline_s > 0:
        raise UsageError(f"--deadline-s must be above 0, got {args.deadline_s}")
    if args.max_wait_ms < 0 or not 0 <= args.port <= 65535:
        raise UsageError("--max-wait-ms must be >= 0 and --port within 0-65535")
    try:
        serve(
            args.model,
            args.host,
            args.port,
            api_key=args.api_key,
            actors=args.actors,
            limits=ServiceLimits(
                max_body_bytes=args.max_body_bytes,
                max_texts=args.max_texts,
                max_text_chars=args.max_text_chars,
                max_pending_texts=args.max_pending_texts,
                deadline_s=args.deadline_s,
            ),
            batching=BatchSettings(max_wait_ms=args.max_wait_ms),
            device=args.device,
            batch_size=args.batch_size,
            threads=args.threads,
            precision=args.precision,
            workers=args.workers,
            log_level=args.log_level,
        )
    except ValueError as error:  # a model directory or device option that cannot be used
        raise UsageError(str(error)) from error
    return 0


