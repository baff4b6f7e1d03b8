"""Victim categories: ``victim_category("Syrian army soldiers") == "combatant"``.

Every ``VICTIM_TYPE`` span gets one of five categories, decided by its head noun (the last word
before an ``of`` / ``from`` phrase) and the modifiers before it; nothing here is a list of whole
victim strings. In order, the first rule that applies decides:

1. ``civilian`` written anywhere in the span: ``civilian`` ("civilian contractor").
2. An armed head noun (``soldiers``, ``fighters``, ``militants``, ``police officers``,
   ``rebels``, ``commander`` ...): ``combatant`` (combatants and security forces alike).
3. ``civil`` before the head ("civil defence volunteer"): ``civilian``; else an armed
   modifier (``army``, ``security``, ``militia``, ``pro-government``, ``rebel``, the name of
   an armed group such as ``IS`` or ``VDP``): ``combatant`` ("army personnel", "Hamas
   operatives", "VDP volunteers").
4. A young relative (``young``, ``little``, ``infant`` before a kin head such as ``siblings``,
   ``daughter``, ``sons``): ``child`` ("five young siblings", "his young daughter", as FA-KES's
   coders count them). A child head (``children``, ``boy``, ``baby``, ``teenager``,
   ``pupils``): ``child``; a woman head (``women``, ``mother``, ``wife``, ``widow``): ``woman``;
   a ``female`` / ``child`` modifier does the same ("female students"), unless it is a possessive
   ("women's rights lawyer" is a lawyer).
5. A civilian head (``villagers``, ``farmers``, ``nurses``, ``worshippers``, family words such
   as ``brother`` or ``family``): ``civilian``.
6. A general head (``people``, ``men``, ``members``, ``personnel``, ``youths``, ``detainees``):
   its ``of`` phrase decides if it names a group ("members of the security forces" ->
   ``combatant``, "members of one family" -> ``civilian``); else a civilian-marking modifier
   (``displaced``, ``innocent``, ``unarmed``, ``medical``, ``civil``, ``aid``) makes it
   ``civilian``; else ``unknown``: "people" says nothing about who they were.
7. A capitalised name or a demonym of no armed group (``Palestinians``, ``Tamils``,
   ``Christians``, ``Sudanese``): ``unknown``.

Children are civilians and so are women (``CIVILIAN_CATEGORIES``): sum ``child``, ``woman`` and
``civilian`` for a civilian total. Words are read case-insensitively, plurals are reduced to the
singular (``children``, ``fishermen``, ``civilians``), and a word of five letters or more that is
one edit away from exactly one known word is read as that word (``civillians``, ``childern``).
A span that no rule reads gets ``unknown`` too; ``classify_victim`` says which rule fired.
``victim_category_at(text, start, end)`` reads a span in its text, with a young-relative word
just before it that the span leaves out ("five young [siblings]").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from inference.text.counts import edits1

CIVILIAN = "civilian"
CHILD = "child"
WOMAN = "woman"
COMBATANT = "combatant"
UNKNOWN = "unknown"
VICTIM_CATEGORIES = (CIVILIAN, CHILD, WOMAN, COMBATANT, UNKNOWN)
CIVILIAN_CATEGORIES = frozenset({CIVILIAN, CHILD, WOMAN})


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Head nouns (singular) per category.
ARMED_HEADS = _wordset("""
soldier fighter militant rebel insurgent troop police policeman policewoman patrolman officer guard
guardsman militia militiaman jihadist terrorist combatant ex-combatant gunman attacker assailant
bandit raider mercenary commander recruit conscript serviceman marine peacekeeper gendarme vigilante
guerrilla commando cadet cadre operative mujahid mujahideen paramilitary captain colonel major
corporal sergeant lieutenant constable jawan sepoy havildar naik auxiliary kingpin bomber bomb-maker
extremist occupier aggressor aggression crusader apostate khawarij takfiri agent bodyguard comrade
comrades-in-arms ally army force gang dissident faction unit front cell
""")
CHILD_HEADS = _wordset("""
child kid boy girl baby infant toddler minor teenager teen schoolchild schoolboy schoolgirl pupil
juvenile grandchild newborn adolescent
""")
WOMAN_HEADS = _wordset("woman mother wife widow sister bride waitress lady grandmother aunt sister-in-law")
CIVILIAN_HEADS = _wordset("""
civilian villager citizen resident farmer herder fisherman shepherd student passenger driver nurse
doctor medic paramedic surgeon teacher schoolteacher lecturer worshipper pilgrim migrant refugee
returnee patient trader worker workman labourer journalist reporter photographer cameraman presenter
volunteer pharmacist engineer miner pastor priest imam monk cleric sheikh catechist shopkeeper vendor
seller baker cook waiter barman mechanic technician lawyer judge justice mayor official administrator
councillor lawmaker politician president chief leader elder mediator pedestrian passer-by bystander
shopper customer guest mourner protester demonstrator activist tourist traveller voter pensioner
caretaker watchman caregiver employee staff crew seafarer dockworker interpreter businessman healer
apprentice picker hunter nomad rescuer deminer defender advocate family relative neighbour neighbor
friend colleague couple son daughter brother father husband nephew niece uncle cousin grandson
sibling granddaughter
brother-in-law son-in-law groom postman cleaner professional owner changer servant head authority
governor assistant aide bricklayer contractor
""")
GENERAL_HEADS = _wordset("""
people person man member youth individual survivor detainee prisoner captive suspect informant
national personnel group minority tribe tribesman veteran deputy sailor element
""")
# Modifiers that mark the category of a general head, or override a civilian head.
ARMED_MODIFIERS = _wordset("""
army military security police rebel militia regime pro-government pro-regime enemy paramilitary
jihadist armed insurgent intelligence defence defense border naval navy junta occupation terrorist
islamist loyalist opposition faction brigade battalion division unit wing gang guard special
""")
CIVILIAN_MODIFIERS = _wordset("displaced innocent unarmed medical civil humanitarian aid health")
# A young relative is a child ("young siblings"); "young men" is not.
YOUNG_MODIFIERS = _wordset("young little infant baby")
KIN_HEADS = _wordset("sibling son daughter brother sister nephew niece cousin grandson granddaughter")
# Names of armed groups that appear as modifiers ("IS militants", "VDP volunteers") or alone
# ("Taliban", "Peshmerga"). "IS" counts only in capitals.
ARMED_GROUPS = _wordset("""
taliban peshmerga houthi jnim vdp cafgu cjtf boko nusra al-nusra hezbollah hamas sdf ypg pkk isis isil
daesh iswap al-shabaab shabaab fsa hts ltte ira npa m23 pmf aqap kia pdf spla-io sspdf fardc faca sna
lna wagner fano adf biff nrf hashd asayish ruc udr crpf iskp mawozo wazalendo fatemiyoun tigers
al-qaeda qaeda sayyaf nusayri ahrar jabhat turkistani maute dawlah farc qsd tiger tahrir jaish jeish
jund faylaq zenki islamic-state
""")
# Group names of several words, read as one hyphenated word ("Islamic State" -> "islamic-state").
_GROUP_NAMES = re.compile(r"\bIslamic\s+State\b", re.IGNORECASE)
# Family words: an armed group before or after them says whose family, not who ("soldiers' families").
RELATION_HEADS = KIN_HEADS | _wordset(
    "family relative father husband mother wife widow neighbour neighbor friend"
)
_WORD = re.compile(r"[\w'\u2019/-]+")
_POSSESSIVE = re.compile(r"(?:['\u2019]s|s['\u2019])$")
_DEMONYM = re.compile(r"(?:ans?|is|ese|ites?|ics?|ils|as)$")
_OF = {"of", "from"}
_IRREGULAR = {
    "children": "child", "people": "people", "peoples": "people", "police": "police", "men": "man",
    "comrades-in-arms": "comrade",
}  # fmt: skip


@dataclass(frozen=True)
class CategoryMatch:
    category: str
    rule: str | None  # which rule fired ("head", "modifier", "of-phrase", ...); None: no rule read it
    word: str | None  # the word that decided


def _vocabulary() -> frozenset[str]:
    words = ARMED_HEADS | CHILD_HEADS | WOMAN_HEADS | CIVILIAN_HEADS | GENERAL_HEADS
    words |= ARMED_MODIFIERS | CIVILIAN_MODIFIERS | ARMED_GROUPS | {"female", "children", "people"}
    return frozenset(words)


_VOCABULARY = _vocabulary()


def singular(word: str) -> str:
    """``children`` -> ``child``, ``fishermen`` -> ``fisherman``, ``passers-by`` -> ``passer-by``."""
    word = word.lower().strip("'\u2019.,")
    word = re.sub(r"['\u2019]s$", "", word)
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("children"):  # schoolchildren, grandchildren
        return word[:-3]
    if word.endswith("wives"):  # housewives
        return word[:-3] + "fe"
    if word.endswith("s-by"):
        return word[:-4] + "-by"
    if word.endswith("men") and len(word) > 3:
        return word[:-3] + "man"
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ss", "us", "is")) or len(word) < 4:
        return word
    if word.endswith("s"):
        return word[:-1]
    return word


@lru_cache(maxsize=4096)
def normal_word(word: str) -> str:
    """The singular, corrected when it is one edit away from exactly one known word."""
    base = singular(word)
    if base in _VOCABULARY or len(base) < 5 or not base.replace("-", "").isalpha():
        return base
    candidates = edits1(base) & _VOCABULARY
    if len(candidates) == 1:
        return singular(candidates.pop())
    return base


def _is_armed_group(raw: str) -> bool:
    if raw == "IS":
        return True
    return any(normal_word(part) in ARMED_GROUPS for part in re.split(r"[/]", raw.lower()))


@dataclass(frozen=True)
class _Phrase:
    """A victim phrase cut at its first ``of`` / ``from``: the head noun, its modifiers, the rest."""

    head_raw: str
    head: str
    modifiers_raw: list[str]
    modifiers: list[str]  # normalised, with the parts of hyphenated words added
    possessive: frozenset[str]  # the normalised modifiers written as possessives ("soldiers'")
    of_phrase: str

    @classmethod
    def read(cls, text: str) -> _Phrase | None:
        text = _GROUP_NAMES.sub(lambda m: "-".join(m.group(0).split()), text)
        raw = [w for w in _WORD.findall(text) if w.lower() not in {"the", "a", "an", "one"}]
        if not raw:
            return None
        words = [normal_word(w) for w in raw]
        cut = next((i for i, w in enumerate(words) if w in _OF and i > 0), len(words))
        modifiers: list[str] = []
        for word in raw[: cut - 1]:
            modifiers.append(normal_word(word))
            modifiers.extend(normal_word(part) for part in re.split(r"[-/]", word) if part != word)
        possessive = frozenset(normal_word(w) for w in raw[: cut - 1] if _POSSESSIVE.search(w))
        return cls(
            raw[cut - 1], words[cut - 1], raw[: cut - 1], modifiers, possessive, " ".join(raw[cut + 1 :])
        )

    @property
    def names_armed_body(self) -> bool:
        """An armed force or group: "the rebels", "Ahrar al-Sham", "the jihadist group"; not
        "rebel-held areas"."""
        if classify_victim(" ".join([*self.modifiers_raw, self.head_raw])).category != COMBATANT:
            return False
        name = re.match(r"(?:[a-z]{1,3}-)?[A-Z]", self.head_raw)  # "Ahrar al-Sham"
        return self.head in ARMED_HEADS or self.head in GENERAL_HEADS or name is not None


def classify_victim(text: str) -> CategoryMatch:
    """The category of a victim span and the rule that decided it (see the module docstring)."""
    if CIVILIAN in (normal_word(w) for w in _WORD.findall(text)):
        return CategoryMatch(CIVILIAN, "civilian", CIVILIAN)
    phrase = _Phrase.read(text)
    if phrase is None:
        return CategoryMatch(UNKNOWN, None, None)
    return _armed(phrase) or _child_or_woman(phrase) or _civilian_or_general(phrase)


def _armed(phrase: _Phrase) -> CategoryMatch | None:
    head, modifiers = phrase.head, phrase.modifiers
    if head in ARMED_HEADS:
        return CategoryMatch(COMBATANT, "head", head)
    if "civil" in modifiers:  # "civil defence personnel": rescuers, not a defence force
        return CategoryMatch(CIVILIAN, "modifier", "civil")
    relation = head in RELATION_HEADS  # "soldiers' families" are not soldiers
    armed = next(
        (m for m, r in zip(modifiers, phrase.modifiers_raw + [""] * len(modifiers), strict=False)
         if (m in ARMED_MODIFIERS or m in ARMED_HEADS or m in ARMED_GROUPS or r == "IS")
         and not (relation and m in phrase.possessive)),
        None,
    )  # fmt: skip
    if armed is not None:
        return CategoryMatch(COMBATANT, "modifier", armed)
    if head in CIVILIAN_HEADS and not relation and phrase.of_phrase:
        body = _Phrase.read(phrase.of_phrase)
        if body is not None and body.names_armed_body:  # "leaders of Ahrar al-Sham"
            return CategoryMatch(COMBATANT, "of-phrase armed body", body.head)
    return None


def _child_or_woman(phrase: _Phrase) -> CategoryMatch | None:
    head = phrase.head
    modifiers = [m for m in phrase.modifiers if m not in phrase.possessive]  # "women's rights lawyer"
    if head in KIN_HEADS and any(m in YOUNG_MODIFIERS for m in modifiers):
        return CategoryMatch(CHILD, "young relative", head)
    if head in CHILD_HEADS or head == "children":
        return CategoryMatch(CHILD, "head", head)
    if head in WOMAN_HEADS:
        return CategoryMatch(WOMAN, "head", head)
    if "female" in modifiers or WOMAN in modifiers:
        return CategoryMatch(WOMAN, "modifier", "female" if "female" in modifiers else WOMAN)
    if any(m in CHILD_HEADS for m in modifiers):
        return CategoryMatch(CHILD, "modifier", next(m for m in modifiers if m in CHILD_HEADS))
    return None


def _civilian_or_general(phrase: _Phrase) -> CategoryMatch:
    head, modifiers = phrase.head, phrase.modifiers
    if head in CIVILIAN_HEADS:
        return CategoryMatch(CIVILIAN, "head", head)
    if _is_armed_group(phrase.head_raw):  # "Taliban", "Islamic State of Iraq and the Levant"
        return CategoryMatch(COMBATANT, "armed group", head)
    if phrase.of_phrase:
        inner = classify_victim(phrase.of_phrase)
        if inner.rule is not None and (inner.category != UNKNOWN or head not in GENERAL_HEADS):
            return CategoryMatch(inner.category, f"of-phrase {inner.rule}", inner.word)
    marker = next((m for m in modifiers if m in CIVILIAN_MODIFIERS or m in CIVILIAN_HEADS), None)
    if marker is not None:  # "displaced people", "family members", "civil defence"
        return CategoryMatch(CIVILIAN, "modifier", marker)
    if head in GENERAL_HEADS or head == "people":
        return CategoryMatch(UNKNOWN, "general head", head)
    if phrase.head_raw[:1].isupper() or _DEMONYM.search(head):
        return CategoryMatch(UNKNOWN, "group name", head)
    return CategoryMatch(UNKNOWN, None, None)


def victim_category(text: str) -> str:
    """One of ``VICTIM_CATEGORIES`` for a victim span's text."""
    return classify_victim(text).category


def victim_category_at(text: str, start: int, end: int) -> str:
    """The category of the victim span ``text[start:end]``, read with a ``YOUNG_MODIFIERS`` word
    just before it: a tagger that marks "siblings" in "five young siblings" leaves "young" out."""
    before = re.search(r"([\w-]+)\s+$", text[max(0, start - 20) : start])
    if before and before.group(1).lower() in YOUNG_MODIFIERS:
        return victim_category(f"{before.group(1)} {text[start:end]}")
    return victim_category(text[start:end])
