"""The words the rules read: word patterns and word lists shared by the count parser, the record
linker, the corpus checks and the silver data builder.

The word patterns differ on purpose, each to what its reader must keep whole (the model's units
split at every punctuation mark; the count parser keeps "1,200" and "12 000"; a CoNLL token keeps
"U.S."); they are built here from the same pieces so that a change to one is seen beside the others.
``tests/inference/text/test_lexicon.py`` shows what each gives on the same text.
"""

from __future__ import annotations

import re

APOSTROPHES = "'\u2019"
GROUPED_NUMBER = r"\d{1,3}(?:,\d{3})+"  # 1,200 / 1,200,000
DOT_GROUPED_NUMBER = r"\d{1,3}(?:\.\d{3}){2,}"  # 1.200.000 (European style)

# The model's units: a run of word characters or one punctuation mark (``inference.alignment``).
MODEL_UNIT = re.compile(r"\w+|[^\w\s]")
# A word for counting and reading the gap between two entities (``inference.text.records``): letters and
# digits with inner apostrophes and hyphens ("Syria's", "17-year-old"); punctuation is no word.
WORD = re.compile(rf"[A-Za-z0-9][A-Za-z0-9{APOSTROPHES}-]*")
# Corpus checks (``training.corpus.quality``): numbers stay whole with any inner punctuation ("1,200", "3.5",
# "10:30"), so does "17-year-old"; each other punctuation mark is a token.
CHECK_TOKEN = re.compile(rf"\w+(?:[-{APOSTROPHES}.,:]\w+)*|[^\w\s]")
# CoNLL tokens (``training.corpus.formats.conll``): abbreviations (U.S.), grouped and decimal numbers, words
# with inner hyphens or apostrophes, one punctuation mark.
CONLL_TOKEN = re.compile(
    rf"(?:[A-Za-z]\.){{2,}}|{GROUPED_NUMBER}(?:\.\d+)?|\d+\.\d+|\w+(?:[{APOSTROPHES}-]\w+)*|[^\w\s]"
)
# Words of crowd answers and article texts compared case-folded (``training.corpus.fakes_silver``): a
# hyphen splits ("17", "year", "old"), an apostrophe or backtick does not; punctuation is dropped.
ANSWER_WORD = re.compile(rf"{GROUPED_NUMBER}|\w+(?:[{APOSTROPHES}`]\w+)*")
# Tokens of a lower-cased count (``inference.text.counts``).
COUNT_TOKEN = re.compile(
    rf"{GROUPED_NUMBER}(?:\.\d+)?"
    rf"|{DOT_GROUPED_NUMBER}"
    r"|\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+(?![\d.,])"  # 12 000 (space grouping)
    r"|\d+(?:\.\d+)?"
    r"|[a-z]+"
    r"|[-+/]"
)

# --- number words ------------------------------------------------------------------------------

UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
GROUPS = {"dozen": 12, "score": 20}  # nouns that multiply like "hundred" ("two dozen" = 24)
# The vague plurals of ``inference.text.counts``' documented table: value = best = low, high null.
VAGUE_PLURALS = {
    "tens": 10,
    "dozens": 12,
    "scores": 20,
    "hundreds": 100,
    "thousands": 1_000,
    "millions": 1_000_000,
}
# One word that is (part of) a number for the corpus checks; "zero" is never a casualty count.
NUMBER_WORDS = frozenset(
    (set(UNITS) - {"zero"})
    | set(TENS)
    | set(SCALES)
    | {f"{w}s" for w in SCALES}
    | set(GROUPS)
    | set(VAGUE_PLURALS)
    | {"several", "dozen", "dozens"}
)

# --- quantifiers -------------------------------------------------------------------------------

# Qualifier phrases before a figure and how they bound it (``inference.text.counts``).
QUALIFIERS: dict[tuple[str, ...], str] = {}
for _phrase, _kind in [
    ("at least", "min"), ("no fewer than", "min"), ("no less than", "min"), ("not less than", "min"),
    ("not fewer than", "min"), ("a minimum of", "min"), ("minimum of", "min"), ("at a minimum", "min"),
    ("more than", "gt"), ("over", "gt"), ("upwards of", "gt"), ("upward of", "gt"), ("in excess of", "gt"),
    ("above", "gt"), ("just over", "gt"), ("well over", "gt"), ("slightly more than", "gt"),
    ("up to", "max"), ("as many as", "max"), ("at most", "max"), ("no more than", "max"),
    ("not more than", "max"), ("a maximum of", "max"), ("maximum of", "max"), ("as much as", "max"),
    ("fewer than", "lt"), ("less than", "lt"), ("under", "lt"), ("below", "lt"), ("just under", "lt"),
    ("nearly", "near"), ("almost", "near"), ("close to", "near"), ("approaching", "near"),
    ("about", "approx"), ("around", "approx"), ("some", "approx"), ("roughly", "approx"),
    ("approximately", "approx"), ("approx", "approx"), ("an estimated", "approx"),
    ("estimated", "approx"), ("circa", "approx"), ("an approximate", "approx"), ("perhaps", "approx"),
    ("possibly", "approx"), ("reportedly", "approx"), ("exactly", "exact"), ("only", "exact"),
    ("just", "exact"), ("precisely", "exact"), ("a total of", "exact"), ("total of", "exact"),
    ("another", "exact"), ("the", "exact"), ("all", "exact"), ("a further", "exact"),
    ("an additional", "exact"), ("additional", "exact"), ("further", "exact"),
]:  # fmt: skip
    QUALIFIERS[tuple(_phrase.split())] = _kind
# Phrases after a figure and how they bound it; the "exact" ones are no part of the number.
SUFFIXES: dict[tuple[str, ...], str] = {
    ("or", "more"): "min", ("plus",): "min", ("+",): "min", ("or", "so"): "approx", ("odd",): "approx",
    ("or", "fewer"): "max", ("or", "less"): "max", ("more",): "exact", ("others",): "exact",
    ("other",): "exact", ("people",): "exact", ("persons",): "exact", ("of",): "exact",
}  # fmt: skip
# Single words after a figure that ``parse_count`` reads past but a count span leaves out ("70 people").
AFTER_COUNT_WORDS = frozenset(p[0] for p, kind in SUFFIXES.items() if len(p) == 1 and kind == "exact")
# The quantifiers that join a count span when written right before its number: the annotation
# standard's list and its near synonyms; each is one of ``QUALIFIERS`` (tested).
SPAN_QUANTIFIERS = tuple(
    tuple(q.split())
    for q in (
        "at least", "more than", "no fewer than", "no less than", "fewer than", "less than", "up to",
        "as many as", "an estimated", "nearly", "almost", "about", "around", "some", "over", "roughly",
        "approximately", "at most",
    )
)  # fmt: skip

# --- determiners -------------------------------------------------------------------------------

ARTICLES = frozenset({"the", "a", "an"})
DEMONSTRATIVES = frozenset({"this", "these", "those"})
POSSESSIVES = frozenset({"his", "her", "its", "their", "our", "my"})
# A victim or perpetrator span starts after these (the annotation standard).
DETERMINERS = ARTICLES | DEMONSTRATIVES | POSSESSIVES

# --- names -------------------------------------------------------------------------------------

# Armed groups whose proper name contains "and". The guidelines split coordinated actors
# ("Russian and Syrian air forces" -> two spans) but keep one organisation's name whole, and the
# tagger, taught the split, cuts these names at "and" (``inference.alignment.join_split_names``
# puts them back together).
_NAMES_WITH_AND = (
    "Islamic State (?:of|in) Iraq and (?:the Levant|Syria|al-Sham)",
    "Support (?:Group )?(?:of|for) Islam and (?:the )?Muslims",  # JNIM, either English rendering
    "Defen[cs]e and Security Forces",
    "Army and (?:the )?Armed Forces",
    "Movement for (?:Unity|Oneness) and Jihad in West Africa",
    "Justice and Equality Movement",
    "Alliance of Patriots for a Free and Sovereign Congo",
    "Jammu and Kashmir",  # the place inside a force's name ("Jammu and Kashmir Police")
)
NAMES_WITH_AND = re.compile(
    r"\b(?:" + "|".join(name.replace(" ", r"\s+") for name in _NAMES_WITH_AND) + r")\b", re.IGNORECASE
)

# --- casualty words ----------------------------------------------------------------------------

# A word that says someone was killed or injured: the corpus checks' cue for a count nearby.
CASUALTY_CUE = re.compile(
    r"^(?:kill(?:s|ed|ing)?|wound(?:s|ed|ing)?|injur(?:e|es|ed|ing|y|ies)|dead|died|dies?|dying|"
    r"deaths?|hurt|casualt(?:y|ies)|fatalit(?:y|ies)|toll)$",
    re.IGNORECASE,
)
# The silver builder's wider net for articles' casualty sentences (any form of kill, wound, injur-,
# and words of mass killing), read on case-folded words; it never had "hurt" or "fatalities".
KILL_CUE = re.compile(
    r"^(?:kill\w*|dead|died|dies?|dying|deaths?|death|massacre\w*|martyr\w*|lives|slain|wound\w*|"
    r"injur\w*|casualt\w*|toll|bodies|executed|execution\w*|perished|eliminat\w*|murder\w*|"
    r"slaughter\w*|beheaded)$"
)
