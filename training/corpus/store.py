"""Reading and validating corpus files (JSON Lines, one document a line)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from itertools import islice
from pathlib import Path
from typing import Any

from inference.atomic import write_text
from inference.schema import DEFAULT_SCHEMA, LabelSchema
from inference.spans import Document, Relation, Span, cuts_word
from training.corpus.problems import Problem
from training.corpus.textfiles import InputFileError, read_utf8

# The relation types and the default schema's label of each (a schema's roles name its own).
RELATION_TARGETS = {"victim": "VICTIM_TYPE", "perpetrator": "PERPETRATOR"}


class CorpusError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "\n".join(str(p) for p in problems[:50])
        more = f"\n... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} problem(s) in the corpus:\n{shown}{more}")


def label_problems(label: Any, outcome: Any, schema: LabelSchema = DEFAULT_SCHEMA) -> list[str]:
    """What is wrong with a span's label and outcome (shared by corpus files and predictions)."""
    return schema.label_problems(label, outcome)


def range_problem(text: str) -> str:
    return f"offsets out of range for a text of {len(text)} characters"


def document_problems(
    raw: Any, schema: LabelSchema | None = DEFAULT_SCHEMA
) -> tuple[Document | None, list[str]]:
    """The document of one parsed line, or what is wrong with it; ``schema`` None accepts any label
    name (what ``labels: from_corpus`` reads before it knows the labels)."""
    if not isinstance(raw, dict):
        return None, ["a line must hold a JSON object"]
    problems: list[str] = []
    doc_id, text, raw_spans = raw.get("id"), raw.get("text"), raw.get("spans", [])
    if not isinstance(doc_id, str) or not doc_id:
        problems.append("'id' must be a non-empty string")
    if not isinstance(text, str):
        return None, problems + ["'text' must be a string"]
    if not isinstance(raw_spans, list):
        return None, problems + ["'spans' must be a list"]
    spans: list[Span] = []
    for index, item in enumerate(raw_spans):
        where = f"span {index}"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object")
            continue
        start, end, label = item.get("start"), item.get("end"), item.get("label")
        if not isinstance(start, int) or not isinstance(end, int):
            problems.append(f"{where}: 'start' and 'end' must be integers")
            continue
        where = f"span {index} [{start}:{end}]"
        outcome = item.get("outcome")
        if schema is not None:
            problems += [f"{where}: {m}" for m in label_problems(label, outcome, schema)]
        elif not isinstance(label, str) or not label:
            problems.append(f"{where}: 'label' must be a non-empty string, got {label!r}")
        if not 0 <= start < end <= len(text):
            problems.append(f"{where}: {range_problem(text)}")
            continue
        covered = text[start:end]
        if covered != covered.strip():
            problems.append(f"{where}: {covered!r} starts or ends with whitespace")
        if cuts_word(text, start, end):
            problems.append(f"{where}: {covered!r} cuts a word")
        spans.append(Span(start, end, str(label), outcome))
    ordered = sorted(spans)
    for left, right in zip(ordered, ordered[1:], strict=False):
        if right.start < left.end:
            problems.append(f"spans [{left.start}:{left.end}] and [{right.start}:{right.end}] overlap")
    relations = _relations(raw.get("relations"), ordered, problems, schema)
    if problems:
        return None, problems
    return Document(doc_id, text, ordered, relations), []


def _relations(
    raw: Any, spans: list[Span], problems: list[str], schema: LabelSchema | None
) -> list[Relation] | None:
    """The relations of a document; a head must be the schema's count label and a tail its label of
    the relation's role (``victim``, ``perpetrator``), each checked only where the schema has the role."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        problems.append("'relations' must be a list")
        return None
    relations = []
    for index, item in enumerate(raw):
        where = f"relation {index}"
        if not isinstance(item, dict) or not all(isinstance(item.get(k), int) for k in ("head", "tail")):
            problems.append(f"{where}: needs integer 'head' and 'tail'")
            continue
        head, tail, kind = item["head"], item["tail"], item.get("type")
        if kind not in RELATION_TARGETS:
            problems.append(f"{where}: type must be 'victim' or 'perpetrator', got {kind!r}")
            continue
        if not (0 <= head < len(spans) and 0 <= tail < len(spans)):
            problems.append(f"{where}: span index out of range (document has {len(spans)} spans)")
            continue
        roles = schema.roles if schema is not None else {}
        for end, index, role in (("head", head, "count"), ("tail", tail, kind)):
            if role in roles and spans[index].label != roles[role]:
                problems.append(f"{where}: {end} {index} is {spans[index].label}, not {roles[role]}")
        relations.append(Relation(head, tail, kind))
    return relations


def read_documents(
    path: str | Path, schema: LabelSchema | None = DEFAULT_SCHEMA
) -> tuple[list[tuple[int, Document]], list[Problem]]:
    """Every document with its line number, and every problem found, of one file: JSON Lines, or
    Parquet or a dataset directory written by ``save_to_disk`` with the same columns (their
    "lines" are row numbers, from 1); a label outside ``schema`` is a problem of its line."""
    path = Path(path)
    lines, problems = table_rows(path) if is_table(path) else json_lines(path)
    documents: list[tuple[int, Document]] = []
    seen: dict[str, int] = {}
    for number, raw in lines:
        document, messages = document_problems(raw, schema)
        doc_id = raw.get("id") if isinstance(raw, dict) else None
        prefix = f"document {doc_id!r}: " if isinstance(doc_id, str) else ""
        problems.extend(Problem(str(path), number, prefix + m) for m in messages)
        if isinstance(doc_id, str):
            if doc_id in seen:
                problems.append(
                    Problem(str(path), number, f"duplicate id {doc_id!r} (first on line {seen[doc_id]})")
                )
            seen.setdefault(doc_id, number)
        if document is not None:
            documents.append((number, document))
    return documents, sorted(problems, key=lambda problem: problem.line or 0)


def is_table(path: Path) -> bool:
    """A Parquet file or a ``datasets`` ``save_to_disk`` directory (which read through ``datasets``)."""
    saved = ("state.json", "dataset_dict.json")
    return path.suffix.lower() == ".parquet" or (path.is_dir() and any((path / n).is_file() for n in saved))


def table_rows(path: Path) -> tuple[list[tuple[int, Any]], list[Problem]]:
    """The rows of a Parquet file or a saved dataset, numbered from 1, as JSON-like dicts."""
    import datasets

    if not path.exists():
        return [], [Problem(str(path), 0, "file does not exist")]
    try:
        if path.is_dir():
            table = datasets.load_from_disk(str(path))
        else:
            table = datasets.Dataset.from_parquet(str(path), keep_in_memory=True)
    except Exception as error:  # datasets and pyarrow raise many kinds; the message says what
        return [], [Problem(str(path), 0, f"cannot read it as a dataset: {error}")]
    if isinstance(table, datasets.DatasetDict):
        splits = ", ".join(f"{path / name}" for name in table)
        return [], [Problem(str(path), 0, f"holds several splits; name one split's directory: {splits}")]
    return list(enumerate(table.to_list(), start=1)), []


def json_lines(path: Path) -> tuple[list[tuple[int, Any]], list[Problem]]:
    """Each non-blank line of a JSON Lines file, parsed, with its number; and the problems found
    (a directory, a missing file, a byte that is not UTF-8, invalid JSON), each with its place."""
    if path.is_dir():
        return [], [Problem(str(path), None, "is a directory, not a corpus file (JSON Lines)")]
    if not path.is_file():
        return [], [Problem(str(path), None, "file does not exist")]
    try:
        text = read_utf8(path)
    except InputFileError as error:
        return [], [Problem(str(path), error.line or None, error.message)]
    lines: list[tuple[int, Any]] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            lines.append((number, json.loads(line)))
        except json.JSONDecodeError as error:
            problems.append(Problem(str(path), number, f"invalid JSON: {error.msg} at column {error.colno}"))
    return lines, problems


def validate_files(paths: list[str | Path], schema: LabelSchema | None = DEFAULT_SCHEMA) -> list[Problem]:
    """All problems of the files, plus documents found in more than one file (split)."""
    problems: list[Problem] = []
    first_seen: dict[tuple[str, str], tuple[str, int]] = {}
    for path in paths:
        documents, file_problems = read_documents(path, schema)
        problems.extend(file_problems)
        for number, document in documents:
            for what, key in (("id", document.id), ("text", _digest(document.text))):
                other = first_seen.get((what, key))
                if other and other[0] != str(path):
                    problems.append(
                        Problem(
                            str(path),
                            number,
                            f"{what} also in {other[0]}:{other[1]} (a document in two splits)",
                        )
                    )
                first_seen.setdefault((what, key), (str(path), number))
    return problems


def _digest(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:16]


def load_documents(path: str | Path, schema: LabelSchema | None = DEFAULT_SCHEMA) -> list[Document]:
    """The documents of one file; raises ``CorpusError`` listing every problem if any."""
    documents, problems = read_documents(path, schema)
    if problems:
        raise CorpusError(problems)
    return [document for _, document in documents]


def corpus_text(documents: list[Document]) -> str:
    """The documents as corpus JSON Lines."""
    return "".join(json.dumps(document.to_dict(), ensure_ascii=False) + "\n" for document in documents)


def write_documents(path: str | Path, documents: list[Document]) -> None:
    """Write JSON Lines atomically: a reader never sees a half-written file."""
    write_text(path, corpus_text(documents))


def corpus_hash(paths: list[str | Path], head: tuple[str | Path, int] | None = None) -> str:
    """sha256 of the files (of a dataset directory: of its files, in name order), then of the first
    ``n`` non-blank lines of ``head = (path, n)``.

    A JSON Lines file read whole and its every line give the same hash, so appending documents to a
    file of which a run used only the first ``n`` leaves that run's hash valid.
    """
    digest = hashlib.sha256()
    for path in map(Path, paths):
        for file in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
            digest.update(file.read_bytes())
    if head is not None:
        with Path(head[0]).open("rb") as lines:
            for line in islice((line for line in lines if line.strip()), head[1]):
                digest.update(line)
    return digest.hexdigest()


def corpus_labels(documents: list[Document]) -> dict[str, list[str]]:
    """label -> the outcomes it carries, in order of first appearance (``labels: from_corpus``)."""
    found: dict[str, list[str]] = {}
    for document in documents:
        for span in document.spans:
            outcomes = found.setdefault(span.label, [])
            if span.outcome is not None and span.outcome not in outcomes:
                outcomes.append(span.outcome)
    return found


def corpus_schema(paths: list[str | Path]) -> LabelSchema:
    """The schema of the labels the files carry (``labels: from_corpus``, ``--labels from-corpus``);
    raises ``CorpusError`` listing every problem of the files, read with any label names."""
    from inference.schema import schema_from_corpus

    problems = validate_files(paths, schema=None)
    if problems:
        raise CorpusError(problems)
    seen: dict[str, list[str]] = {}
    for path in paths:
        for label, outcomes in corpus_labels(load_documents(path, schema=None)).items():
            seen.setdefault(label, []).extend(o for o in outcomes if o not in seen[label])
    return schema_from_corpus(seen)


def label_counts(documents: list[Document]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for document in documents:
        for span in document.spans:
            key = f"{span.label}:{span.outcome}" if span.outcome else span.label
            counts[key] += 1
    return counts


SPLIT_SHARES = (("train", 70), ("dev", 15), ("test", 15))


def assign_split(doc_id: str) -> str:
    """A stable split from the id alone: adding documents never moves existing ones."""
    bucket = int(hashlib.sha256(doc_id.encode()).hexdigest(), 16) % 100
    for split, share in SPLIT_SHARES:
        if bucket < share:
            return split
        bucket -= share
    raise AssertionError("split shares must sum to 100")
