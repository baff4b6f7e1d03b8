"""Spans <-> unit tags <-> spans, and windows over long texts: nothing may be lost."""

from __future__ import annotations

import random

import numpy as np
import pytest

from inference.alignment import (
    Unit,
    assign_units,
    constrained_tags,
    join_split_names,
    make_windows,
    spans_from_unit_probs,
    tag_names,
    tokenize_text,
    unit_tags,
)
from inference.spans import Span
from training.finetune.features import document_windows

NAMES = tag_names()


def one_hot(tags: list[str]) -> list[list[float]]:
    return [[1.0 if name == tag else 0.0 for name in NAMES] for tag in tags]


def round_trip(tokenizer, text: str, spans: list[Span]) -> list[Span]:
    units = tokenize_text(tokenizer, text).units
    tags, lost = unit_tags(units, spans)
    assert lost == []
    return [span for span, _ in spans_from_unit_probs(units, one_hot(tags), NAMES)]


def test_every_corpus_span_survives_bio_round_trip(tokenizer, corpus_documents):
    assert len(corpus_documents) >= 150
    for document in corpus_documents:
        assert round_trip(tokenizer, document.text, document.spans) == document.spans, document.id


def test_round_trip_with_a_byte_level_bpe_tokenizer(tmp_path, corpus_documents):
    """Any fast tokenizer works, also ones whose tokens carry the leading space."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    texts = [d.text for d in corpus_documents[:40]]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=600, min_frequency=2)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe)
    for document in corpus_documents[:40]:
        assert round_trip(tokenizer, document.text, document.spans) == document.spans, document.id


class FixedTokenizer:
    """A stand-in tokenizer with given token offsets, to pin down unit building."""

    def __init__(self, offsets: list[tuple[int, int]]) -> None:
        self.offsets = offsets

    def __call__(self, text, **_):
        return {"input_ids": list(range(len(self.offsets))), "offset_mapping": self.offsets}


def test_units_follow_tokens_that_start_words():
    units = tokenize_text(FixedTokenizer([(0, 3), (3, 6), (7, 11)]), "Al-Bab city").units
    assert units == [Unit(0, 3, 0), Unit(3, 6, 1), Unit(7, 11, 2)]


def test_a_token_crossing_into_the_next_word_glues_it():
    units = tokenize_text(FixedTokenizer([(0, 4), (4, 6), (6, 11)]), "Al-Bab city").units
    assert units == [Unit(0, 6, 0), Unit(7, 11, 2)]


def test_unaligned_gold_span_is_reported_not_dropped(tokenizer):
    units = tokenize_text(tokenizer, "killed12 people").units
    _, lost = unit_tags(units, [Span(6, 8, "CASUALTY_COUNT", "killed")])
    assert lost == [Span(6, 8, "CASUALTY_COUNT", "killed")]


def test_outcome_is_the_larger_probability_mass_and_span_stays_whole(tokenizer):
    text = "at least 12 people"
    units = tokenize_text(tokenizer, text).units
    tags = ["B-CASUALTY_COUNT:killed", "I-CASUALTY_COUNT:injured", "I-CASUALTY_COUNT:injured", "O"]
    spans = [s for s, _ in spans_from_unit_probs(units, one_hot(tags), NAMES)]
    assert spans == [Span(0, 11, "CASUALTY_COUNT", "injured")]


def probabilities(rows: list[dict[str, float]]) -> list[list[float]]:
    """Per unit, the given tags' probabilities; the rest of the mass on O."""
    table = []
    for row in rows:
        probs = [row.get(name, 0.0) for name in NAMES]
        probs[NAMES.index("O")] += 1.0 - sum(row.values())
        table.append(probs)
    return table


def test_constrained_tags_follow_the_argmax_where_it_is_well_formed():
    probs = probabilities([{"B-PERPETRATOR": 0.9}, {"I-PERPETRATOR": 0.8}, {}, {"B-VICTIM_TYPE": 0.7}])
    greedy = [max(range(len(p)), key=p.__getitem__) for p in probs]
    assert constrained_tags(probs, NAMES) == greedy


def test_constrained_tags_never_open_a_span_with_i():
    # argmax reads "O I-P", which greedy decoding makes a span of the second unit alone; of the
    # well-formed readings "O O" (0.6 x 0.45) beats "B-P I-P" (0.4 x 0.55), and with a surer
    # second unit "B-P I-P" (0.45 x 0.9) beats "O O" (0.55 x 0.1)
    probs = probabilities([{"B-PERPETRATOR": 0.4}, {"I-PERPETRATOR": 0.55}])
    assert [NAMES[t] for t in constrained_tags(probs, NAMES)] == ["O", "O"]
    probs = probabilities([{"B-PERPETRATOR": 0.45}, {"I-PERPETRATOR": 0.9}])
    assert [NAMES[t] for t in constrained_tags(probs, NAMES)] == ["B-PERPETRATOR", "I-PERPETRATOR"]


def test_constrained_tags_keep_a_count_whole_across_outcomes():
    probs = probabilities([{"B-CASUALTY_COUNT:killed": 0.9}, {"I-CASUALTY_COUNT:injured": 0.6}])
    assert [NAMES[t] for t in constrained_tags(probs, NAMES)] == [
        "B-CASUALTY_COUNT:killed",
        "I-CASUALTY_COUNT:injured",
    ]


def test_decoding_reads_a_label_switch_as_one_span(tokenizer):
    text = "Syrian regime forces"
    units = tokenize_text(tokenizer, text).units
    probs = probabilities(
        [{"B-PERPETRATOR": 0.9}, {"I-PERPETRATOR": 0.45, "I-VICTIM_TYPE": 0.5}, {"I-PERPETRATOR": 0.9}]
    )
    # the argmax tags, "B-P I-V I-P", would make three spans: "Syrian", "regime" (a victim), "forces"
    spans = [(s, round(score, 3)) for s, score in spans_from_unit_probs(units, probs, NAMES)]
    assert spans == [(Span(0, 20, "PERPETRATOR"), round((0.9 + 0.45 + 0.9) / 3, 3))]


def _long_document(words: int, seed: int = 7) -> tuple[str, list[Span]]:
    rng = random.Random(seed)
    vocabulary = ["the", "army", "said", "on", "Tuesday", "that", "fighting", "continued", "near", "town"]
    pieces: list[str] = []
    spans: list[Span] = []
    position = 0
    for index in range(words):
        if index % 25 == 0:
            for word, label, outcome in (
                ("rebels", "PERPETRATOR", None),
                ("killed", None, None),
                (str(index), "CASUALTY_COUNT", "killed"),
                ("civilians", "VICTIM_TYPE", None),
            ):
                if label:
                    spans.append(Span(position, position + len(word), label, outcome))
                pieces.append(word)
                position += len(word) + 1
        word = rng.choice(vocabulary)
        pieces.append(word)
        position += len(word) + 1
    return " ".join(pieces), spans


def test_windows_of_a_3000_word_document_lose_nothing(tokenizer):
    text, spans = _long_document(3000)
    tokenized = tokenize_text(tokenizer, text)
    windows = make_windows(tokenized, 254, 64)
    assert len(windows) > 10
    assert windows[0].start == 0 and windows[-1].end == len(tokenized.token_ids)
    heads = {unit.token for unit in tokenized.units}
    for left, right in zip(windows, windows[1:], strict=False):
        assert right.start < left.end, "consecutive windows must overlap"
        assert right.start in heads, "windows start on a unit"
    owners = assign_units(tokenized, windows)
    for unit, owner in zip(tokenized.units, owners, strict=True):
        assert windows[owner].start <= unit.token < windows[owner].end
    assert round_trip(tokenizer, text, spans) == spans


def test_training_windows_carry_every_gold_label(tokenizer):
    from inference.spans import Document

    text, spans = _long_document(3000, seed=3)
    label2id = {name: i for i, name in enumerate(NAMES)}
    features = document_windows(Document("long", text, spans), tokenizer, label2id, 128, 32)
    labelled_b = sum(
        label.startswith("B-") for f in features for label in (NAMES[i] for i in f.labels if i >= 0)
    )
    assert labelled_b >= len(spans)  # overlaps may label a unit twice, never zero times
    assert all(len(f.input_ids) <= 128 for f in features)


@pytest.mark.parametrize("stride,maximum", [(-1, 10), (10, 10), (0, 0)])
def test_window_arguments_are_checked(tokenizer, stride, maximum):
    with pytest.raises(ValueError, match="stride"):
        make_windows(tokenize_text(tokenizer, "a b c"), maximum, stride)


def _tagged(tokenizer, text: str, marked: dict[str, str]) -> tuple[list[Unit], list[list[float]]]:
    """Units of ``text`` and one-hot rows: each unit whose word is in ``marked`` gets that tag."""
    units = tokenize_text(tokenizer, text).units
    return units, one_hot([marked.get(text[u.start : u.end], "O") for u in units])


def test_a_name_the_tagger_cut_at_and_is_decoded_as_one_span(tiny_model):
    from inference.extractor import Extractor, UnitProbabilities

    extractor = Extractor.from_pretrained(tiny_model)
    text = "Units of the Defence and\nSecurity Forces killed 30 militants."
    perpetrator = {"Defence": "B-PERPETRATOR", "Security": "B-PERPETRATOR", "Forces": "I-PERPETRATOR"}
    units, rows = _tagged(extractor.tokenizer, text, {**perpetrator, "30": "B-CASUALTY_COUNT:killed"})
    entities = extractor.decode(text, UnitProbabilities(units, np.array(rows)))
    assert [(e.label, e.text) for e in entities] == [
        ("PERPETRATOR", "Defence and\nSecurity Forces"),
        ("CASUALTY_COUNT", "30"),
    ]


def test_a_name_is_joined_before_the_minimum_span_score(tiny_model):
    # Calibration chooses the minimums on joined names, so a name with one unsure part is dropped whole.
    from inference.extractor import Extractor, UnitProbabilities

    extractor = Extractor.from_pretrained(tiny_model, min_scores={"PERPETRATOR": 0.8})
    text = "the Defence and Security Forces killed 30 militants"
    perpetrator = {"Defence": "B-PERPETRATOR", "Security": "B-PERPETRATOR", "Forces": "I-PERPETRATOR"}
    units, rows = _tagged(extractor.tokenizer, text, {**perpetrator, "30": "B-CASUALTY_COUNT:killed"})
    unsure = [0.6 if name == "B-PERPETRATOR" else 0.4 if name == "O" else 0.0 for name in NAMES]
    rows[[text[u.start : u.end] for u in units].index("Defence")] = unsure
    entities = extractor.decode(text, UnitProbabilities(units, np.array(rows)))
    assert [(e.label, e.text) for e in entities] == [("CASUALTY_COUNT", "30")]


@pytest.mark.parametrize(
    ("text", "parts", "expected"),
    [
        (
            "fighters of the Islamic State of Iraq and the Levant",
            ["fighters of the Islamic State of Iraq", "the Levant"],
            1,
        ),
        ("the Group for the Support of Islam and Muslims", ["Group for the Support of Islam", "Muslims"], 1),
        ("JNIM, the Support Group for Islam and Muslims", ["Support Group for Islam", "Muslims"], 1),
        ("Jammu and Kashmir Police", ["Jammu", "Kashmir Police"], 1),
        ("the General Command of the Army and Armed Forces", ["Army", "Armed Forces"], 1),
        ("Russian and Syrian air forces", ["Russian", "Syrian air forces"], 2),  # coordinated actors
        ("the army and security forces", ["army", "security forces"], 2),
        ("Defence, and Security Forces", ["Defence", "Security Forces"], 2),  # not the name
    ],
)
def test_join_split_names_joins_only_a_name(text: str, parts: list[str], expected: int):
    spans = [(Span(text.index(p), text.index(p) + len(p), "PERPETRATOR"), 0.9) for p in parts]
    whole = [(Span(spans[0][0].start, spans[-1][0].end, "PERPETRATOR"), 0.9)]
    assert join_split_names(text, spans) == (whole if expected == 1 else spans)


def test_join_split_names_keeps_labels_apart_and_takes_the_lower_score():
    text = "Defence and Security Forces"
    victim, perpetrator = Span(0, 7, "VICTIM_TYPE"), Span(12, 27, "PERPETRATOR")
    assert join_split_names(text, [(victim, 0.9), (perpetrator, 0.8)]) == [(victim, 0.9), (perpetrator, 0.8)]
    both = join_split_names(text, [(Span(0, 7, "PERPETRATOR"), 0.9), (perpetrator, 0.7)])
    assert both == [(Span(0, 27, "PERPETRATOR"), 0.7)]
