"""The one problem type prints each kind of problem as its reader printed it before."""

from __future__ import annotations

import pytest

from inference.spans import Document
from training.corpus.problems import Problem
from training.evaluation.predictions import PredictionsError, read_predictions


@pytest.mark.parametrize(
    ("problem", "shown"),
    [
        (Problem("train.jsonl", 3, "invalid JSON"), "train.jsonl:3: invalid JSON"),
        (Problem("train.jsonl", None, "file does not exist"), "train.jsonl: file does not exist"),
        (Problem("notes.txt", 0, "duplicate id 'a'"), "notes.txt:0: duplicate id 'a'"),  # markup, link tool
        (Problem("export.json task 2", None, "not an object"), "export.json task 2: not an object"),
        (Problem("article 7", None, "'x' not found", error=False), "article 7: 'x' not found (note)"),
        (
            Problem("dev.jsonl", 4, "'the army' ...", start=10, end=18, doc_id="d1", check="span-edge"),
            "dev.jsonl:4: d1 [10:18] span-edge: 'the army' ...",
        ),
    ],
)  # fmt: skip
def test_each_kind_prints_as_before(problem: Problem, shown: str):
    assert str(problem) == shown


def test_suspects_sort_by_place_then_range():
    late = Problem("a", 2, "b", start=9, end=10, doc_id="d", check="c")
    early = Problem("a", 2, "z", start=1, end=2, doc_id="d", check="c")
    first = Problem("a", 1, "x", start=50, end=51, doc_id="d", check="c")
    assert sorted([late, early, first]) == [first, early, late]


def test_a_prediction_list_names_its_items():
    gold = [(1, Document("d1", "Two killed.", []))]
    with pytest.raises(PredictionsError) as caught:
        read_predictions([{"id": "d1", "entities": "none"}], gold, "gold.jsonl")
    assert caught.value.problems == [Problem(None, 1, "document 'd1': 'entities' must be a list")]
    assert "item 1: document 'd1': 'entities' must be a list" in str(caught.value)
