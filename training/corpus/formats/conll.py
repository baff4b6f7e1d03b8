"""CoNLL BIO: the reader and exporter."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.alignment import entity_type_of
from inference.spans import Document, Span
from inference.text.lexicon import CONLL_TOKEN
from inference.text.records import sentence_bounds
from training.corpus.formats.common import Imported, _DocumentBuilder, parse_label
from training.corpus.problems import Problem
from training.corpus.textfiles import InputFileError, read_utf8

_TAG = re.compile(r"^([BIESLU])[-_](.+)$")
_COMMENT = re.compile(r"^#\s*(id|text)\s*=\s?(.*)$")
DOCSTART = "-DOCSTART-"


def conll_tokens(text: str, spans: list[Span]) -> list[tuple[int, int]]:
    """Token character ranges of ``text`` (``CONLL_TOKEN``), cut again at every span boundary."""
    cuts = {s.start for s in spans} | {s.end for s in spans}
    tokens = []
    for match in CONLL_TOKEN.finditer(text):
        start = match.start()
        for cut in sorted(c for c in cuts if match.start() < c < match.end()):
            tokens.append((start, cut))
            start = cut
        tokens.append((start, match.end()))
    return tokens


def _sentence_ranges(text: str, spans: list[Span]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for start, end in sentence_bounds(text):
        # Never end a sentence inside a span.
        if ranges and any(s.start < start < s.end for s in spans):
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
    return ranges


def to_conll(documents: list[Document], comments: bool = True) -> tuple[str, list[Problem]]:
    """CoNLL BIO text for the documents; issues for what CoNLL cannot hold (relations)."""
    lines: list[str] = []
    issues: list[Problem] = []
    for document in documents:
        if document.relations:
            issues.append(
                Problem(
                    document.id,
                    None,
                    f"{len(document.relations)} relation(s) left out: CoNLL has none",
                    error=False,
                )
            )
        lines.append(f"{DOCSTART}\tO")
        if comments:
            lines.append(f"# id = {document.id}")
            lines.append(f"# text = {json.dumps(document.text, ensure_ascii=False)}")
        lines.append("")
        spans = sorted(document.spans)
        starts = [start for start, _ in _sentence_ranges(document.text, spans)]
        sentences: dict[int, list[str]] = {}
        for start, end in conll_tokens(document.text, spans):
            span = next((s for s in spans if s.start <= start and end <= s.end), None)
            tag = "O" if span is None else f"{'B' if span.start == start else 'I'}-{entity_type_of(span)}"
            sentence = max(0, bisect_right(starts, start) - 1)
            sentences.setdefault(sentence, []).append(f"{document.text[start:end]}\t{tag}")
        for sentence in sentences.values():
            lines.extend(sentence)
            lines.append("")
    return "\n".join(lines) + "\n", issues


@dataclass
class _ConllDoc:
    doc_id: str | None
    line: int
    text: str | None = None
    sentences: list[list[tuple[int, str, str]]] | None = None  # (line, token, tag)

    def __post_init__(self) -> None:
        self.sentences = self.sentences if self.sentences is not None else [[]]


def _parse_conll(path: Path, lines: list[str], issues: list[Problem]) -> tuple[list[_ConllDoc], bool]:
    docs: list[_ConllDoc] = []
    marked = False  # any -DOCSTART- or "# id" line
    current = _ConllDoc(None, 1)

    def has_tokens(doc: _ConllDoc) -> bool:
        return any(doc.sentences or [])

    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            if current.sentences and current.sentences[-1]:
                current.sentences.append([])
            continue
        comment = _COMMENT.match(line)
        fields = line.split()
        if fields[0] == DOCSTART or (comment and comment.group(1) == "id" and has_tokens(current)):
            marked = True
            if has_tokens(current) or current.doc_id or current.text is not None:
                docs.append(current)
            current = _ConllDoc(None, number)
            if fields[0] == DOCSTART:
                if len(fields) == 2 and fields[1] not in ("O", "-X-"):
                    current.doc_id = fields[1]
                continue
        if comment:
            key, value = comment.groups()
            if key == "id":
                marked = True
                current.doc_id = value.strip()
            else:
                try:
                    current.text = json.loads(value)
                except json.JSONDecodeError:
                    current.text = value
            continue
        if len(fields) < 2:
            issues.append(Problem(str(path), number, f"token {fields[0]!r} has no tag column; read as O"))
            fields.append("O")
        assert current.sentences is not None
        current.sentences[-1].append((number, fields[0], fields[-1]))
    if has_tokens(current) or current.doc_id or current.text is not None:
        docs.append(current)
    return docs, marked


def _conll_text(path: Path, doc: _ConllDoc, tokens: list[tuple[int, str, str]], issues: list[Problem]):
    """The document text and each token's offset: from ``# text`` when the tokens align with it."""
    sentences = [s for s in doc.sentences or [] if s]
    if doc.text is not None:
        offsets, position = [], 0
        for number, token, _ in tokens:
            while position < len(doc.text) and doc.text[position].isspace():
                position += 1
            if not doc.text.startswith(token, position):
                issues.append(
                    Problem(
                        str(path),
                        number,
                        f"token {token!r} does not follow in the '# text' line of line {doc.line}; "
                        "text rebuilt from the tokens",
                    )
                )
                break
            offsets.append(position)
            position += len(token)
        else:
            if not doc.text[position:].strip():
                return doc.text, offsets
            issues.append(
                Problem(str(path), doc.line, "the '# text' line has text after the last token; rebuilt")
            )
    parts, offsets, length = [], [], 0
    for sentence_number, sentence in enumerate(sentences):
        for token_number, (_, token, _) in enumerate(sentence):
            separator = "" if not parts else ("\n" if token_number == 0 and sentence_number else " ")
            parts.append(separator + token)
            length += len(separator)
            offsets.append(length)
            length += len(token)
    return "".join(parts), offsets


def read_conll(path: str | Path, default_outcome: str | None = None) -> Imported:
    path = Path(path)
    issues: list[Problem] = []
    try:
        lines = read_utf8(path).split("\n")
    except InputFileError as error:
        return Imported([], [Problem(error.path, error.line or None, error.message)])
    docs, marked = _parse_conll(path, lines, issues)
    if not marked:  # plain sentence-per-block files: one document per sentence
        docs = [
            _ConllDoc(f"{path.stem}-{n}", sentence[0][0], None, [sentence])
            for n, sentence in enumerate((s for d in docs for s in d.sentences or [] if s), start=1)
        ]
    documents, places = [], []
    for index, doc in enumerate(docs, start=1):
        tokens = [token for sentence in doc.sentences or [] for token in sentence]
        text, offsets = _conll_text(path, doc, tokens, issues)
        builder = _DocumentBuilder(
            f"{path}:{doc.line}", doc.doc_id or f"{path.stem}-{index}", text, default_outcome
        )
        _conll_spans(path, doc, tokens, offsets, builder, issues)
        documents.append(builder.build())
        places.append(f"{path}:{doc.line}")
        issues.extend(builder.issues)
    return Imported(documents, issues, places)


def _conll_spans(
    path: Path,
    doc: _ConllDoc,
    tokens: list[tuple[int, str, str]],
    offsets: list[int],
    builder: _DocumentBuilder,
    issues: list[Problem],
) -> None:
    sentence_of = {}
    for sentence_number, sentence in enumerate(doc.sentences or []):
        for token in sentence:
            sentence_of[token[0]] = sentence_number
    open_span: list[Any] | None = None  # [line, start, end, name, sentence, bad]

    def close() -> None:
        nonlocal open_span
        if open_span is not None and not open_span[5]:
            builder.add(f"{path}:{open_span[0]}", open_span[1], open_span[2], [open_span[3]])
        open_span = None

    for (number, token, tag), offset in zip(tokens, offsets, strict=True):
        end = offset + len(token)
        if open_span is not None and sentence_of[number] != open_span[4]:
            close()
        if tag == "O":
            close()
            continue
        match = _TAG.match(tag)
        if match is None:
            close()
            issues.append(
                Problem(str(path), number, f"tag {tag!r} on {token!r} is not O, B-X, I-X, E-X or S-X")
            )
            continue
        prefix, name = match.groups()
        continues = open_span is not None and _same_type(open_span[3], name)
        bad = prefix in "IE" and open_span is not None and not continues
        if prefix in "IE" and continues:
            assert open_span is not None
            open_span[2] = end
        else:
            close()
            open_span = [number, offset, end, name, sentence_of[number], bad]
        if bad:
            issues.append(
                Problem(str(path), number, f"{tag} on {token!r} follows a span of another type; span skipped")
            )
        if prefix in "ESLU":
            close()
    close()


def _same_type(a: str, b: str) -> bool:
    return a == b or (parse_label(a) is not None and parse_label(a) == parse_label(b))
