"""Minimum span scores: chosen on dev after training, stored with the model, applied by Extractor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from inference.extractor import Extractor
from inference.model_dir import SETTINGS_FILE, ModelDirError
from inference.results import Entity
from inference.spans import Document, Span
from training.cli import main
from training.corpus.store import load_documents, write_documents
from training.finetune.calibrate import GRID, tune_min_scores

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
