"""Label names and aliases, label and outcome parsing, ``Problem``/``Imported`` and the document builder
that every importer feeds its spans through (see the ``training.corpus.formats`` docstring for the names)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from inference.results import Entity
from inference.spans import (
    CASUALTY_COUNT,
    OUTCOMES,
    PERPETRATOR,
    VICTIM_TYPE,
    Document,
    Relation,
    Span,
    cuts_word,
)
from training.corpus.problems import Problem
from training.corpus.store import RELATION_TARGETS

_COUNT_NAMES = {"CASUALTY_COUNT", "CASUALTY", "CASUALTIES", "COUNT", "CASUALTYCOUNT"}
MARKUP_TAGS = {"K": "killed", "I": "injured"}  # training.corpus.markup's tags; V and P are aliases below
LABEL_ALIASES: dict[str, str] = {
    **{name: CASUALTY_COUNT for name in _COUNT_NAMES},
    **{name: VICTIM_TYPE for name in ("VICTIM_TYPE", "VICTIM", "VICTIMS", "VICTIMTYPE", "V")},
    **{name: PERPETRATOR for name in ("PERPETRATOR", "PERP", "ACTOR", "ATTACKER", "PERPETRATORS", "P")},
}
OUTCOME_WORDS: dict[str, str] = {
    **dict.fromkeys(
        ("KILLED", "KILL", "DEAD", "DEATH", "DEATHS", "DIED", "FATAL", "FATALITY", "FATALITIES"), "killed"
    ),
    **dict.fromkeys(("INJURED", "INJURY", "INJURIES", "WOUNDED", "WOUND", "WOUNDS", "HURT"), "injured"),
}
ACCEPTED_NAMES = "CASUALTY_COUNT_KILLED, CASUALTY_COUNT_INJURED, VICTIM_TYPE, PERPETRATOR"
RELATION_FOR_LABEL = {label: kind for kind, label in RELATION_TARGETS.items()}
RELATION_OF = {
    **dict.fromkeys(("VICTIM", "VICTIM_TYPE", "VICTIMS", "VICTIM_OF"), "victim"),
    **dict.fromkeys(("PERPETRATOR", "PERP", "ACTOR", "PERPETRATED_BY", "BY"), "perpetrator"),
}
# Model/export names: counts carry their outcome in the name.
EXPORT_NAMES = {
    (CASUALTY_COUNT, "killed"): "CASUALTY_COUNT_KILLED",
    (CASUALTY_COUNT, "injured"): "CASUALTY_COUNT_INJURED",
    (VICTIM_TYPE, None): VICTIM_TYPE,
    (PERPETRATOR, None): PERPETRATOR,
}


@dataclass
class Predicted:
    """A document with a model's entities (as ``Extractor.extract`` gives them, with ``score``) and
    the model's confidence in the whole document (``training.annotate.uncertainty``), for pre-annotation."""

    id: str
    text: str
    entities: list[Entity]
    confidence: float


@dataclass
class Imported:
    documents: list[Document]
    issues: list[Problem]
    # Where each document came from ("A.json task 1", "B.jsonl:3"), parallel to ``documents``
    # where the reader knows it: a clash of ids is named by these places, not by an output line.
    places: list[str] = field(default_factory=list)
    # The input file of each document (``convert`` fills it): tells a clash between two files,
    # which prefixes resolve, from one inside a file.
    files: list[str] = field(default_factory=list)

    def place(self, index: int) -> str:
        return self.places[index] if index < len(self.places) else f"document {self.documents[index].id!r}"

    @property
    def errors(self) -> list[Problem]:
        return [issue for issue in self.issues if issue.error]


def normalize_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")


def parse_label(name: str) -> tuple[str, str | None] | None:
    """``(label, outcome or None)`` for a tool's label name; None when the name is not understood."""
    key = normalize_name(name)
    if key in LABEL_ALIASES:
        return LABEL_ALIASES[key], None
    if key in MARKUP_TAGS:
        return CASUALTY_COUNT, MARKUP_TAGS[key]
    if key in OUTCOME_WORDS:
        return CASUALTY_COUNT, OUTCOME_WORDS[key]
    parts = key.split("_")
    for cut in range(1, len(parts)):
        head, tail = "_".join(parts[:cut]), "_".join(parts[cut:])
        if head in _COUNT_NAMES and tail in OUTCOME_WORDS:
            return CASUALTY_COUNT, OUTCOME_WORDS[tail]
        if head in OUTCOME_WORDS and tail in _COUNT_NAMES:
            return CASUALTY_COUNT, OUTCOME_WORDS[head]
    return None


def label_names_help() -> str:
    """Every label name the importers accept, on one line (``convert`` prints it once)."""
    aliases = "; ".join(
        f"{', '.join(sorted(n for n, target in LABEL_ALIASES.items() if target == label != n))} -> {label}"
        for label in (CASUALTY_COUNT, VICTIM_TYPE, PERPETRATOR)
    )
    words = {o: ", ".join(w for w, outcome in OUTCOME_WORDS.items() if outcome == o) for o in OUTCOMES}
    return (
        f"label names accepted (case and punctuation ignored): {ACCEPTED_NAMES}; "
        "a count name and an outcome word in either order (KILLED_COUNT, casualty-count:injured); "
        f"CASUALTY_COUNT alone with an outcome choice or --default-outcome; aliases: {aliases}; "
        f"K, I or an outcome word alone -> CASUALTY_COUNT killed ({words['killed']}) "
        f"or injured ({words['injured']})"
    )


def parse_outcome(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return OUTCOME_WORDS.get(normalize_name(value))


class _DocumentBuilder:
    """Collects one document's spans from any tool; checks each and reports what does not fit."""

    def __init__(self, where: str, doc_id: str, text: str, default_outcome: str | None) -> None:
        self.where, self.doc_id, self.text, self.default_outcome = where, doc_id, text, default_outcome
        self.candidates: list[tuple[Span, str]] = []
        self.keys: dict[Any, Span] = {}  # the tool's region id -> span, for relations
        self.links: list[tuple[str, Any, Any, list[Any]]] = []
        self.relations_annotated = False
        self.issues: list[Problem] = []

    def add(
        self,
        where: str,
        start: Any,
        end: Any,
        names: list[str],
        outcomes: Iterable[Any] = (),
        expected: Any = None,
        key: Any = None,
    ) -> None:
        shown = "/".join(str(n) for n in names) or "(no label)"
        place = f"{where}: span [{start}:{end}] {shown}"
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)):
            self.issues.append(Problem(place, None, "'start' and 'end' must be integer character offsets"))
            return
        if not 0 <= start < end <= len(self.text):
            self.issues.append(
                Problem(place, None, f"offsets out of range for a text of {len(self.text)} characters")
            )
            return
        covered = self.text[start:end]
        place = f"{place} {covered!r}"
        if isinstance(expected, str) and expected != covered:
            self.issues.append(
                Problem(place, None, f"the tool's span text {expected!r} differs from text[start:end]")
            )
            return
        label, outcome, problem = self._label(names, outcomes)
        if problem:
            self.issues.append(Problem(place, None, problem))
            return
        # Selections often take a space along; the span is the text without it.
        while start < end and self.text[start].isspace():
            start += 1
        while end > start and self.text[end - 1].isspace():
            end -= 1
        if start == end:
            self.issues.append(Problem(place, None, "the span covers only whitespace"))
            return
        if cuts_word(self.text, start, end):
            self.issues.append(Problem(place, None, "the span cuts a word"))
            return
        self.candidates.append((Span(start, end, label, outcome), place))
        if key is not None:
            self.keys[key] = self.candidates[-1][0]

    def add_relation(self, where: str, source: Any, target: Any, names: list[Any]) -> None:
        """A count -> victim/perpetrator link between two regions named by the tool's ids."""
        self.relations_annotated = True
        self.links.append((where, source, target, names))

    def _label(self, names: list[str], outcomes: Iterable[Any]) -> tuple[str, str | None, str | None]:
        labels: set[str] = set()
        named_outcomes: set[str] = set()
        unknown: list[str] = []
        for name in names:
            parsed = parse_label(name) if isinstance(name, str) else None
            if parsed is None:
                outcome = parse_outcome(name)
                if outcome:  # a second label that is only an outcome: ["CASUALTY_COUNT", "killed"]
                    named_outcomes.add(outcome)
                else:
                    unknown.append(repr(name))
                continue
            labels.add(parsed[0])
            if parsed[1]:
                named_outcomes.add(parsed[1])
        if unknown:
            return "", None, f"unknown label {', '.join(unknown)} (accepted: {ACCEPTED_NAMES}, or an alias)"
        if len(labels) != 1:
            return "", None, "no label" if not labels else f"several labels {sorted(labels)} on one span"
        label = labels.pop()
        extra = {o for o in (parse_outcome(v) for v in outcomes) if o}
        if label != CASUALTY_COUNT:
            if named_outcomes:
                return "", None, f"an outcome ({', '.join(sorted(named_outcomes))}) on a {label} span"
            return label, None, None
        given = named_outcomes | extra
        if len(given) > 1:
            return "", None, f"contradictory outcomes {sorted(given)}"
        outcome = given.pop() if given else self.default_outcome
        if outcome not in OUTCOMES:
            return (
                "",
                None,
                f"{CASUALTY_COUNT} without outcome killed/injured (name it, or use --default-outcome)",
            )
        return label, outcome, None

    def build(self) -> Document:
        spans: list[Span] = []
        ordered = sorted(self.candidates, key=lambda item: (item[0].start, -item[0].end))
        for span, place in ordered:
            clash = next((s for s in spans if s.start < span.end and span.start < s.end), None)
            if clash is None:
                spans.append(span)
            elif clash == span:
                self.issues.append(Problem(place, None, "the same span twice"))
            else:
                other = f"[{clash.start}:{clash.end}] {clash.label} {self.text[clash.start : clash.end]!r}"
                self.issues.append(Problem(place, None, f"overlaps the span {other}"))
        spans.sort()
        relations = self._relations(spans) if self.relations_annotated else None
        return Document(self.doc_id, self.text, spans, relations)

    def _relations(self, spans: list[Span]) -> list[Relation]:
        index = {span: number for number, span in enumerate(spans)}
        relations: list[Relation] = []
        for where, source, target, names in self.links:
            first, second = self.keys.get(source), self.keys.get(target)
            if first is None or second is None or first not in index or second not in index:
                self.issues.append(
                    Problem(where, None, "a relation to a region that was not imported; relation skipped")
                )
                continue
            head, tail = (first, second) if first.label == CASUALTY_COUNT else (second, first)
            kinds = {RELATION_OF.get(normalize_name(str(name))) for name in names} - {None}
            kind = kinds.pop() if len(kinds) == 1 else RELATION_FOR_LABEL.get(tail.label)
            if head.label != CASUALTY_COUNT or kind is None or RELATION_TARGETS[kind] != tail.label:
                shown = f"{head.label} -> {tail.label} {names or ''}".rstrip()
                self.issues.append(
                    Problem(where, None, f"a relation {shown} is not count -> victim/perpetrator")
                )
                continue
            relations.append(Relation(index[head], index[tail], kind))
        return relations
