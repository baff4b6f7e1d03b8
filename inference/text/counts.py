"""Casualty count text to numbers: ``parse_count("at least 12") == {"best": 12, "low": 12, "high": None}``.

The three values follow UCDP's best / low / high estimate fields: ``best`` is the single figure to
use, ``low`` and ``high`` bound it where the wording does (``None`` where it does not).

Coding standard for vague words: ACLED (Armed Conflict Location & Event Data), "Uses and
limitations of ACLED data — Fatalities" (acleddata.com, published 27 February 2023, updated
7 May 2024): where a vague estimate is given ACLED "uses the most conservative estimate
available", and "when sources report estimates such as 'tens' or 'dozens' or 'hundreds', ACLED
codes 10 for 'tens', 12 for 'dozens', 100 for 'hundreds', and so on". We apply that rule
unchanged and extend it, by the same "most conservative" principle, to words the rule does not
list: a vague word is coded as the smallest number it can mean, with no upper bound.

=====================  ====  ====  =====  =====================================================
word                   best  low   high   basis
=====================  ====  ====  =====  =====================================================
tens                   10    10    null   ACLED, quoted
dozens                 12    12    null   ACLED, quoted
hundreds               100   100   null   ACLED, quoted
scores                 20    20    null   ACLED "and so on": one unit (a score is 20)
thousands              1000  1000  null   ACLED "and so on"
tens of thousands      10^4  10^4  null   ACLED "and so on"
hundreds of thousands  10^5  10^5  null   ACLED "and so on"
millions               10^6  10^6  null   ACLED "and so on"
a couple (of)          2     2     2      exact meaning
several                3     3     null   most conservative: "more than two"
a few, a handful       3     3     null   most conservative: the smallest number above a couple
=====================  ====  ====  =====  =====================================================

A vague word after a multiplier multiplies it: ``several dozen`` = 3 x 12 = 36, ``a few hundred``
= 300, ``several thousand`` = 3000 (best and low; high null).

Qualifiers on a figure N (N may itself be a word, a range or a vague word):

* exact (``12``, ``twelve``, ``a dozen``, ``only 12``): best = low = high = N
* ``at least``, ``no fewer than``, ``a minimum of``, ``N or more``, ``N-plus``: low = best = N, high null
* ``more than``, ``over``, ``upwards of``, ``in excess of``, ``above``: low = best = N + 1, high null
* ``up to``, ``as many as``, ``at most``, ``no more than``: best = high = N, low null
* ``fewer than``, ``less than``, ``under``, ``below``: best = high = N - 1, low null
* ``nearly``, ``almost``, ``close to``, ``approaching``: best = high = N, low null
  (an approximation from below: the figure itself is the best estimate and is not exceeded)
* ``about``, ``around``, ``some``, ``roughly``, ``approximately``, ``an estimated``, ``N or so``,
  ``N-odd``: best = N, low and high null
* ranges ``10 to 15``, ``10-15``, ``between 10 and 15``, ``from 10 to 15``, ``10 or 15``:
  low = 10, high = 15, best = 10 (ACLED's most conservative estimate). A scale written once
  applies to both ends: ``two to three hundred`` is 200 to 300.

Misspellings one edit away from a single known word are read as that word (``atleast 15``,
``more then 20``, ``sevn``). Text that is not a count (``many``, ``12-year-old``, empty text)
gives all three ``None``; ``parse_count`` never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from inference.text.lexicon import (
    COUNT_TOKEN,
    DOT_GROUPED_NUMBER,
    GROUPS,
    QUALIFIERS,
    SCALES,
    SUFFIXES,
    TENS,
    UNITS,
    VAGUE_PLURALS,
)

Count = dict[str, "int | None"]

VAGUE_AMOUNTS = {("several",): 3, ("a", "few"): 3, ("few",): 3, ("a", "handful"): 3}
EXACT_PHRASES = {("a", "couple"): 2, ("couple",): 2}

RANGE_STARTS = {("between",), ("from",), ("anywhere", "between"), ("somewhere", "between")}
CONNECTORS = {"to", "-", "and", "or", "/"}

_JUNK = re.compile(r"[\s,;:()\"'\u2018\u2019\u201c\u201d.!?]+")


def empty() -> Count:
    return {"best": None, "low": None, "high": None}


@dataclass(frozen=True)
class _Value:
    best: int
    low: int | None
    high: int | None
    scale: int = 1  # the trailing scale of a written number ("three hundred" -> 100), for ranges


def parse_count(text: object) -> Count:
    """``{"best", "low", "high"}`` for a casualty count as written; all ``None`` if unreadable."""
    try:
        if not isinstance(text, str):
            return empty()
        tokens = tokenize(text)
        value = _parse(tokens) if tokens else None
    except (ValueError, OverflowError, RecursionError):  # defensive: never raise on odd text
        return empty()
    if value is None:
        return empty()
    return {"best": value.best, "low": value.low, "high": value.high}


def tokenize(text: str) -> list[str]:
    normal = text.lower().replace("\u2013", "-").replace("\u2014", "-").replace("\u2011", "-")
    normal = normal.replace("\u2010", "-").replace("\u2212", "-")
    tokens = []
    position = 0
    for match in COUNT_TOKEN.finditer(normal):
        gap = normal[position : match.start()]
        if gap and _JUNK.sub("", gap):
            raise ValueError(f"unreadable character(s) {gap!r}")
        tokens.extend(_spell(match.group()))
        position = match.end()
    if _JUNK.sub("", normal[position:]):
        raise ValueError("unreadable tail")
    return tokens


def _vocabulary() -> set[str]:
    words = set(UNITS) | set(TENS) | set(SCALES) | set(GROUPS) | set(VAGUE_PLURALS) | {"than"}
    for phrase in [*QUALIFIERS, *SUFFIXES, *RANGE_STARTS, *VAGUE_AMOUNTS, *EXACT_PHRASES]:
        words.update(phrase)
    words.update(f"{w}s" for w in GROUPS)
    return {w for w in words if w.isalpha()}


def edits1(word: str) -> set[str]:
    """Every string one edit (delete, swap, replace, insert of a-z) away from ``word``."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in letters}
    inserts = {a + c + b for a, b in splits for c in letters}
    return deletes | swaps | replaces | inserts


# Scraped and hand-typed reports misspell counts ("atleast 15", "more then 20", "sevn"). A word
# of four letters or more that is one edit away from exactly one known word is read as that word;
# real words that are not counts ("none", "then" outside "more then") are never corrected.
_VOCABULARY = _vocabulary()
_GLUED = {"atleast": ["at", "least"], "upto": ["up", "to"], "morethan": ["more", "than"]}
_NEVER_CORRECT = {"none", "tent", "teen", "even", "over", "ones", "fewer", "than", "then", "some"}


def _spell(token: str) -> list[str]:
    if token in _GLUED:
        return list(_GLUED[token])
    if token == "then":
        return ["than"]  # only ever part of "more then 20" inside a count span
    if not token.isalpha() or len(token) < 4 or token in _VOCABULARY or token in _NEVER_CORRECT:
        return [token]
    candidates = edits1(token) & _VOCABULARY
    return [candidates.pop()] if len(candidates) == 1 else [token]


def _strip_phrase(
    tokens: list[str], table: dict[tuple[str, ...], str], at_end: bool
) -> tuple[str | None, int]:
    for length in (3, 2, 1):
        if len(tokens) <= length:
            continue
        part = tuple(tokens[-length:]) if at_end else tuple(tokens[:length])
        if part in table:
            return table[part], length
    return None, 0


def _parse(tokens: list[str]) -> _Value | None:
    # Qualifiers before the figure; several may stack ("the total of", "at least at 85").
    kind = "exact"
    while True:
        found, length = _strip_phrase(tokens, QUALIFIERS, at_end=False)
        if found is None:
            break
        if found != "exact":
            if kind != "exact":
                return None  # two bounding qualifiers ("at least up to"): not a reading we trust
            kind = found
        tokens = tokens[length:]
        if tokens and tokens[0] == "at" and len(tokens) > 1:  # split quantifier "at least at 85"
            tokens = tokens[1:]
    while True:
        found, length = _strip_phrase(tokens, SUFFIXES, at_end=True)
        if found is None:
            break
        if len(tokens) > length + 1 and tokens[-length - 1] == "-":  # "20-odd", "50-plus"
            length += 1
        if found != "exact":
            if kind != "exact":
                return None
            kind = found
        tokens = tokens[: len(tokens) - length]
    must_range = False
    for start in sorted(RANGE_STARTS, key=len, reverse=True):
        if tuple(tokens[: len(start)]) == start and len(tokens) > len(start):
            tokens, must_range = tokens[len(start) :], True
            break
    value = None if must_range else _quantity(tokens)
    if value is None:
        value = _range(tokens)
    if value is None:
        return None
    return _qualify(value, kind)


def _qualify(value: _Value, kind: str) -> _Value | None:
    low, high = value.low if value.low is not None else value.best, value.high
    if kind == "exact":
        return value
    if kind == "min":
        return _Value(low, low, None)
    if kind == "gt":
        return _Value(low + 1, low + 1, None)
    top = high if high is not None else value.best
    if kind == "max":
        return _Value(top, None, top)
    if kind == "lt":
        return _Value(top - 1, None, top - 1) if top > 0 else None
    if kind == "near":
        return _Value(top, None, top)
    if kind == "approx":
        is_range = value.low is not None and value.high is not None and value.low < value.high
        return value if is_range else _Value(value.best, None, None)
    return None


def _range(tokens: list[str]) -> _Value | None:
    """``10 to 15``, ``10-15``, ``10 and 15`` (after between), ``one or two``: low, high, best = low."""
    for index, token in enumerate(tokens):
        if token not in CONNECTORS or index == 0 or index == len(tokens) - 1:
            continue
        left, right = _quantity(tokens[:index]), _quantity(tokens[index + 1 :])
        if left is None or right is None:
            continue
        left_low = left.low if left.low is not None else left.best
        # "two to three hundred": a scale written once on the right applies to the left too.
        if left.scale == 1 and right.scale > 1 and left.best * right.scale <= right.best and left.best < 100:
            left_low = left_low * right.scale
        right_high = right.high if right.high is not None else right.best
        if left_low > right_high:
            continue
        return _Value(left_low, left_low, right.high)
    return None


def _quantity(tokens: list[str]) -> _Value | None:
    """One figure: digits, number words, a dozen, vague words and their multiples."""
    if not tokens:
        return None
    if tokens[-1] == "of" and len(tokens) > 1:  # "dozens of", "hundreds of"
        tokens = tokens[:-1]
    key = tuple(tokens)
    if key in EXACT_PHRASES:
        value = EXACT_PHRASES[key]
        return _Value(value, value, value)
    if key in VAGUE_AMOUNTS:
        value = VAGUE_AMOUNTS[key]
        return _Value(value, value, None)
    vague = _vague(tokens)
    if vague is not None:
        return vague
    number = _number(tokens)
    if number is None:
        return None
    value, scale = number
    return _Value(value, value, value, scale)


def _vague(tokens: list[str]) -> _Value | None:
    """``dozens``, ``tens of thousands``, ``several hundred``, ``a few dozen``, ``many hundreds``."""
    words = [t for t in tokens if t != "of"]
    if not words:
        return None
    multiplier: int | None = None
    rest = words
    for phrase, value in VAGUE_AMOUNTS.items():
        if tuple(words[: len(phrase)]) == phrase and len(words) > len(phrase):
            multiplier, rest = value, words[len(phrase) :]
            break
    if multiplier is None and words[0] == "many" and len(words) > 1:
        multiplier, rest = 1, words[1:]
    total = 1
    saw_plural = False
    for word in rest:
        if word in VAGUE_PLURALS:
            total *= VAGUE_PLURALS[word]
            saw_plural = True
        elif multiplier is not None and word in SCALES:
            total *= SCALES[word]
        elif multiplier is not None and word in GROUPS:
            total *= GROUPS[word]
        else:
            return None
    if not saw_plural and multiplier is None:
        return None
    if not saw_plural and total == 1:
        return None
    value = total * (multiplier or 1)
    return _Value(value, value, None)


def _digits(token: str) -> float | None:
    if not token[0].isdigit():
        return None
    if re.fullmatch(DOT_GROUPED_NUMBER, token):
        return float(token.replace(".", ""))
    return float(re.sub(r"[, \u00a0\u202f\u2009]", "", token))


def _number(tokens: list[str]) -> tuple[int, int] | None:
    """Digits and number words of any size; returns (value, trailing scale factor) or None."""
    total = 0.0  # the part already closed by thousand / million / billion
    current = 0.0  # the part below the last big scale
    previous = "start"  # kind of the previous token
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        number = _digits(token)
        if number is not None:
            if previous not in ("start", "a") or current:
                return None
            current, previous = number, "digit"
        elif token in ("a", "an"):
            if previous not in ("start", "half") or following is None:
                return None
            if previous == "start":
                if following in SCALES or following in GROUPS:
                    current = 1
                elif not following[0].isdigit():  # "a 100" is allowed: "more than a 100"
                    return None
            previous = "a"
        elif token == "half":
            if previous != "start" or following not in ("a", "an"):
                return None
            current, previous = 0.5, "half"
        elif token in UNITS:
            value = UNITS[token]
            after_tens = previous == "tens" and 0 < value < 10
            after_scale = previous in ("hundred", "and", "big") and current % 100 == 0
            if not (previous == "start" or after_tens or after_scale):
                return None
            current += value
            previous = "unit"
        elif token in TENS:
            if not (previous == "start" or (previous in ("hundred", "and", "big") and current % 100 == 0)):
                return None
            current += TENS[token]
            previous = "tens"
        elif token == "-":
            if previous != "tens" or following not in UNITS or not 0 < UNITS[following] < 10:
                return None
        elif token == "and":
            if previous not in ("hundred", "big") or following not in {**UNITS, **TENS}:
                return None
            previous = "and"
        elif token == "hundred" or token in GROUPS:
            if previous not in ("digit", "unit", "tens", "a", "half") or not current:
                return None
            current *= SCALES.get(token) or GROUPS[token]
            previous = "hundred"
        elif token in SCALES:
            if previous not in ("digit", "unit", "tens", "a", "half", "hundred") or not current:
                return None
            scale = SCALES[token]
            if total and total < scale:  # "two thousand three million" is not a number
                return None
            total += current * scale
            current, previous = 0, "big"
        else:
            return None
    if previous in ("start", "and", "a", "half"):
        return None
    value = total + current
    if value != int(value):
        return None
    last = tokens[-1]
    trailing = SCALES.get(last) or GROUPS.get(last) or 1
    return int(value), trailing
