"""The one span data model shared by the corpus, training, evaluation and inference."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CASUALTY_COUNT = "CASUALTY_COUNT"
VICTIM_TYPE = "VICTIM_TYPE"
PERPETRATOR = "PERPETRATOR"
LABELS: tuple[str, ...] = (CASUALTY_COUNT, VICTIM_TYPE, PERPETRATOR)
OUTCOMES: tuple[str, ...] = ("killed", "injured")


@dataclass(frozen=True, order=True)
class Span:
    """A labelled character range: ``text[start:end]``, end exclusive."""

    start: int
    end: int
    label: str
    outcome: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end, "label": self.label}
        if self.outcome is not None:
            out["outcome"] = self.outcome
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Span:
        return cls(int(raw["start"]), int(raw["end"]), str(raw["label"]), raw.get("outcome"))


@dataclass(frozen=True)
class Relation:
    """A gold link from a count span to a victim or perpetrator span, by index into ``spans``."""

    head: int
    tail: int
    type: str  # "victim" or "perpetrator"

    def to_dict(self) -> dict[str, Any]:
        return {"head": self.head, "tail": self.tail, "type": self.type}


@dataclass
class Document:
    id: str
    text: str
    spans: list[Span] = field(default_factory=list)
    relations: list[Relation] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "spans": [s.to_dict() for s in sorted(self.spans)],
        }
        if self.relations is not None:
            out["relations"] = [r.to_dict() for r in self.relations]
        return out


def is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def cuts_word(text: str, start: int, end: int) -> bool:
    """True when a span boundary falls inside a run of word characters."""
    if 0 < start < len(text) and is_word_char(text[start - 1]) and is_word_char(text[start]):
        return True
    return 0 < end < len(text) and is_word_char(text[end - 1]) and is_word_char(text[end])
