"""Adding gold ``relations`` (count -> victim / perpetrator links) to a corpus file by hand.

Workflow::

    conflict-ie links show data/annotations/test.jsonl --limit 40 > links.txt
    # edit links.txt: check or fix every relation line under each document
    conflict-ie links apply data/annotations/test.jsonl links.txt --output test.linked.jsonl
    conflict-ie links score test.linked.jsonl      # the rule linker on gold spans

``show`` prints each document as comment lines, its text with every span numbered in place
(``[[at least 12|K3]]``: span 3, a killed count; ``I`` injured, ``V`` victim, ``P``
perpetrator), followed by relation lines, one per count and type::

    ### wire-0001
    # [[Gunmen|P0]] killed [[at least 12|K1]] [[villagers|V2]] ...
    1 v 2
    1 p 0

``<count> v <victim>...`` and ``<count> p <perpetrator>...`` (several tails allowed). Lines are
pre-filled from the document's existing relations or, when it has none, from the rule linker
(``inference.text.records``) run on the gold spans: they are suggestions to check, not gold. A
document listed with no relation lines gets ``relations: []`` (annotated, nothing linked);
documents absent from the file keep what they had. ``apply`` validates everything (unknown ids,
indices out of range, wrong label at either end) and writes nothing if anything is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path

from inference.results import Record
from inference.spans import CASUALTY_COUNT, Document, Relation
from inference.text.records import build_records
from training.corpus.problems import Problem
from training.corpus.store import RELATION_TARGETS, CorpusError, load_documents

Key = tuple[int, int]
Link = tuple[Key, Key, str]


def link_gold_spans(documents: list[Document]) -> list[list[Record]]:
    """Records built by the linker from each document's gold spans."""
    return [build_records(d.text, sorted(d.spans)) for d in documents]


def gold_links(document: Document) -> set[Link]:
    spans = sorted(document.spans)
    return {
        ((spans[r.head].start, spans[r.head].end), (spans[r.tail].start, spans[r.tail].end), r.type)
        for r in document.relations or []
    }


def record_links(records: list[Record]) -> set[Link]:
    links: set[Link] = set()
    for record in records:
        head = (record.count.start, record.count.end)
        for kind, field in (("victim", "victims"), ("perpetrator", "perpetrators")):
            links.update((head, (s.start, s.end), kind) for s in getattr(record, field))
    return links


TAG = {"VICTIM_TYPE": "V", "PERPETRATOR": "P"}
KIND = {"v": "victim", "victim": "victim", "p": "perpetrator", "perpetrator": "perpetrator"}
_HEADER = re.compile(r"^###\s+(\S+)\s*$")
_RELATION = re.compile(r"^(\d+)\s+(v|p|victim|perpetrator)\s+(\d+(?:[\s,]+\d+)*)\s*$", re.IGNORECASE)


def numbered_text(document: Document) -> str:
    parts, cursor = [], 0
    for index, span in enumerate(sorted(document.spans)):
        parts.append(document.text[cursor : span.start])
        tag = TAG.get(span.label) or ("K" if span.outcome == "killed" else "I")
        parts.append(f"[[{document.text[span.start : span.end]}|{tag}{index}]]")
        cursor = span.end
    parts.append(document.text[cursor:])
    return "".join(parts)


def suggested_relations(document: Document) -> list[Relation]:
    """The rule linker's links on the gold spans, as relations by span index."""
    index_of = {(s.start, s.end): i for i, s in enumerate(sorted(document.spans))}
    records = link_gold_spans([document])[0]
    relations = [Relation(index_of[h], index_of[t], kind) for h, t, kind in record_links(records)]
    return sorted(relations, key=lambda r: (r.head, r.type != "victim", r.tail))


def render(document: Document, suggest: bool = True) -> str:
    lines = [f"### {document.id}"]
    lines += [f"# {line}" if line else "#" for line in numbered_text(document).split("\n")]
    if document.relations is not None:
        relations, origin = document.relations, "existing relations"
    elif suggest:
        relations, origin = suggested_relations(document), "suggested by the rule linker: check each line"
    else:
        relations, origin = [], "none yet"
    lines.append(f"# -- {origin}")
    grouped: dict[tuple[int, str], list[int]] = {}
    for relation in relations:
        grouped.setdefault((relation.head, relation.type), []).append(relation.tail)
    for (head, kind), tails in sorted(grouped.items(), key=lambda item: (item[0][0], item[0][1] != "victim")):
        lines.append(f"{head} {kind[0]} {' '.join(str(t) for t in sorted(tails))}")
    return "\n".join(lines) + "\n"


def read_relation_file(
    path: Path,
) -> tuple[dict[str, tuple[int, list[tuple[int, Relation]]]], list[Problem]]:
    """{id: (header line, [(line, relation), ...])} and every syntax problem with its line."""
    entries: dict[str, tuple[int, list[tuple[int, Relation]]]] = {}
    errors: list[Problem] = []
    current: str | None = None
    if not path.is_file():
        return {}, [Problem(str(path), 0, "file does not exist")]
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") and not stripped.startswith("###"):
            continue
        header = _HEADER.match(stripped)
        if header:
            current = header.group(1)
            if current in entries:
                errors.append(Problem(str(path), number, f"document {current!r} listed twice"))
            entries[current] = (number, [])
            continue
        match = _RELATION.match(stripped)
        if current is None:
            errors.append(Problem(str(path), number, "relation line before the first ### header"))
        elif not match:
            errors.append(Problem(str(path), number, f"expected '<count> v|p <span>...', got {stripped!r}"))
        else:
            head, kind = int(match.group(1)), KIND[match.group(2).lower()]
            for tail in re.split(r"[\s,]+", match.group(3).strip()):
                entries[current][1].append((number, Relation(head, int(tail), kind)))
    return entries, errors


def _check(document: Document, line: int, relation: Relation, path: str) -> Problem | None:
    spans = sorted(document.spans)
    where = f"{document.id}: {relation.head} {relation.type[0]} {relation.tail}"
    if not (0 <= relation.head < len(spans) and 0 <= relation.tail < len(spans)):
        return Problem(path, line, f"{where}: span index out of range (the document has {len(spans)} spans)")
    if spans[relation.head].label != CASUALTY_COUNT:
        return Problem(
            path, line, f"{where}: span {relation.head} is {spans[relation.head].label}, not a count"
        )
    expected = RELATION_TARGETS[relation.type]
    if spans[relation.tail].label != expected:
        return Problem(
            path, line, f"{where}: span {relation.tail} is {spans[relation.tail].label}, not {expected}"
        )
    return None


def apply_relations(corpus: Path, relation_file: Path) -> tuple[list[Document], list[Problem]]:
    """The corpus documents with the file's relations set; errors instead if anything is wrong."""
    documents = load_documents(corpus)
    entries, errors = read_relation_file(relation_file)
    by_id = {d.id: d for d in documents}
    for doc_id, (header_line, relations) in entries.items():
        document = by_id.get(doc_id)
        if document is None:
            errors.append(Problem(str(relation_file), header_line, f"no document {doc_id!r} in {corpus}"))
            continue
        for line, relation in relations:
            problem = _check(document, line, relation, str(relation_file))
            if problem:
                errors.append(problem)
        unique = list(dict.fromkeys(r for _, r in relations))
        document.relations = sorted(unique, key=lambda r: (r.head, r.type != "victim", r.tail))
    return documents, errors


def select_documents(documents: list[Document], ids: str | None, source: str) -> list[Document]:
    """The documents named in the comma-separated ``ids`` (all when None); an unknown id is an error."""
    if not ids:
        return documents
    wanted = set(ids.split(","))
    missing = wanted - {d.id for d in documents}
    if missing:
        raise CorpusError(f"no such document(s) in {source}: {', '.join(sorted(missing))}")
    return [d for d in documents if d.id in wanted]
