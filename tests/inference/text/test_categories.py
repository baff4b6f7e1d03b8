"""Victim categories: a rule for every victim string of the corpus, and the documented cases."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from inference.text.categories import CIVILIAN_CATEGORIES, VICTIM_CATEGORIES, classify_victim, victim_category

ANNOTATIONS = Path(__file__).resolve().parents[3] / "data" / "annotations"


def corpus_victim_strings() -> Counter[str]:
    strings: Counter[str] = Counter()
    for path in sorted(ANNOTATIONS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            document = json.loads(line)
            for span in document["spans"]:
                if span["label"] == "VICTIM_TYPE":
                    strings[document["text"][span["start"] : span["end"]]] += 1
    return strings


def test_every_corpus_victim_string_gets_a_category_by_a_rule():
    strings = corpus_victim_strings()
    assert len(strings) > 500
    unread = sorted(text for text in strings if classify_victim(text).rule is None)
    assert unread == []
    assert {classify_victim(text).category for text in strings} == set(VICTIM_CATEGORIES)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("civilians", "civilian"),
        ("civillians", "civilian"),  # one edit from a known word
        ("children", "child"),
        ("childern", "child"),
        ("schoolgirls", "child"),
        ("women", "woman"),
        ("female students", "woman"),
        ("soldiers", "combatant"),
        ("fighters", "combatant"),
        ("militants", "combatant"),
        ("Syrian army soldiers", "combatant"),
        ("police officers", "combatant"),
        ("members of the security forces", "combatant"),
        ("army personnel", "combatant"),
        ("VDP volunteers", "combatant"),  # an armed group's name beats a civilian head
        ("child soldiers", "combatant"),
        ("Taliban", "combatant"),
        ("people", "unknown"),
        ("men", "unknown"),
        ("members", "unknown"),
        ("displaced people", "civilian"),  # the text says otherwise
        ("members of one family", "civilian"),
        ("civil defence volunteer", "civilian"),
        ("civilian contractor", "civilian"),
        ("fishermen", "civilian"),
        ("passers-by", "civilian"),
        ("Palestinians", "unknown"),
        ("young siblings", "child"),  # a young relative is a child
        ("young daughter", "child"),
        ("little brother", "child"),
        ("sons", "civilian"),
        ("young men", "unknown"),
        ("wives", "woman"),
        # An armed group in an "of" phrase is read as it is before the head.
        ("Ahrar al-Sham leaders", "combatant"),
        ("leaders of Ahrar al-Sham", "combatant"),
        ("leader of the jihadist group", "combatant"),
        ("members of the Islamic State", "combatant"),  # a group name of two words
        ("Islamic State members", "combatant"),
        ("members of Jaish al-Islam", "combatant"),
        ("leader of the village", "civilian"),
        ("residents of rebel-held areas", "civilian"),  # an area, not a group
        ("families of soldiers", "civilian"),  # relatives of fighters are not fighters
        ("soldiers' families", "civilian"),
        ("women's rights lawyer", "civilian"),  # a possessive says whose, not who
        ("the army's personnel", "combatant"),
        ("", "unknown"),
    ],
)
def test_documented_cases(text, category):
    assert victim_category(text) == category


def test_children_and_women_are_civilians():
    assert {"civilian", "child", "woman"} == CIVILIAN_CATEGORIES
    assert classify_victim("unheard-of-word").rule is None
