"""``conflict-ie``: a thin command line over the library. Heavy imports happen per command."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inference.atomic import write_json, write_text
from inference.model_dir import PRECISIONS

PRECISION_HELP = (
    "PyTorch models: auto = fp16 on CUDA, bf16 on CPUs with native bf16, else fp32; "
    "OpenVINO exports: auto = the fastest the CPU supports, or fp32, bf16, int8"
)
DEFAULT_SPLITS = [f"data/annotations/{split}.jsonl" for split in ("train", "dev", "test")]


class UsageError(ValueError):
    pass


def add_schema_options(parser: argparse.ArgumentParser) -> None:
    """``--labels`` / ``--config`` / ``--model``: where a corpus command takes its label schema."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--labels",
        choices=("default", "from-corpus"),
        help="the label schema: the default labels (the default), or the labels the files carry",
    )
    group.add_argument("--config", metavar="FILE", help="the label schema of this training config's labels:")
    group.add_argument("--model", metavar="DIR", help="the label schema of this model directory")


def corpus_label_schema(args: argparse.Namespace, paths: list[str]) -> tuple[Any, str]:
    """The label schema ``add_schema_options`` chose, and its name for messages."""
    from inference.schema import DEFAULT_SCHEMA, model_schema
    from training.corpus.store import corpus_schema
    from training.finetune.config import label_schema, load_config

    if args.model:
        return model_schema(args.model), f"the schema of model {args.model}"
    if args.config:
        config = load_config(args.config)
        schema = label_schema(config) or corpus_schema([config.train_file, *config.extra_train_files])
        return schema, f"the labels of config {args.config}"
    if args.labels == "from-corpus":
        return corpus_schema(paths), "the corpus's labels"
    return DEFAULT_SCHEMA, "the project's set"


def cmd_validate(args: argparse.Namespace) -> int:
    from training.corpus.store import read_documents, validate_files

    schema, _ = corpus_label_schema(args, args.paths)
    problems = validate_files(args.paths, schema)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    total = sum(len(read_documents(p, schema)[0]) for p in args.paths)
    print(f"ok: {total} documents in {len(args.paths)} file(s)")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from training.corpus.datacheck import check_data, format_check
    from training.corpus.store import CorpusError, read_documents

    schema, label_set = corpus_label_schema(args, args.paths)
    # Any label name is read: the check names the labels outside the schema.
    read = [read_documents(path, schema=None) for path in args.paths]
    problems = [problem for _, file_problems in read for problem in file_problems]
    if problems:
        raise CorpusError(problems)
    names = [Path(path).name for path in args.paths]
    if len(set(names)) < len(names):
        names = [str(path) for path in args.paths]
    if len(set(names)) < len(names):
        raise UsageError("a file is named twice")
    files = {name: [d for _, d in located] for name, (located, _) in zip(names, read, strict=True)}
    tokenizer = None
    if not args.no_windows:
        from inference.model_dir import load_tokenizer
        from training.evaluation.predictions import default_tokenizer_path

        tokenizer = load_tokenizer(Path(args.tokenizer or default_tokenizer_path()))
    try:
        check = check_data(
            files,
            tokenizer,
            max_length=args.max_length,
            stride=args.stride,
            schema=schema,
            label_set=label_set,
        )
    except ValueError as error:
        raise UsageError(str(error)) from error
    report = json.dumps(check.to_dict(), indent=2, ensure_ascii=False) if args.json else format_check(check)
    if args.output:
        write_text(args.output, report + "\n")
        print(
            f"wrote the data check to {args.output}: "
            f"{len(check.errors)} error(s), {len(check.warnings)} warning(s)"
        )
    else:
        print(report)
    return 1 if check.errors else 0


def cmd_train(args: argparse.Namespace) -> int:
    from training.finetune.config import load_config, parse_overrides
    from training.finetune.train import train

    config = load_config(args.config, parse_overrides(args.set))
    train(config, args.output, overwrite=args.overwrite, resume=args.resume)
    return 0


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
    from training.evaluation.compare import CompareError, compare_reports, format_comparison

    if args.resamples < 1:
        raise UsageError("--resamples must be at least 1")
    if args.models:
        if args.reports or not args.data:
            raise UsageError("give two report files, or --models A B with --data FILE")
        from training.evaluation.report import run_evaluation

        options = {
            "device": args.device,
            "precision": args.precision,
            "resamples": args.resamples,
            "seed": args.seed,
            "progress": True,
        }
        reports = [run_evaluation(model, args.data, **options)[0] for model in args.models]
        names = (args.models[0], args.models[1])
    else:
        if len(args.reports) != 2 or args.data:
            raise UsageError("give two report files, or --models A B with --data FILE")
        reports = [_read_json(Path(path)) for path in args.reports]
        names = (args.reports[0], args.reports[1])
    try:
        result = compare_reports(reports[0], reports[1], args.resamples, args.seed, names)
    except CompareError as error:
        raise UsageError(str(error)) from error
    print(format_comparison(result))
    if args.output:
        write_json(Path(args.output), result)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from inference.model_dir import check_model_dir
    from training.finetune.calibrate import calibrate

    check_model_dir(args.model)
    result = calibrate(args.model, args.data, device=args.device)
    scores = result["dev_exact_f1"]
    print(
        f"minimum span scores {result['min_scores'] or 'none'}: exact-span micro F1 on {args.data} "
        f"{scores['before']:.4f} -> {scores['after']:.4f}; written to {args.model}"
    )
    return 0


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


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise UsageError(f"{path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}: invalid JSON ({error})") from error


def _refuse_directory_output(output: str | None) -> None:
    if output and Path(output).is_dir():
        raise UsageError(f"--output {output} is a directory; give the file to write")


PREDICT_INPUTS = (
    ".jsonl (one {id, text} object a line), .json (an array of {id, text} objects; "
    "either suffix in any case) or plain text (any other name)"
)


def read_inputs(paths: list[str]) -> list[tuple[str, str]]:
    """(id, text) pairs of every input file (see ``PREDICT_INPUTS``); all are read before any work.

    Output lines are keyed by id, so an id twice (in one file, in two files, or one file named
    twice) is refused with the places of both occurrences."""
    from training.corpus.textfiles import read_utf8

    located: list[tuple[str, str, str]] = []  # (id, text, place)
    named: dict[Path, list[int]] = {}  # a file named more than once: its input positions
    for position, name in enumerate(paths, start=1):
        named.setdefault(Path(name).resolve(), []).append(position)
    for position, name in enumerate(paths, start=1):
        path = Path(name)
        if path.is_dir():
            raise UsageError(f"input {path} is a directory; predict reads files: {PREDICT_INPUTS}")
        if not path.exists():
            raise UsageError(f"input file {path} does not exist")
        text = read_utf8(path)
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            items = _jsonl_inputs(path, text)
        elif suffix == ".json":
            items = _json_array_inputs(path, text)
        else:
            items = [(path.stem, text, str(path))]
        mark = f" [input {position}]" if len(named[path.resolve()]) > 1 else ""
        located += [(doc_id, item_text, place + mark) for doc_id, item_text, place in items]
    _refuse_duplicate_ids(located, [(str(p), n) for p, n in named.items() if len(n) > 1])
    return [(doc_id, text) for doc_id, text, _ in located]


def _refuse_duplicate_ids(located: list[tuple[str, str, str]], repeated: list[tuple[str, list[int]]]) -> None:
    """Refuse an id seen twice, naming both places; ``repeated``: files named more than once."""
    first: dict[str, str] = {}
    problems = []
    for doc_id, _, place in located:
        if doc_id in first:
            problems.append(f"{place}: duplicate id {doc_id!r} (first at {first[doc_id]})")
        else:
            first[doc_id] = place
    if not problems:
        return
    notes = [f"{path} is named {len(at)} times (inputs {', '.join(map(str, at))})\n" for path, at in repeated]
    shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
    raise UsageError(
        f"{len(problems)} duplicate id(s) in the inputs; each output line is keyed by its id, so ids must "
        "be unique across all input files (a plain text file's id is its name without the suffix):\n"
        + "".join(notes)
        + "\n".join(shown)
    )


def _jsonl_inputs(path: Path, text: str) -> list[tuple[str, str, str]]:
    items: list[tuple[str, str, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as error:
            raise UsageError(f"{path}:{number}: invalid JSON ({error.msg})") from error
        items.append(_input_item(raw, f"{path}:{number}", f"{path.name}:{number}"))
    return items


def _json_array_inputs(path: Path, text: str) -> list[tuple[str, str, str]]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from error
    if not isinstance(raw, list):
        raise UsageError(f"{path}: expected a JSON array of {{id, text}} objects (or .jsonl, one a line)")
    return [
        _input_item(item, f"{path}: item {number}", f"{path.name}:{number}")
        for number, item in enumerate(raw, start=1)
    ]


def _input_item(raw: Any, where: str, default_id: str) -> tuple[str, str, str]:
    if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
        raise UsageError(f"{where}: expected an object with a string 'text'")
    return str(raw.get("id", default_id)), raw["text"], where


def cmd_predict(args: argparse.Namespace) -> int:
    from inference import Extractor
    from inference.text.events import build_event

    items = read_inputs(args.files)
    texts = [text for _, text in items]
    state = _distributed_state()
    if state is None:
        extractor = Extractor.from_pretrained(
            args.model, device=args.device, batch_size=args.batch_size, precision=args.precision
        )
        results = extractor.extract_records(texts, progress=True)
    else:
        sharded = _predict_sharded(state, args, texts)
        if sharded is None:  # not the main process: the main one prints everything
            return 0
        results = sharded
    for (doc_id, text), result in zip(items, results, strict=True):
        line = {"id": doc_id, **result.to_dict()}
        if args.events:
            line["event"] = build_event(text, result.entities, result.records or []).to_dict()
        print(json.dumps(line, ensure_ascii=False))
    return 0


def cmd_pre_annotate(args: argparse.Namespace) -> int:
    from inference import Extractor
    from training.annotate.preannotate import model_version, predict_documents, write_pre_annotations

    _refuse_directory_output(args.output)
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

    _refuse_directory_output(args.output)
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


def _distributed_state() -> Any:
    """accelerate's PartialState when started with several processes (accelerate launch, torchrun)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return None
    import torch
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    # Without cpu=True, accelerate sets up no process group on a machine without GPUs.
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available())
    if state.num_processes != world_size:
        raise UsageError(
            f"started as {world_size} processes, but accelerate set up {state.num_processes}; "
            "on CPU set ACCELERATE_USE_CPU=1"
        )
    return state


def _predict_sharded(state: Any, args: argparse.Namespace, texts: list[str]) -> list[dict[str, Any]] | None:
    """Each process extracts its contiguous share of the texts; the main process gets all results,
    in input order (None elsewhere)."""
    from accelerate.utils import gather_object

    from inference import Extractor

    device = args.device
    if device == "auto":  # this process's accelerator (cuda:<local rank>), or the CPU
        device = "cpu" if state.device.type == "cpu" else str(state.device)
    extractor = Extractor.from_pretrained(
        args.model, device=device, batch_size=args.batch_size, precision=args.precision
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


def cmd_convert(args: argparse.Namespace) -> int:
    from training.corpus.formats import (
        ConvertError,
        input_prefixes,
        load_source,
        report_and_check,
        with_id_prefix,
        write_target,
    )

    source = args.source_format or ("markup" if args.target_format == "corpus" else "corpus")
    _refuse_directory_output(args.output)

    def log(line: str) -> None:
        print(line, file=sys.stderr)

    if source == "muc4":
        return convert_muc4(args, log)
    if args.unplaced:
        raise UsageError("--unplaced is for --from muc4")
    try:
        if source == "fakes-crowd":
            from training.corpus.fakes_silver import SilverError, build_silver

            if not args.fakes_dir or args.inputs:
                raise UsageError("--from fakes-crowd reads --fakes-dir DIR (and takes no input files)")
            if args.id_prefix_from_file or len(args.id_prefix or []) > 1:
                raise UsageError("--from fakes-crowd reads no input files: give --id-prefix once")
            if args.split != "train":
                raise UsageError("--from fakes-crowd: only --split train")
            try:
                imported, summary = build_silver(args.fakes_dir, args.split)
            except SilverError as error:
                raise UsageError(str(error)) from error
            log(summary)
            imported = with_id_prefix(imported, (args.id_prefix or [""])[0])
        else:
            prefixes = input_prefixes(args.id_prefix, args.id_prefix_from_file, args.inputs)
            if source == "fakes-standoff":
                imported = load_fakes_standoff(args.inputs, args.fakes_dir, prefixes)
            else:
                options = (args.default_outcome, args.annotation, args.text_field, args.annotator)
                imported = load_source(source, args.inputs, *options, prefixes=prefixes)
        report_and_check(imported, args.skip_bad, log)
        if args.target_format == "fakes-standoff":
            write_fakes_standoff(args.output, imported.documents, args.fakes_dir)
            print(f"wrote {len(imported.documents)} standoff annotations to {args.output}")
            return 0
        for note in write_target(args.target_format, args.output, imported.documents, not args.plain_conll):
            log(str(note))
    except ConvertError as error:
        raise UsageError(str(error)) from error
    spans = sum(len(d.spans) for d in imported.documents)
    print(f"wrote {len(imported.documents)} documents ({spans} spans) to {args.output}")
    return 0


def convert_muc4(args: argparse.Namespace, log: Callable[[str], None]) -> int:
    """``--from muc4 DIR --split S``: the processed MUC-4 split as a corpus file (labels PERP_IND,
    PERP_ORG, TARGET, VICTIM, WEAPON); the mentions that cannot be placed are counted on stderr
    and listed with ``--unplaced``."""
    from training.corpus.formats.muc4 import Muc4Error, read_muc4, split_file, write_unplaced
    from training.corpus.store import write_documents

    if len(args.inputs) != 1 or args.target_format != "corpus":
        raise UsageError(
            "--from muc4 reads one directory (the muc4 folder, or one with <split>.json) --to corpus"
        )
    try:
        imported = read_muc4(split_file(args.inputs[0], args.split, args.muc4_format))
    except Muc4Error as error:
        raise UsageError(str(error)) from error
    log(imported.summary())
    if args.unplaced:
        write_unplaced(args.unplaced, imported.unplaced)
        log(f"listed the {len(imported.unplaced)} mention(s) not placed in {args.unplaced}")
    write_documents(args.output, imported.documents)
    spans = sum(len(d.spans) for d in imported.documents)
    print(f"wrote {len(imported.documents)} documents ({spans} spans) to {args.output}")
    return 0


def load_fakes_standoff(inputs: list[str], fakes_dir: str | None, prefixes: list[str]) -> Any:
    from dataclasses import replace

    from training.corpus.fakes_standoff import FakesError, read_standoff
    from training.corpus.formats import Imported

    if not fakes_dir or not inputs:
        raise UsageError("--from fakes-standoff reads standoff FILE(s) and the texts from --fakes-dir DIR")
    imported = Imported([], [])
    try:
        for name, prefix in zip(inputs, prefixes, strict=True):
            for document in read_standoff(name, fakes_dir):
                imported.documents.append(replace(document, id=f"{prefix}{document.id}"))
                imported.places.append(f"{name} document {document.id!r}")
                imported.files.append(name)
    except FakesError as error:
        raise UsageError(str(error)) from error
    return imported


def write_fakes_standoff(output: str, documents: list[Any], fakes_dir: str | None) -> None:
    from training.corpus.fakes_standoff import FakesError, to_standoff

    if not fakes_dir:
        raise UsageError("--to fakes-standoff checks the texts against --fakes-dir DIR")
    try:
        lines = to_standoff(documents, fakes_dir)
    except FakesError as error:
        raise UsageError(str(error)) from error
    write_text(output, "".join(json.dumps(line) + "\n" for line in lines))


def cmd_check_corpus(args: argparse.Namespace) -> int:
    from training.corpus.quality import check_corpus, checks_for, format_suspects

    schema, _ = corpus_label_schema(args, args.paths)
    suspects = check_corpus(args.paths, schema)
    report = format_suspects(suspects, args.paths, checks_for(schema))
    if args.output:
        write_text(args.output, report + "\n")
        print(report.split("\n\n", 1)[0])
        print(f"wrote {len(suspects)} suspect(s) to {args.output}")
    else:
        print(report)
    return 0


def cmd_agreement(args: argparse.Namespace) -> int:
    from training.corpus.store import load_documents
    from training.evaluation.agreement import AgreementError, agreement, format_agreement, format_differences

    _refuse_directory_output(args.output)
    first, second = load_documents(args.first), load_documents(args.second)
    try:
        report, differences = agreement(first, second, only_common=args.only_common)
    except AgreementError as error:
        raise UsageError(str(error)) from error
    report.update({"first": str(args.first), "second": str(args.second)})
    print(format_agreement(report))
    if args.diff and differences:
        print("spans only in the first (-) or only in the second (+) annotation:")
        print(format_differences({d.id: d for d in first}, differences))
    if args.output:
        write_json(Path(args.output), report)
    return 0


def cmd_links(args: argparse.Namespace) -> int:
    from training.corpus.links import apply_relations, link_gold_spans, render, select_documents
    from training.corpus.store import load_documents, write_documents
    from training.evaluation.relations import format_relation_report, relation_scores

    if args.links_command == "show":
        documents = select_documents(load_documents(args.corpus), args.ids, args.corpus)
        for document in documents[: args.limit]:
            print(render(document, suggest=not args.no_suggest))
        return 0
    if args.links_command == "apply":
        documents, errors = apply_relations(Path(args.corpus), Path(args.relations))
        for error in errors:
            print(error, file=sys.stderr)
        if errors:
            print(f"{len(errors)} problem(s); nothing written", file=sys.stderr)
            return 1
        write_documents(args.output, documents)
        linked = sum(d.relations is not None for d in documents)
        print(f"wrote {len(documents)} documents ({linked} with relations) to {args.output}")
        return 0
    documents = load_documents(args.corpus)
    scores = relation_scores(documents, link_gold_spans(documents))
    print(format_relation_report("rule linker on gold spans", scores))
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from training.corpus.store import (
        SPLIT_SHARES,
        assign_split,
        load_documents,
        validate_files,
        write_documents,
    )

    documents = [d for path in args.inputs for d in load_documents(path)]
    by_split: dict[str, list] = {split: [] for split, _ in SPLIT_SHARES}
    for document in documents:
        by_split[assign_split(document.id)].append(document)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    # Written and checked aside first: a bad split never replaces the files already there.
    with tempfile.TemporaryDirectory(dir=output, prefix=".split-") as staging:
        staged = [Path(staging) / f"{split}.jsonl" for split in by_split]
        for path, split_docs in zip(staged, by_split.values(), strict=True):
            write_documents(path, sorted(split_docs, key=lambda d: d.id))
        problems = validate_files(staged)
        if problems:
            raise UsageError("\n".join(str(p).replace(staging, str(output)) for p in problems))
        for path in staged:
            path.replace(output / path.name)
    print(" ".join(f"{split}: {len(docs)}" for split, docs in by_split.items()))
    return 0


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
            log_level=args.log_level,
        )
    except ValueError as error:  # a model directory or device option that cannot be used
        raise UsageError(str(error)) from error
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
        )
    except ExportError as error:
        raise UsageError(str(error)) from error
    written = [f"{args.output}/{v}" for v in ("fp32", "int8") if (Path(args.output) / v).is_dir()]
    print(f"wrote {' and '.join(written)} (details in {args.output}/export.json)")
    if "auto_precision" in manifest:
        print(f"precision auto on this CPU: {manifest['auto_precision']}")
    return 0


def _annotation_choice(value: str) -> int | str:
    if value in ("latest", "ground-truth"):
        return value
    if value.isdigit():
        return int(value)
    raise argparse.ArgumentTypeError(
        f"expected a number (0 = first), 'latest' or 'ground-truth', got {value!r}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conflict-ie", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check corpus files; every problem with file and line")
    p.add_argument("paths", nargs="+")
    add_schema_options(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "stats", help="data check before training: label counts, spans per document, window cuts, warnings"
    )
    p.add_argument("paths", nargs="*", default=DEFAULT_SPLITS, help="the split named train is the reference")
    p.add_argument("--json", action="store_true", help="the whole check as JSON")
    p.add_argument("--output", help="write the report (text, or JSON with --json) to this file")
    p.add_argument(
        "--tokenizer", help="tokenizer or model directory for the window cut (default: the base model)"
    )
    p.add_argument("--max-length", type=int, default=256, help="tokens per window, special tokens included")
    p.add_argument("--stride", type=int, default=64, help="tokens shared by consecutive windows")
    p.add_argument("--no-windows", action="store_true", help="skip the window cut (no tokenizer needed)")
    add_schema_options(p)
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

    p = sub.add_parser("evaluate", help="score a model, or any system's predictions, against gold")
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

    p = sub.add_parser("compare", help="compare two reports (or models) on the same gold, paired bootstrap")
    p.add_argument("reports", nargs="*", help="two report JSON files from evaluate --output: A B")
    p.add_argument("--models", nargs=2, metavar=("A", "B"), help="evaluate two model directories instead")
    p.add_argument("--data", help="gold .jsonl for --models")
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    p.add_argument("--output", help="write the comparison as JSON")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("calibrate", help="choose per-label minimum span scores on dev (train does it)")
    p.add_argument("--model", required=True, help="trained PyTorch model directory")
    p.add_argument("--data", default="data/annotations/dev.jsonl", help="gold .jsonl to choose them on")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("card", help="write a model card from the training record and evaluation reports")
    p.add_argument("--model", required=True, help="trained model directory (with training_record.json)")
    p.add_argument("--reports", nargs="*", default=[], help="report JSON files from evaluate --output")
    p.add_argument("--output", help="card file (default model_cards/<name>.md)")
    p.add_argument(
        "--name",
        help="model name in the card (default: conflict-ie-<model directory name>, or of its parent "
        "when the directory is called model)",
    )
    p.set_defaults(func=cmd_card)

    p = sub.add_parser("predict", help="extract entities and casualty records; one JSON line per document")
    p.add_argument("--model", required=True)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    p.add_argument("--batch-size", type=int, help="windows per forward pass (default: 16 on CPU, 64 on CUDA)")
    p.add_argument(
        "--events",
        action="store_true",
        help="add each document's main event: killed and injured totals by victim category, actor, cause",
    )
    p.add_argument("files", nargs="+", help=PREDICT_INPUTS)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
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
    p.add_argument("--batch-size", type=int, help="windows per forward pass (default: 16 on CPU, 64 on CUDA)")
    p.set_defaults(func=cmd_pre_annotate)

    p = sub.add_parser("suggest", help="the unannotated documents the model is least sure about, with why")
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
    p.add_argument("--batch-size", type=int, help="windows per forward pass (default: 16 on CPU, 64 on CUDA)")
    p.set_defaults(func=cmd_suggest)

    p = sub.add_parser("split", help="split documents into train/dev/test (stable, by id)")
    p.add_argument("inputs", nargs="+", help="corpus .jsonl files")
    p.add_argument("--output-dir", default="data/annotations")
    p.set_defaults(func=cmd_split)

    p = sub.add_parser(
        "convert", help="annotation tools <-> corpus (markup, Label Studio, doccano, CoNLL; FA-KES silver)"
    )
    p.add_argument(
        "--from",
        dest="source_format",
        choices=[
            "markup",
            "corpus",
            "label-studio",
            "doccano",
            "conll",
            "fakes-crowd",
            "fakes-standoff",
            "muc4",
        ],
        help="input format (default: markup, or corpus when --to is not corpus)",
    )
    p.add_argument(
        "--to",
        dest="target_format",
        choices=["corpus", "conll", "label-studio", "doccano", "fakes-standoff"],
        default="corpus",
    )
    p.add_argument("inputs", nargs="*", help="input file(s)")
    p.add_argument("--output", required=True)
    p.add_argument("--skip-bad", action="store_true", help="write what fits; what does not is still listed")
    p.add_argument("--default-outcome", choices=["killed", "injured"], help="for counts whose label has none")
    p.add_argument(
        "--annotation",
        type=_annotation_choice,
        metavar="N|latest|ground-truth",
        help="Label Studio: which submitted annotation of each task: N (0 = first), the latest "
        "(updated_at, else created_at) or the one marked ground truth",
    )
    p.add_argument(
        "--annotator", metavar="EMAIL_OR_ID", help="Label Studio: the annotation by this user (completed_by)"
    )
    p.add_argument(
        "--id-prefix",
        action="append",
        metavar="PREFIX",
        help="put before every document id (e.g. ls-proj1-); given once per input file (in order), "
        "each file's documents take their own, so that two projects' task ids cannot collide",
    )
    p.add_argument(
        "--id-prefix-from-file",
        action="store_true",
        help="put each input file's name without its suffix and a hyphen before its document ids "
        "(A.json task 1 becomes A-1)",
    )
    p.add_argument("--text-field", default="text", help="Label Studio data / doccano key of the text")
    p.add_argument("--plain-conll", action="store_true", help="no '# id' / '# text' comment lines")
    p.add_argument(
        "--fakes-dir",
        help="--from fakes-crowd / fakes-standoff, --to fakes-standoff: the FA-KES folder",
    )
    p.add_argument(
        "--split",
        choices=["train", "dev", "test"],
        default="train",
        help="--from muc4: the split to read; --from fakes-crowd: only train",
    )
    p.add_argument(
        "--muc4-format",
        choices=["grit", "gtt"],
        default="grit",
        help="--from muc4 with the shared muc4 folder: read its grit/ or gtt/ files (default grit)",
    )
    p.add_argument(
        "--unplaced", metavar="FILE", help="--from muc4: list the mentions that could not be placed (JSONL)"
    )
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("check-corpus", help="list annotation suspects for review (file:line, document id)")
    p.add_argument("paths", nargs="*", default=DEFAULT_SPLITS)
    p.add_argument("--output", help="write the list to this file")
    add_schema_options(p)
    p.set_defaults(func=cmd_check_corpus)

    p = sub.add_parser("agreement", help="span agreement F1 between two annotations of the same documents")
    p.add_argument("first", help="corpus .jsonl")
    p.add_argument("second", help="corpus .jsonl with the same ids and texts")
    p.add_argument("--only-common", action="store_true", help="compare the shared ids, list the others")
    p.add_argument("--diff", action="store_true", help="list the spans the two disagree on")
    p.add_argument("--output", help="write the report as JSON")
    p.set_defaults(func=cmd_agreement)

    p = sub.add_parser("links", help="add gold relations to a corpus file by hand (training.corpus.links)")
    links = p.add_subparsers(dest="links_command", required=True)
    q = links.add_parser("show", help="print documents with numbered spans and relation lines to edit")
    q.add_argument("corpus")
    q.add_argument("--ids", help="comma-separated document ids (default: all)")
    q.add_argument("--limit", type=int, help="at most this many documents")
    q.add_argument("--no-suggest", action="store_true", help="leave relation lines empty instead")
    q = links.add_parser("apply", help="set the relations of an edited file on a corpus file")
    q.add_argument("corpus")
    q.add_argument("relations")
    q.add_argument("--output", required=True, help="corpus file to write (may be the input)")
    q = links.add_parser("score", help="the rule linker on gold spans against the file's relations")
    q.add_argument("corpus")
    p.set_defaults(func=cmd_links)

    p = sub.add_parser("serve", help="HTTP service: POST /extract, GET /health, OpenAPI at /docs")
    p.add_argument("--model", required=True, help="model directory (PyTorch or exported ONNX)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", help="require this X-API-Key header on /extract (or set CONFLICT_IE_API_KEY)")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, help="windows per forward pass (default: 16 on CPU, 64 on CUDA)")
    p.add_argument("--threads", type=int, help="CPU threads for the model")
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
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
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", help="ONNX or OpenVINO fp32 and int8 models, F1-checked on a gold file")
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
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from inference.model_dir import ModelDirError
    from training.corpus.store import CorpusError
    from training.corpus.textfiles import InputFileError
    from training.evaluation.predictions import PredictionsError
    from training.finetune.config import ConfigError
    from training.finetune.features import UnalignedSpanError

    known = (
        UsageError,
        ConfigError,
        CorpusError,
        ModelDirError,
        UnalignedSpanError,
        InputFileError,
        PredictionsError,
    )
    try:
        return args.func(args)
    except known as error:
        print(f"conflict-ie {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
