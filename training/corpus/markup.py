"""Inline markup for writing annotated reports by hand, converted to corpus documents.

A markup file holds documents, each opened by a header line ``### <id>``; the lines up to the
next header are the text. Spans are written inline as ``[[covered text|TAG]]`` where TAG is
``K`` (casualty count, killed), ``I`` (casualty count, injured), ``V`` (victim type) or
``P`` (perpetrator). Example::

    ### wire-0001
    Gunmen killed [[at least 12|K]] [[villagers|V]] and wounded [[three|I]] others.

Run ``python -m training.corpus.markup check FILE...`` to list every problem with file and line.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from inference.spans import CASUALTY_COUNT, PERPETRATOR, VICTIM_TYPE, Document, Span, cuts_word
from training.corpus.problems import Problem
from training.corpus.textfiles import InputFileError, read_utf8

TAGS: dict[str, tuple[str, str | None]] = {
    "K": (CASUALTY_COUNT, "killed"),
    "I": (CASUALTY_COUNT, "injured"),
    "V": (VICTIM_TYPE, None),
    "P": (PERPETRATOR, None),
}
TAG_OF = {value: key for key, value in TAGS.items()}
_SPAN = re.compile(r"\[\[([^\[\]|]+)\|([A-Z]+)\]\]")
_HEADER = re.compile(r"^###\s+(\S+)\s*$")


def parse_markup_text(markup: str) -> tuple[str, list[Span], list[str]]:
    """Strip inline spans from one document's markup; return text, spans and problems."""
    problems: list[str] = []
    text_parts: list[str] = []
    spans: list[Span] = []
    cursor = 0
    length = 0
    for match in _SPAN.finditer(markup):
        before = markup[cursor : match.start()]
        text_parts.append(before)
        length += len(before)
        covered, tag = match.group(1), match.group(2)
        if tag not in TAGS:
            problems.append(f"unknown tag {tag!r} on {covered!r} (use K, I, V or P)")
        elif covered != covered.strip():
            problems.append(f"span {covered!r} starts or ends with whitespace")
        else:
            label, outcome = TAGS[tag]
            spans.append(Span(length, length + len(covered), label, outcome))
        text_parts.append(covered)
        length += len(covered)
        cursor = match.end()
    text_parts.append(markup[cursor:])
    text = "".join(text_parts)
    if "[[" in text or "]]" in text:
        problems.append("unbalanced or malformed [[...|TAG]] markup")
    for span in spans:
        if cuts_word(text, span.start, span.end):
            problems.append(f"span {text[span.start : span.end]!r} cuts a word")
    return text, spans, problems


def to_markup(document: Document) -> str:
    """Render a document back to inline markup (the inverse of ``parse_markup_text``)."""
    parts: list[str] = []
    cursor = 0
    for span in sorted(document.spans):
        parts.append(document.text[cursor : span.start])
        tag = TAG_OF[(span.label, span.outcome if span.label == CASUALTY_COUNT else None)]
        parts.append(f"[[{document.text[span.start : span.end]}|{tag}]]")
        cursor = span.end
    parts.append(document.text[cursor:])
    return "".join(parts)


def read_markup(path: Path) -> tuple[list[Document], list[Problem]]:
    documents: list[Document] = []
    errors: list[Problem] = []
    current_id: str | None = None
    header_line = 0
    body: list[str] = []

    def flush() -> None:
        if current_id is None:
            return
        text, spans, problems = parse_markup_text("\n".join(body).strip())
        errors.extend(Problem(str(path), header_line, f"{current_id}: {p}") for p in problems)
        if not text:
            errors.append(Problem(str(path), header_line, f"{current_id}: empty document"))
        documents.append(Document(current_id, text, spans))

    try:
        text = read_utf8(path)
    except InputFileError as error:
        return [], [Problem(str(path), error.line, error.message)]
    for number, line in enumerate(text.split("\n"), start=1):
        header = _HEADER.match(line)
        if header:
            flush()
            current_id, header_line, body = header.group(1), number, []
        elif current_id is None:
            if line.strip():
                errors.append(Problem(str(path), number, "text before the first ### header"))
        else:
            body.append(line.rstrip())
    flush()
    seen: set[str] = set()
    for document in documents:
        if document.id in seen:
            errors.append(Problem(str(path), 0, f"duplicate id {document.id!r}"))
        seen.add(document.id)
    return documents, errors


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "check":
        print("usage: python -m training.corpus.markup check FILE...", file=sys.stderr)
        return 2
    failed = False
    for name in argv[1:]:
        documents, errors = read_markup(Path(name))
        for error in errors:
            print(error)
        failed = failed or bool(errors)
        counts = {tag: 0 for tag in TAGS}
        for document in documents:
            for span in document.spans:
                counts[TAG_OF[(span.label, span.outcome)]] += 1
        words = [len(d.text.split()) for d in documents]
        print(
            f"{name}: {len(documents)} documents, spans {counts}, "
            f"words max {max(words, default=0)}, over 400 words {sum(w > 400 for w in words)}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
