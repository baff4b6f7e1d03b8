"""The project's own annotations of FA-KES ``train`` articles, kept as standoff.

FA-KES texts may not be committed, so the repository holds one JSON line per article with the
article id, the SHA-1 of its text (UTF-8) and the spans::

    {"id": "1926479070", "sha1": "5f0c...", "spans": [{"start": 15, "end": 18, "label": ...}, ...]}

``materialise`` joins them with the texts of a local FA-KES folder (``fakes.csv``, latin-1, and
``splits.json``) into corpus documents. It refuses, listing every problem with file and line, any id
outside the ``train`` split (dev and reserved articles are never trained on), any id missing from
``fakes.csv``, a text whose SHA-1 differs from the one annotated (another FA-KES release), and any
span the corpus validation rejects. ``to_standoff`` is the inverse, with the same checks.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

from inference.spans import Document
from training.corpus.problems import Problem
from training.corpus.store import CorpusError, document_problems, json_lines

FAKES_FILE = "fakes.csv"
SPLITS_FILE = "splits.json"
STANDOFF_FILE = Path(__file__).resolve().parents[2] / "data/annotations/fakes/train.standoff.jsonl"


class FakesError(ValueError):
    pass


def text_sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def read_articles(directory: str | Path) -> tuple[dict[str, str], set[str]]:
    """FA-KES article texts by id, and the ids of the ``train`` split."""
    directory = Path(directory)
    missing = [name for name in (FAKES_FILE, SPLITS_FILE) if not (directory / name).is_file()]
    if missing:
        raise FakesError(f"{directory}: missing {', '.join(missing)} (not a FA-KES folder)")
    with (directory / FAKES_FILE).open(encoding="latin-1", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not {"unit_id", "article_content"} <= set(rows[0]):
        raise FakesError(f"{directory / FAKES_FILE}: expected columns unit_id and article_content")
    splits = json.loads((directory / SPLITS_FILE).read_text(encoding="utf-8"))
    if not isinstance(splits.get("train"), list):
        raise FakesError(f"{directory / SPLITS_FILE}: expected a list 'train'")
    return {row["unit_id"]: row["article_content"] for row in rows}, {str(i) for i in splits["train"]}


def _article_problem(doc_id: Any, articles: dict[str, str], train: set[str]) -> str | None:
    if not isinstance(doc_id, str) or not doc_id:
        return "'id' must be a non-empty string"
    if doc_id not in train:
        return f"article {doc_id!r} is not in the FA-KES train split: only train articles may be used"
    if doc_id not in articles:
        return f"article {doc_id!r} is not in {FAKES_FILE}"
    return None


def read_standoff(path: str | Path, fakes_dir: str | Path) -> list[Document]:
    """The standoff file's articles as documents; raises ``CorpusError`` listing every problem."""
    path = Path(path)
    lines, problems = json_lines(path)
    if not lines and problems:
        raise CorpusError(problems)
    articles, train = read_articles(fakes_dir)
    documents: list[Document] = []
    seen: dict[str, int] = {}
    for number, raw in lines:
        doc_id = raw.get("id") if isinstance(raw, dict) else None
        problem = "a line must hold a JSON object" if not isinstance(raw, dict) else None
        problem = problem or _article_problem(doc_id, articles, train)
        if problem is None and raw.get("sha1") != text_sha1(articles[doc_id]):
            problem = f"article {doc_id!r}: the text in {FAKES_FILE} is not the one annotated (sha1 differs)"
        if problem is None and doc_id in seen:
            problem = f"duplicate id {doc_id!r} (first on line {seen[doc_id]})"
        if problem is not None:
            problems.append(Problem(str(path), number, problem))
            continue
        seen[doc_id] = number
        raw = {"id": doc_id, "text": articles[doc_id], "spans": raw.get("spans")}
        document, messages = document_problems(raw)
        problems += [Problem(str(path), number, f"article {doc_id!r}: {m}") for m in messages]
        if document is not None:
            documents.append(document)
    if problems:
        raise CorpusError(sorted(problems, key=lambda problem: problem.line))
    return documents


def to_standoff(documents: list[Document], fakes_dir: str | Path) -> list[dict[str, Any]]:
    """Standoff lines for documents of FA-KES train articles; refuses any other document."""
    articles, train = read_articles(fakes_dir)
    problems = []
    for document in documents:
        problem = _article_problem(document.id, articles, train)
        if problem is None and document.text != articles[document.id]:
            problem = f"document {document.id!r}: its text is not the FA-KES article's text"
        if problem is not None:
            problems.append(Problem(document.id, None, problem))
    if problems:
        raise CorpusError(problems)
    return [
        {"id": d.id, "sha1": text_sha1(d.text), "spans": [s.to_dict() for s in sorted(d.spans)]}
        for d in documents
    ]
