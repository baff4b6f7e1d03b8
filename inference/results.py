"""Typed results of ``Extractor``: entities, casualty records and per-text results.

``to_dict()`` gives the JSON of ``predict`` and the service; the service's OpenAPI models are built
from these classes (each field's ``metadata["description"]`` is its documentation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from inference.spans import Span


def _doc(description: str, **kwargs: Any) -> Any:
    return field(metadata={"description": description}, **kwargs)


@dataclass(frozen=True)
class CountValue:
    """A count's value as written (UCDP-style estimates); all three null when unreadable."""

    best: int | None = _doc("The one figure to use")
    low: int | None = _doc("Lower bound")
    high: int | None = _doc("Upper bound; null when open (`at least 12`)")

    @classmethod
    def of(cls, raw: dict[str, int | None]) -> CountValue:
        """From ``inference.text.counts.parse_count``'s dict."""
        return cls(raw.get("best"), raw.get("low"), raw.get("high"))

    def to_dict(self) -> dict[str, int | None]:
        return {"best": self.best, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Entity:
    """A span the model found in a text, with its score (and on a count, its outcome and value)."""

    label: str = _doc("What the span is")
    start: int = _doc("Character offset in the text (Python string index)")
    end: int = _doc("Exclusive end offset")
    text: str = _doc("text[start:end]")
    score: float = _doc("Model confidence, 0 to 1")
    outcome: str | None = _doc("On CASUALTY_COUNT: killed or injured", default=None)
    count: CountValue | None = _doc("On CASUALTY_COUNT: its value", default=None)

    @property
    def span(self) -> Span:
        return Span(self.start, self.end, self.label, self.outcome)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.label,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "score": self.score,
        }
        if self.outcome is not None:
            out["outcome"] = self.outcome
        if self.count is not None:
            out["count"] = self.count.to_dict()
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Entity:
        """From ``to_dict``'s JSON (a predictions file)."""
        count = raw.get("count")
        return cls(
            str(raw["label"]),
            int(raw["start"]),
            int(raw["end"]),
            str(raw.get("text", "")),
            float(raw.get("score", 1.0)),
            raw.get("outcome"),
            CountValue.of(count) if isinstance(count, dict) else None,
        )


@dataclass(frozen=True)
class SpanRef:
    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text}


@dataclass(frozen=True)
class RecordCount(SpanRef):
    outcome: str | None
    best: int | None
    low: int | None
    high: int | None

    def to_dict(self) -> dict[str, Any]:
        figure = {"best": self.best, "low": self.low, "high": self.high}
        return {**super().to_dict(), "outcome": self.outcome, **figure}


@dataclass
class Record:
    """One casualty count linked to its victims and perpetrators (``inference/text/records.py``)."""

    count: RecordCount
    victims: list[SpanRef]
    perpetrators: list[SpanRef]
    victim_categories: list[str] = _doc("One per victim")
    actors: list[str | None] = _doc("Actor id per perpetrator (null: not in the table)")
    headline: bool = _doc("The count is in the headline")
    same_event_as: int | None = _doc("Index of the record this one repeats")
    part_of: int | None = _doc("Index of the record of the total this count is part of")

    @property
    def victim(self) -> SpanRef | None:
        """The first of victims."""
        return self.victims[0] if self.victims else None

    @property
    def perpetrator(self) -> SpanRef | None:
        """The first of perpetrators."""
        return self.perpetrators[0] if self.perpetrators else None

    @property
    def victim_category(self) -> str | None:
        """The first of victim_categories."""
        return self.victim_categories[0] if self.victim_categories else None

    @property
    def actor(self) -> str | None:
        """The first of actors."""
        return self.actors[0] if self.actors else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count.to_dict(),
            "victim": self.victim.to_dict() if self.victim else None,
            "victims": [v.to_dict() for v in self.victims],
            "perpetrator": self.perpetrator.to_dict() if self.perpetrator else None,
            "perpetrators": [p.to_dict() for p in self.perpetrators],
            "headline": self.headline,
            "same_event_as": self.same_event_as,
            "part_of": self.part_of,
            "victim_category": self.victim_category,
            "victim_categories": list(self.victim_categories),
            "actor": self.actor,
            "actors": list(self.actors),
        }


@dataclass(frozen=True)
class TextResult:
    """One text's entities and, where the model's labels have a count role, its records."""

    entities: list[Entity]
    records: list[Record] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"entities": [e.to_dict() for e in self.entities]}
        if self.records is not None:
            out["records"] = [r.to_dict() for r in self.records]
        return out


_TOLL_KEYS = ("civilians", "children", "women", "non_civilians")


@dataclass
class Toll:
    """Victims of one outcome in the main event by category; 0 where none is reported."""

    civilians: int = _doc("Civilians, children and women included, and victims of no stated kind", default=0)
    children: int = _doc("Children (also counted in civilians)", default=0)
    women: int = _doc("Women (also counted in civilians)", default=0)
    non_civilians: int = _doc("Combatants and security forces", default=0)

    def to_dict(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in _TOLL_KEYS}


@dataclass
class Event:
    """The main event of a report: its totals without double counting, actor and cause
    (``inference/text/events.py``)."""

    killed: Toll = _doc("Killed, by victim category", default_factory=Toll)
    injured: Toll = _doc("Injured, by victim category", default_factory=Toll)
    actor: str | None = _doc("Actor id of the main event (the actor table's); null: none found", default=None)
    actors: list[str] = _doc("Every actor id of the text, the main event's first", default_factory=list)
    cause: str | None = _doc(
        "Cause of death: shelling, explosion, chemical and toxic gases, shooting, "
        "execution or unknown; null: no cue",
        default=None,
    )
    records: list[int] = _doc("Indices of the main event's records", default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["killed"], out["injured"] = self.killed.to_dict(), self.injured.to_dict()
        return out
