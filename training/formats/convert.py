"""The convert command's plumbing: reading any source format, validated atomic writes, reporting."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from inference.spans import Document
from training.formats.common import Imported, Issue, label_names_help
from training.formats.conll import read_conll, to_conll
from training.formats.doccano import read_doccano, to_doccano
from training.formats.label_studio import read_label_studio, to_label_studio


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


def write_text_atomic(path: str | Path, content: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(content, encoding="utf-8")
    temporary.replace(path)


def write_corpus_validated(path: str | Path, documents: list[Document]) -> None:
    """Write corpus JSON Lines only if ``training.corpus`` finds no problem in them (atomically)."""
    from training.corpus import CorpusError, Problem, validate_files, write_documents

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.check.jsonl")
    try:
        write_documents(staging, documents)
        problems = validate_files([staging])
        if problems:
            raise CorpusError([Problem(str(path), p.line, p.message) for p in problems])
        staging.replace(path)
    finally:
        staging.unlink(missing_ok=True)


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
) -> Imported:
    """Documents and issues of the input files in one source format (not fakes-crowd)."""
    if not inputs:
        raise ConvertError(f"--from {source} needs at least one input file")
    folders = [name for name in inputs if Path(name).is_dir()]
    if folders:
        named = "; ".join(f"{name} is a directory" for name in folders)
        raise ConvertError(f"{named}: give the {source} file(s) in it")
    missing = [name for name in inputs if not Path(name).is_file()]
    if missing:
        raise ConvertError(f"input file(s) not found: {', '.join(missing)}")
    documents: list[Document] = []
    issues: list[Issue] = []
    for name in inputs:
        if source == "corpus":
            from training.corpus import load_documents

            documents += load_documents(name)  # invalid corpus files raise CorpusError, listing all
        elif source == "markup":
            from training.markup import read_markup

            docs, errors = read_markup(Path(name))
            bad = {e.message.split(": ", 1)[0] for e in errors}  # messages start with the document id
            issues += [Issue(f"{e.path}:{e.line}", e.message) for e in errors]
            # A markup document with a problem is left out whole (its problems are listed).
            documents += [d for d in docs if d.id not in bad]
        else:
            imported = read_any(source, name, default_outcome, annotation, text_field, annotator)
            documents += imported.documents
            issues += imported.issues
    return Imported(documents, issues)


def with_id_prefix(imported: Imported, prefix: str) -> Imported:
    """Every document id with ``prefix`` before it (``--id-prefix``: two exports' ids cannot collide)."""
    return Imported([replace(d, id=f"{prefix}{d.id}") for d in imported.documents], imported.issues)


def write_target(
    target: str, output: str | Path, documents: list[Document], conll_comments: bool = True
) -> list[Issue]:
    """Validate the documents with ``training.corpus`` and write them atomically in ``target`` format."""
    if target == "corpus":
        write_corpus_validated(output, documents)
        return []
    import tempfile

    from training.corpus import CorpusError, validate_files, write_documents

    with tempfile.TemporaryDirectory() as work:
        check = Path(work) / "check.jsonl"
        write_documents(check, documents)
        problems = validate_files([check])
        if problems:
            raise CorpusError(problems)
    if target == "conll":
        content, notes = to_conll(documents, comments=conll_comments)
        write_text_atomic(output, content)
        return notes
    if target == "label-studio":
        write_text_atomic(output, json.dumps(to_label_studio(documents), ensure_ascii=False, indent=1) + "\n")
    elif target == "doccano":
        lines = (json.dumps(line, ensure_ascii=False) for line in to_doccano(documents))
        write_text_atomic(output, "".join(f"{line}\n" for line in lines))
    else:
        raise ConvertError(f"unknown target format {target!r}")
    return []


def report_and_check(imported: Imported, skip_bad: bool, log: Any) -> None:
    """List every issue; fail (nothing written) on errors unless ``skip_bad``."""
    for issue in imported.issues:
        log(str(issue))
    if any(issue.message.startswith("unknown label") for issue in imported.issues):
        log(label_names_help())
    errors = imported.errors
    if errors and not skip_bad:
        raise ConvertError(
            f"{len(errors)} item(s) did not fit (listed above); nothing written. "
            "Fix them, or pass --skip-bad to write everything else"
        )
    if errors:
        log(f"--skip-bad: left out the {len(errors)} item(s) listed above")
