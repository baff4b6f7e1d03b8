"""Training end to end: config checks, a real fine-tune, the saved directory used three ways."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference import Extractor
from inference.alignment import entity_types
from training.cli import main
from training.config import ConfigError, config_from_dict, load_config
from training.corpus import CorpusError, load_documents, write_documents
from training.train import train

ROOT = Path(__file__).resolve().parents[1]


def test_default_config_loads():
    config = load_config(ROOT / "training/configs/default.yaml")
    assert config.base_model is None and config.learning_rate == pytest.approx(2e-4)


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"epochs": 3, "learnig_rate": 0.1}, "unknown key(s) learnig_rate; valid keys are base_model"),
        ({"epochs": "three"}, "epochs must be int"),
        ({"stride": 200, "max_length": 256}, "stride must be"),
        ({"train_fraction": 0}, "train_fraction must be"),
    ],
)
def test_bad_config_is_refused_with_what_is_wrong(raw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_from_dict(raw)


def test_missing_inputs_are_reported_before_any_work(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("train_file: nowhere/train.jsonl\n")
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "out")]) == 2
    assert "nowhere/train.jsonl:0: file does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    config.write_text(
        f"base_model: ./no/such/model\ntrain_file: {ROOT}/data/annotations/dev.jsonl\n"
        f"dev_file: {ROOT}/data/annotations/dev.jsonl\n"
    )
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "out")]) == 2
    assert "base_model './no/such/model': no such directory" in capsys.readouterr().err


def test_existing_output_is_never_overwritten_silently(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("precious")
    assert main(["train", "--output", str(tmp_path / "out")]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "out" / "keep.txt").read_text() == "precious"


def test_tiny_model_directory_is_complete(tiny_model):
    names = sorted(p.name for p in tiny_model.iterdir())
    assert {
        "config.json",
        "model.safetensors",
        "conflict_ie.json",
        "training_record.json",
        "tokenizer.json",
    } <= set(names)
    record = json.loads((tiny_model / "training_record.json").read_text())
    assert record["best_epoch"] in (1, 2) and len(record["history"]) == 2
    assert set(record["versions"]) >= {"torch", "transformers", "accelerate", "seqeval"}
    assert len(record["corpus_sha256"]) == 64
    assert not [p for p in tiny_model.parent.iterdir() if p.name.startswith(".")], "staging left behind"


@pytest.mark.slow
def test_brief_fine_tune_of_the_real_base_model(tmp_path, capsys):
    """Real all-MiniLM-L6-v2, a handful of documents: saved, reloaded three ways."""
    train_docs = load_documents(ROOT / "data/annotations/train.jsonl")[:6]
    dev_docs = load_documents(ROOT / "data/annotations/dev.jsonl")[:3]
    write_documents(tmp_path / "train.jsonl", train_docs)
    write_documents(tmp_path / "dev.jsonl", dev_docs)
    config = config_from_dict(
        {
            "train_file": str(tmp_path / "train.jsonl"),
            "dev_file": str(tmp_path / "dev.jsonl"),
            "epochs": 2,
            "batch_size": 8,
            "max_length": 128,
            "stride": 32,
            "learning_rate": 3e-4,
        }
    )
    record = train(config, tmp_path / "model", log=lambda _: None)
    assert record["history"][-1]["loss"] < record["history"][0]["loss"]
    model_dir = tmp_path / "model"

    extractor = Extractor.from_pretrained(model_dir, device="cpu")
    text = dev_docs[0].text
    entities = extractor.extract([text, ""])
    assert entities[1] == []
    for entity in entities[0]:
        assert entity["text"] == text[entity["start"] : entity["end"]]
        assert entity["label"] in {"CASUALTY_COUNT", "VICTIM_TYPE", "PERPETRATOR"}

    from transformers import pipeline

    tagger = pipeline("token-classification", model=str(model_dir), aggregation_strategy="first")
    assert set(tagger.model.config.id2label.values()) == {"O"} | {
        f"{p}-{t}" for t in entity_types() for p in "BI"
    }
    for group in tagger(text[:400]):
        assert group["entity_group"] in entity_types()

    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(json.dumps({"id": "x1", "text": text}) + "\n")
    (tmp_path / "plain.txt").write_text(text)
    assert main(["predict", "--model", str(model_dir), str(inputs), str(tmp_path / "plain.txt")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["id"] for line in lines] == ["x1", "plain"]
    assert lines[0]["entities"] == lines[1]["entities"] == entities[0]


def test_evaluate_command_writes_a_report(tiny_model, tmp_path, capsys):
    report_path = tmp_path / "reports" / "dev.json"
    code = main(
        [
            "evaluate",
            "--model",
            str(tiny_model),
            "--data",
            str(ROOT / "data/annotations/dev.jsonl"),
            "--output",
            str(report_path),
        ]
    )
    assert code == 0
    report = json.loads(report_path.read_text())
    assert set(report["seqeval_strict"]["per_label"]) == {"CASUALTY_COUNT", "VICTIM_TYPE", "PERPETRATOR"}
    assert 0.0 <= report["span_exact"]["micro"]["f1"] <= 1.0
    assert "seqeval_strict:  micro F1" in capsys.readouterr().out


def test_extra_train_files_are_trained_on_and_checked_against_dev(tmp_path, tiny_base):
    train_docs = load_documents(ROOT / "data/annotations/train.jsonl")[:4]
    extra_docs = load_documents(ROOT / "data/annotations/train.jsonl")[4:7]
    dev_docs = load_documents(ROOT / "data/annotations/dev.jsonl")[:2]
    write_documents(tmp_path / "train.jsonl", train_docs)
    write_documents(tmp_path / "silver.jsonl", extra_docs)
    write_documents(tmp_path / "dev.jsonl", dev_docs)
    raw = {
        "base_model": str(tiny_base),
        "train_file": str(tmp_path / "train.jsonl"),
        "extra_train_files": [str(tmp_path / "silver.jsonl")],
        "dev_file": str(tmp_path / "dev.jsonl"),
        "epochs": 1,
        "max_length": 64,
        "stride": 16,
        "train_fraction": 0.5,
    }
    lines: list[str] = []
    record = train(config_from_dict(raw), tmp_path / "model", log=lines.append)
    # train_fraction thins the corpus only: 2 of 4 corpus documents + all 3 extra ones.
    assert any(line.startswith("training on 5 documents") for line in lines), lines
    assert record["config"]["extra_train_files"] == [str(tmp_path / "silver.jsonl")]

    # A dev document inside the extra data is a leak: refused before any work, naming file and line.
    write_documents(tmp_path / "leaky.jsonl", extra_docs + dev_docs[1:])
    raw["extra_train_files"] = [str(tmp_path / "leaky.jsonl")]
    with pytest.raises(CorpusError, match=r"leaky\.jsonl:4: id also in .*dev\.jsonl:2"):
        train(config_from_dict(raw), tmp_path / "model2", log=lambda _: None)
    assert not (tmp_path / "model2").exists()
    with pytest.raises(ConfigError, match="extra_train_files must be a list of file paths"):
        config_from_dict({"extra_train_files": [3]})
