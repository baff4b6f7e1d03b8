"""MUC-4 role-filler entities (the processed GRIT and GTT files) as corpus documents.

A file holds one JSON object a line: ``{"docid", "doctext", "extracts": {role: entities}}`` (GRIT)
or ``{"docid", "doctext", "templates": [{"incident_type", role: entities, ...}]}`` (GTT), where an
entity is a list of coreferent ``[mention, offset]`` pairs. Only the first occurrence of a mention
string has an offset, so every occurrence is tagged by matching the string on word boundaries.

Overlaps are resolved deterministically: candidates are placed longest first, then those at a
given offset before matched ones, then left to right, then in role order (PERP_IND, PERP_ORG,
TARGET, VICTIM, WEAPON); a candidate overlapping one already placed is dropped. A mention of which
no occurrence could be placed (not found, off word boundaries, or always inside a longer one) is
listed in ``Muc4Import.unplaced``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference.atomic import write_text
from inference.schema import LabelSchema
from inference.spans import Document, Span

ROLE_LABELS = {
    "PerpInd": "PERP_IND",
    "PerpOrg": "PERP_ORG",
    "Target": "TARGET",
    "Victim": "VICTIM",
    "Weapon": "WEAPON",
}
MUC4_SCHEMA = LabelSchema(tuple(ROLE_LABELS.values()))
SPLITS = ("train", "dev", "test")
FORMATS = ("grit", "gtt")


class Muc4Error(ValueError):
    pass


@dataclass(frozen=True)
class Unplaced:
    docid: str
    label: str
    mention: str
    offset: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "docid": self.docid,
            "label": self.label,
            "mention": self.mention,
            "offset": self.offset,
            "reason": self.reason,
        }


@dataclass
class Muc4Import:
    documents: list[Document] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)
    mentions: int = 0  # distinct (label, mention string) pairs per document

    def summary(self) -> str:
        reasons: dict[str, int] = {}
        for item in self.unplaced:
            reasons[item.reason] = reasons.get(item.reason, 0) + 1
        detail = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items())) or "none"
        spans = sum(len(d.spans) for d in self.documents)
        return (
            f"MUC-4: {len(self.documents)} documents, {spans} spans tagged for {self.mentions} role-filler "
            f"mentions; {len(self.unplaced)} mention(s) not placed ({detail})"
        )


def split_file(directory: str | Path, split: str, source_format: str = "grit") -> Path:
    """``DIR/<split>.json``, or ``DIR/<format>/<split>.json`` for the shared muc4 folder."""
    if split not in SPLITS:
        raise Muc4Error(f"unknown MUC-4 split {split!r}: use {', '.join(SPLITS)}")
    if source_format not in FORMATS:
        raise Muc4Error(f"unknown MUC-4 format {source_format!r}: use {', '.join(FORMATS)}")
    directory = Path(directory)
    for path in (directory / f"{split}.json", directory / source_format / f"{split}.json"):
        if path.is_file():
            return path
    raise Muc4Error(f"{directory}: no {split}.json (nor {source_format}/{split}.json)")


def read_muc4(path: str | Path) -> Muc4Import:
    """Every document of one processed MUC-4 file, each mention tagged where it can be."""
    result = Muc4Import()
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            docid, text, entities = raw["docid"], raw["doctext"], role_entities(raw)
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise Muc4Error(f"{path}:{number}: not a GRIT or GTT MUC-4 record ({error!r})") from error
        spans, unplaced, mentions = place_mentions(docid, text, entities)
        result.documents.append(Document(docid, text, spans))
        result.unplaced += unplaced
        result.mentions += mentions
    return result


def role_entities(raw: dict[str, Any]) -> dict[str, list[list[tuple[str, int | None]]]]:
    """label -> entities -> (mention, offset) of a GRIT record, or the union over a GTT record's
    templates (an entity listed in several templates once)."""
    sources = [raw["extracts"]] if "extracts" in raw else list(raw["templates"])
    found: dict[str, list[list[tuple[str, int | None]]]] = {label: [] for label in ROLE_LABELS.values()}
    for source in sources:
        for role, label in ROLE_LABELS.items():
            for entity in source.get(role, []):
                mentions = [
                    (str(m[0]), m[1] if isinstance(m[1], int) and m[1] >= 0 else None) for m in entity
                ]
                if mentions and mentions not in found[label]:
                    found[label].append(mentions)
    return found


@dataclass(frozen=True)
class _Candidate:
    start: int
    end: int
    label: str
    anchored: bool  # at the offset the data gives

    def key(self, role_order: dict[str, int]) -> tuple[int, int, int, int]:
        return (-(self.end - self.start), not self.anchored, self.start, role_order[self.label])


def occurrences(text: str, mention: str) -> list[tuple[int, int]]:
    """Every occurrence of ``mention`` in ``text`` that starts and ends on a word boundary."""
    pattern = re.compile(r"(?<!\w)" + re.escape(mention) + r"(?!\w)")
    return [(m.start(), m.end()) for m in pattern.finditer(text)]


def place_mentions(
    docid: str, text: str, entities: dict[str, list[list[tuple[str, int | None]]]]
) -> tuple[list[Span], list[Unplaced], int]:
    """(spans placed, mentions not placed, mentions) of one document; see the module docstring."""
    role_order = {label: i for i, label in enumerate(ROLE_LABELS.values())}
    candidates: dict[tuple[str, str], list[_Candidate]] = {}
    offsets: dict[tuple[str, str], int | None] = {}
    problems: dict[tuple[str, str], str] = {}
    for label, label_entities in entities.items():
        for entity in label_entities:
            for mention, offset in entity:
                mention = mention.strip()
                key = (label, mention)
                if not mention or key in candidates:
                    continue
                offsets[key] = offset
                found = occurrences(text, mention)
                anchored = offset is not None and text[offset : offset + len(mention)] == mention
                candidates[key] = [_Candidate(s, e, label, anchored and s == offset) for s, e in found]
                if not found:
                    problems[key] = "not found on word boundaries"
    ordered = sorted((c for group in candidates.values() for c in group), key=lambda c: c.key(role_order))
    taken: list[_Candidate] = []
    for candidate in ordered:
        if all(candidate.end <= t.start or t.end <= candidate.start for t in taken):
            taken.append(candidate)
    placed = {(c.label, text[c.start : c.end]) for c in taken}
    unplaced = [
        Unplaced(
            docid, label, mention, offsets[(label, mention)], problems.get((label, mention), "overlapped")
        )
        for (label, mention) in candidates
        if (label, mention) not in placed
    ]
    spans = sorted({Span(c.start, c.end, c.label) for c in taken})
    return spans, unplaced, len(candidates)


def write_unplaced(path: str | Path, unplaced: list[Unplaced]) -> None:
    """The mentions not placed, one JSON object a line, written atomically."""
    write_text(path, "".join(json.dumps(item.to_dict(), ensure_ascii=False) + "\n" for item in unplaced))


def read_gold(path: str | Path) -> list[tuple[str, str, dict[str, list[list[str]]]]]:
    """(docid, text, label -> entities as mention strings) of each record: the gold of the metric."""
    gold = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            entities = role_entities(raw)
            gold.append((raw["docid"], raw["doctext"], entities))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise Muc4Error(f"{path}:{number}: not a GRIT or GTT MUC-4 record ({error!r})") from error
    return [
        (
            docid,
            text,
            {label: [[m for m, _ in entity] for entity in found] for label, found in entities.items()},
        )
        for docid, text, entities in gold
    ]
