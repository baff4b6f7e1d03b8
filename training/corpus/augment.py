"""Training-time copies of documents as badly delivered feeds deliver them.

Two renderings, each applied to a seeded share of the training documents:

* ``strip_punctuation``: sentence punctuation gone (``,.;:!?"()[]``), apostrophes kept;
* ``render_as_feed``: what scraped real-news feeds such as FA-KES look like: commas and apostrophes
  gone ("Assads forces"), every line break and paragraph run together with single spaces, so the
  headline runs into the body, and a dateline in one of the feeds' forms glued in front
  ("Posted on July 20 2016 by ...", "Date of publication 12 March 2016", "2016-03-12").

Spans move with their text. A span that would end inside a word because an apostrophe after it was
dropped ("army" in "army's" -> "armys") is widened to the whole word, as a tagger sees it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from inference.spans import PERPETRATOR, Document, Span, cuts_word, is_word_char

# Apostrophes stay: dropping them glues "Syria's" into one word and cuts the span "Syria".
STRIPPED = set(',.;:!?"()[]“”')
FEED_DROPPED = set(",'’‘")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_OUTLETS = ("Asharq Al-Awsat", "Syria Direct", "Al-Manar", "Enab Baladi", "Al Arabiya", "SANA")


def _rewrite(document: Document, render: Callable[[str, int], str], suffix: str) -> Document | None:
    """Rewrite ``document.text`` one character at a time (``render(text, i)`` gives what character
    ``i`` becomes) and move every span with its text; None if a span would break."""
    kept: list[str] = []
    new_index: list[int] = []  # position in the new text of each old character (or of the next kept)
    for index in range(len(document.text)):
        new_index.append(len(kept))
        kept.append(render(document.text, index))
    new_index.append(len(kept))
    text = "".join(kept)
    positions = [0]
    for piece in kept:
        positions.append(positions[-1] + len(piece))
    spans = []
    for span in document.spans:
        start, end = positions[new_index[span.start]], positions[new_index[span.end]]
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end < len(text) and span.end < len(document.text) and document.text[span.end] in FEED_DROPPED:
            while end < len(text) and is_word_char(text[end]):
                end += 1
        if start == end or cuts_word(text, start, end):
            return None
        spans.append(Span(start, end, span.label, span.outcome))
    return Document(f"{document.id}#{suffix}", text, spans)


def _stripped(text: str, index: int) -> str:
    return "" if text[index] in STRIPPED else text[index]


def strip_punctuation(document: Document) -> Document | None:
    """The document without punctuation, spans moved with their text; None if a span would break."""
    return _rewrite(document, _stripped, "nopunct")


def _as_feed(text: str, index: int) -> str:
    char = text[index]
    if char in FEED_DROPPED:
        return ""
    if char.isspace():
        # A run of whitespace becomes one space; nothing is left before the first word.
        previous_space = index > 0 and text[index - 1].isspace()
        return "" if previous_space or index == 0 else " "
    return char


def dateline(rng: random.Random) -> str:
    """A dateline in one of the forms scraped feeds prepend to the headline."""
    year, month, day = rng.randint(2012, 2024), rng.randrange(12), rng.randint(1, 28)
    forms = (
        f"Posted on {_MONTHS[month]} {day} {year} by {rng.choice(_OUTLETS)}",
        f"Date of publication {day} {_MONTHS[month]} {year}",
        f"Published {_MONTHS[month]} {day} {year}",
        f"{year}-{month + 1:02d}-{day:02d}",
        f"{day} {_MONTHS[month]} {year}",
        f"Last updated at {_MONTHS[month][:3]} {day} {year}",
    )
    return rng.choice(forms)


def render_as_feed(document: Document, rng: random.Random) -> Document | None:
    """The document as a scraped feed delivers it (see the module docstring); None if a span breaks."""
    flat = _rewrite(document, _as_feed, "feed")
    if flat is None:
        return None
    text = flat.text.rstrip()
    prefix = dateline(rng) + " "
    spans = [Span(s.start + len(prefix), s.end + len(prefix), s.label, s.outcome) for s in flat.spans]
    return Document(flat.id, prefix + text, spans)


def replace_mentions(document: Document, pool: list[str], rng: random.Random, label: str) -> Document | None:
    """A copy with every ``label`` span's text replaced by a mention drawn from ``pool`` (one
    surface form, one replacement); None if the document has no such span."""
    if not any(s.label == label for s in document.spans):
        return None
    chosen: dict[str, str] = {}
    parts: list[str] = []
    spans: list[Span] = []
    cursor = length = 0
    for span in sorted(document.spans, key=lambda s: s.start):
        parts.append(document.text[cursor : span.start])
        length += span.start - cursor
        old = document.text[span.start : span.end]
        new = old
        if span.label == label:
            new = chosen.setdefault(old.lower(), rng.choice(pool))
            if _opens_sentence(document.text, span.start) and new[:1].islower():
                new = new[:1].upper() + new[1:]
        parts.append(new)
        spans.append(Span(length, length + len(new), span.label, span.outcome))
        length += len(new)
        cursor = span.end
    parts.append(document.text[cursor:])
    return Document(f"{document.id}#mentions", "".join(parts), spans)


def _opens_sentence(text: str, start: int) -> bool:
    """Nothing but whitespace before ``start``, or a sentence end (``.!?``) and whitespace."""
    i = start
    while i > 0 and text[i - 1].isspace():
        i -= 1
    return i == 0 or text[i - 1] in ".!?"


def augment(
    documents: list[Document], share: float, seed: int, feed_share: float = 0.0, mention_share: float = 0.0
) -> list[Document]:
    """The documents plus punctuation-stripped copies of a seeded random share of them, feed
    renderings of another and copies with other perpetrators' names of a third."""
    rng = random.Random(seed)
    copies = [strip_punctuation(d) for d in documents if rng.random() < share]
    feed_rng = random.Random(seed + 1)
    copies += [render_as_feed(d, feed_rng) for d in documents if feed_rng.random() < feed_share]
    if mention_share > 0:
        copies += _mention_copies(documents, mention_share, random.Random(seed + 2))
    return documents + [c for c in copies if c is not None]


def _mention_copies(documents: list[Document], share: float, rng: random.Random) -> list[Document | None]:
    pool = sorted({d.text[s.start : s.end] for d in documents for s in d.spans if s.label == PERPETRATOR})
    if not pool:
        return []
    return [replace_mentions(d, pool, rng, PERPETRATOR) for d in documents if rng.random() < share]
