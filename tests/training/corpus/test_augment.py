"""Training-time renderings of documents as feeds deliver them: spans move with their text."""

from __future__ import annotations

import random
import re
from pathlib import Path

from inference.spans import Document, Span
from training.corpus.augment import augment, render_as_feed, replace_mentions, strip_punctuation
from training.corpus.store import load_documents

CORPUS = Path(__file__).resolve().parents[3] / "data" / "annotations"

TEXT = "Strike kills 9\n\nKALEMIE, Congo - The army's shells killed 9 civilians, including 3 children."


def covered(document: Document) -> list[str]:
    return [document.text[s.start : s.end] for s in document.spans]


def sample() -> Document:
    parts = [
        ("9", "CASUALTY_COUNT", "killed"),
        ("army", "PERPETRATOR", None),
        ("9 ", "CASUALTY_COUNT", "killed"),
        ("civilians", "VICTIM_TYPE", None),
        ("3", "CASUALTY_COUNT", "killed"),
        ("children", "VICTIM_TYPE", None),
    ]
    spans, cursor = [], 0
    for word, label, outcome in parts:
        start = TEXT.index(word, cursor)
        cursor = start + len(word.strip())
        spans.append(Span(start, cursor, label, outcome))
    document = Document("d", TEXT, spans)
    assert covered(document) == ["9", "army", "9", "civilians", "3", "children"]
    return document


def test_feed_rendering_runs_lines_together_and_drops_commas_and_apostrophes() -> None:
    feed = render_as_feed(sample(), random.Random(0))
    assert feed is not None and feed.id == "d#feed"
    assert "\n" not in feed.text and "," not in feed.text and "'" not in feed.text
    assert "  " not in feed.text
    body = feed.text[feed.text.index("Strike") :]
    assert body.startswith("Strike kills 9 KALEMIE Congo - The armys shells killed 9 civilians including 3")
    # the dateline goes in front of the headline, and the possessive widens the actor to the word
    assert feed.text.index("Strike") > 0
    assert covered(feed) == ["9", "armys", "9", "civilians", "3", "children"]


def test_datelines_take_the_forms_of_real_feeds() -> None:
    rng = random.Random(3)
    heads = {render_as_feed(sample(), rng).text.split(" Strike")[0] for _ in range(60)}  # type: ignore[union-attr]
    assert any(h.startswith("Posted on ") and " by " in h for h in heads)
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\d", h) for h in heads)
    assert any(h.startswith("Date of publication ") for h in heads)


def test_every_corpus_document_renders_with_its_spans_intact() -> None:
    documents = load_documents(CORPUS / "train.jsonl")
    rng = random.Random(13)
    for document in documents:
        feed = render_as_feed(document, rng)
        assert feed is not None, document.id
        before = [re.sub(r"[,'’]", "", t).split() for t in covered(document)]
        after = [t.split() for t in covered(feed)]
        for old, new in zip(before, after, strict=True):
            assert new[:-1] == old[:-1] and new[-1].startswith(old[-1]), (document.id, old, new)


def test_augment_keeps_the_punctuation_copies_and_adds_feed_copies() -> None:
    documents = load_documents(CORPUS / "dev.jsonl")
    plain = augment(documents, 0.2, 13)
    both = augment(documents, 0.2, 13, feed_share=0.5)
    assert both[: len(plain)] == plain  # the old copies are unchanged by the new rendering
    feeds = [d for d in both if d.id.endswith("#feed")]
    assert 0.3 * len(documents) < len(feeds) < 0.7 * len(documents)
    assert all(d.id.endswith("#nopunct") for d in plain[len(documents) :])
    assert strip_punctuation(sample()) is not None


def test_mention_copies_swap_perpetrators_and_keep_every_other_span() -> None:
    document = sample()
    pool = ["Islamic State", "rebels"]
    copy = replace_mentions(document, pool, random.Random(0), "PERPETRATOR")
    assert copy is not None and copy.id == "d#mentions"
    texts = covered(copy)
    assert texts[1] in pool and texts[:1] + texts[2:] == ["9", "9", "civilians", "3", "children"]
    assert [s.label for s in copy.spans] == [s.label for s in document.spans]
    assert copy.text.replace(texts[1], "army") == TEXT
    nothing = Document("e", "No perpetrator here.", [])
    assert replace_mentions(nothing, pool, random.Random(0), "PERPETRATOR") is None


def test_augment_adds_mention_copies_without_changing_the_others() -> None:
    documents = load_documents(CORPUS / "dev.jsonl")
    before = augment(documents, 0.2, 13, feed_share=0.2)
    after = augment(documents, 0.2, 13, feed_share=0.2, mention_share=0.5)
    assert after[: len(before)] == before
    assert after[len(before) :] and all(d.id.endswith("#mentions") for d in after[len(before) :])
