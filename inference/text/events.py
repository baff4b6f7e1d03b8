"""The event of a report: the main event's totals, actor and cause, from its records.

``build_event(text, entities, records)`` takes what ``Extractor.extract_records`` gives for one
text (or gold spans and ``build_records`` over them) and returns an ``Event``::

    {"killed":  {"civilians", "children", "women", "non_civilians"},
     "injured": {"civilians", "children", "women", "non_civilians"},
     "actor": id | None, "actors": [id, ...], "cause": str | None, "records": [int, ...]}

with 0 where nothing is reported (``records``: the indices of the main event's totals). A
*total* is a record with ``part_of`` and ``same_event_as`` null and a value. The rules:

Main event
  1. The *anchor* is the first killed total of the text (a text with no killed count: its first
     injured total; with no count at all there is no main event and everything is 0). The war's
     toll so far (1,000 or more in a sentence of "war" / "conflict" and "since" / "began" / "so
     far") and, after a title with a toll, the tolls of a page's related headlines ("Views 1430
     Related ...", to the end of that sentence) are background (``_background``), left out
     while the text has another total.
  2. A vague anchor ("dozens", "hundreds", no digit) gives way to the first figure of the same
     outcome and a compatible victim (below) in the next ``LOOKAHEAD`` sentences: "Hundreds
     killed ... At least 412 people were killed" is 412; a sub-count of the vague total counts
     too ("Dozens of people have been killed ..., including at least 29 people in one district"),
     sentences said again word for word not counted in the ``LOOKAHEAD`` (a repeated lead),
     also when it is a sub-count of the vague toll said again in the anchor's sentence (a title
     run into its lead: "Air strikes kill dozens ... Dozens of people ..., including at least 29").
  3. The main event is the totals of the anchor's sentence, of both outcomes ("killing 12
     civilians and eight soldiers and wounding 30"). Other sentences' tolls are other incidents
     or a repetition and are not added ("On Tuesday a coalition strike killed 18 ...").
  4. A child or woman anchor whose figure the next ``LOOKAHEAD`` sentences give as a part of a
     total ("killing civilians including three children. Three children were among at least 19
     civilians killed") gives way to that total.
  5. An anchor with no victim ("35 dead" in a title) takes the totals of the first of the next
     ``LOOKAHEAD`` sentences whose totals of that outcome all name a victim and add up to it
     ("29 fighters ... were killed along with six Nusra militants"), in its place, with the
     anchor's sentence's other totals of the same figure left out; two totals of one figure and
     compatible victims there are a toll said twice, not its parts (``_repeats_within``).
  A child or woman total of the main event whose figure a sub-count of its totals gives again
  (a run-on title's "10 children", then "Ten children were among at least 48") is that
  sub-count, not a total (``_not_parts``).
Totals, without double counting
  Per outcome, the main event's totals are summed by victim category. A total of the same
  outcome, a compatible category (equal, or either ``unknown`` / no victim) and an overlapping
  value (``low``..``high``; an open "at least 29" overlaps 29 and more) as one already counted is
  the same toll said twice (FA-KES's texts run the title into the lead: "29 rebels dead ... At
  least 29 rebels died") and is counted once, at the larger value or, if equal, the one that
  names its victim. A total that names no victim takes the category of the first statement of
  its figure that the linker made its repeat (``same_event_as``) and that names one ("Islamic
  State kills 270 ... killed 270 soldiers": 270 non-civilians). Values are ``best``: ranges
  and vague words by the ACLED rule of ``inference.text.counts`` ("dozens" = 12, "10 to 15" =
  10), except that an open figure is the figure as written ("more than 40" = 40, not the
  record's 41): casualty recorders code the stated number, and FA-KES's coders did so for every
  such figure of the train articles.
  A rising toll ("killed 10 ... the death toll rose to 15") counts once, at the later, higher
  figure: a later total of the same outcome, a compatible victim and a larger value, with a rising
  cue (``_RISING``: "toll rose to", "raising the toll to", "new toll") just before its count,
  replaces the anchor.
Categories
  ``civilian`` and ``unknown`` victims and counts with no victim ("killing 12") count as
  civilians; ``child`` and ``woman`` as civilians and as children / women (FA-KES's
  ``nb_civilians`` includes children and women); ``combatant`` as non-civilians. A coordinated
  victim ("women and children") takes the first one's category.
Sub-counts
  Records whose ``part_of`` is a counted total (or a repeat of one, through ``same_event_as``,
  or the same figure of a compatible victim said again in another sentence: ``_repeat_of``) or
  a total of the anchor's breakdown (``_breakdown``: the totals of one of the next ``LOOKAHEAD``
  sentences that add up to the anchor's figure) add to children / women ("including three
  children"), once per figure (a total "3 Children" and a sub-count "three children" are one);
  a vague child or woman sub-count ("among them several children") adds nothing, as FA-KES's
  coders code only stated figures; the sub-counts of one toll said twice (totals merged as
  above) are one group said twice and count once, at the larger figure ("11 children among 18
  dead ... 10 children among 18 dead ... 18 people including 11 children": 11); a combatant sub-count
  of a total of ``unknown`` victims ("40 people, including 12 soldiers") moves from civilians to
  non-civilians. A child, woman or combatant total in one of the ``AMONG_LOOKAHEAD`` sentences after the
  anchor's, in a sentence that says "among the dead" / "of those killed" / "among them", is a
  sub-count of the anchor ("It said three children were among the dead").
  One child named without a count (``_add_uncounted``: "a", "an", "his", "her" or "their" and
  at most two words before a singular child victim that no count counts: "including a child",
  "a baby", "a man and his young daughter") in a sentence of the main event's killed totals (or,
  when none of those names a victim, the sentence after: a title's "8 Killed", then "A man and
  his young daughter were killed") adds 1 to children, when no figure gave any, if the outcome
  cue nearest to it in its sentence is a killing (a killing word or a killed count, not
  "wounded" / an injured count). It is a part of the toll it follows, except after a combatant
  toll ("17 militants and a child") or in a report whose main event has only injured totals
  (then the sentences of those and the one after: "Child killed 9 Civilians Injured ... left a
  child dead"), where it adds 1 to civilians too. A woman named so ("a
  pregnant woman") is not counted: on FA-KES it gained one `train` article and lost one `dev`.
Actor
  The actor id of the anchor, else of the main event's other totals (in text order), a named
  actor before ``unknown`` (a title's "terrorist attack", then "Nusra Front militants" in the
  body's toll of the same event), else the
  most frequent actor id of the document's records, else of its perpetrator spans (ties: the
  earliest), else an actor named as the agent of an attack in the first ``HEADLINE_CHARS``
  characters, where FA-KES's feeds put the dateline and headline ("Syrian regime warplanes pound
  ...", "US-led air strikes kill ...": ``_AGENT_OF_ATTACK``; ``unknown`` aliases are not taken), else
  None. Read only the headline: further into an article such mentions are background more often
  than the event (on the 51 FA-KES `train` articles without an actor span, the first 150 characters
  gave 39 right against 34 for None; the whole text 28). ``actors``: every actor id of the main
  event, then of the document's records and spans, in order of first mention.
Cause
  Cue words (``CAUSE_CUES``) in the sentence of the main event's first total: the first class in
  the order chemical, execution, explosion, shelling, shooting that has a cue wins ("car bomb" is
  an explosion even in a sentence with "shelling"). Else the class with the most cue words in the
  text up to the end of that sentence, else in the whole text (ties in that order): across a
  report the means it keeps naming is the event's, not the one named once ("rocket shells ...
  shelling ... an explosive device ... shells": shelling; on the 439 annotated FA-KES `train`
  articles 365 right against 361 for the order there too). None when no cue word is found.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from inference.results import Event, Record, RecordCount, Toll
from inference.spans import CASUALTY_COUNT, PERPETRATOR, VICTIM_TYPE
from inference.text.actors import UNKNOWN_ACTOR, ActorTable, normalise_actor
from inference.text.categories import CHILD, COMBATANT, UNKNOWN, WOMAN, singular, victim_category_at
from inference.text.records import Located, sentence_bounds

CAUSES = ("shelling", "explosion", "chemical and toxic gases", "shooting", "execution", "unknown")

# Cause cue words, in priority order: the first class with a cue in the chosen part wins.
CAUSE_CUES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (cause, re.compile(pattern, re.IGNORECASE))
    for cause, pattern in (
        (
            "chemical and toxic gases",
            r"\b(?:chemical|chlorine|sarin|toxic gas(?:es)?|poison(?:ous)? gas(?:es)?|nerve agents?|"
            r"gas attacks?|suffocat\w*|asphyxia\w*)\b",
        ),
        (
            "execution",
            r"\b(?:execut(?:ed|ion|ions|ing|es)|behead\w*|decapitat\w*|firing squad|crucifi\w*|"
            r"summarily killed)\b",
        ),
        (
            "explosion",
            r"\b(?:explosions?|explod\w*|blasts?|car[- ]bombs?|bomb(?:ed)? cars?|suicide|"
            r"(?:improvised )?explosive devices?|IEDs?|land ?mines?|booby[- ]trap\w*|detonat\w*|"
            r"(?:twin|double|triple|terrorist) bombings?|"
            r"(?<!barrel )(?<!barrels )(?<!barrel-)bombs?(?! rockets?)(?: attacks?)?)\b",
        ),
        (
            "shelling",
            r"\b(?:shelling|shell(?:s|ed)|mortars?|rockets?|artillery|air ?strikes?|air[- ]raids?|"
            r"barrel bombs?|bombard\w*|warplanes?|war planes?|jets?|aerial|missiles?|strikes?|"
            r"raids?|helicopters?|bombs?|bombings?|bombed|projectiles?|shells)\b",
        ),
        (
            "shooting",
            r"\b(?:shooting|shot|shoot|snipers?|sniping|gunfire|gunshots?|bullets?|opened fire|"
            r"gunmen|machine[- ]guns?|fire)\b",
        ),
    )
)

_VAGUE = re.compile(
    r"\b(?:tens|dozens?|scores|hundreds|thousands|several|few|handful|many|numerous)\b", re.IGNORECASE
)
AMONG_LOOKAHEAD = 3  # sentences after the anchor's searched for "N children were among the dead"
LOOKAHEAD = 2  # sentences after a vague or victimless anchor searched for its figure or victims
# "three children were among the dead", "of those killed six were children": a sub-count the
# linker leaves as a total (it reads only "N of the dead" and "including N").
_AMONG_THE_DEAD = re.compile(
    r"\b(?:among|of)\s+(?:the|those)\s+(?:dead|killed|victims|fatalities)\b|\bamong them\b", re.IGNORECASE
)
# A later figure that updates the toll: "the death toll rose to 15", "raising the toll to",
# "a new toll of": searched in the ``RISING_WINDOW`` characters before a count, in its sentence.
_RISING = re.compile(
    r"\b(?:toll|number of (?:dead|deaths|victims|those killed))\b[^.;]*?\b(?:rose|risen|rising|climbed|"
    r"increased|jumped|reached|went up)\b|\b(?:rais\w*|bring\w*|brought|push\w*) the (?:death )?toll\b|"
    r"\b(?:new|updated|revised|latest) (?:death )?toll\b",
    re.IGNORECASE,
)
RISING_WINDOW = 80
HEADLINE_CHARS = 150
# Up to four words naming who attacked, then the means: "Syrian regime warplanes", "US-led air strikes".
_AGENT_OF_ATTACK = re.compile(
    r"((?:[\w.'-]+\s+){1,4})(?:air ?strikes?|airstrikes?|air raids?|raids?|warplanes?|war planes|jets?|"
    r"aircraft|helicopters?|shelling|bombardment|bombing|barrel bombs?|artillery|rockets?|shells|"
    r"missiles?|forces|troops|army)\b",
    re.IGNORECASE,
)
# One child that no count counts: "including a child", "a man and his young daughter" (a
# determiner, at most two words, the singular victim).
_ONE_VICTIM = re.compile(r"\b(?:a|an|his|her|their)\s+(?:[\w-]+\s+){0,2}$", re.IGNORECASE)
_KILLED_CUE = re.compile(r"\b(?:kill\w*|dead|died|deaths?|lives?|massacre\w*)\b", re.IGNORECASE)
_INJURED_CUE = re.compile(r"\b(?:injur\w*|wound\w*|hurt)\b", re.IGNORECASE)
_STATED_OPEN = re.compile(r"^\W*(?:more than|over|upwards of|in excess of|above)\b", re.IGNORECASE)
# The war's toll so far, a report's background: "the war, which began in 2011, has killed more than
# 280,000", "killed since the conflict began". A figure of at least WAR_TOLL_MINIMUM in a sentence
# with both; a smaller one there is the event ("the first blast since the war began killed four").
_WAR = re.compile(r"\b(?:war|conflict|uprising|rebellion|revolution|crisis)\b", re.IGNORECASE)
_SO_FAR = re.compile(
    r"\b(?:since|so far|to date|began|begun|started|erupted|broke out|outbreak)\b", re.IGNORECASE
)
WAR_TOLL_MINIMUM = 1000
# A news page's links to other stories, run into the text by a feed: "... Print Tweet Views 1430
# Related Syrias Assad says ... 43 civilians dead in bombardment ...": from "Related" after a number
# to the end of that sentence, the tolls are other articles'.
_RELATED = re.compile(r"(?<=\d)\)?\s+Related\b")


def _sentence_of(bounds: list[tuple[int, int]], offset: int) -> int:
    for number, (a, b) in enumerate(bounds):
        if a <= offset < b:
            return number
    return len(bounds) - 1


def _interval(count: RecordCount) -> tuple[float, float]:
    best = count.best
    low = count.low if count.low is not None else best
    high = count.high if count.high is not None else float("inf")
    if count.low is None and count.high is None:
        low, high = best, best
    return min(low, best), max(high, best)


def _compatible(a: str | None, b: str | None) -> bool:
    return a == b or a in (None, UNKNOWN) or b in (None, UNKNOWN)


def _is_total(record: Record) -> bool:
    return record.part_of is None and record.same_event_as is None and record.count.best is not None


def _root(records: Sequence[Record], index: int) -> int:
    seen = set()
    while records[index].same_event_as is not None and index not in seen:
        seen.add(index)
        index = records[index].same_event_as
    return index


def _is_vague(record: Record) -> bool:
    text = record.count.text
    return not re.search(r"\d", text) and bool(_VAGUE.search(text))


def main_event(text: str, records: Sequence[Record]) -> tuple[int | None, list[int]]:
    """The anchor record's index and the indices of the main event's totals (see the module doc)."""
    bounds = sentence_bounds(text)
    sentence = [_sentence_of(bounds, r.count.start) for r in records]
    totals = [i for i, r in enumerate(records) if _is_total(r)]
    first = min((records[i].count.start for i in totals), default=0)
    totals = [i for i in totals if not _background(text, bounds[sentence[i]], records[i], first)] or totals
    killed = [i for i in totals if records[i].count.outcome == "killed"]
    candidates = sorted(killed or totals, key=lambda i: records[i].count.start)
    if not candidates:
        return None, []
    distinct = _distinct_positions(text, bounds)

    def in_order(indices: list[int]) -> list[int]:
        return sorted(indices, key=lambda i: records[i].count.start)

    anchor = candidates[0]
    outcome = records[anchor].count.outcome
    if _is_vague(records[anchor]):
        figure = _figure_for_vague(records, anchor, sentence, distinct)
        if figure is not None:
            if records[figure].part_of is None:
                anchor = figure
            else:  # the sub-count stands for its vague total
                whole = _root(records, records[figure].part_of)
                others = [i for i in totals if sentence[i] == sentence[anchor] and i not in (anchor, whole)]
                return figure, in_order([*others, figure])
    whole = _whole_of(records, anchor, sentence)
    if whole is not None:
        anchor = whole
    members = [i for i in totals if sentence[i] == sentence[anchor]]
    risen = _risen_toll(text, records, anchor, totals, bounds, sentence)
    if risen is not None:
        return risen, in_order([i for i in members if i != anchor and i != risen] + [risen])
    if _category(records[anchor]) is None:
        there = _breakdown_of(records, anchor, totals, sentence, outcome)
        if there:
            # the anchor's sentence's other statements of the same figure are what is broken down
            same = records[anchor].count.best
            rest = [i for i in members if records[i].count.best != same]
            return in_order(there)[0], in_order(rest + there)
    return anchor, in_order(members)


def _background(text: str, sentence_span: tuple[int, int], record: Record, first: int) -> bool:
    """A toll that is never part of a report's main event while it has another: the war's so far
    (``_WAR``, ``_SO_FAR``), or one in a web page's list of related headlines (``_RELATED``) when
    the title before it (``first``: where the text's first total starts) gave a toll.
    ``sentence_span``: the bounds of the record's sentence."""
    start, end = sentence_span
    sentence = text[start:end]
    related = _RELATED.search(text, start, end)
    if related and first < related.start() and related.end() <= record.count.start:
        return True
    large = (record.count.best or 0) >= WAR_TOLL_MINIMUM
    return large and bool(_WAR.search(sentence) and _SO_FAR.search(sentence))


def _figure_for_vague(
    records: Sequence[Record], anchor: int, sentence: list[int], distinct: list[int]
) -> int | None:
    """ "Hundreds killed ... At least 412 people", "Dozens killed ..., including at least 29 in one
    district": the first figure of a compatible victim soon after a vague anchor, a sub-count included."""
    first = records[anchor]
    figures = [
        i
        for i, r in enumerate(records)
        if r.count.start > first.count.start
        and r.count.outcome == first.count.outcome
        and r.same_event_as is None
        and r.count.best is not None
        and (r.part_of is None or _stands_for(records, r.part_of, anchor, sentence))
        and distinct[sentence[i]] <= distinct[sentence[anchor]] + LOOKAHEAD
        and not _is_vague(r)
        and _compatible(_category(r), _category(first))
    ]
    return min(figures, key=lambda i: records[i].count.start, default=None)


def _breakdown_of(
    records: Sequence[Record], anchor: int, totals: list[int], sentence: list[int], outcome: str | None
) -> list[int]:
    """ "35 dead ..." in a title, then "29 fighters ... were killed along with six Nusra terrorists":
    the totals of ``outcome`` in the sentence soon after a victimless anchor that add up to its
    figure and say who died; none if there is no such sentence."""
    for number in range(sentence[anchor] + 1, sentence[anchor] + LOOKAHEAD + 1):
        there = [i for i in totals if sentence[i] == number and records[i].count.outcome == outcome]
        if (
            there
            and all(_category(records[i]) is not None for i in there)
            and sum(records[i].count.best for i in there) == records[anchor].count.best
            and not _repeats_within(records, there)
        ):
            return there
    return []


def _distinct_positions(text: str, bounds: list[tuple[int, int]]) -> list[int]:
    """Each sentence's position among the text's distinct sentences: a lead said again word for
    word (FA-KES's feed texts repeat it) does not push the figure after it out of reach."""
    seen: set[str] = set()
    positions, position = [], -1
    for a, b in bounds:
        words = " ".join(text[a:b].split())
        if words not in seen:
            seen.add(words)
            position += 1
        positions.append(position)
    return positions


def _stands_for(records: Sequence[Record], total: int, anchor: int, sentence: list[int]) -> bool:
    """Whether a sub-count of ``total`` may stand for the vague ``anchor``: a part of the anchor, or
    of a vague toll of the anchor's sentence that says it again ("Air strikes kill dozens ...
    Dozens of people have been killed ... including at least 29", a title run into its lead)."""
    whole = _root(records, total)
    return whole == anchor or (
        sentence[whole] == sentence[anchor]
        and _is_vague(records[whole])
        and records[whole].count.outcome == records[anchor].count.outcome
    )


def _whole_of(records: Sequence[Record], anchor: int, sentence: list[int]) -> int | None:
    """For a child or woman anchor ("killing civilians including three children"), the total
    that the same figure is said, in the next ``LOOKAHEAD`` sentences, to be a part of ("Three
    children were among at least 19 civilians killed"), if any."""
    mine = records[anchor]
    if _category(mine) not in (CHILD, WOMAN):
        return None
    for index, record in enumerate(records):
        if (
            record.part_of is not None
            and sentence[anchor] < sentence[index] <= sentence[anchor] + LOOKAHEAD
            and record.count.outcome == mine.count.outcome
            and record.count.best == mine.count.best
            and _category(record) == _category(mine)
            and _is_total(records[record.part_of])
        ):
            return record.part_of
    return None


def _risen_toll(
    text: str,
    records: Sequence[Record],
    anchor: int,
    totals: list[int],
    bounds: list[tuple[int, int]],
    sentence: list[int],
) -> int | None:
    """The last later total that raises the anchor's toll ("the toll rose to 15"), if any."""
    mine = records[anchor]
    risen = None
    for index in sorted(totals, key=lambda i: records[i].count.start):
        count = records[index].count
        if (
            count.start > mine.count.start
            and count.outcome == mine.count.outcome
            and count.best > (records[risen] if risen is not None else mine).count.best
            and _compatible(_category(records[index]), _category(mine))
        ):
            begin = max(bounds[sentence[index]][0], count.start - RISING_WINDOW)
            if _RISING.search(text, begin, count.start):
                risen = index
    return risen


def _as_stated(record: Record) -> Record:
    """The record with an open figure's value as written ("more than 40": 40)."""
    count = record.count
    if count.best is None or count.high is not None or not _STATED_OPEN.match(count.text):
        return record
    stated = count.best - 1
    return replace(record, count=replace(count, best=stated, low=stated))


def _category(record: Record) -> str | None:
    return record.victim_category


def _named_category(records: Sequence[Record], index: int) -> str | None:
    """A total's victim category or, when it names no victim ("Islamic State killed 270"), that of
    the first statement of the same figure linked to it as a repeat ("killed 270 soldiers")."""
    record = records[index]
    if _category(record) is not None:
        return _category(record)
    repeats = [
        r
        for i, r in enumerate(records)
        if i != index
        and _root(records, i) == index
        and r.count.outcome == record.count.outcome
        and r.count.best == record.count.best
        and _category(r) is not None
    ]
    return _category(min(repeats, key=lambda r: r.count.start)) if repeats else None


def _add(toll: Toll, category: str | None, value: int) -> None:
    if category == COMBATANT:
        toll.non_civilians += value
        return
    toll.civilians += value
    if category == CHILD:
        toll.children += value
    elif category == WOMAN:
        toll.women += value


def _overlap(a: Record, b: Record) -> bool:
    mine, theirs = _interval(a.count), _interval(b.count)
    return not (mine[0] > theirs[1] or theirs[0] > mine[1])


def _merge_repeats(records: Sequence[Record], members: list[int]) -> tuple[list[int], dict[int, int]]:
    """The main event's totals counted once: a total of the same outcome, a compatible category and
    an overlapping value to one already taken is the same toll (the larger or better described
    figure is kept). Returns the totals taken and, for each total left out, the one it repeats."""
    taken: list[int] = []
    merged: dict[int, int] = {}
    for index in members:
        record = records[index]
        repeat = next(
            (
                t
                for t in taken
                if records[t].count.outcome == record.count.outcome
                and _compatible(_category(records[t]), _category(record))
                and _overlap(records[t], record)
            ),
            None,
        )
        if repeat is None:
            taken.append(index)
        elif record.count.best > records[repeat].count.best or (
            _category(records[repeat]) in (None, UNKNOWN) and _category(record) not in (None, UNKNOWN)
        ):
            taken[taken.index(repeat)] = index
            merged[repeat] = index
            for left, kept in merged.items():
                if kept == repeat:
                    merged[left] = index
        else:
            merged[index] = repeat
    return taken, merged


def _sub_counts(
    text: str, records: Sequence[Record], anchor: int | None, members: list[int], counted: Any
) -> list[tuple[Record, int]]:
    """(sub-count record, index of the counted total it is a part of) for the main event."""
    parts: list[tuple[Record, int]] = []
    for record in records:
        parent = record.part_of
        if parent is not None and record.same_event_as is None and counted(parent) is not None:
            parts.append((record, counted(parent)))
    if anchor is None or counted(anchor) is None:
        return parts
    # "three children were among the dead" after the anchor's sentence: a sub-count of the
    # anchor's total that the linker did not link
    bounds = sentence_bounds(text)
    first = _sentence_of(bounds, records[anchor].count.start)
    for index, record in enumerate(records):
        if not _is_total(record) or index in members or _category(record) not in (CHILD, WOMAN, COMBATANT):
            continue
        number = _sentence_of(bounds, record.count.start)
        if not first < number <= first + AMONG_LOOKAHEAD:
            continue
        if record.count.outcome == records[anchor].count.outcome and _AMONG_THE_DEAD.search(
            text, *bounds[number]
        ):
            parts.append((record, counted(anchor)))
    return parts


def _repeat_of(records: Sequence[Record], index: int, taken: list[int]) -> int | None:
    """The counted total that ``records[index]`` repeats in another sentence ("bringing the
    number killed to 45" after "At least 45 people have been killed"): same outcome and figure,
    a compatible victim."""
    record = records[index]
    return next(
        (
            t
            for t in taken
            if records[t].count.outcome == record.count.outcome
            and records[t].count.best == record.count.best
            and _compatible(_category(records[t]), _category(record))
        ),
        None,
    )


def _repeats_within(records: Sequence[Record], indices: list[int]) -> bool:
    """Whether two of the totals give one figure for compatible victims ("At least 10 civilians
    ... about ten casualties"): a toll said twice, not the parts of a larger one."""
    return any(
        records[a].count.best == records[b].count.best
        and _compatible(_category(records[a]), _category(records[b]))
        for n, a in enumerate(indices)
        for b in indices[n + 1 :]
    )


def _breakdown(text: str, records: Sequence[Record], anchor: int | None) -> set[int]:
    """The totals of the first of the ``LOOKAHEAD`` sentences after the anchor's whose totals of
    its outcome, two or more, add up to the anchor's figure: the toll broken down by place or
    time ("18 killed ... Eleven civilians ... and seven others ..."), whose sub-counts are the
    anchor's."""
    if anchor is None or records[anchor].count.best is None:
        return set()
    bounds = sentence_bounds(text)
    first = _sentence_of(bounds, records[anchor].count.start)
    outcome = records[anchor].count.outcome
    for number in range(first + 1, first + LOOKAHEAD + 1):
        there = {
            i
            for i, r in enumerate(records)
            if _is_total(r) and r.count.outcome == outcome and _sentence_of(bounds, r.count.start) == number
        }
        if (
            len(there) > 1
            and sum(records[i].count.best for i in there) == records[anchor].count.best
            and not _repeats_within(records, sorted(there))
        ):
            return there
    return set()


def _not_parts(records: Sequence[Record], members: list[int]) -> list[int]:
    """The main event's totals less a child or woman total whose figure a sub-count of another of
    them gives again (a title's "10 children", then "Ten children were among at least 48"): a
    part said twice, counted as the sub-count."""

    def figure(record: Record) -> tuple[str | None, str | None, int | None]:
        return record.count.outcome, _category(record), record.count.best

    parts = {
        figure(r)
        for r in records
        if r.part_of is not None and _root(records, r.part_of) in members and _category(r) in (CHILD, WOMAN)
    }
    return [i for i in members if figure(records[i]) not in parts]


def _totals(text: str, records: Sequence[Record], anchor: int | None, members: list[int]) -> dict[str, Toll]:
    tolls = {"killed": Toll(), "injured": Toll()}
    taken, merged = _merge_repeats(records, _not_parts(records, members))
    for index in taken:
        record = records[index]
        if record.count.outcome in tolls:
            _add(tolls[record.count.outcome], _named_category(records, index), record.count.best)

    breakdown = _breakdown(text, records, anchor)

    def counted(index: int) -> int | None:
        index = _root(records, index)
        index = merged.get(index, index)
        if index in taken:
            return index
        if index in breakdown:  # "18 killed ... Eleven including four children ... and seven"
            return counted(anchor) if anchor is not None and anchor != index else None
        return _repeat_of(records, index, taken)

    # a child or woman figure counted once, as a total ("3 Children Killed") or a sub-count
    seen = {(records[i].count.outcome, _category(records[i]), records[i].count.best) for i in taken}
    # the sub-counts of one toll said twice are one group said twice: its largest figure counts
    # ("11 children among 18 dead ... 10 children among 18 dead ... 18 people including 11 children")
    restated: dict[tuple[str, str, int], Counter[int]] = {}
    for record, parent in _sub_counts(text, records, anchor, members, counted):
        value, category = record.count.best, _category(record)
        toll = tolls.get(record.count.outcome)
        if value is None or toll is None or category == _category(records[parent]):
            continue
        if category in (CHILD, WOMAN):
            if _is_vague(record):  # "among them several children": no figure to code
                continue
            if (record.count.outcome, category, value) in seen:  # the same figure said twice
                continue
            seen.add((record.count.outcome, category, value))
            source = _root(records, record.part_of) if record.part_of is not None else parent
            if source == parent or merged.get(source) == parent:
                restated.setdefault((record.count.outcome, category, parent), Counter())[source] += value
            else:
                _add_member(toll, category, value)
        elif category == COMBATANT and _category(records[parent]) in (None, UNKNOWN):
            moved = min(value, toll.civilians)  # "40 people, including 12 soldiers"
            toll.civilians -= moved
            toll.non_civilians += moved
    for (outcome, category, _), by_statement in restated.items():
        _add_member(tolls[outcome], category, max(by_statement.values()))
    return tolls


def _add_member(toll: Toll, category: str, value: int) -> None:
    if category == CHILD:
        toll.children += value
    else:
        toll.women += value


def _add_uncounted(
    text: str, entities: Sequence[Located], records: Sequence[Record], members: list[int], toll: Toll
) -> None:
    """One child that no count counts, named in a sentence of the main event's killed totals as
    killed (see the module doc): +1 to children if no figure gave any, and to civilians too when
    the toll it follows is of combatants ("17 militants and a child") or when the main event
    has only injured totals ("Child killed 9 Civilians Injured ... left a child dead")."""
    killed = [i for i in members if records[i].count.outcome == "killed"]
    bounds = sentence_bounds(text)
    sentences = {_sentence_of(bounds, records[i].count.start) for i in killed or members}
    # "8 Killed ... A man and his young daughter"; "Child killed 9 Civilians Injured ... a child dead"
    if all(_category(records[i]) is None for i in killed):
        sentences |= {number + 1 for number in sentences}
    count_ends = [e.end for e in entities if e.label == CASUALTY_COUNT]
    if toll.children > 0:
        return
    for entity in sorted(entities, key=lambda e: e.start):
        words = text[entity.start : entity.end].split()
        number = _sentence_of(bounds, entity.start)
        a = bounds[number][0]
        if (
            entity.label != VICTIM_TYPE
            or number not in sentences
            or not words
            or singular(words[-1]) != words[-1].lower().strip(".,")
            or victim_category_at(text, entity.start, entity.end) != CHILD
            or not (one := _ONE_VICTIM.search(text, max(a, entity.start - 40), entity.start))
            or any(one.start() <= end <= entity.start for end in count_ends)
            or not _said_killed(text, records, killed, bounds[number], entity)
        ):
            continue
        toll.children += 1
        before = [i for i in killed if records[i].count.end <= entity.start]
        after_combatants = (
            before and _category(records[max(before, key=lambda i: records[i].count.end)]) == COMBATANT
        )
        if not killed or after_combatants:
            toll.civilians += 1
        return


def _said_killed(
    text: str, records: Sequence[Record], killed: list[int], bounds: tuple[int, int], entity: Located
) -> bool:
    """Whether the outcome cue nearest to a victim in its sentence is a killing: a killing word or
    a killed total of the main event rather than an injuring word or an injured count."""
    a, b = bounds
    cues = [(m.start(), m.end(), True) for m in _KILLED_CUE.finditer(text, a, b)]
    cues += [(m.start(), m.end(), False) for m in _INJURED_CUE.finditer(text, a, b)]
    cues += [
        (r.count.start, r.count.end, r.count.outcome == "killed") for r in records if a <= r.count.start < b
    ]
    cues += [(records[i].count.start, records[i].count.end, True) for i in killed]
    if not cues:
        return False

    def distance(cue: tuple[int, int, bool]) -> int:
        return entity.start - cue[1] if cue[1] <= entity.start else max(0, cue[0] - entity.end)

    return min(cues, key=distance)[2]


def _actors(
    text: str,
    entities: Sequence[Located],
    records: Sequence[Record],
    anchor: int | None,
    members: list[int],
    table: ActorTable | None,
) -> tuple[str | None, list[str]]:
    main_ids = [a for i in members for a in records[i].actors if a]
    if anchor is not None and records[anchor].actor:
        main_ids.insert(0, records[anchor].actor)
    record_ids = [a for r in records for a in r.actors if a]
    span_ids = [
        normalise_actor(text[e.start : e.end], table)
        for e in sorted(entities, key=lambda e: e.start)
        if e.label == PERPETRATOR
    ]
    span_ids = [a for a in span_ids if a]
    named = [a for a in main_ids if a != UNKNOWN_ACTOR]
    main_ids = named[:1] + main_ids
    ordered = list(dict.fromkeys(main_ids + record_ids + span_ids))
    if main_ids:
        return main_ids[0], ordered
    for ids in (record_ids, span_ids):
        if ids:
            counts = Counter(ids)
            top = max(counts.values())
            return next(a for a in ids if counts[a] == top), ordered
    actor = _headline_actor(text, table)
    return actor, [actor] if actor else []


def _headline_actor(text: str, table: ActorTable | None) -> str | None:
    for match in _AGENT_OF_ATTACK.finditer(text[:HEADLINE_CHARS]):
        words = match.group(1).split()
        for start in range(len(words)):  # the longest phrase ending before the means that names one
            actor = normalise_actor(" ".join(words[start:]), table, inside=False)
            if actor and actor != UNKNOWN_ACTOR:
                return actor
    return None


def find_cause(text: str, start: int = 0, end: int | None = None) -> str | None:
    """The first cause class (``CAUSE_CUES`` order) with a cue word in ``text[start:end]``."""
    part = text[start:end]
    for cause, pattern in CAUSE_CUES:
        if pattern.search(part):
            return cause
    return None


def _cause(text: str, records: Sequence[Record], anchor: int | None, members: list[int]) -> str | None:
    if anchor is None:
        return find_cause(text)
    bounds = sentence_bounds(text)
    first = min(records[i].count.start for i in [anchor, *members])
    a, b = bounds[_sentence_of(bounds, first)]
    return find_cause(text, a, b) or _most_named_cause(text, 0, b) or _most_named_cause(text)


def _most_named_cause(text: str, start: int = 0, end: int | None = None) -> str | None:
    """The cause class with the most cue words in ``text[start:end]`` (ties: ``CAUSE_CUES`` order)."""
    part = text[start:end]
    counts = [(len(pattern.findall(part)), -rank, cause) for rank, (cause, pattern) in enumerate(CAUSE_CUES)]
    n, _, cause = max(counts)
    return cause if n else None


def build_event(
    text: str,
    entities: Sequence[Located],
    records: Sequence[Record],
    actors: ActorTable | None = None,
) -> Event:
    """The main event of one text from its entities and records (see the module docstring)."""
    records = [_as_stated(record) for record in records]
    anchor, members = main_event(text, records)
    tolls = _totals(text, records, anchor, members)
    _add_uncounted(text, entities, records, members, tolls["killed"])
    actor, actor_ids = _actors(text, entities, records, anchor, members, actors)
    return Event(
        killed=tolls["killed"],
        injured=tolls["injured"],
        actor=actor,
        actors=actor_ids,
        cause=_cause(text, records, anchor, members),
        records=members,
    )
