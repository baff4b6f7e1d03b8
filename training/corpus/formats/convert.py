"""The convert command's plumbing: reading any source format, validated atomic writes, reporting."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from inference.atomic import atomic_path, write_json, write_text
from inference.spans import Document
from training.corpus.formats.common import Imported, label_names_help
from training.corpus.formats.conll import read_conll, to_conll
from training.corpus.formats.doccano import read_doccano, to_doccano
from training.corpus.formats.label_studio import read_label_studio, to_label_studio
from training.corpus.problems import Problem


def read_any(
    source: str,
    path: str | Path,
    default_outcome: str | None = None,
    annotation: int | str | None = None,
    text_field: str = "text",
    annotator: str | None = None,
) -> Imported:
    if source == "label-studio":
        return read_label_studio(path, default_outcome, annotation, text_field, annotator)
    if source == "doccano":
        return read_doccano(path, default_outcome, text_field)
    if source == "conll":
        return read_conll(path, default_outcome)
    raise ValueError(f"unknown source format {source!r}")


def write_corpus_validated(path: str | Path, documents: list[Document]) -> None:
    """Write corpus JSON Lines only if ``training.corpus.store`` finds no problem in them (atomically)."""
    from training.corpus.store import CorpusError, corpus_text, validate_files

    with atomic_path(path) as staging:
        staging.write_text(corpus_text(documents), encoding="utf-8")
        problems = validate_files([staging])
        if problems:
            raise CorpusError([replace(p, path=str(path)) for p in problems])


# --- the convert command -----------------------------------------------------------------------


class ConvertError(ValueError):
    pass


def load_source(
    source: str,
    inputs: list[str],
    default_outcome: str | None = None,
    annotation: int | str | None = None,
    text_field: str = "text",
    annotator: str | None = None,
    prefixes: list[str] | None = None,
) -> Imported:
    """Documents and issues of the input files in one source format (not fakes-crowd), each
    document's id with the prefix of its input file (``prefixes``, one per input) before it."""
    if not inputs:
        raise ConvertError(f"--from {source} needs at least one input file")
    folders = [name for name in inputs if Path(name).is_dir()]
    if folders:
        named = "; ".join(f"{name} is a directory" for name in folders)
        raise ConvertError(f"{named}: give the {source} file(s) in it")
    missing = [name for name in inputs if not Path(name).is_file()]
    if missing:
        raise ConvertError(f"input file(s) not found: {', '.join(missing)}")
    prefixes = prefixes if prefixes is not None else [""] * len(inputs)
    if len(prefixes) != len(inputs):
        raise ConvertError(f"{len(prefixes)} id prefix(es) for {len(inputs)} input file(s)")
    documents: list[Document] = []
    issues: list[Problem] = []
    places: list[str] = []
    files: list[str] = []
    for name, prefix in zip(inputs, prefixes, strict=True):
        if source == "corpus":
            from training.corpus.store import CorpusError, read_documents

            located, problems = read_documents(name)
            if problems:
                raise CorpusError(problems)  # invalid corpus files are refused, listing every problem
            docs, where = [d for _, d in located], [f"{name}:{line}" for line, _ in located]
        elif source == "markup":
            from training.corpus.markup import read_markup

            read, errors = read_markup(Path(name))
            bad = {e.message.split(": ", 1)[0] for e in errors}  # messages start with the document id
            issues += errors
            # A markup document with a problem is left out whole (its problems are listed).
            docs = [d for d in read if d.id not in bad]
            where = [f"{name} document {d.id!r}" for d in docs]
        else:
            imported = read_any(source, name, default_outcome, annotation, text_field, annotator)
            docs, where = imported.documents, imported.places
            issues += imported.issues
        documents += [replace(d, id=f"{prefix}{d.id}") for d in docs]
        places += where
        files += [name] * len(docs)
    return Imported(documents, issues, places, files)


def with_id_prefix(imported: Imported, prefix: str) -> Imported:
    """Every document id with ``prefix`` before it (``--id-prefix`` where all documents take one)."""
    documents = [replace(d, id=f"{prefix}{d.id}") for d in imported.documents]
    return Imported(documents, imported.issues, imported.places, imported.files)


def input_prefixes(given: list[str] | None, from_file: bool, inputs: list[str]) -> list[str]:
    """One id prefix per input file: ``--id-prefix`` given once (for every file) or once per file in
    order, or ``--id-prefix-from-file`` (each file's name without its suffix, and a hyphen)."""
    if from_file and given:
        raise ConvertError("give --id-prefix or --id-prefix-from-file, not both")
    if from_file:
        if not inputs:
            raise ConvertError("--id-prefix-from-file needs input files to take the prefixes from")
        return [f"{Path(name).stem}-" for name in inputs]
    if not given:
        return [""] * len(inputs)
    if len(given) == 1:
        return given * len(inputs)
    if len(given) != len(inputs):
        raise ConvertError(
            f"--id-prefix is given {len(given)} times for {len(inputs)} input file(s): give it once "
            "(for every file) or once per input file, in the order of the files"
        )
    return list(given)


def id_clashes(imported: Imported) -> tuple[list[str], bool]:
    """Each pair of documents with the same id, named by their places (input file and task or
    line), and whether any pair spans two input files (a prefix per file resolves those)."""
    first: dict[str, int] = {}
    clashes: list[str] = []
    across_files = False
    for index, document in enumerate(imported.documents):
        if document.id not in first:
            first[document.id] = index
            continue
        earlier = first[document.id]
        clashes.append(
            f"{imported.place(earlier)} and {imported.place(index)} have the same document id {document.id!r}"
        )
        files = imported.files
        across_files |= index >= len(files) or files[earlier] != files[index]
    return clashes, across_files


def write_target(
    target: str, output: str | Path, documents: list[Document], conll_comments: bool = True
) -> list[Problem]:
    """Validate the documents with ``training.corpus.store``; write them atomically in ``target`` format."""
    if target == "corpus":
        write_corpus_validated(output, documents)
        return []
    import tempfile

    from training.corpus.store import CorpusError, validate_files, write_documents

    with tempfile.TemporaryDirectory() as work:
        check = Path(work) / "check.jsonl"
        write_documents(check, documents)
        problems = validate_files([check])
        if problems:
            raise CorpusError(problems)
    if target == "conll":
        content, notes = to_conll(documents, comments=conll_comments)
        write_text(output, content)
        return notes
    if target == "label-studio":
        write_json(output, to_label_studio(documents), indent=1)
    elif target == "doccano":
        lines = (json.dumps(line, ensure_ascii=False) for line in to_doccano(documents))
        write_text(output, "".join(f"{line}\n" for line in lines))
    else:
        raise ConvertError(f"unknown target format {target!r}")
    return []


def report_and_check(imported: Imported, skip_bad: bool, log: Any) -> None:
    """List every issue; fail (nothing written) on errors unless ``skip_bad``, and on documents
    with the same id whatever ``skip_bad`` says (which of the two is meant is not for us to guess)."""
    for issue in imported.issues:
        log(str(issue))
    if any(issue.message.startswith("unknown label") for issue in imported.issues):
        log(label_names_help())
    clashes, across_files = id_clashes(imported)
    for clash in clashes:
        log(clash)
    if clashes:
        hint = (
            "To merge the inputs, give each input file its own prefix: --id-prefix once per input "
            "file, in order (--id-prefix a- --id-prefix b-), or --id-prefix-from-file (each file's "
            "name and a hyphen)"
            if across_files
            else "Ids within one file must be unique: fix the file"
        )
        raise ConvertError(
            f"{len(clashes)} document id(s) used twice (listed above); nothing written, --skip-bad "
            f"or not. {hint}"
        )
    errors = imported.errors
    if errors and not skip_bad:
        raise ConvertError(
            f"{len(errors)} item(s) did not fit (listed above); nothing written. "
            "Fix them, or pass --skip-bad to write everything else"
        )
    if errors:
        log(f"--skip-bad: left out the {len(errors)} item(s) listed above")
