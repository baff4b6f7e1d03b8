"""Casualty records: each count linked to the victims it counts and the perpetrator named for it.

``build_records(text, entities)`` takes the entities of ``Extractor.extract`` (or gold spans)
and returns one ``inference.results.Record`` per ``CASUALTY_COUNT``; its ``to_dict()``::

    {"count": {"start", "end", "text", "outcome", "best", "low", "high"},
     "victim": span | None, "victims": [span, ...],
     "perpetrator": span | None, "perpetrators": [span, ...],
     "headline": bool, "same_event_as": int | None, "part_of": int | None,
     "victim_category": str | None, "victim_categories": [str, ...],
     "actor": str | None, "actors": [str | None, ...]}

where a span is ``{"start", "end", "text"}``; ``victim`` / ``perpetrator`` are the first of the
lists (coordinations such as "women and children" give two victims). Links never leave the
sentence (a text in lower case, or one that lost its punctuation, is cut into sentences too).
Clauses are cut at semicolons, dashes, clause conjunctions and ", as" ("..., as army shelling
pushed the toll to 60"). The rules, in order:

Victims
  1. The victim noun the count governs: the next entity after the count is a victim, reached
     over at most a few words and no punctuation or clause word ("12 civilians", "dozens of
     people", "three of his cousins", "four of the dead were police officers", "12 of whom were
     children"), plus victims coordinated with it ("women and children"). Such victims are
     *owned* by that count, and so is a victim's acronym in brackets (D5).
  2. A count followed by "others" / "more" takes the victims of the previous count in the
     sentence ("killing nine people and wounding 17 others"); sub-counts ("including three
     children", "among them two women") are skipped when looking for that previous count. Of
     the same outcome "others" take none ("killing nine children and 14 others": not children;
     "two more" stay of the same kind).
  3. Otherwise the nearest victim in the same clause that no count owns and that is not a
     sub-group ("including a child", "with children among the dead") ("the civilian toll rose
     to 45"), unless the previous
     count of the sentence stands between them.
  4. Otherwise the victims the next count governs when the two are the objects of a verb pair
     ("killed 28 and wounded 30 militants").
  5. Otherwise, ellipsis: the victims of the previous count in the sentence ("killed two
     policemen and wounded five"), and of the counts listed with it ("killing four fighters and
     two civilians and wounding nine"); a running total ("..., bringing the toll to 30") takes
     none.
  Before 2 to 5: "the number of soldiers killed since ... has risen to 300" takes the noun after
  "number of" in its sentence; "N of them" with no total before it, and "N more" / "N others" with
  no count before, take the nearest victim named earlier in the sentence ("a gathering of
  soldiers ..., killing 12 of them"). Sub-groups are introduced by "including", "among them",
  "most of them", "mostly" ..., and a victim coordinated with one is one too.
Perpetrators
  1. In the count's clause, an agent to its right marked as such: "by the Saudi-led coalition",
     or an actor modifying an attack noun ("in Russian air strikes", "by regime shelling"),
     unless another count stands between them and the count has a subject on its left.
  2. The nearest perpetrator to the left in the clause (the subject: "Gunmen killed 12").
  3. The nearest to the right in the clause.
  4. The nearest to the left in the sentence (a participle clause: "Rebels shelled the town,
     killing 12"), but not the perpetrator of an earlier count when this count is the subject of
     a coordinated clause of its own ("southern forces killed eight fighters, and that two more
     soldiers had died"; "the gunmen opened fire, and that dozens were injured" keeps them), then the
     nearest to the right in a clause with no count of its own ("12 died when gunmen opened
     fire"); at most 40 words away.
  A perpetrator on the left that is an appositive ("members of the Yan Sakai, a local vigilante
  force, killed") gives way to the name it describes. Perpetrators coordinated with the chosen
  one are added ("Russian and Syrian warplanes", "the regime and its allies", "terrorists of the
  so-called X", "X backed by Y", "X accompanied by Y", "X, whose fighters", "rebel groups,
  including X and Y", "X, among them Y"), and so is a name's acronym in brackets
  ("Syrian Democratic Forces (SDF)", guideline D5) and, for a bare "the militia", the earlier
  perpetrator of the sentence with that head word ("the Rapid Support militia"). A perpetrator
  of the sentence that "claimed responsibility" / "claimed the attack" / "said it carried out"
  it (guideline D8), or that is "blamed" / "accused" ("officials blame X", a title's "X blamed"),
  is the perpetrator of the sentence's
  counts that have none, across a semicolon too, and is added beside an "its fighters" / "their
  forces" (also with an appositive: "JNIM, al Qaeda's affiliate, claimed the attack"); "an
  attack claimed by X" adds X. The subject of an active killing verb ("Armed bandits killed at
  least 58", "regime airstrikes kill 11") is the count's perpetrator even when a "by X" of another
  action or another attacker follows in its clause.
Sub-counts
  A count introduced by "including", "among them", "of whom" or followed by "of them" gets
  ``part_of``: the index of the record of the total it belongs to (the previous count of the
  sentence with the same outcome), so that "nine civilians, including three children" is not
  summed to twelve.
  Counts coordinated with a sub-count ("including 29 civilians, 32 rebels and 24 soldiers") get
  the same ``part_of``, and so do counts coordinated with a sub-group that has no count ("11
  civilians among them a child and two women": "two" is a part of 11).
  "N of the dead / of those killed / of the wounded" is a part of the
  nearest earlier body toll of that outcome, in any sentence, that is not smaller; it takes only
  a perpetrator its clause marks as the agent ("by X"), never a subject nearby.
  "N X were among M ..." ("three children were among at least 19 civilians killed") is a part
  of the count M that follows.
Headline
  A count in the headline (the first one or two short lines without a full stop, after a
  "Posted on ... by ..." line if there is one) that agrees
  with a body count (same outcome, overlapping values, compatible victims) gets
  ``same_event_as``: the index of the first such body record, so the toll is not counted twice.
Repeated tolls
  A body count that repeats an earlier body count of another sentence (same outcome and figure,
  agreeing victims and perpetrators, see ``_same_toll``) gets ``same_event_as`` to the first.
Categories and actors
  ``victim_categories`` (``inference.text.categories``) and ``actors`` (``inference.text.actors``, an alias
  table in YAML) run parallel to ``victims`` and ``perpetrators``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from inference.results import CountValue, Record, RecordCount, SpanRef
from inference.spans import CASUALTY_COUNT, PERPETRATOR, VICTIM_TYPE
from inference.text.actors import ActorTable, normalise_actor
from inference.text.categories import victim_category_at
from inference.text.counts import parse_count
from inference.text.lexicon import POSSESSIVES, WORD


class Located(Protocol):
    """What the linker reads of an entity: an ``inference.results.Entity`` or a gold ``Span``."""

    @property
    def label(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def outcome(self) -> str | None: ...


MAX_FALLBACK_WORDS = 40
MAX_UNOWNED_VICTIM_WORDS = 12
HEADLINE_MAX_WORDS = 25
SMALL_TOLL = 5
STRIPPED_MIN_WORDS = 40

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "gen", "lt", "col", "capt", "maj", "sgt", "cpl", "pvt", "adm", "brig",
    "st", "no", "gov", "sen", "rep", "prof", "rev", "vs", "etc", "jan", "feb", "mar", "apr", "jun",
    "jul", "aug", "sep", "sept", "oct", "nov", "dec", "approx", "est", "inc", "co", "corp", "ltd",
}  # fmt: skip
_SENTENCE_STARTERS = {
    "The", "A", "An", "Another", "It", "He", "She", "They", "We", "I", "In", "On", "At", "But", "This",
    "That", "These", "Those", "There", "Some", "Many", "Most", "His", "Her", "Their", "Its", "Our", "Also",
    # a toll opening a sentence after "3 a.m." or "the U.N.": "3 a.m. Three of the dead were ..."
    "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten", "Dozens",
    "Hundreds", "Several",
}  # fmt: skip
_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[]?[A-Z0-9])")
_STRIPPED_SENTENCE_START = re.compile(
    r"(?<=[\w)])[ \t]+(?=(?:" + "|".join(sorted(_SENTENCE_STARTERS)) + r")\s)"
)
# a feed that lower-cased the whole text: a sentence may start with a small letter
_SENTENCE_END_LOWER = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[]?[a-z0-9])")
_CLAUSE_BREAK = re.compile(
    r"\s*;\s*|\s+[-\u2013\u2014]+\s+|,\s*(?:and|but|while|whereas|although|though)\b"
    r"|\s(?:while|whereas|although|but|when|after|before|because)\s"
    # ", as army shelling pushed the toll to 60": a clause with its own subject ("as many as" is not)
    r"|,\s*as\s+(?!(?:many|much|well|a\s+result|part|of|if|though|soon|long|far|such|usual)\b)",
    re.IGNORECASE,
)
_GAP_PUNCTUATION = re.compile(r"[,;:.()\"!?\[\]\u201c\u201d\u2014\u2013]")
_GAP_ALLOWED = {
    *POSSESSIVES, "of", "the", "them", "whom", "those", "these", "dead", "killed",
    "injured", "wounded", "hurt", "victims", "were", "was", "are", "is", "being", "been", "more",
    "other", "further", "additional", "fellow", "innocent", "unarmed", "all", "mostly", "mainly",
    "your", "whose", "people's",
}  # fmt: skip
_GAP_BLOCKED = {
    "and", "or", "but", "in", "on", "at", "by", "for", "with", "from", "into", "to", "when", "after",
    "while", "as", "that", "which", "said", "says", "say", "told", "including", "among", "near",
    "since", "during", "before", "than", "a", "an", "one",
}  # fmt: skip
_ATTACK = (
    r"(?:air[- ]?strikes?|air[- ]?raids?|strikes?|raids?|shelling|shells?|bombardments?|bombings?|"
    r"bombs?|barrel[- ]bombs?|attacks?|assaults?|offensives?|fire|gunfire|rockets?|rocket fire|"
    r"missiles?|mortars?|mortar fire|drones?|drone strikes?|warplanes?|jets?|planes?|aircraft|"
    r"helicopters?|artillery|snipers?|counterattacks?|counter-attacks?|ambush(?:es)?|operations?|"
    r"gunmen|militants|forces|troops|bombers?|missile strikes?|car bombs?|explosives?|mines?|IEDs?|rounds?|"
    r"air power)"
)
_ATTACK_AFTER = re.compile(r"^(?:-led|'s|\u2019s)?\s+(?:[A-Za-z-]+\s+)?" + _ATTACK + r"\b", re.IGNORECASE)
_AGENT_BEFORE = re.compile(
    r"\b(?:by|at the hands of|blamed on|attributed to)\s+(?:the\s+|a\s+|an\s+)?(?:[\w'\u2019-]+\s+){0,2}$",
    re.IGNORECASE,
)
_COORDINATION = re.compile(
    r"^\s*(?:,|,?\s*and(?:\s+(?:its|their))?|,?\s*or|,?\s*as well as|&)\s*$", re.IGNORECASE
)
# Perpetrators named together: "Russian and Syrian warplanes", "rebel mortar rounds and army sniper
# fire", "the regime and its allies", "terrorists of the so-called X", "X backed by / accompanied
# by Y", "X, whose fighters": every one of them is the count's (a backer that takes no part is not
# tagged, D10).
_COORDINATION_WITH_ATTACK = re.compile(
    r"^(?:\s+(?:[A-Za-z-]+\s+)?" + _ATTACK + r")?\s*"
    r"(?:,|,?\s*and(?:\s+(?:its|their))?|,?\s*or|,?\s*as well as|\s+of(?:\s+the)?(?:\s+so-called)?"
    r"|,?\s*(?:backed|supported|aided|accompanied|assisted)\s+by|,?\s*(?:alongside|along\s+with|together\s+with)"
    r"|,\s*whose|,?\s*among\s+them|,?\s*including(?:\s+(?:[\w-]+\s+){0,3}by)?)\s*(?:the\s+)?$",
    re.IGNORECASE,
)
# D5: "Syrian Democratic Forces (SDF)": a name and its acronym in brackets are one actor.
_ACRONYM = re.compile(r"^\s*\(\s*$")
# D8: "X claimed responsibility", "X said it carried out the attack": X is the perpetrator of the
# sentence's tolls, even across a semicolon ("17 were killed; ISKP claimed responsibility").
_CLAIM_AFTER = re.compile(
    r"^(?:\s*,[^,;.]{1,60},)?\s+(?:\w+\s+){0,2}?"  # "JNIM, al Qaeda's affiliate in the Sahel, claimed"
    r"(?:claim(?:ed|s|ing)?\s+(?:responsibility|the\s+(?:attack|bombing|strike|killing)s?)"
    r"|said\s+it\s+(?:had\s+)?(?:carried\s+out|planted|was\s+behind|staged))\b",
    re.IGNORECASE,
)
# "..., an attack claimed by X": X is named beside the attackers of the toll before it.
_CLAIMED_BY = re.compile(r"\bclaimed\s+by\s+(?:the\s+)?$", re.IGNORECASE)
# "officials blamed armed youth ... and said four of the dead were women": the one blamed is the
# perpetrator of the sentence's tolls that have none, as a claimant is.
_BLAMED_BEFORE = re.compile(r"\b(?:blam(?:e|ed|es|ing)|accus(?:e|ed|es|ing))\s+(?:the\s+)?$", re.IGNORECASE)
_BLAMED_AFTER = re.compile(r"^\s+(?:(?:was|were|is|are)\s+)?blamed\b", re.IGNORECASE)  # a title's "3R blamed"
# "Armed bandits killed at least 58 ...": the subject of an active killing verb is the count's
# agent, whatever "by X" follows in the clause ("revenge for the killing of ... by a vigilante group").
_ACTIVE_VERB_GAP = re.compile(
    r"^(?:\s+" + _ATTACK + r")?\s+(?:(?:have|has|had|reportedly|allegedly)\s+)?"  # "X airstrikes kill N"
    r"(?:kill(?:s|ed)?|shot|massacred|executed|wound(?:s|ed)?|injur(?:es|ed))\s+$",
    re.IGNORECASE,
)
_DEFINITE = re.compile(r"\bthe\s+$", re.IGNORECASE)
_POSSESSED = re.compile(r"\b(?:its|their)\s+$", re.IGNORECASE)
# "..., and the bodies of eight men were found": the count opens a coordinated clause of its own
# as its subject, so the earlier clause's subject is not its perpetrator.
_OWN_SUBJECT = re.compile(
    r"^[\s,;]*(?:and|but|while|whereas|although|though)\s+(?:that\s+)?"
    r"(?:(?:[\w'\u2019-]+\s+){0,3}?(?:said|says|say|reported|added)\s+(?:that\s+)?)?"
    r"(?:the\s+bodies\s+of\s+|another\s+|a\s+further\s+)?$",
    re.IGNORECASE,
)
# "members of the Yan Sakai, a local vigilante force, killed": the appositive describes the subject.
_APPOSITIVE_GAP = re.compile(r"^\s*,\s*(?:(?:a|an|the)\s+)?$", re.IGNORECASE)
_ELLIPSIS_WORD = re.compile(r"^\s+(others|other|more)\b", re.IGNORECASE)
# "killed 28 and wounded 30 militants": two counts of one verb pair share the noun after the second.
_SHARED_VICTIM_GAP = re.compile(
    r"^\s*,?\s*(?:and|or)\s+(?:kill(?:ed|ing)|wound(?:ed|ing)|injur(?:ed|ing))\s+$", re.IGNORECASE
)
# "including three children", "among them a child": a part of a group named before, not the group.
_MEMBER_BEFORE = re.compile(
    r"\b(?:including|includes|included|among them|among whom|among those|of whom|"
    r"(?:most|many|the majority) of (?:them|whom)|mostly|mainly)\s*(?:an?\s+|the\s+)?$",
    re.IGNORECASE,
)
_MEMBER_COORDINATION = re.compile(r"^\s*(?:,|,?\s*and|,?\s*or)(?:\s+[a-z-]+)?\s*$", re.IGNORECASE)
_MEMBER_AFTER = re.compile(r"^\s+of\s+(?:them|whom)\b", re.IGNORECASE)
# "with children among the casualties", "children and women were among those killed": a part of
# the dead, never the category of a count nearby.
_AMONG_AFTER = re.compile(
    r"^(?:\s*(?:,|and|or)\s*[\w-]+)*\s+(?:(?:were|was|are|is)\s+)?among\b", re.IGNORECASE
)
# "four of the dead were police officers": a part of a toll given before, anywhere in the text.
_OF_THE_DEAD = re.compile(
    r"^\s+of\s+(?:the|those)\s+(?:(?P<killed>dead|killed|victims|fatalities|people killed)"
    r"|(?P<injured>wounded|injured|hurt|people wounded|people injured))\b",
    re.IGNORECASE,
)
# "three children were among at least 19 civilians killed", a title's "6 children among 19 dead":
# a part of the toll that follows.
_AMONG_TOTAL = re.compile(
    r"^\s+(?:[\w'\u2019-]+\s+){0,4}?(?:(?:were|was|are|is)\s+(?:also\s+)?)?among\s+(?:the\s+)?$",
    re.IGNORECASE,
)
# "the number of soldiers killed since ... has risen to 300": the toll counts that noun.
_TOLL_OF = re.compile(r"\b(?:number|toll|tally)\s+of\s+(?:the\s+)?$", re.IGNORECASE)
# "..., bringing the toll to 30", "raising the number recovered ... to 130": a running total
_RAISING = re.compile(
    r"\b(?:rais|bring|push|tak)\w*\s+the\s+(?:\w+\s+)?(?:toll|number|tally)\b[^.;]*$", re.IGNORECASE
)
_LIST_COORDINATION = re.compile(r"^\s*(?:,|,?\s*and|,?\s*as well as)\s*$", re.IGNORECASE)
_BYLINE = re.compile(r"^(?:posted|published|updated|breaking|by)\b", re.IGNORECASE)


@dataclass
class _Entity:
    index: int  # position in the input list
    label: str
    start: int
    end: int
    outcome: str | None
    sentence: int = -1
    clause: int = -1
    owner: int | None = None  # for victims: the count that owns it


@dataclass
class _Links:
    victims: list[int] = field(default_factory=list)
    perpetrators: list[int] = field(default_factory=list)


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    """Character ranges of sentences: line breaks and sentence-final punctuation end them."""
    cuts = {0, len(text)}
    for match in re.finditer(r"\n", text):
        cuts.add(match.end())
    ends = _SENTENCE_END if any(c.isupper() for c in text) else _SENTENCE_END_LOWER
    for match in ends.finditer(text):
        word = re.search(r"([A-Za-z]+)$", text[: match.start()])
        if word and word.group(1).lower() in _ABBREVIATIONS:
            continue  # "Gen. Ali" stays in one sentence
        if word and len(word.group(1)) == 1:
            # "U.S. forces", "a.m. Police" stay together; "the U.N. Another 1,200" is two sentences
            following = re.match(r"\s+[\"'\u201c\u2018(]?([A-Za-z]+)", text[match.end() :])
            if not following or following.group(1) not in _SENTENCE_STARTERS:
                continue
        cuts.add(match.end())
    if _is_stripped(text):
        # a feed that dropped the punctuation: "... on Friday a source said The source told ..."
        cuts.update(match.end() for match in _STRIPPED_SENTENCE_START.finditer(text))
    ordered = sorted(cuts)
    return [(a, b) for a, b in zip(ordered, ordered[1:], strict=False) if text[a:b].strip()]


def _is_stripped(text: str) -> bool:
    """Whether the text lost its sentence punctuation (fewer than one full stop in 80 words)."""
    words = _words(text)
    return words >= STRIPPED_MIN_WORDS and len(_SENTENCE_END.findall(text)) * 80 < words


def clause_bounds(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Clauses of one sentence: cut at semicolons, dashes and clause-joining conjunctions."""
    cuts = [start]
    for match in _CLAUSE_BREAK.finditer(text, start, end):
        cuts.append(match.start())
    cuts.append(end)
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def _words(text: str) -> int:
    return len(WORD.findall(text))


def _span(text: str, entity: _Entity) -> SpanRef:
    return SpanRef(entity.start, entity.end, text[entity.start : entity.end])


def _is_governed(gap: str) -> bool:
    """Whether the text between a count and a victim lets the count govern that victim."""
    if _GAP_PUNCTUATION.search(gap) or "\n" in gap:
        return False
    words = [w.lower() for w in WORD.findall(gap)]
    if len(words) > 5 or any(w in _GAP_BLOCKED for w in words):
        return False
    return sum(w not in _GAP_ALLOWED for w in words) <= 2


class _Linker:
    def __init__(self, text: str, entities: Sequence[Located]) -> None:
        self.text = text
        self.entities = sorted(
            (_Entity(i, e.label, e.start, e.end, e.outcome) for i, e in enumerate(entities)),
            key=lambda e: (e.start, e.end),
        )
        self.sentences = sentence_bounds(text)
        self.clauses: list[list[tuple[int, int]]] = [clause_bounds(text, a, b) for a, b in self.sentences]
        self.position = {id(e): i for i, e in enumerate(self.entities)}
        self.by_index = {e.index: e for e in self.entities}  # input position -> entity
        self.by_sentence: dict[tuple[int, str], list[_Entity]] = {}
        for entity in self.entities:
            entity.sentence = self._locate(entity.start)
            entity.clause = self._locate_clause(entity.sentence, entity.start)
            self.by_sentence.setdefault((entity.sentence, entity.label), []).append(entity)
        self._member_cache: dict[int, bool] = {}
        # sub-counts: count index -> "listed" (including / among them / of them), "of the dead" or
        # "among" ("three children were among 19 killed");
        # a count coordinated with a sub-count ("including 29 civilians, 32 rebels and 24
        # soldiers") is one too, with the same total (``coordinated``: index -> previous member).
        self.members: dict[int, str] = {}
        self.assigned: set[int] = set()  # perpetrators linked to a count already (text order)
        self.coordinated: dict[int, int] = {}

    def _locate(self, offset: int) -> int:
        for number, (a, b) in enumerate(self.sentences):
            if a <= offset < b:
                return number
        return len(self.sentences) - 1

    def _locate_clause(self, sentence: int, offset: int) -> int:
        if sentence < 0:
            return 0
        for number, (a, b) in enumerate(self.clauses[sentence]):
            if a <= offset < b:
                return number
        return 0

    def _same_sentence(self, entity: _Entity, label: str) -> list[_Entity]:
        return self.by_sentence.get((entity.sentence, label), [])

    def link(self) -> dict[int, _Links]:
        counts = [e for e in self.entities if e.label == CASUALTY_COUNT]
        links = {c.index: _Links() for c in counts}
        for count in counts:
            links[count.index].victims = self._own_victims(count)
        self._find_members(counts, links)
        for count in counts:
            if not links[count.index].victims:
                links[count.index].victims = self._other_victims(count, counts, links)
            links[count.index].perpetrators = self._perpetrators(count, counts)
            self.assigned.update(links[count.index].perpetrators)
        return links

    # victims -----------------------------------------------------------------------------
    def _own_victims(self, count: _Entity) -> list[int]:
        position = self.position[id(count)]
        following = self.entities[position + 1 :]
        if not following:
            return []
        first = following[0]
        if first.label != VICTIM_TYPE or first.sentence != count.sentence:
            return []
        if not _is_governed(self.text[count.end : first.start]):
            return []
        owned = [first]
        for entity in following[1:]:
            gap = self.text[owned[-1].end : entity.start]
            if entity.label != VICTIM_TYPE or not (_COORDINATION.match(gap) or _ACRONYM.match(gap)):
                break
            owned.append(entity)
        for victim in owned:
            victim.owner = count.index
        return [v.index for v in owned]

    def _other_victims(self, count: _Entity, counts: list[_Entity], links: dict[int, _Links]) -> list[int]:
        earlier = [
            c
            for c in counts
            if c.sentence == count.sentence and c.start < count.start and c.index not in self.members
        ]
        antecedent = next((c for c in reversed(earlier) if links[c.index].victims), None)
        inherited = self._victims_of_list(antecedent, earlier, links) if antecedent else []
        if _RAISING.search(self.text[max(self.sentences[count.sentence][0], count.start - 80) : count.start]):
            inherited = []  # "..., bringing the toll to 30": a running total, not those victims
        toll_noun = self._toll_noun(count, counts)
        if toll_noun is not None:
            return [toll_noun.index]
        ellipsis = _ELLIPSIS_WORD.match(self.text[count.end :])
        if not inherited and (ellipsis or _MEMBER_AFTER.match(self.text[count.end :])):
            # "dozens more were hurt", "killing 12 of them" with no count before: the victims
            # named before in the sentence
            referent = self._referent(count)
            if referent is not None:
                return [referent.index]
        if inherited and ellipsis:
            # "killing nine people and wounding 17 others": other people of the same kind;
            # "killing nine children and 14 others": people other than those the count before
            # names, of no kind the text says ("two more" are always more of the same).
            other = ellipsis.group(1).lower() != "more"
            return [] if other and antecedent and antecedent.outcome == count.outcome else inherited
        shared = self._shared_victims(count, counts, links)
        if shared:
            return shared
        unowned = [
            v
            for v in self._same_sentence(count, VICTIM_TYPE)
            if v.owner is None
            and not self._is_member(v)
            and not _AMONG_AFTER.match(self.text[v.end : v.end + 60])
            and v.clause == count.clause
            and self._distance(count, v) <= MAX_UNOWNED_VICTIM_WORDS
        ]
        if unowned:
            nearest = min(unowned, key=lambda v: self._distance(count, v))
            # "fired at demonstrators, killing four protesters and wounding dozens": the count
            # nearer than the loose victim is the antecedent ("dozens" of protesters).
            if not (antecedent and inherited and nearest.start < antecedent.start):
                return [nearest.index]
        return inherited

    def _victims_of_list(
        self, antecedent: _Entity, earlier: list[_Entity], links: dict[int, _Links]
    ) -> list[int]:
        """The antecedent's victims, with those of the counts listed with it ("killing four
        fighters and two civilians and wounding nine": fighters and civilians)."""
        victims = list(links[antecedent.index].victims)
        position = earlier.index(antecedent)
        while position > 0:
            previous = earlier[position - 1]
            owned = [self.by_index[i] for i in links[previous.index].victims]
            if previous.outcome != antecedent.outcome or not owned:
                break
            if not _LIST_COORDINATION.match(self.text[max(e.end for e in owned) : earlier[position].start]):
                break
            victims = list(links[previous.index].victims) + victims
            position -= 1
        return victims

    def _loose_victims_before(self, count: _Entity) -> list[_Entity]:
        """Victims earlier in the count's sentence that no count owns and that name no sub-group."""
        return [
            v
            for v in self._same_sentence(count, VICTIM_TYPE)
            if v.end <= count.start
            and v.owner is None
            and not self._is_member(v)
            and self._distance(count, v) <= MAX_FALLBACK_WORDS
        ]

    def _referent(self, count: _Entity) -> _Entity | None:
        loose = self._loose_victims_before(count)
        return loose[-1] if loose else None

    def _toll_noun(self, count: _Entity, counts: list[_Entity]) -> _Entity | None:
        """ "the number of soldiers killed since ... has risen to 300": the noun after "number
        of" in the count's sentence, with no other count between."""
        for victim in reversed(self._loose_victims_before(count)):
            if any(victim.end <= c.start < count.start for c in counts):
                continue
            if _TOLL_OF.search(self.text[max(0, victim.start - 20) : victim.start]):
                return victim
        return None

    def _shared_victims(self, count: _Entity, counts: list[_Entity], links: dict[int, _Links]) -> list[int]:
        """The victims of the next count when the two are objects of a verb pair ("killed 28 and
        wounded 30 militants")."""
        later = [c for c in counts if c.start > count.start]
        if not later or later[0].sentence != count.sentence:
            return []
        if not _SHARED_VICTIM_GAP.match(self.text[count.end : later[0].start]):
            return []
        return list(links[later[0].index].victims)

    def _find_members(self, counts: list[_Entity], links: dict[int, _Links]) -> None:
        for position, count in enumerate(counts):
            after = self.text[count.end : count.end + 40]
            dead = _OF_THE_DEAD.match(after)
            following = counts[position + 1] if position + 1 < len(counts) else None
            if self._is_member(count) or (_MEMBER_AFTER.match(after) and self._has_total(count, counts)):
                self.members[count.index] = "listed"
            elif (
                following is not None
                and following.sentence == count.sentence
                and following.outcome == count.outcome
                and _AMONG_TOTAL.match(self.text[count.end : following.start])
            ):
                self.members[count.index] = "among"
            elif dead and (dead.group("killed") is not None) == (count.outcome == "killed"):
                self.members[count.index] = "of the dead"
            elif self._after_uncounted_member(count):
                self.members[count.index] = "listed"  # "among them a child and two women"
            elif position:
                previous = counts[position - 1]
                owned = [self.by_index[i] for i in links[previous.index].victims]
                edge = max([previous.end, *(e.end for e in owned)])
                if (
                    previous.index in self.members
                    and previous.sentence == count.sentence
                    and previous.outcome == count.outcome
                    and edge <= count.start
                    and _LIST_COORDINATION.match(self.text[edge : count.start])
                ):
                    self.members[count.index] = self.members[previous.index]
                    self.coordinated[count.index] = previous.index

    def part_of(self, count: _Entity, counts: list[_Entity]) -> int | None:
        """Position in ``counts`` of the total this count is a part of ("including three"), or None."""
        kind = self.members.get(count.index)
        if kind is None:
            return None
        if count.index in self.coordinated:
            first = next(c for c in counts if c.index == self.coordinated[count.index])
            return self.part_of(first, counts)
        if kind == "among":
            return counts.index(count) + 1
        value = parse_count(self.text[count.start : count.end]).get("best")
        headline = headline_end(self.text)
        for position in range(counts.index(count) - 1, -1, -1):
            other = counts[position]
            if kind == "listed" and other.sentence != count.sentence:
                break
            if other.outcome != count.outcome or other.index in self.members:
                continue
            if kind == "of the dead":
                total = parse_count(self.text[other.start : other.end]).get("best")
                if other.start < headline or (value is not None and total is not None and total < value):
                    continue  # "the toll at 34 ... 36 of the dead were civilians": not that total
            return position
        return None

    def _has_total(self, count: _Entity, counts: list[_Entity]) -> bool:
        """Whether an earlier count of the sentence, of the same outcome, can be the total of
        "N of them" ("40 people, 27 of them children"); without one, "them" is a group named
        before ("a gathering of soldiers ..., killing 12 of them")."""
        return any(
            c.sentence == count.sentence and c.start < count.start and c.outcome == count.outcome
            for c in counts
        )

    def _after_uncounted_member(self, count: _Entity) -> bool:
        """Whether the count is coordinated with a sub-group that has no count ("killed 11
        civilians among them a child and two women")."""
        position = self.position[id(count)]
        previous = self.entities[position - 1] if position else None
        return (
            previous is not None
            and previous.label == VICTIM_TYPE
            and previous.sentence == count.sentence
            and self._is_member(previous)
            and bool(_LIST_COORDINATION.match(self.text[previous.end : count.start]))
        )

    def _is_member(self, entity: _Entity) -> bool:
        """A sub-count or sub-group: "including three children", "among them a child", and a
        victim listed after one ("among them deminers and children")."""
        chain = [entity]  # the entity and the victims it is listed after, back to the first
        while chain[-1].index not in self._member_cache:
            last = chain[-1]
            if _MEMBER_BEFORE.search(self.text[max(0, last.start - 40) : last.start]):
                self._member_cache[last.index] = True
                break
            position = self.position[id(last)]
            previous = self.entities[position - 1] if position else None
            if not (
                last.label == VICTIM_TYPE
                and previous is not None
                and previous.label == VICTIM_TYPE
                and previous.sentence == last.sentence
                and _MEMBER_COORDINATION.match(self.text[previous.end : last.start])
            ):
                self._member_cache[last.index] = False
                break
            chain.append(previous)
        answer = self._member_cache[chain[-1].index]
        for listed in chain:
            self._member_cache[listed.index] = answer
        return answer

    # perpetrators ------------------------------------------------------------------------
    def _distance(self, a: _Entity, b: _Entity) -> int:
        left, right = (a, b) if a.start < b.start else (b, a)
        return _words(self.text[left.end : right.start])

    def _perpetrators(self, count: _Entity, counts: list[_Entity]) -> list[int]:
        candidates = self._same_sentence(count, PERPETRATOR)
        chosen = self._chosen_perpetrator(count, counts, candidates)
        group = self._coordinated(chosen, candidates) if chosen else []
        if chosen is not None:
            group += self._antecedents(chosen, candidates)
        claimants = [
            p
            for p in candidates
            if _CLAIM_AFTER.match(self.text[p.end : p.end + 60])
            or _BLAMED_BEFORE.search(self.text[max(0, p.start - 20) : p.start])
            or _BLAMED_AFTER.match(self.text[p.end : p.end + 20])
        ]
        if claimants and (not group or any(self._is_possessed(p) for p in group)):
            group += self._coordinated(claimants[0], candidates)  # D8: "X claimed responsibility"
        group += [
            p
            for p in candidates
            if p.start > count.end and _CLAIMED_BY.search(self.text[max(0, p.start - 20) : p.start])
        ]
        unique = {p.index: p for p in group}.values()
        return [p.index for p in sorted(unique, key=lambda e: e.start)]

    def _chosen_perpetrator(
        self, count: _Entity, counts: list[_Entity], candidates: list[_Entity]
    ) -> _Entity | None:
        in_clause = [p for p in candidates if p.clause == count.clause]
        left = [p for p in in_clause if p.end <= count.start]
        right = [p for p in in_clause if p.start >= count.end]
        if self.members.get(count.index) == "of the dead":
            # "30 of the dead were officers" describes victims counted before: only an agent
            # the clause marks for it ("... were killed by X"), never a nearby subject.
            marked = [p for p in right if self._is_marked_agent(p)]
            return marked[0] if marked else None
        # An agent to the right ("killed by X") wins, unless another count stands between and
        # this count has its own subject on the left ("Rebels killed 5 ... and 12 were killed by X").
        between = right and any(count.end <= c.start < right[0].start for c in counts)
        active = left and _ACTIVE_VERB_GAP.match(self.text[left[-1].end : count.start])
        if right and self._is_marked_agent(right[0]) and not (left and (between or active)):
            return right[0]
        if left:
            return self._appositive_head(left)
        if right:
            return right[0]
        near = [
            p
            for p in candidates
            if self._distance(count, p) <= MAX_FALLBACK_WORDS and not self._semicolon_between(count, p)
        ]
        before = [p for p in near if p.end <= count.start]
        if self._opens_own_clause(count):  # its own toll: not the perpetrator of an earlier one
            before = [p for p in before if p.index not in self.assigned]
        clauses_with_counts = {c.clause for c in counts if c.sentence == count.sentence}
        after = [p for p in near if p.start >= count.end and p.clause not in clauses_with_counts]
        return self._appositive_head(before) if before else (after[0] if after else None)

    def _opens_own_clause(self, count: _Entity) -> bool:
        """Whether the count is the subject of a coordinated clause ("..., and two more soldiers
        died"), where the perpetrator of an earlier toll does not carry over."""
        start = self.clauses[count.sentence][count.clause][0]
        return count.clause > 0 and bool(_OWN_SUBJECT.match(self.text[start : count.start]))

    def _appositive_head(self, left: list[_Entity]) -> _Entity:
        """The nearest perpetrator on the left, or the one it stands in apposition to
        ("members of the Yan Sakai, a local vigilante force, killed ...")."""
        chosen = left[-1]
        if (
            len(left) > 1
            and _APPOSITIVE_GAP.match(self.text[left[-2].end : chosen.start])
            and self.text[chosen.end :].lstrip().startswith(",")
        ):
            return left[-2]
        return chosen

    def _antecedents(self, chosen: _Entity, candidates: list[_Entity]) -> list[_Entity]:
        """For "the militia", the earlier perpetrator of the sentence it takes up ("the Rapid
        Support militia"): same head word, the anaphor a single word after "the"."""
        name = self.text[chosen.start : chosen.end].lower()
        if " " in name or not _DEFINITE.search(self.text[max(0, chosen.start - 5) : chosen.start]):
            return []
        earlier = [
            p
            for p in candidates
            if p.end <= chosen.start and self.text[p.start : p.end].lower().split()[-1] == name
        ]
        return earlier[-1:]

    def _is_possessed(self, perpetrator: _Entity) -> bool:
        """ "its fighters", "their forces": the owner is named elsewhere (D8)."""
        return bool(_POSSESSED.search(self.text[max(0, perpetrator.start - 8) : perpetrator.start]))

    def _semicolon_between(self, a: _Entity, b: _Entity) -> bool:
        """A semicolon joins independent clauses: a subject does not carry over it."""
        left, right = (a, b) if a.start < b.start else (b, a)
        return ";" in self.text[left.end : right.start]

    def _is_marked_agent(self, perpetrator: _Entity) -> bool:
        before = self.text[max(0, perpetrator.start - 60) : perpetrator.start]
        after = self.text[perpetrator.end : perpetrator.end + 40]
        return bool(_AGENT_BEFORE.search(before) or _ATTACK_AFTER.match(after))

    def _coordinated(self, chosen: _Entity, candidates: list[_Entity]) -> list[_Entity]:
        group = [chosen]
        position = candidates.index(chosen)
        for step in (-1, 1):
            index = position + step
            edge = chosen
            while 0 <= index < len(candidates):
                other = candidates[index]
                left, right = (other, edge) if step < 0 else (edge, other)
                gap = self.text[left.end : right.start]
                if not (_COORDINATION_WITH_ATTACK.match(gap) or _ACRONYM.match(gap)):
                    break
                group.append(other)
                edge = other
                index += step
        return sorted(group, key=lambda e: e.start)


def _interval(count: RecordCount) -> tuple[float, float] | None:
    best, low, high = count.best, count.low, count.high
    if best is None:
        return None
    if low is None and high is None:  # an approximation ("about 30")
        return best * 0.8, best * 1.25
    return (low if low is not None else 0), (high if high is not None else math.inf)


def _victim_words(record: Record) -> set[str]:
    return {v.text.lower().split()[-1].rstrip("s") for v in record.victims}


def headline_end(text: str) -> int:
    """End offset of the headline: the first one or two short lines without a full stop."""
    end = 0
    lines = 0
    for match in re.finditer(r"[^\n]*\n?", text):
        line = match.group().strip()
        if not line:
            if lines:
                break
            continue
        if not lines and _BYLINE.match(line) and _words(line) <= HEADLINE_MAX_WORDS:
            end = match.end()  # "Posted on 9 March by ...": the headline comes next
            continue
        if (
            lines == 2
            or _words(line) > HEADLINE_MAX_WORDS
            or line.endswith((".", "!", "?"))
            or match.end() == len(text)
        ):
            break
        end, lines = match.end(), lines + 1
    return end


def _same_toll(a: Record, b: Record) -> bool:
    """Two body records that repeat one toll: same outcome and figure, same victims and actor.

    The figure must be identical (best, low and high); victims agree when their categories and
    head words do (or one side names none); perpetrators agree when their actors or texts do (or
    one side names none); and at least one of the two must be named on both sides (both, for a
    figure under ``SMALL_TOLL``), so that a bare "two were killed" in two places is never merged.
    """
    count_a, count_b = a.count, b.count
    if count_a.outcome != count_b.outcome or count_a.best is None:
        return False
    if (count_a.best, count_a.low, count_a.high) != (count_b.best, count_b.low, count_b.high):
        return False
    agreed = 0
    if a.victims and b.victims:
        if a.victim_categories != b.victim_categories or _victim_words(a) != _victim_words(b):
            return False
        agreed += 1
    if a.perpetrators and b.perpetrators:
        actors_a, actors_b = set(a.actors) - {None}, set(b.actors) - {None}
        texts_a = {p.text.lower() for p in a.perpetrators}
        texts_b = {p.text.lower() for p in b.perpetrators}
        if not (actors_a & actors_b or texts_a & texts_b):
            return False
        agreed += 1
    # Small figures recur for separate incidents ("two citizens" in Daraa, then in Damascus).
    return agreed >= (2 if count_a.best < SMALL_TOLL else 1)


def _mark_repeated_tolls(records: list[Record], sentences: list[int]) -> None:
    """A body record that repeats an earlier body record's toll gets ``same_event_as`` to it."""
    for later, record in enumerate(records):
        if record.headline or record.same_event_as is not None:
            continue
        for earlier in range(later):
            other = records[earlier]
            if (
                other.headline
                or other.same_event_as is not None
                or sentences[earlier] == sentences[later]
                or (other.part_of is None) != (record.part_of is None)
            ):
                continue
            if _same_toll(other, record):
                record.same_event_as = earlier
                break


def _mark_same_events(text: str, records: list[Record]) -> None:
    boundary = headline_end(text)
    for record in records:
        record.headline = record.count.start < boundary
    for record in records:
        if not record.headline:
            continue
        mine = _interval(record.count)
        for index, other in enumerate(records):
            if other.headline or other.count.outcome != record.count.outcome:
                continue
            theirs = _interval(other.count)
            if mine is None or theirs is None or mine[0] > theirs[1] or theirs[0] > mine[1]:
                continue
            words_a, words_b = _victim_words(record), _victim_words(other)
            same_figure = mine[0] == mine[1] == theirs[0] == theirs[1]
            if (
                not same_figure
                and words_a
                and words_b
                and not (words_a & words_b)
                and not ({"people", "person"} & (words_a | words_b))
            ):
                continue
            record.same_event_as = index
            break


def build_records(text: str, entities: Sequence[Located], actors: ActorTable | None = None) -> list[Record]:
    """One record per casualty count, in text order (see the module docstring).

    ``entities``: ``Extractor.extract``'s entities or gold ``Span``s. ``actors`` is the alias table
    for perpetrator ids (default: the shipped Syrian-war table).
    """
    linker = _Linker(text, entities)
    links = linker.link()
    records = []
    count_entities = [e for e in linker.entities if e.label == CASUALTY_COUNT]
    for entity in count_entities:
        known = getattr(entities[entity.index], "count", None)
        value = known if known is not None else CountValue.of(parse_count(text[entity.start : entity.end]))
        victims = [_span(text, linker.by_index[i]) for i in links[entity.index].victims]
        perpetrators = [_span(text, linker.by_index[i]) for i in links[entity.index].perpetrators]
        records.append(
            Record(
                count=RecordCount(
                    entity.start,
                    entity.end,
                    text[entity.start : entity.end],
                    entity.outcome,
                    value.best,
                    value.low,
                    value.high,
                ),  # fmt: skip
                victims=victims,
                perpetrators=perpetrators,
                victim_categories=[victim_category_at(text, v.start, v.end) for v in victims],
                actors=[normalise_actor(p.text, actors) for p in perpetrators],
                headline=False,
                same_event_as=None,
                part_of=linker.part_of(entity, count_entities),
            )
        )
    _mark_same_events(text, records)
    _mark_repeated_tolls(records, [e.sentence for e in count_entities])
    return records
