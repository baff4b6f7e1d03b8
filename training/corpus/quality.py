"""Quality control of the corpus: suspects for a human to review.

``check_corpus`` lists suspects (``Problem``s), each with file, line, document id and character range:

- ``untagged-number``: a number (digits or a number word) within ``WINDOW`` words of killed,
  wounded, injured, dead, died, hurt (and their forms, deaths, toll, casualties) in the same
  sentence, in no span. Obvious non-counts are left out: years, ages ("17-year-old", "aged 17"),
  percentages, distances and other units, times, dates, durations, and numbers of things
  (vehicles, strikes, buildings...) named right after the number.
- ``inconsistent``: the same string in the same context (the same word before and after it)
  labelled differently, or labelled in some places and untagged in others, across the corpus. Each
  occurrence that departs from the most frequent choice is listed, with the tally.
- ``count-without-victim``: a count with no victim (VICTIM_TYPE) in its sentence; not in headlines
  (which seldom name victims), not in a sentence about a toll ("the toll rose to 16"), not for a
  count followed by "of them", "of whom", "others" or "more" (victims named before).
- ``span-edge``: a victim or perpetrator (VICTIM_TYPE, PERPETRATOR) starting with a determiner
  (the, a, an, possessive pronouns, this/these/those), a count starting with "the", or any span
  starting or ending with punctuation (a closing bracket that closes one inside the span, and
  abbreviations like "U.S.", are fine).
- ``unreadable-count``: a count whose text ``inference.text.counts.parse_count`` cannot turn into a number.
- ``untagged-actor``: an actor in no span where it reads as the agent of a killing, in a sentence with
  a casualty word: right before an attack or weapon noun ("regime shelling", "Russian warplanes"),
  right before a verb of killing or attacking ("terrorists fired", "rebels have shelled"), or right
  after "by" ("killed by Daesh"). An actor is a string tagged as perpetrator somewhere in the files
  checked, or an alias of the actor table (``inference.text.actors``) for an actor tagged somewhere.
  Places ("in Syria killing"), keyword lines ("Tags ...") and possessives before a group noun (D1:
  "Assads air force" tags `air force`) are left out.

The labels are a label schema's (``inference.schema``; the default one unless given): the checks
about counts (``untagged-number``, ``unreadable-count``, ``count-without-victim``) run only where the
schema has a count role (and a victim role), and take the role's label in place of the default one.

Suspects are not errors: many are deliberate (a number next to "killed" that counts something else).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.schema import DEFAULT_SCHEMA, LabelSchema
from inference.spans import Document, Span
from inference.text.actors import default_actor_table
from inference.text.counts import parse_count
from inference.text.lexicon import (
    CASUALTY_CUE,
    CHECK_TOKEN,
    DETERMINERS,
    GROUPED_NUMBER,
    KILL_CUE,
    NUMBER_WORDS,
)
from inference.text.records import headline_end, sentence_bounds
from training.corpus.problems import Problem

WINDOW = 4  # words on each side of a casualty word

_DIGITS = re.compile(rf"^{GROUPED_NUMBER}$|^\d+$")
_YEAR = re.compile(r"^(?:1[89]|20)\d\d$")
_UNITS_AFTER = {
    "%", "percent", "per", "km", "kms", "kilometres", "kilometers", "kilometre", "kilometer", "miles",
    "mile", "metres", "meters", "metre", "meter", "m", "kg", "tonnes", "tons", "am", "pm", "a.m", "p.m",
    "gmt", "hours", "hour", "days", "day", "weeks", "week", "months", "month", "years", "year",
    "minutes", "minute", "seconds", "o'clock", "times", "dollars", "usd", "million", "billion",
}  # fmt: skip
_THINGS_AFTER = {
    "vehicles", "vehicle", "cars", "car", "trucks", "truck", "tanks", "tank", "buses", "bus", "houses",
    "homes", "buildings", "building", "villages", "towns", "schools", "hospitals", "rockets", "rocket",
    "missiles", "missile", "shells", "mortars", "mortar", "bombs", "bomb", "strikes", "airstrikes",
    "raids", "raid", "attacks", "drones", "drone", "aircraft", "planes", "helicopters", "barrel",
    "projectiles", "explosions", "ieds", "mines", "camps", "checkpoints", "positions", "districts",
    "provinces", "beds", "operating", "ambulances", "tonnes", "rounds", "family", "families", "households",
    "head", "cattle", "sheep", "cows", "goats", "livestock", "animals", "camels", "incidents", "encounters",
    "occasions", "separate", "oclock", "another",
}  # fmt: skip
_NOT_CASUALTY_AFTER = {
    "abducted", "arrested", "detained", "displaced", "missing", "kidnapped", "rescued", "released", "fled",
    "flee", "fleeing", "surrendered", "captured", "evacuated", "taken", "leave", "held", "freed", "hostages",
}  # fmt: skip
_BEFORE_NOT_COUNT = {"aged", "age", "ages", "no", "number", "no.", "route", "highway", "resolution", "at"}
_MONTHS = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec",
}  # fmt: skip
_ABBREVIATION_END = re.compile(r"(?:\b(?:[A-Za-z]\.){2,}|\b[A-Z][a-z]{0,3}\.)$")


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    text: str


@dataclass
class _Located:
    path: str
    line: int
    document: Document
    tokens: list[_Token]
    sentences: list[tuple[int, int]]

    def suspect(self, start: int, end: int, check: str, message: str) -> Problem:
        return Problem(
            self.path, self.line, message, start=start, end=end, doc_id=self.document.id, check=check
        )


def _context(text: str, start: int, end: int, width: int = 40) -> str:
    left = text[max(0, start - width) : start].replace("\n", " ")
    right = text[end : end + width].replace("\n", " ")
    return f"...{left}[{text[start:end]}]{right}..."


def _is_number(token: str) -> bool:
    lowered = token.lower()
    if _DIGITS.match(token):
        return True
    parts = lowered.split("-")
    return all(part in NUMBER_WORDS for part in parts)


def untagged_numbers(
    document: Document, tokens: list[_Token] | None = None, sentences: list[tuple[int, int]] | None = None
) -> list[tuple[int, int, str]]:
    """(start, end, casualty word) of each number near a casualty word in no span of the document."""
    tokens = tokens if tokens is not None else _tokens(document.text)
    found = []
    for sentence_start, sentence_end in (
        sentences if sentences is not None else sentence_bounds(document.text)
    ):
        inside = [i for i, t in enumerate(tokens) if sentence_start <= t.start < sentence_end]
        words = [i for i in inside if tokens[i].text[0].isalnum()]
        for position, index in enumerate(words):
            token = tokens[index]
            if not _is_number(token.text) or any(
                s.start < token.end and token.start < s.end for s in document.spans
            ):
                continue
            window = words[max(0, position - WINDOW) : position + WINDOW + 1]
            cues = [tokens[i].text for i in window if CASUALTY_CUE.match(tokens[i].text)]
            if cues and not _obvious_non_count(tokens, index, document.text):
                found.append((token.start, token.end, cues[0]))
    return found


def _untagged_numbers(item: _Located) -> list[Problem]:
    text = item.document.text
    return [
        item.suspect(
            start,
            end,
            "untagged-number",
            f"{text[start:end]!r} near {cue!r} is in no span: {_context(text, start, end)}",
        )
        for start, end, cue in untagged_numbers(item.document, item.tokens, item.sentences)
    ]


def _obvious_non_count(tokens: list[_Token], index: int, text: str) -> bool:
    token = tokens[index].text
    following = tokens[index + 1].text.lower() if index + 1 < len(tokens) else ""
    after_that = tokens[index + 2].text.lower() if index + 2 < len(tokens) else ""
    previous = tokens[index - 1].text.lower() if index > 0 else ""
    if _YEAR.match(token) or previous in _BEFORE_NOT_COUNT or previous in _MONTHS or following in _MONTHS:
        return True
    if following == "-" and after_that.startswith(("year", "month", "day", "week", "hour", "storey", "km")):
        return True  # "17-year-old" split by a dash token, "four-month-long"
    if following in _UNITS_AFTER or following in _THINGS_AFTER:
        return True
    if token.lower() == "one" and following in ("of", "by"):
        return True  # "one of the ...", "one by one"
    nearby_before = [t.text.lower() for t in tokens[max(0, index - 4) : index]]
    if "aged" in nearby_before or "ages" in nearby_before:
        return True  # "aged 8 and 11", "aged between 18 and 40"
    if previous in (",", "(") and following in (",", ")"):
        return True  # an age in apposition: "Rami H., 29, was killed"
    for word in (t.text.lower() for t in tokens[index + 1 : index + 5]):
        if CASUALTY_CUE.match(word):
            break
        if word in _NOT_CASUALTY_AFTER:
            return True  # "241 were abducted" (but not "12 killed and 30 abducted")
    return following == "per" or text[tokens[index].end : tokens[index].end + 1] == "%"


def _span_tokens(tokens: list[_Token], span: Span) -> tuple[int, int] | None:
    """Token index range covering the span exactly, or None where the span cuts a token."""
    first = next((i for i, t in enumerate(tokens) if t.start == span.start), None)
    last = next((i for i, t in enumerate(tokens) if t.end == span.end), None)
    if first is None or last is None or last < first:
        return None
    return first, last + 1


def _key(tokens: list[_Token], first: int, last: int) -> tuple[str, ...]:
    return tuple(t.text.lower() for t in tokens[first:last])


def _neighbours(tokens: list[_Token], first: int, last: int) -> tuple[str, str]:
    before = tokens[first - 1].text.lower() if first > 0 else "<start>"
    after = tokens[last].text.lower() if last < len(tokens) else "<end>"
    return before, after


def label_name(span: Span | None) -> str:
    if span is None:
        return "untagged"
    return f"{span.label}:{span.outcome}" if span.outcome else span.label


def _inconsistencies(items: list[_Located]) -> list[Problem]:
    tagged_keys: set[tuple[str, ...]] = set()
    for item in items:
        for span in item.document.spans:
            bounds = _span_tokens(item.tokens, span)
            if bounds:
                tagged_keys.add(_key(item.tokens, *bounds))
    # A number untagged near a casualty word is the untagged-number check's business.
    number_keys = {k for k in tagged_keys if any(_is_number(word) for word in k)}
    lengths = sorted({len(k) for k in tagged_keys})
    # (string, word before, word after) -> every occurrence with its label ("untagged" if none)
    groups: dict[tuple[Any, ...], list[tuple[str, _Located, int, int]]] = defaultdict(list)
    for item in items:
        tokens, spans = item.tokens, item.document.spans
        exact = {(s.start, s.end): s for s in spans}
        for size in lengths:
            for first in range(len(tokens) - size + 1):
                key = _key(tokens, first, first + size)
                if key not in tagged_keys:
                    continue
                start, end = tokens[first].start, tokens[first + size - 1].end
                span = exact.get((start, end))
                if span is None and (
                    key in number_keys
                    or any(s.start < end and start < s.end for s in spans)  # another extent, not "untagged"
                    or not _cue_in_sentence(item, start)  # only casualty sentences have victims, perpetrators
                ):
                    continue
                label = (
                    "untagged" if span is None else span.label
                )  # outcomes hang on the verb, not the context
                groups[(key, *_neighbours(tokens, first, first + size))].append((label, item, start, end))
    suspects = []
    for (_, before, after), occurrences in groups.items():
        tally = Counter(label for label, *_ in occurrences)
        if len(tally) < 2:
            continue
        ranked = tally.most_common()
        # Each occurrence departing from the majority; on a tie, the untagged ones (or all).
        majority = ranked[0][0] if ranked[0][1] > ranked[1][1] else None
        if majority is None and "untagged" in tally:
            majority = next(label for label in tally if label != "untagged") if len(tally) == 2 else None
        summary = ", ".join(f"{label} {count}x" for label, count in ranked)
        for label, item, start, end in occurrences:
            if label == majority:
                continue
            text = item.document.text
            suspects.append(
                item.suspect(
                    start,
                    end,
                    "inconsistent",
                    f"{text[start:end]!r} between {before!r} and {after!r} is {label} here; corpus-wide "
                    f"in this context: {summary}: {_context(text, start, end)}",
                )
            )
    return suspects


def _cue_in_sentence(item: _Located, offset: int) -> bool:
    for start, end in item.sentences:
        if start <= offset < end:
            return any(CASUALTY_CUE.match(t.text) for t in item.tokens if start <= t.start < end)
    return False


_PARTITIVE = re.compile(
    r"\s+(?:of\s+(?:them|whom|the|those|these|its|their|his|her)|others?|more)\b", re.IGNORECASE
)


def _counts_without_victims(item: _Located, count: str, victim: str) -> list[Problem]:
    document = item.document
    headline = headline_end(document.text)
    suspects = []
    for sentence_start, sentence_end in item.sentences:
        spans = [s for s in document.spans if sentence_start <= s.start < sentence_end]
        if any(s.label == victim for s in spans):
            continue
        sentence_words = {t.text.lower() for t in item.tokens if sentence_start <= t.start < sentence_end}
        if "toll" in sentence_words:
            continue  # "the toll rose to 16": a toll names no victims
        for span in spans:
            if (
                span.label == count
                and span.start >= headline  # "Two killed in drone strike": headlines seldom name victims
                and not _PARTITIVE.match(document.text, span.end)
            ):
                suspects.append(
                    item.suspect(
                        span.start,
                        span.end,
                        "count-without-victim",
                        f"count {document.text[span.start : span.end]!r} ({span.outcome}) has no {victim} "
                        f"in its sentence: {document.text[sentence_start:sentence_end].strip()!r}",
                    )
                )
    return suspects


def _span_edges(item: _Located, schema: LabelSchema) -> list[Problem]:
    document = item.document
    named = {schema.roles.get("victim"), schema.roles.get("perpetrator")} - {None}
    suspects = []
    for span in document.spans:
        covered = document.text[span.start : span.end]
        words = covered.split()
        problems = []
        first = words[0].lower() if words else ""
        if span.label in named and first in DETERMINERS and len(words) > 1:
            problems.append(f"starts with the determiner {words[0]!r}")
        if span.label == schema.count and first == "the" and len(words) > 1:
            problems.append("starts with 'the'")
        if not covered[0].isalnum():
            problems.append(f"starts with {covered[0]!r}")
        last = covered[-1]
        closes = last in ")]" and ("(" in covered or "[" in covered)
        if not last.isalnum() and not closes and not _ABBREVIATION_END.search(covered):
            problems.append(f"ends with {last!r}")
        if problems:
            suspects.append(
                item.suspect(
                    span.start,
                    span.end,
                    "span-edge",
                    f"{label_name(span)} {covered!r} {'; '.join(problems)}",
                )
            )
    return suspects


def _unreadable_counts(item: _Located, count: str) -> list[Problem]:
    document = item.document
    return [
        item.suspect(
            span.start,
            span.end,
            "unreadable-count",
            f"{document.text[span.start : span.end]!r} does not read as a number: "
            f"{_context(document.text, span.start, span.end)}",
        )
        for span in document.spans
        if span.label == count and parse_count(document.text[span.start : span.end])["best"] is None
    ]


_ATTACK_NOUN = re.compile(
    r"^(?:(?:air)?strikes?|raids?|(?:war)?planes?|jets?|aircrafts?|helicopters?|bombers?|shelling|shells?|"
    r"bombardments?|bombings?|bombs?|attacks?|rockets?|missiles?|mortars?|fire|gunfire|snipers?|drones?|"
    r"artillery|massacres?|offensive|assault)$"
)
_AIR_OR_GUN = {"air", "war", "artillery", "rocket", "mortar", "missile", "barrel", "sniper", "tank"}
_AGENT_VERB = re.compile(
    r"^(?:kill(?:s|ed|ing)?|shell(?:s|ed)|target(?:s|ed|ing)|bomb(?:s|ed)|attack(?:s|ed)|opened|fired|"
    r"launched|executed|massacred|committed|struck|pounded|stormed|detonated|bombarded|slaughtered|"
    r"shot|injured|wounded)$"
)
_AUXILIARY = {"has", "have", "had", "also", "reportedly", "allegedly", "then"}  # not "was": passive
# "killed by X", "an attack by X"; not "held by X", "backed by X", "reported by X"
_BEFORE_BY = {"caused", "carried", "out", "conducted", "perpetrated", "launched", "claimed", "hit", "struck"}
_GROUP_NOUN = {"forces", "force", "army", "troops", "militia", "militias", "fighters", "soldiers", "regime"}
_PLACE_BEFORE = {
    "in", "near", "across", "around", "outside", "inside", "capital", "rural", "of", "to", "from", "into",
    "northern", "southern", "eastern", "western", "northwestern", "northeastern", "southwestern",
    "southeastern", "central", "north", "south", "east", "west", "northwest", "northeast", "southwest",
    "southeast", "held", "controlled", "against", "anti", "on", "old", "it", "that", "which",
}  # fmt: skip


def _agent_cue(words: list[str], first: int, last: int) -> str | None:
    """How the words first..last read as the agent of an attack, or None."""
    after = words[last : last + 2] + ["", ""]
    before = words[first - 1] if first > 0 else ""
    if before in _PLACE_BEFORE:
        return None
    if _ATTACK_NOUN.match(after[0]) or (after[0] in _AIR_OR_GUN and _ATTACK_NOUN.match(after[1])):
        return f"before {' '.join(w for w in after[:2] if w)!r}"
    if _AGENT_VERB.match(after[0]) or (after[0] in _AUXILIARY and _AGENT_VERB.match(after[1])):
        return f"before {' '.join(w for w in after[:2] if w)!r}"
    by_agent = first > 1 and (
        words[first - 2] in _BEFORE_BY
        or any(p.match(words[first - 2]) for p in (KILL_CUE, _AGENT_VERB, _ATTACK_NOUN))
    )
    return "after 'by'" if before == "by" and by_agent else None


def _actor_keys(items: list[_Located], perpetrator: str) -> Counter[tuple[str, ...]]:
    """Word tuples of every perpetrator span, with how often each is tagged, plus the actor table's
    aliases of the actors those spans name (tally 0)."""
    table = default_actor_table()
    tagged: Counter[tuple[str, ...]] = Counter()
    for item in items:
        for span in item.document.spans:
            bounds = _span_tokens(item.tokens, span) if span.label == perpetrator else None
            if bounds:
                tagged[_key(item.tokens, *bounds)] += 1
    actors = {table.lookup(" ".join(key)) for key in tagged} - {None}
    for alias, actor in table.aliases.items():
        key = tuple(m.group().lower() for m in CHECK_TOKEN.finditer(alias))
        if actor in actors and key:
            tagged.setdefault(key, 0)
    return tagged


def _untagged_actors(items: list[_Located], perpetrator: str) -> list[Problem]:
    keys = _actor_keys(items, perpetrator)
    sizes = sorted({len(k) for k in keys}, reverse=True)
    suspects = []
    for item in items:
        text, spans = item.document.text, item.document.spans
        for sentence_start, sentence_end in item.sentences:
            tokens = [t for t in item.tokens if sentence_start <= t.start < sentence_end]
            words = [t.text.lower() for t in tokens]
            if "tags" in words or not any(KILL_CUE.match(w) for w in words):
                continue  # a scraped keyword line reports nothing; no killing, no perpetrator
            taken: list[tuple[int, int]] = []
            for size in sizes:  # the longest actor string first
                for first in range(len(tokens) - size + 1):
                    key, last = tuple(words[first : first + size]), first + size
                    start, end = tokens[first].start, tokens[last - 1].end
                    if key not in keys or any(s.start < end and start < s.end for s in spans):
                        continue
                    if any(a < end and start < b for a, b in taken):
                        continue
                    cue = _agent_cue(words, first, last)
                    if cue is None or words[last : last + 1] and words[last] in _GROUP_NOUN:
                        continue  # "Assads forces", "regime army": the actor is the longer phrase (D1)
                    if words[last : last + 2] == ["air", "force"]:
                        continue
                    taken.append((start, end))
                    suspects.append(
                        item.suspect(
                            start,
                            end,
                            "untagged-actor",
                            f"{text[start:end]!r} {cue} is in no span; tagged {perpetrator} "
                            f"{keys[key]}x in the files checked: {_context(text, start, end)}",
                        )
                    )
    return suspects


CHECKS = (
    "untagged-number",
    "inconsistent",
    "count-without-victim",
    "span-edge",
    "unreadable-count",
    "untagged-actor",
)


def _locate(located: list[tuple[str, int, Document]]) -> list[_Located]:
    return [
        _Located(path, line, document, _tokens(document.text), sentence_bounds(document.text))
        for path, line, document in located
    ]


def inconsistent_strings(located: list[tuple[str, int, Document]]) -> list[Problem]:
    """Only the ``inconsistent`` check of (path, line, document) triples, sorted (see the module)."""
    return sorted(_inconsistencies(_locate(located)))


def checks_for(schema: LabelSchema) -> tuple[str, ...]:
    """The checks that make sense under ``schema``: those about counts need its count role,
    ``count-without-victim`` its victim role too."""
    needs = {"untagged-number": ("count",), "count-without-victim": ("count", "victim")}
    needs["unreadable-count"] = ("count",)
    needs["untagged-actor"] = ("perpetrator",)
    return tuple(c for c in CHECKS if all(role in schema.roles for role in needs.get(c, ())))


def check_documents(
    located: list[tuple[str, int, Document]], schema: LabelSchema = DEFAULT_SCHEMA
) -> list[Problem]:
    """Suspects of (path, line, document) triples, sorted by file, line and position; the checks
    about counts run only where ``schema`` has those roles (``checks_for``)."""
    items = _locate(located)
    checks = checks_for(schema)
    count, victim = schema.roles.get("count", ""), schema.roles.get("victim", "")
    suspects: list[Problem] = []
    for item in items:
        if "untagged-number" in checks:
            suspects += _untagged_numbers(item)
        if "count-without-victim" in checks:
            suspects += _counts_without_victims(item, count, victim)
        suspects += _span_edges(item, schema)
        if "unreadable-count" in checks:
            suspects += _unreadable_counts(item, count)
    suspects += _inconsistencies(items)
    if "untagged-actor" in checks:
        suspects += _untagged_actors(items, schema.roles["perpetrator"])
    return sorted(suspects)


def _tokens(text: str) -> list[_Token]:
    return [_Token(m.start(), m.end(), m.group()) for m in CHECK_TOKEN.finditer(text)]


def check_corpus(paths: list[str | Path], schema: LabelSchema = DEFAULT_SCHEMA) -> list[Problem]:
    """Suspects of corpus files (which must be valid under ``schema``: ``CorpusError`` otherwise)."""
    from training.corpus.store import CorpusError, read_documents

    located: list[tuple[str, int, Document]] = []
    for path in paths:
        documents, problems = read_documents(path, schema)
        if problems:
            raise CorpusError(problems)
        located += [(str(path), line, document) for line, document in documents]
    return check_documents(located, schema)


def format_suspects(
    suspects: list[Problem], paths: list[str | Path], checks: tuple[str, ...] = CHECKS
) -> str:
    """The report; ``checks`` are those run (``checks_for``), the others are named as not run."""
    tally = Counter(s.check for s in suspects)
    skipped = [check for check in CHECKS if check not in checks]
    lines = [
        f"check-corpus: {len(suspects)} suspect(s) in {', '.join(str(p) for p in paths)}",
        "  "
        + ", ".join(f"{check} {tally[check]}" for check in checks)
        + (f" (not run, the schema lacks their roles: {', '.join(skipped)})" if skipped else ""),
        "Suspects are for review, not errors. Format: file:line: doc-id [start:end] check: message",
        "",
    ]
    for check in CHECKS:
        chosen = [s for s in suspects if s.check == check]
        if chosen:
            lines.append(f"== {check} ({len(chosen)})")
            lines.extend(str(s) for s in chosen)
            lines.append("")
    return "\n".join(lines)
