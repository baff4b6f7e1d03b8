"""Corpus commands: validate, stats, split, convert, check-corpus, agreement, links."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inference.atomic import write_json, write_text
from training.commands.common import DEFAULT_SPLITS, UsageError, refuse_directory_output


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    for add in (_validate, _stats, _split, _convert, _check_corpus, _agreement, _links):
        add(subparsers)


def _validate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("validate", help="check corpus files; every problem with file and line")
    p.add_argument("paths", nargs="+")
    add_schema_options(p)
    p.set_defaults(func=cmd_validate)


def _stats(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
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


def _split(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("split", help="split documents into train/dev/test (stable, by id)")
    p.add_argument("inputs", nargs="+", help="corpus .jsonl files")
    p.add_argument("--output-dir", default="data/annotations")
    p.set_defaults(func=cmd_split)


def _convert(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
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
    _add_tool_options(p)
    p.add_argument("--plain-conll", action="store_true", help="no '# id' / '# text' comment lines")
    _add_dataset_options(p)
    p.set_defaults(func=cmd_convert)


def _add_tool_options(p: argparse.ArgumentParser) -> None:
    """convert's options for annotation tools' exports: which annotation, id prefixes, the text key."""
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


def _add_dataset_options(p: argparse.ArgumentParser) -> None:
    """convert's options for the FA-KES and MUC-4 data sets."""
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


def _check_corpus(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "check-corpus", help="list annotation suspects for review (file:line, document id)"
    )
    p.add_argument("paths", nargs="*", default=DEFAULT_SPLITS)
    p.add_argument("--output", help="write the list to this file")
    add_schema_options(p)
    p.set_defaults(func=cmd_check_corpus)


def _agreement(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "agreement", help="span agreement F1 between two annotations of the same documents"
    )
    p.add_argument("first", help="corpus .jsonl")
    p.add_argument("second", help="corpus .jsonl with the same ids and texts")
    p.add_argument("--only-common", action="store_true", help="compare the shared ids, list the others")
    p.add_argument("--diff", action="store_true", help="list the spans the two disagree on")
    p.add_argument("--output", help="write the report as JSON")
    p.set_defaults(func=cmd_agreement)


def _links(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "links", help="add gold relations to a corpus file by hand (training.corpus.links)"
    )
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
    q.add_argument(
        "--relations",
        metavar="FILE",
        help="score against this relation file (the 'apply' format) instead of the corpus's own relations",
    )
    p.set_defaults(func=cmd_links)


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
    refuse_directory_output(args.output)

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

    refuse_directory_output(args.output)
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
    if args.relations:
        documents, errors = apply_relations(Path(args.corpus), Path(args.relations))
        for error in errors:
            print(error, file=sys.stderr)
        if errors:
            written = "; nothing written" if args.links_command == "apply" else ""
            print(f"{len(errors)} problem(s) in {args.relations}{written}", file=sys.stderr)
            return 1
    else:
        documents = load_documents(args.corpus)
    if args.links_command == "apply":
        write_documents(args.output, documents)
        linked = sum(d.relations is not None for d in documents)
        print(f"wrote {len(documents)} documents ({linked} with relations) to {args.output}")
        return 0
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


def _annotation_choice(value: str) -> int | str:
    if value in ("latest", "ground-truth"):
        return value
    if value.isdigit():
        return int(value)
    raise argparse.ArgumentTypeError(
        f"expected a number (0 = first), 'latest' or 'ground-truth', got {value!r}"
    )
