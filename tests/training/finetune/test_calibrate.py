"""Minimum span scores: chosen on dev after training, stored with the model, applied by Extractor."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from inference.extractor import Extractor
from inference.model_dir import SETTINGS_FILE, ModelDirError
from inference.results import Entity
from inference.spans import Document, Span
from training.cli import main
from training.corpus.store import load_documents, write_documents
from training.evaluation.ree import predicted_entities, ree_scores
from training.finetune.calibrate import (
    FINE_GRID,
    GRID,
    calibrated_copy,
    search_min_scores,
    tune_min_scores,
    tune_ree_min_scores,
)
from training.release.card import _calibration

ROOT = Path(__file__).resolve().parents[3]


def entity(label: str, start: int, end: int, score: float) -> Entity:
    return Entity(label, start, end, "x" * (end - start), score)


def test_a_minimum_is_chosen_where_it_drops_low_scoring_wrong_spans():
    text = "Rebels and the army clashed; gunmen killed 12 villagers."
    gold = [
        Span(29, 35, "PERPETRATOR"),
        Span(43, 45, "CASUALTY_COUNT", "killed"),
        Span(46, 55, "VICTIM_TYPE"),
    ]
    assert [text[s.start : s.end] for s in gold] == ["gunmen", "12", "villagers"]
    documents = [Document(f"d{i}", text, gold) for i in range(4)]
    right = [entity(s.label, s.start, s.end, 0.97) for s in gold]
    spurious = [entity("PERPETRATOR", 0, 6, 0.62), entity("PERPETRATOR", 15, 19, 0.71)]
    entities = [right + spurious for _ in documents]
    min_scores, scores = tune_min_scores(documents, entities)
    # The lowest grid value above both wrong spans' scores, and nothing for labels without errors.
    assert min_scores == {"PERPETRATOR": min(v for v in GRID if v > 0.71)}
    assert scores["before"] == pytest.approx(3 / 4) and scores["after"] == 1.0


def test_no_minimum_when_it_would_cost_right_spans():
    text = "Gunmen killed 12 villagers."
    gold = [Span(0, 6, "PERPETRATOR"), Span(14, 16, "CASUALTY_COUNT", "killed")]
    documents = [Document("d", text, gold)]
    entities = [[entity("PERPETRATOR", 0, 6, 0.55), entity("CASUALTY_COUNT", 14, 16, 0.6)]]
    assert tune_min_scores(documents, entities) == ({}, {"before": 1.0, "after": 1.0})


@pytest.fixture()
def model_copy(busy_model: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "model"
    shutil.copytree(busy_model, directory)
    return directory


def set_min_scores(directory: Path, min_scores: object) -> None:
    settings = json.loads((directory / SETTINGS_FILE).read_text())
    settings["min_scores"] = min_scores
    (directory / SETTINGS_FILE).write_text(json.dumps(settings))


def test_extractor_drops_spans_under_the_model_minimums(model_copy: Path):
    texts = [d.text for d in load_documents(ROOT / "data/annotations/dev.jsonl")[:4]]
    everything = Extractor.from_pretrained(model_copy, device="cpu", precision="fp32", min_scores={})
    found = [e for doc in everything.extract(texts) for e in doc]
    scores = sorted(e.score for e in found if e.label == "PERPETRATOR")
    assert len(scores) > 10
    # Halfway between two neighbouring reported scores: extract rounds scores to 4 places, so a cut
    # equal to a reported score can fall just above that span's unrounded score and drop it.
    distinct = sorted(set(scores))
    cut = (distinct[len(distinct) // 2 - 1] + distinct[len(distinct) // 2]) / 2
    set_min_scores(model_copy, {"PERPETRATOR": cut})
    confident = Extractor.from_pretrained(model_copy, device="cpu", precision="fp32")
    kept = [e for doc in confident.extract(texts) for e in doc]
    assert [e for e in found if e.label != "PERPETRATOR" or e.score >= cut] == kept
    # an explicit argument replaces the directory's minimums
    again = Extractor.from_pretrained(model_copy, device="cpu", precision="fp32", min_scores={})
    assert [e for doc in again.extract(texts) for e in doc] == found


@pytest.mark.parametrize(
    "bad", [{"PERPETRATOR": 1.5}, ["PERPETRATOR", 0.8], {"PERPETRATOR": "high"}, {"PERPETRATORS": 0.8}]
)
def test_invalid_minimums_are_refused_naming_the_file(model_copy: Path, bad: object):
    set_min_scores(model_copy, bad)
    with pytest.raises(ModelDirError, match=r"conflict_ie\.json: min_scores must map labels \("):
        Extractor.from_pretrained(model_copy, device="cpu")


def test_training_calibrates_and_the_command_recalibrates(tiny_model: Path, tmp_path: Path, capsys):
    settings = json.loads((tiny_model / SETTINGS_FILE).read_text())
    record = json.loads((tiny_model / "training_record.json").read_text())
    assert settings["min_scores"] == record["calibration"]["min_scores"]
    assert set(record["calibration"]["dev_exact_f1"]) == {"before", "after"}

    directory = tmp_path / "model"
    shutil.copytree(tiny_model, directory)
    dev = tmp_path / "dev.jsonl"
    write_documents(dev, load_documents(ROOT / "data/annotations/dev.jsonl")[:3])
    assert main(["calibrate", "--model", str(directory), "--data", str(dev), "--device", "cpu"]) == 0
    assert "minimum span scores" in capsys.readouterr().out
    recalibrated = json.loads((directory / "training_record.json").read_text())["calibration"]
    assert recalibrated["dev_file"] == str(dev)
    assert json.loads((directory / SETTINGS_FILE).read_text())["min_scores"] == recalibrated["min_scores"]
    assert not list(directory.glob(".*"))  # no temporary file left behind


# ------------------------------------------------- minimums for MUC-4's role-filler entity F1

ROLES = ["VICTIM", "WEAPON"]


def muc4_like_documents() -> tuple[list[dict[str, list[list[str]]]], list[list[Entity]]]:
    """Ten documents: each has a right VICTIM (0.9) and a spurious one (0.7), and a right WEAPON
    that the model scores low (0.15) beside a spurious one lower still (0.05); in half the documents
    a second spelling of the victim ("the peasants" inside "two peasants") scores 0.3, merged into
    the right entity, not a false positive."""
    gold, found = [], []
    for i in range(10):
        gold.append({"VICTIM": [["two peasants", "peasants"]], "WEAPON": [["bomb"]]})
        entities = [
            Entity("VICTIM", 0, 12, "two peasants", 0.9),
            Entity("VICTIM", 20, 26, "mayor", 0.7),
            Entity("WEAPON", 30, 34, "bomb", 0.15),
            Entity("WEAPON", 40, 46, "rifles", 0.05),
        ]
        if i % 2:
            entities.append(Entity("VICTIM", 50, 62, "the peasants", 0.3))
        found.append(entities)
    return gold, found


def micro_f1(gold: list, found: list[list[Entity]], min_scores: dict[str, float]) -> float:
    predicted = [predicted_entities(entities, min_scores) for entities in found]
    return ree_scores(gold, predicted, ROLES)["micro"]["f1"]


def test_role_minimums_are_the_best_entity_f1_on_the_fine_grid():
    gold, found = muc4_like_documents()
    min_scores, scores = tune_ree_min_scores(gold, found, ROLES)
    # The lowest grid value above each role's spurious spans: WEAPON's (0.1) only the fine grid has.
    assert min_scores == {"VICTIM": 0.75, "WEAPON": 0.1}
    assert scores == {"before": pytest.approx(micro_f1(gold, found, {})), "after": 1.0}
    assert scores["before"] == pytest.approx(2 * 20 / 40 * 1 / (20 / 40 + 1))  # all found, half right
    # No pair of grid values does better (ties go to the lower minimums).
    best = max(
        (micro_f1(gold, found, {"VICTIM": v, "WEAPON": w}), -v, -w) for v in FINE_GRID for w in FINE_GRID
    )
    assert (best[0], -best[1], -best[2]) == (1.0, 0.75, 0.1)


def test_a_minimum_that_loses_right_entities_is_not_chosen():
    gold, found = muc4_like_documents()
    # The weapon found is now scored under the spurious one: any WEAPON minimum loses right entities.
    found = [[replace(e, score=0.01) if e.text == "bomb" else e for e in doc] for doc in found]
    min_scores, _ = tune_ree_min_scores(gold, found, ROLES)
    assert min_scores == {"VICTIM": 0.75}


def test_searching_again_from_a_chosen_minimum_can_take_it_back():
    # Coordinate ascent: the second label's choice makes the first one's minimum a loss, so the second
    # round returns the first label to no minimum.
    def objective(minimums: dict[str, float]) -> float:
        a, b = minimums.get("A", 0.0), minimums.get("B", 0.0)
        return {(0.0, 0.0): 0.5, (0.5, 0.0): 0.6, (0.5, 0.5): 0.7, (0.0, 0.5): 0.8}.get((a, b), 0.0)

    assert search_min_scores(objective, ["A", "B"], (0.0, 0.5), rounds=1) == (
        {"A": 0.5, "B": 0.5},
        {"before": 0.5, "after": 0.7},
    )
    assert search_min_scores(objective, ["A", "B"], (0.0, 0.5), rounds=3) == (
        {"B": 0.5},
        {"before": 0.5, "after": 0.8},
    )


def test_filtering_found_entities_is_what_the_extractor_does_with_the_minimums(model_copy: Path):
    texts = [d.text for d in load_documents(ROOT / "data/annotations/dev.jsonl")[:4]]
    found = Extractor.from_pretrained(model_copy, device="cpu", precision="fp32", min_scores={}).extract(
        texts
    )
    scores = sorted({e.score for doc in found for e in doc if e.label == "PERPETRATOR"})
    cut = (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2  # between two rounded scores
    minimums = {"PERPETRATOR": cut, "VICTIM_TYPE": 0.99}
    applied = Extractor.from_pretrained(model_copy, device="cpu", precision="fp32", min_scores=minimums)
    filtered = [predicted_entities(doc, minimums) for doc in found]
    assert filtered == [predicted_entities(doc) for doc in applied.extract(texts)]
    assert filtered != [predicted_entities(doc) for doc in found]


def tree(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


def test_a_calibrated_copy_is_written_whole_and_the_source_is_untouched(tiny_model: Path, tmp_path: Path):
    before = tree(tiny_model)
    output = tmp_path / "runs" / "calibrated"
    output.mkdir(parents=True)
    (output / "stale.txt").write_text("an older output")
    summary = {"metric": "MUC-4 role-filler entity F1 (micro)", "dev_f1": {"before": 0.4, "after": 0.5}}
    assert calibrated_copy(tiny_model, output, {"PERPETRATOR": 0.8}, summary) == output
    assert tree(tiny_model) == before
    assert not (output / "stale.txt").exists() and not [
        p.name for p in output.parent.iterdir() if p != output
    ]
    assert Extractor.from_pretrained(output, device="cpu").min_scores == {"PERPETRATOR": 0.8}
    record = json.loads((output / "training_record.json").read_text())
    assert record["calibration"] == {"min_scores": {"PERPETRATOR": 0.8}, **summary}
    assert _calibration(record["calibration"]) == (
        "PERPETRATOR 0.8 (dev MUC-4 role-filler entity F1 (micro) 0.400 → 0.500)"
    )
    copied = tree(output)
    assert set(copied) == set(before)
    assert all(copied[name] == data for name, data in before.items() if not name.endswith(".json"))


def test_a_failed_copy_leaves_the_output_as_it_was(tmp_path: Path):
    output = tmp_path / "calibrated"
    output.mkdir()
    (output / "kept.txt").write_text("still here")
    with pytest.raises(FileNotFoundError):
        calibrated_copy(tmp_path / "no-such-model", output, {}, {})
    assert [p.name for p in tmp_path.iterdir()] == ["calibrated"] and (output / "kept.txt").is_file()
