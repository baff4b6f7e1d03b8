"""suggest: the uncertainty measure on hand-made probabilities, and the command on a real model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference import Extractor
from inference.alignment import Unit, tag_names
from inference.extractor import UnitProbabilities
from training.annotate.uncertainty import document_uncertainty, rank_documents
from training.cli import main
from training.corpus.store import load_documents, write_documents

CORPUS = Path(__file__).resolve().parents[3] / "data" / "annotations"
TAGS = tag_names()


def probabilities(rows: list[dict[str, float]]) -> UnitProbabilities:
    """One unit per row (words of 4 characters and a space), the rest of the mass on O."""
    matrix = np.zeros((len(rows), len(TAGS)), dtype=np.float32)
    for index, row in enumerate(rows):
        for name, p in row.items():
            matrix[index, TAGS.index(name)] = p
        matrix[index, 0] += 1.0 - sum(row.values())
    units = [Unit(5 * i, 5 * i + 4, i) for i in range(len(rows))]
    return UnitProbabilities(units, matrix)


TEXT = " ".join(["word"] * 20)


def test_measure_on_hand_made_probabilities() -> None:
    rows = [{"O": 0.0}] * 10
    rows[3] = {"B-PERPETRATOR": 0.6}
    rows[7] = {"B-VICTIM_TYPE": 0.05}  # O at 0.95: a little unsure, not a span
    u = document_uncertainty("d", TEXT, probabilities(rows), TAGS)
    # The top tenth of 10 units is one unit: 1 - 0.6. One span, score 0.6.
    assert u.token_uncertainty == pytest.approx(0.4)
    assert u.span_uncertainty == pytest.approx(0.4)
    assert u.score == pytest.approx(0.4)
    assert u.units == 10
    assert u.uncertain_spans == [
        {"start": 15, "end": 19, "label": "PERPETRATOR", "text": "word", "score": 0.6}
    ]
    first, second = u.uncertain_words[:2]
    assert (first["start"], first["tags"]) == (15, [["B-PERPETRATOR", 0.6], ["O", 0.4]])
    assert (second["start"], second["tags"]) == (35, [["O", 0.95], ["B-VICTIM_TYPE", 0.05]])


def test_measure_is_normalised_for_length_and_counts_spans() -> None:
    pattern = [{"B-PERPETRATOR": 0.6}] + [{"O": 0.0}] * 9
    short = document_uncertainty("s", TEXT, probabilities(pattern), TAGS)
    long = document_uncertainty("l", TEXT, probabilities(pattern * 2), TAGS)
    assert long.score == pytest.approx(short.score)
    unsure_words_no_span = [{"B-PERPETRATOR": 0.4}] + [{"O": 0.0}] * 9  # O wins at 0.6
    nothing = document_uncertainty("n", TEXT, probabilities(unsure_words_no_span), TAGS)
    assert nothing.span_uncertainty == 0.0 and nothing.uncertain_spans == []
    assert nothing.score == pytest.approx(0.2)
    assert nothing.score < short.score
    sure = document_uncertainty("c", TEXT, probabilities([{"O": 0.0}] * 10), TAGS)
    assert sure.score == 0.0
    empty = document_uncertainty("e", "", UnitProbabilities([], np.zeros((0, len(TAGS)))), TAGS)
    assert (empty.score, empty.units) == (0.0, 0)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pool") / "pool.jsonl"
    write_documents(path, load_documents(CORPUS / "dev.jsonl")[:8])
    return path


def test_suggest_writes_the_top_k_with_reasons(busy_model: Path, pool: Path, tmp_path: Path) -> None:
    output = tmp_path / "next.jsonl"
    args = ["suggest", "--model", str(busy_model), "--pool", str(pool), "-k", "3", "--output", str(output)]
    assert main([*args, "--device", "cpu"]) == 0
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    documents = load_documents(pool)
    ranked = rank_documents(
        Extractor.from_pretrained(busy_model, device="cpu"), [(d.id, d.text) for d in documents]
    )
    assert [r["id"] for r in rows] == [u.id for u in ranked[:3]]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    assert scores[-1] >= max(u.score for u in ranked[3:])
    texts = {d.id: d.text for d in documents}
    for row in rows:
        assert row["score"] == pytest.approx(
            (row["token_uncertainty"] + row["span_uncertainty"]) / 2, abs=1e-5
        )
        for item in row["uncertain_spans"] + row["uncertain_words"]:
            assert texts[row["id"]][item["start"] : item["end"]] == item["text"]


def test_suggest_skips_annotated_documents(busy_model: Path, pool: Path, tmp_path: Path, capsys) -> None:
    annotated = tmp_path / "annotated.jsonl"
    write_documents(annotated, load_documents(pool)[:6])
    args = [
        "suggest",
        "--model",
        str(busy_model),
        "--pool",
        str(pool),
        "-k",
        "5",
        "--exclude",
        str(annotated),
    ]
    assert main([*args, "--device", "cpu"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {row["id"] for row in printed} == {d.id for d in load_documents(pool)[6:]}
    write_documents(annotated, load_documents(pool))
    assert main([*args, "--device", "cpu"]) == 2
    assert "no document of the pool is left" in capsys.readouterr().err
