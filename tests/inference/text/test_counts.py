"""Casualty count text to best / low / high values (inference.text.counts)."""

from __future__ import annotations

import random

import pytest

from inference.text import counts
from inference.text.counts import parse_count

N = None
CASES = [
    # digits, separators
    ("12", 12, 12, 12),
    ("1,200", 1200, 1200, 1200),
    ("1,200,000", 1_200_000, 1_200_000, 1_200_000),
    ("12 000", 12000, 12000, 12000),
    ("1.200.000", 1_200_000, 1_200_000, 1_200_000),
    ("1.5 million", 1_500_000, 1_500_000, 1_500_000),
    ("2 million", 2_000_000, 2_000_000, 2_000_000),
    ("30", 30, 30, 30),
    # number words
    ("one", 1, 1, 1),
    ("two", 2, 2, 2),
    ("nineteen", 19, 19, 19),
    ("twenty-five", 25, 25, 25),
    ("Twenty five", 25, 25, 25),
    ("ninety-nine", 99, 99, 99),
    ("a hundred", 100, 100, 100),
    ("one hundred and twenty", 120, 120, 120),
    ("one hundred twenty-three", 123, 123, 123),
    ("two hundred and five", 205, 205, 205),
    ("eleven hundred", 1100, 1100, 1100),
    ("a thousand", 1000, 1000, 1000),
    ("three thousand two hundred", 3200, 3200, 3200),
    ("twenty-five thousand", 25000, 25000, 25000),
    ("two million three hundred thousand", 2_300_000, 2_300_000, 2_300_000),
    ("half a million", 500_000, 500_000, 500_000),
    ("a million", 1_000_000, 1_000_000, 1_000_000),
    ("Eighty-six", 86, 86, 86),
    # dozens and scores as numbers
    ("a dozen", 12, 12, 12),
    ("half a dozen", 6, 6, 6),
    ("two dozen", 24, 24, 24),
    ("a score", 20, 20, 20),
    ("three score", 60, 60, 60),
    ("a couple", 2, 2, 2),
    ("a couple of", 2, 2, 2),
    # vague counts: the documented ACLED-based table
    ("tens", 10, 10, N),
    ("dozens", 12, 12, N),
    ("Dozens", 12, 12, N),
    ("dozens of", 12, 12, N),
    ("scores", 20, 20, N),
    ("hundreds", 100, 100, N),
    ("thousands", 1000, 1000, N),
    ("tens of thousands", 10_000, 10_000, N),
    ("hundreds of thousands", 100_000, 100_000, N),
    ("millions", 1_000_000, 1_000_000, N),
    ("several", 3, 3, N),
    ("a few", 3, 3, N),
    ("a handful", 3, 3, N),
    ("several dozen", 36, 36, N),
    ("a few hundred", 300, 300, N),
    ("several thousand", 3000, 3000, N),
    ("many hundreds", 100, 100, N),
    # ranges: best is the low end (ACLED's most conservative estimate)
    ("10 to 15", 10, 10, 15),
    ("10-15", 10, 10, 15),
    ("10\u201315", 10, 10, 15),
    ("10 - 15", 10, 10, 15),
    ("between 10 and 15", 10, 10, 15),
    ("from 10 to 15", 10, 10, 15),
    ("ten to fifteen", 10, 10, 15),
    ("one or two", 1, 1, 2),
    ("two or three", 2, 2, 3),
    ("12,000-15,000", 12000, 12000, 15000),
    ("two to three hundred", 200, 200, 300),
    ("10 to 15 thousand", 10000, 10000, 15000),
    ("between one hundred and two hundred", 100, 100, 200),
    ("between 80 and 100", 80, 80, 100),
    ("about 1,000 to 1,500", 1000, 1000, 1500),
    # lower bounds
    ("at least 12", 12, 12, N),
    ("At least 23", 23, 23, N),
    ("at least nine", 9, 9, N),
    ("at least at 85", 85, 85, N),
    ("no fewer than 40", 40, 40, N),
    ("10 or more", 10, 10, N),
    ("50+", 50, 50, N),
    ("50-plus", 50, 50, N),
    ("at least dozens", 12, 12, N),
    ("more than 20", 21, 21, N),
    ("more than a 100", 101, 101, N),
    ("more than a dozen", 13, 13, N),
    ("more than 280,000", 280_001, 280_001, N),
    ("over 100", 101, 101, N),
    ("upwards of 50", 51, 51, N),
    ("in excess of 200", 201, 201, N),
    # upper bounds
    ("up to 60", 60, N, 60),
    ("as many as 70", 70, N, 70),
    ("no more than 5", 5, N, 5),
    ("fewer than 10", 9, N, 9),
    ("less than a dozen", 11, N, 11),
    ("under 30", 29, N, 29),
    ("nearly 50", 50, N, 50),
    ("Almost 500,000", 500_000, N, 500_000),
    ("nearly two dozen", 24, N, 24),
    ("close to 300", 300, N, 300),
    # approximations
    ("about 30", 30, N, N),
    ("around 15", 15, N, N),
    ("some 40", 40, N, N),
    ("some 600", 600, N, N),
    ("roughly 200", 200, N, N),
    ("approximately 75", 75, N, N),
    ("an estimated 3,000", 3000, N, N),
    ("an estimated 10 to 15", 10, 10, 15),
    ("a dozen or so", 12, N, N),
    ("20-odd", 20, N, N),
    # typos of scraped and hand-typed reports (the corpus has each of these)
    ("atleast 15", 15, 15, N),
    ("at leest 6", 6, 6, N),
    ("more then 20", 21, 21, N),
    ("sevn", 7, 7, 7),
    ("twelv", 12, 12, 12),
    ("upto 30", 30, N, 30),
    # words around the figure that the spec leaves out but a model may include
    ("the 12", 12, 12, 12),
    ("another five", 5, 5, 5),
    ("a total of 33", 33, 33, 33),
    ("19 more", 19, 19, 19),
    ("only two", 2, 2, 2),
    ("a further 20", 20, 20, 20),
]


@pytest.mark.parametrize(("text", "best", "low", "high"), CASES)
def test_count_values(text, best, low, high):
    assert parse_count(text) == {"best": best, "low": low, "high": high}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "many",
        "numerous",
        "some",
        "a",
        "the dead",
        "12-year-old",
        "aged 12",
        "1.5",
        "50%",
        "third",
        "dozen",
        "hundred",
        "five ten",
        "twenty twenty",
        "two thousand three million",
        "between 100 and 20",
        "at least up to 5",
        "12 vehicles",
        "\u00bd",
        "at least",
        "\x00\x01",
        "-",
        "and",
        "twenty-",
        "none",
        "teen",
        "then",
    ],
)
def test_text_that_is_not_a_count_gives_nulls(text):
    assert parse_count(text) == {"best": None, "low": None, "high": None}


@pytest.mark.parametrize("value", [None, 12, 3.5, b"12", ["12"], {"text": "12"}])
def test_non_string_input_gives_nulls(value):
    assert parse_count(value) == {"best": None, "low": None, "high": None}


def test_random_text_never_raises():
    rng = random.Random(7)
    vocabulary = list(counts.UNITS) + list(counts.TENS) + list(counts.SCALES) + [
        "a", "and", "-", "to", "or", "of", "between", "at", "least", "more", "than", "dozens",
        "several", "half", "1,200", "12", "1.5", "+", "odd", "some", "about", ",", "up", "10-15",
    ]  # fmt: skip
    for _ in range(3000):
        words = rng.choices(vocabulary, k=rng.randint(1, 7))
        result = parse_count(" ".join(words))
        assert set(result) == {"best", "low", "high"}
        values = [v for v in result.values() if v is not None]
        assert all(isinstance(v, int) and v >= 0 for v in values)
        if result["low"] is not None and result["high"] is not None:
            assert result["low"] <= result["best"] <= result["high"]


def test_the_documented_table_matches_the_code():
    doc = counts.__doc__ or ""
    assert "ACLED" in doc and "most conservative estimate" in doc
    table_rows = {line.split("  ")[0].strip(): line.split() for line in doc.splitlines() if "  " in line}
    for word, value in counts.VAGUE_PLURALS.items():
        if value < 10_000:
            assert table_rows[word][1] == str(value), word
    assert parse_count("several")["best"] == counts.VAGUE_AMOUNTS[("several",)]
