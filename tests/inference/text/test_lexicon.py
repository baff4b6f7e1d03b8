"""The shared lexicon: what each word pattern gives on the same text (each reader's behaviour before
the patterns moved here), and the word lists that must agree with the count parser."""

from __future__ import annotations

import pytest

from inference.spans import Document
from inference.text import lexicon
from inference.text.counts import parse_count, tokenize
from training.corpus.fakes_silver import split_count_answer, words_of
from training.corpus.formats.conll import conll_tokens
from training.corpus.quality import untagged_numbers

TEXT = (
    "U.S. jets killed 1,200 people, Syria's 17-year-old at 10:30; "
    "3.5 rock'n'roll don\u2019t `quote` 12 000 -9"
)

EXPECTED = {
    "MODEL_UNIT": [
        "U", ".", "S", ".", "jets", "killed", "1", ",", "200", "people", ",", "Syria", "'", "s", "17", "-",
        "year", "-", "old", "at", "10", ":", "30", ";", "3", ".", "5", "rock", "'", "n", "'", "roll", "don",
        "\u2019", "t", "`", "quote", "`", "12", "000", "-", "9",
    ],
    "WORD": [
        "U", "S", "jets", "killed", "1", "200", "people", "Syria's", "17-year-old", "at", "10", "30", "3",
        "5", "rock'n'roll", "don\u2019t", "quote", "12", "000", "9",
    ],
    "CHECK_TOKEN": [
        "U.S", ".", "jets", "killed", "1,200", "people", ",", "Syria's", "17-year-old", "at", "10:30", ";",
        "3.5", "rock'n'roll", "don\u2019t", "`", "quote", "`", "12", "000", "-", "9",
    ],
    "CONLL_TOKEN": [
        "U.S.", "jets", "killed", "1,200", "people", ",", "Syria's", "17-year-old", "at", "10", ":", "30",
        ";", "3.5", "rock'n'roll", "don\u2019t", "`", "quote", "`", "12", "000", "-", "9",
    ],
    "ANSWER_WORD": [
        "U", "S", "jets", "killed", "1,200", "people", "Syria's", "17", "year", "old", "at", "10", "30",
        "3", "5", "rock'n'roll", "don\u2019t", "quote", "12", "000", "9",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_word_pattern_keeps_what_its_reader_got_before(name):
    pattern = getattr(lexicon, name)
    assert [m.group() for m in pattern.finditer(TEXT)] == EXPECTED[name]


def test_readers_use_the_lexicon_patterns():
    assert [TEXT[a:b] for a, b in conll_tokens(TEXT, [])] == EXPECTED["CONLL_TOKEN"]
    assert [TEXT[w.start : w.end] for w in words_of(TEXT)] == EXPECTED["ANSWER_WORD"]
    assert tokenize("at least 1,200 or 12 000 to 1.200.000 - 3.5 +") == [
        "at", "least", "1,200", "or", "12 000", "to", "1.200.000", "-", "3.5", "+",
    ]  # fmt: skip


def test_every_span_quantifier_is_one_the_count_parser_reads():
    assert set(lexicon.SPAN_QUANTIFIERS) <= set(lexicon.QUALIFIERS)
    for quantifier in lexicon.SPAN_QUANTIFIERS:
        assert parse_count(f"{' '.join(quantifier)} 12")["best"] is not None, quantifier


def test_words_after_a_count_are_the_parser_s_exact_suffixes():
    assert {"people", "persons", "others", "other", "of", "more"} == lexicon.AFTER_COUNT_WORDS
    words, parts = split_count_answer("70 other people")
    assert [(p.label, words[p.first : p.last]) for p in parts] == [
        ("CASUALTY_COUNT", ["70"]),
        ("VICTIM_TYPE", ["people"]),
    ]


def test_the_two_casualty_cues_differ_as_before():
    """The corpus checks' cue and the silver builder's differ; both readers keep what they had."""
    checks_only = ["hurt", "fatality", "fatalities", "Killed"]
    silver_only = ["killings", "massacred", "slain", "bodies", "executed", "martyrs"]
    both = ["killed", "wounded", "injuries", "dead", "deaths", "toll", "casualties"]
    assert all(lexicon.CASUALTY_CUE.match(w) and not lexicon.KILL_CUE.match(w) for w in checks_only)
    assert all(lexicon.KILL_CUE.match(w) and not lexicon.CASUALTY_CUE.match(w) for w in silver_only)
    assert all(lexicon.CASUALTY_CUE.match(w) and lexicon.KILL_CUE.match(w) for w in both)


def test_determiners_of_the_standard():
    assert {
        "the", "a", "an", "this", "these", "those", "its", "their", "his", "her", "our", "my",
    } == lexicon.DETERMINERS  # fmt: skip


def test_corpus_check_reads_number_words_from_the_lexicon():
    document = Document("d", "Gunmen killed twelve and hurt dozens on Monday.", [])
    found = [document.text[a:b] for a, b, _ in untagged_numbers(document)]
    assert found == ["twelve", "dozens"]
