"""Importers from annotation tools (Label Studio, doccano, CoNLL BIO) and exporters from the corpus.

Every importer returns the documents it could build plus an ``Issue`` for everything that did not fit
(an unknown label, a count without outcome, offsets out of range, a tool's span text that differs from
``text[start:end]``, a span cutting a word, overlapping spans, a task without annotation). Nothing is
dropped without an issue naming the file, the task or line, and the span.

Label names (all formats)
-------------------------
Names are compared after upper-casing and turning every run of non-alphanumeric characters into
``_``, so ``casualty-count:killed``, ``Casualty Count Killed`` and ``CASUALTY_COUNT_KILLED`` are the
same name.

=========================================================  =======================================
name                                                       becomes
=========================================================  =======================================
``CASUALTY_COUNT``, ``CASUALTY``, ``CASUALTIES``, ``COUNT``  CASUALTY_COUNT, outcome from elsewhere
``VICTIM_TYPE``, ``VICTIM``, ``VICTIMS``                     VICTIM_TYPE
``PERPETRATOR``, ``PERP``, ``ACTOR``, ``ATTACKER``           PERPETRATOR
``K``, ``I``, ``V``, ``P``                                   as in ``training.markup``
count name + outcome word, either order                    CASUALTY_COUNT with that outcome
(``CASUALTY_COUNT_KILLED``, ``CASUALTY_COUNT:injured``,
``KILLED_COUNT``)
an outcome word alone (``KILLED``, ``WOUNDED``, ``DEATHS``)  CASUALTY_COUNT with that outcome
=========================================================  =======================================

Outcome words: killed, kill, dead, death, deaths, died, fatal, fatality, fatalities → ``killed``;
injured, injury, injuries, wounded, wound, wounds, hurt → ``injured``.

Where a count's name carries no outcome, the outcome comes from (in this order) the tool's own
outcome field (Label Studio: a per-region ``choices`` result, ``value.outcome`` or the region's
``meta.text``; a second label on the region that is an outcome word), else from
``default_outcome`` (``--default-outcome``), else the span is reported as missing its outcome. An
outcome that contradicts the label's own is reported too.

Label Studio
------------
The JSON export: a list of tasks ``{"id", "data": {"text", "doc_id"?}, "annotations": [{"result":
[...], "was_cancelled"}]}``. Regions are results whose ``value`` has ``start``, ``end`` and
``labels``; a ``choices`` result with the same region ``id`` (``perRegion`` choices) gives the
outcome. Offsets are Python string indices; Label Studio counts UTF-16 code units, so where the two
differ (characters beyond U+FFFF) offsets are converted when that makes ``value.text`` match. The
document id is ``data.doc_id``, else ``data.id``, else the task id. A task with no submitted
annotation is reported (it is not the same thing as a report without casualties); a task with
several is reported unless ``annotation`` picks one by position. Relation results (count → victim or
perpetrator; the type from the relation's label, else from the target's label) become the corpus
``relations``; the exporter writes them back, so corpus → Label Studio → corpus is exact. The
JSON-MIN export (flat objects with ``text`` and region lists) is read too. A labelling config that
fits::

    <View>
      <Labels name="label" toName="text">
        <Label value="CASUALTY_COUNT_KILLED"/><Label value="CASUALTY_COUNT_INJURED"/>
        <Label value="VICTIM_TYPE"/><Label value="PERPETRATOR"/>
      </Labels>
      <Text name="text" value="$text"/>
    </View>

doccano
-------
JSON Lines, one document a line: ``text`` plus ``label`` (or ``labels``) as ``[[start, end,
"LABEL"], ...]``, or ``entities`` as ``[{"id", "start_offset", "end_offset", "label"}, ...]`` with
``relations`` ``[{"from_id", "to_id", "type"}]`` (what the exporter writes for documents that have
relations). The id is ``doc_id``, else ``meta.doc_id`` / ``meta.id``, else ``id``.

CoNLL BIO
---------
One token a line, the token in the first column and the tag in the last (tab or spaces between);
a blank line ends a sentence; a ``-DOCSTART-`` line starts a document. Tags: ``O``, ``B-X``,
``I-X`` (an ``I-`` with no open span starts one, as in IOB1; one that follows a span of another
type is reported, and its span skipped), and ``S-``/``U-``, ``E-``/``L-`` of BIOES/BILOU. ``X`` is
a label name as above, so ``B-CASUALTY_COUNT:killed`` (what the exporter writes) and
``B-CASUALTY_COUNT`` with ``default_outcome`` both work. The exporter writes two
comment lines after ``-DOCSTART-``: ``# id = <id>`` and ``# text = <the text as a JSON string>``;
with them the import gives back the identical document. Without them the text is rebuilt from the
tokens, one space between tokens and a line break between sentences; a file with neither
``-DOCSTART-`` nor ``# id`` lines gives one document per sentence, named ``<file stem>-<n>``. CoNLL
holds no relations: the exporter lists each document whose relations it leaves out.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.alignment import entity_type_of
from inference.records import sentence_bounds
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
from training.corpus import RELATION_TARGETS

_COUNT_NAMES = {"CASUALTY_COUNT", "CASUALTY", "CASUALTIES", "COUNT", "CASUALTYCOUNT"}
MARKUP_TAGS = {"K": "killed", "I": "injured"}  # training.markup's tags; V and P are aliases below
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


@dataclass(frozen=True)
class Issue:
    """Something that did not fit, with its place. ``error`` issues fail a conversion unless skipped."""

    where: str
    message: str
    error: bool = True

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" + ("" if self.error else " (note)")


@dataclass
class Imported:
    documents: list[Document]
    issues: list[Issue]

    @property
    def errors(self) -> list[Issue]:
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
        self.issues: list[Issue] = []

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
            self.issues.append(Issue(place, "'start' and 'end' must be integer character offsets"))
            return
        if not 0 <= start < end <= len(self.text):
            self.issues.append(
                Issue(place, f"offsets out of range for a text of {len(self.text)} characters")
            )
            return
        covered = self.text[start:end]
        place = f"{place} {covered!r}"
        if isinstance(expected, str) and expected != covered:
            self.issues.append(
                Issue(place, f"the tool's span text {expected!r} differs from text[start:end]")
            )
            return
        label, outcome, problem = self._label(names, outcomes)
        if problem:
            self.issues.append(Issue(place, problem))
            return
        # Selections often take a space along; the span is the text without it.
        while start < end and self.text[start].isspace():
            start += 1
        while end > start and self.text[end - 1].isspace():
            end -= 1
        if start == end:
            self.issues.append(Issue(place, "the span covers only whitespace"))
            return
        if cuts_word(self.text, start, end):
            self.issues.append(Issue(place, "the span cuts a word"))
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
            return "", None, f"unknown label {', '.join(unknown)}"
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
                self.issues.append(Issue(place, "the same span twice"))
            else:
                other = f"[{clash.start}:{clash.end}] {clash.label} {self.text[clash.start : clash.end]!r}"
                self.issues.append(Issue(place, f"overlaps the span {other}"))
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
                    Issue(where, "a relation to a region that was not imported; relation skipped")
                )
                continue
            head, tail = (first, second) if first.label == CASUALTY_COUNT else (second, first)
            kinds = {RELATION_OF.get(normalize_name(str(name))) for name in names} - {None}
            kind = kinds.pop() if len(kinds) == 1 else RELATION_FOR_LABEL.get(tail.label)
            if head.label != CASUALTY_COUNT or kind is None or RELATION_TARGETS[kind] != tail.label:
                shown = f"{head.label} -> {tail.label} {names or ''}".rstrip()
                self.issues.append(Issue(where, f"a relation {shown} is not count -> victim/perpetrator"))
                continue
            relations.append(Relation(index[head], index[tail], kind))
        return relations


# --- Label Studio ------------------------------------------------------------------------------


def _utf16_to_index(text: str, offset: int) -> int | None:
    units = 0
    for index, char in enumerate(text):
        if units == offset:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(text) if units == offset else None


def _ls_offsets(text: str, value: dict[str, Any]) -> tuple[Any, Any]:
    start, end = value.get("start"), value.get("end")
    expected = value.get("text")
    if (
        isinstance(start, int)
        and isinstance(end, int)
        and isinstance(expected, str)
        and text[start:end] != expected
        and any(ord(c) > 0xFFFF for c in text)
    ):
        converted = _utf16_to_index(text, start), _utf16_to_index(text, end)
        if None not in converted and text[converted[0] : converted[1]] == expected:  # type: ignore[index]
            return converted
    return start, end


def _region_key(item: dict[str, Any]) -> Any:
    value = item.get("value") or {}
    return item.get("id") or (value.get("start"), value.get("end"))


def _ls_regions(where: str, results: list[Any], builder: _DocumentBuilder, issues: list[Issue]) -> None:
    outcomes: dict[Any, list[Any]] = {}
    regions: list[tuple[int, dict[str, Any]]] = []
    for number, item in enumerate(results):
        if not isinstance(item, dict) or not isinstance(item.get("value", {}), dict):
            issues.append(
                Issue(f"{where} result {number}", "a result must be an object with a 'value' object")
            )
            continue
        value = item.get("value", {})
        kind = item.get("type")
        if kind == "relation" or {"from_id", "to_id"} <= set(item):
            names = item.get("labels") or []
            builder.add_relation(f"{where} result {number}", item.get("from_id"), item.get("to_id"), names)
        elif "labels" in value:
            regions.append((number, item))
        elif "choices" in value:
            outcomes.setdefault(_region_key(item), []).extend(value["choices"])
            if "start" not in value and any(parse_outcome(c) for c in value["choices"]):
                issues.append(Issue(f"{where} result {number}", "an outcome choice not attached to a region"))
        elif kind in ("labels", "hypertextlabels") or "startOffset" in value:
            issues.append(Issue(f"{where} result {number}", "a region without character offsets or labels"))
    for number, item in regions:
        value = item["value"]
        start, end = _ls_offsets(builder.text, value)
        meta = item.get("meta") or {}
        extra = [value.get("outcome"), *outcomes.get(_region_key(item), [])]
        extra += meta.get("text", []) if isinstance(meta.get("text"), list) else []
        labels = value["labels"] if isinstance(value["labels"], list) else [value["labels"]]
        builder.add(f"{where} result {number}", start, end, labels, extra, value.get("text"), item.get("id"))


def _json_min_results(task: dict[str, Any]) -> list[dict[str, Any]]:
    """JSON-MIN puts each control's regions in a list under the control's name."""
    results: list[dict[str, Any]] = []
    for key, value in task.items():
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and "start" in item and ("labels" in item or "choices" in item):
                    results.append({"from_name": key, "value": item})
    return results


def read_label_studio(
    path: str | Path,
    default_outcome: str | None = None,
    annotation: int | None = None,
    text_field: str = "text",
) -> Imported:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return Imported([], [Issue(str(path), f"cannot read a Label Studio JSON export: {error}")])
    tasks = [raw] if isinstance(raw, dict) else raw
    if not isinstance(tasks, list):
        return Imported([], [Issue(str(path), "expected a JSON list of tasks")])
    documents: list[Document] = []
    issues: list[Issue] = []
    for index, task in enumerate(tasks):
        if not isinstance(task, dict):
            issues.append(Issue(f"{path}: task #{index + 1}", "a task must be a JSON object"))
            continue
        data = task.get("data") if isinstance(task.get("data"), dict) else task
        where = f"{path}: task {task.get('id', '#' + str(index + 1))}"
        text = data.get(text_field)
        if not isinstance(text, str):
            issues.append(Issue(where, f"no string data.{text_field}; task skipped"))
            continue
        doc_id = data.get("doc_id", data.get("id", task.get("id", f"{path.stem}-{index + 1}")))
        if "data" in task:
            results = _ls_annotation_results(where, task, annotation, issues)
            if results is None:
                continue
        else:
            results = _json_min_results(task)
        builder = _DocumentBuilder(where, str(doc_id), text, default_outcome)
        builder.relations_annotated = data.get("relations_annotated") is True
        _ls_regions(where, results, builder, issues)
        documents.append(builder.build())
        issues.extend(builder.issues)
    return Imported(documents, issues)


def _ls_annotation_results(
    where: str, task: dict[str, Any], annotation: int | None, issues: list[Issue]
) -> list[Any] | None:
    annotations = [
        a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")
    ]
    if not annotations:
        why = " (it has only predictions)" if task.get("predictions") else ""
        issues.append(
            Issue(where, f"no submitted annotation{why}; task skipped (unannotated is not casualty-free)")
        )
        return None
    if annotation is None and len(annotations) > 1:
        who = ", ".join(str(a.get("completed_by", a.get("id", "?"))) for a in annotations)
        issues.append(
            Issue(where, f"{len(annotations)} annotations (by {who}); pick one with --annotation N")
        )
        return None
    chosen = annotation or 0
    if chosen >= len(annotations):
        issues.append(Issue(where, f"no annotation number {chosen} (the task has {len(annotations)})"))
        return None
    results = annotations[chosen].get("result", [])
    if not isinstance(results, list):
        issues.append(Issue(where, "annotation 'result' must be a list"))
        return None
    return results


def to_label_studio(documents: list[Document]) -> list[dict[str, Any]]:
    """Tasks with the spans as a submitted annotation (import them into a project using the config
    in the module docstring)."""
    tasks = []
    for document in documents:
        result: list[dict[str, Any]] = [
            {
                "id": f"s{number}",
                "from_name": "label",
                "to_name": "text",
                "type": "labels",
                "value": {
                    "start": span.start,
                    "end": span.end,
                    "text": document.text[span.start : span.end],
                    "labels": [EXPORT_NAMES[(span.label, span.outcome)]],
                },
            }
            for number, span in enumerate(sorted(document.spans))
        ]
        data: dict[str, Any] = {"doc_id": document.id, "text": document.text}
        if document.relations is not None:
            data["relations_annotated"] = True
            result += [
                {
                    "from_id": f"s{r.head}",
                    "to_id": f"s{r.tail}",
                    "type": "relation",
                    "direction": "right",
                    "labels": [r.type],
                }
                for r in document.relations
            ]
        tasks.append({"data": data, "annotations": [{"result": result}]})
    return tasks


# --- doccano -----------------------------------------------------------------------------------


def read_doccano(path: str | Path, default_outcome: str | None = None, text_field: str = "text") -> Imported:
    path = Path(path)
    documents: list[Document] = []
    issues: list[Issue] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        return Imported([], [Issue(str(path), f"cannot read: {error}")])
    for number, line in enumerate(lines, start=1):
        where = f"{path}:{number}"
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as error:
            issues.append(Issue(where, f"invalid JSON: {error.msg} at column {error.colno}"))
            continue
        if not isinstance(raw, dict) or not isinstance(raw.get(text_field), str):
            issues.append(Issue(where, f"expected an object with a string {text_field!r}; line skipped"))
            continue
        meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
        doc_id = raw.get("doc_id", meta.get("doc_id", meta.get("id", raw.get("id", f"{path.stem}-{number}"))))
        builder = _DocumentBuilder(where, str(doc_id), raw[text_field], default_outcome)
        entries = raw.get("label", raw.get("labels", []))
        if not isinstance(entries, list):
            entries = [entries]
        for index, entry in enumerate(entries):
            if isinstance(entry, list | tuple) and len(entry) == 3:
                builder.add(f"{where} label {index}", entry[0], entry[1], [entry[2]])
            else:
                issues.append(
                    Issue(
                        f"{where} label {index}", f"expected [start, end, label], got {entry!r} (not a span)"
                    )
                )
        for index, entity in enumerate(raw.get("entities") or []):
            if not isinstance(entity, dict):
                issues.append(Issue(f"{where} entity {index}", "an entity must be an object"))
                continue
            start = entity.get("start_offset", entity.get("start"))
            end = entity.get("end_offset", entity.get("end"))
            names, outcomes = [entity.get("label")], [entity.get("outcome")]
            builder.add(f"{where} entity {index}", start, end, names, outcomes, key=entity.get("id"))
        relations = raw.get("relations")
        if isinstance(relations, list):
            builder.relations_annotated = True
            for index, relation in enumerate(relations):
                if not isinstance(relation, dict):
                    issues.append(Issue(f"{where} relation {index}", "a relation must be an object"))
                    continue
                names = [relation.get("type")] if relation.get("type") else []
                builder.add_relation(
                    f"{where} relation {index}", relation.get("from_id"), relation.get("to_id"), names
                )
        documents.append(builder.build())
        issues.extend(builder.issues)
    return Imported(documents, issues)


def to_doccano(documents: list[Document]) -> list[dict[str, Any]]:
    """doccano JSONL: ``label`` lists, or ``entities`` + ``relations`` where a document has relations
    (the export format of doccano's relation projects)."""
    lines: list[dict[str, Any]] = []
    for document in documents:
        spans = sorted(document.spans)
        line: dict[str, Any] = {"doc_id": document.id, "text": document.text}
        if document.relations is None:
            line["label"] = [[s.start, s.end, EXPORT_NAMES[(s.label, s.outcome)]] for s in spans]
        else:
            line["entities"] = [
                {
                    "id": n,
                    "label": EXPORT_NAMES[(s.label, s.outcome)],
                    "start_offset": s.start,
                    "end_offset": s.end,
                }
                for n, s in enumerate(spans)
            ]
            line["relations"] = [
                {"id": n, "from_id": r.head, "to_id": r.tail, "type": r.type}
                for n, r in enumerate(document.relations)
            ]
        lines.append(line)
    return lines


# --- CoNLL BIO ---------------------------------------------------------------------------------

# Tokens: abbreviations (U.S.), grouped numbers (1,200 / 1.5), words with inner hyphens or
# apostrophes (17-year-old, Syria's), one punctuation mark. Split again at every span boundary.
_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\w+(?:['\u2019-]\w+)*|[^\w\s]")
_TAG = re.compile(r"^([BIESLU])[-_](.+)$")
_COMMENT = re.compile(r"^#\s*(id|text)\s*=\s?(.*)$")
DOCSTART = "-DOCSTART-"


def conll_tokens(text: str, spans: list[Span]) -> list[tuple[int, int]]:
    """Token character ranges of ``text``, cut at every span boundary."""
    cuts = {s.start for s in spans} | {s.end for s in spans}
    tokens = []
    for match in _TOKEN.finditer(text):
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


def to_conll(documents: list[Document], comments: bool = True) -> tuple[str, list[Issue]]:
    """CoNLL BIO text for the documents; issues for what CoNLL cannot hold (relations)."""
    lines: list[str] = []
    issues: list[Issue] = []
    for document in documents:
        if document.relations:
            issues.append(
                Issue(document.id, f"{len(document.relations)} relation(s) left out: CoNLL has none", False)
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


def _parse_conll(path: Path, lines: list[str], issues: list[Issue]) -> tuple[list[_ConllDoc], bool]:
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
            issues.append(Issue(f"{path}:{number}", f"token {fields[0]!r} has no tag column; read as O"))
            fields.append("O")
        assert current.sentences is not None
        current.sentences[-1].append((number, fields[0], fields[-1]))
    if has_tokens(current) or current.doc_id or current.text is not None:
        docs.append(current)
    return docs, marked


def _conll_text(path: Path, doc: _ConllDoc, tokens: list[tuple[int, str, str]], issues: list[Issue]):
    """The document text and each token's offset: from ``# text`` when the tokens align with it."""
    sentences = [s for s in doc.sentences or [] if s]
    if doc.text is not None:
        offsets, position = [], 0
        for number, token, _ in tokens:
            while position < len(doc.text) and doc.text[position].isspace():
                position += 1
            if not doc.text.startswith(token, position):
                issues.append(
                    Issue(
                        f"{path}:{number}",
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
                Issue(f"{path}:{doc.line}", "the '# text' line has text after the last token; rebuilt")
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
    issues: list[Issue] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        return Imported([], [Issue(str(path), f"cannot read: {error}")])
    docs, marked = _parse_conll(path, lines, issues)
    if not marked:  # plain sentence-per-block files: one document per sentence
        docs = [
            _ConllDoc(f"{path.stem}-{n}", sentence[0][0], None, [sentence])
            for n, sentence in enumerate((s for d in docs for s in d.sentences or [] if s), start=1)
        ]
    documents = []
    for index, doc in enumerate(docs, start=1):
        tokens = [token for sentence in doc.sentences or [] for token in sentence]
        text, offsets = _conll_text(path, doc, tokens, issues)
        builder = _DocumentBuilder(
            f"{path}:{doc.line}", doc.doc_id or f"{path.stem}-{index}", text, default_outcome
        )
        _conll_spans(path, doc, tokens, offsets, builder, issues)
        documents.append(builder.build())
        issues.extend(builder.issues)
    return Imported(documents, issues)


def _conll_spans(
    path: Path,
    doc: _ConllDoc,
    tokens: list[tuple[int, str, str]],
    offsets: list[int],
    builder: _DocumentBuilder,
    issues: list[Issue],
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
                Issue(f"{path}:{number}", f"tag {tag!r} on {token!r} is not O, B-X, I-X, E-X or S-X")
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
                Issue(f"{path}:{number}", f"{tag} on {token!r} follows a span of another type; span skipped")
            )
        if prefix in "ESLU":
            close()
    close()


def _same_type(a: str, b: str) -> bool:
    return a == b or (parse_label(a) is not None and parse_label(a) == parse_label(b))


# --- files -------------------------------------------------------------------------------------


def read_any(
    source: str,
    path: str | Path,
    default_outcome: str | None = None,
    annotation: int | None = None,
    text_field: str = "text",
) -> Imported:
    if source == "label-studio":
        return read_label_studio(path, default_outcome, annotation, text_field)
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
    annotation: int | None = None,
    text_field: str = "text",
) -> Imported:
    """Documents and issues of the input files in one source format (not fakes-crowd)."""
    if not inputs:
        raise ConvertError(f"--from {source} needs at least one input file")
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
            imported = read_any(source, name, default_outcome, annotation, text_field)
            documents += imported.documents
            issues += imported.issues
    return Imported(documents, issues)


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
    errors = imported.errors
    if errors and not skip_bad:
        raise ConvertError(
            f"{len(errors)} item(s) did not fit (listed above); nothing written. "
            "Fix them, or pass --skip-bad to write everything else"
        )
    if errors:
        log(f"--skip-bad: left out the {len(errors)} item(s) listed above")
