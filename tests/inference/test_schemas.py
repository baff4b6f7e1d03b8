"""Issue #14 item 1: label schemas from the data. The default schema is today's labels; a model
with a new label trains, evaluates, calibrates, exports, serves and gets a card with no code change."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import pytest
from servers import ServerThread

from inference.extractor import Extractor
from inference.model_dir import ModelDirError
from inference.schema import DEFAULT_SCHEMA, SCHEMA_FILE, LabelSchema, SchemaError, model_schema
from inference.service.app import create_app
from inference.spans import Document, Span
from tests.conftest import TEST_TRAINING
from training.corpus.store import CorpusError, load_documents, write_documents
from training.finetune.config import ConfigError, config_from_dict
from training.finetune.train import resolve_schema, train

WEAPON_SCHEMA = {
    "labels": ["CASUALTY_COUNT", "VICTIM_TYPE", "PERPETRATOR", "WEAPON"],
    "outcomes": {"CASUALTY_COUNT": ["killed", "injured"]},
    "roles": {"count": "CASUALTY_COUNT", "victim": "VICTIM_TYPE", "perpetrator": "PERPETRATOR"},
}
WEAPON_TEXTS = [
    ("w1", "A car bomb killed 4 soldiers in the market.", ["car bomb"]),
    ("w2", "Gunmen with rifles shot 2 police officers dead.", ["rifles"]),
    ("w3", "A roadside bomb wounded 7 civilians near the town.", ["roadside bomb"]),
    ("w4", "Rebels fired mortars at the camp, killing 3 refugees.", ["mortars"]),
    ("w5", "An air strike with missiles killed 12 villagers.", ["missiles"]),
    ("w6", "A grenade injured 5 children at the school.", ["grenade"]),
]


def weapon_documents() -> list[Document]:
    documents = []
    for doc_id, text, weapons in WEAPON_TEXTS:
        spans = [Span(text.index(w), text.index(w) + len(w), "WEAPON") for w in weapons]
        documents.append(Document(doc_id, text, spans))
    return documents


def test_the_default_schema_is_the_labels_of_today():
    assert DEFAULT_SCHEMA.tag_names() == [
        "O",
        "B-CASUALTY_COUNT:killed",
        "I-CASUALTY_COUNT:killed",
        "B-CASUALTY_COUNT:injured",
        "I-CASUALTY_COUNT:injured",
        "B-VICTIM_TYPE",
        "I-VICTIM_TYPE",
        "B-PERPETRATOR",
        "I-PERPETRATOR",
    ]
    assert LabelSchema.from_dict(DEFAULT_SCHEMA.to_dict()) == DEFAULT_SCHEMA


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (["A", "A"], "labels repeated: A"),
        (["A-B"], "without spaces"),
        ({"labels": ["A"], "roles": {"count": "B"}}, "role count names 'B'"),
        ({"labels": ["A"], "outcomes": {"B": ["x"]}}, "outcomes name 'B'"),
        ({"labels": ["A"], "kinds": []}, "unknown key(s) kinds"),
    ],
)
def test_a_bad_schema_is_refused_with_what_is_wrong(raw, message):
    with pytest.raises(SchemaError, match=re.escape(message)):
        LabelSchema.from_dict(raw)


def test_a_config_with_bad_labels_is_refused():
    with pytest.raises(ConfigError, match="labels"):
        config_from_dict({"labels": "everything"})
    with pytest.raises(ConfigError, match="labels repeated"):
        config_from_dict({"labels": ["WEAPON", "WEAPON"]})


def test_a_corpus_label_outside_the_schema_names_file_line_and_label(tmp_path: Path):
    path = tmp_path / "weapons.jsonl"
    write_documents(path, weapon_documents())
    with pytest.raises(CorpusError) as raised:
        load_documents(path)
    assert f"{path}:1: document 'w1': span 0 [2:10]: unknown label 'WEAPON'" in str(raised.value)
    schema = LabelSchema.from_dict(WEAPON_SCHEMA)
    assert [d.id for d in load_documents(path, schema)] == [d for d, _, _ in WEAPON_TEXTS]


def test_labels_from_corpus_are_listed_before_any_work(tmp_path: Path):
    path = tmp_path / "weapons.jsonl"
    write_documents(path, weapon_documents())
    config = config_from_dict({"labels": "from_corpus", "train_file": str(path), **TEST_TRAINING})
    lines: list[str] = []
    schema = resolve_schema(config, lines.append)
    assert schema.labels == ("WEAPON",) and schema.roles == {}
    assert lines == ["labels from the corpus: WEAPON; roles none"]


def test_a_model_dir_without_a_schema_file_has_the_default_schema(tiny_model: Path):
    assert (
        not (tiny_model / SCHEMA_FILE).exists()
        or json.loads((tiny_model / SCHEMA_FILE).read_text()) == DEFAULT_SCHEMA.to_dict()
    )
    assert model_schema(tiny_model) == DEFAULT_SCHEMA


@pytest.fixture(scope="module")
def weapon_run(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> Path:
    """The tiny base trained on corpus documents plus a few with WEAPON spans, schema in the config."""
    from tests.conftest import CORPUS

    work = tmp_path_factory.mktemp("weapon-run")
    corpus = load_documents(CORPUS / "train.jsonl")[:12]
    documents = weapon_documents()
    write_documents(work / "train.jsonl", corpus + documents[:4])
    write_documents(work / "dev.jsonl", load_documents(CORPUS / "dev.jsonl")[:4] + documents[4:])
    config = config_from_dict(
        {
            "base_model": str(tiny_base),
            "train_file": str(work / "train.jsonl"),
            "dev_file": str(work / "dev.jsonl"),
            "test_file": None,
            "labels": WEAPON_SCHEMA,
            "epochs": 1,
            "batch_size": 8,
            "learning_rate": 1e-3,
            "max_length": 64,
            "stride": 16,
            "augment_strip_punctuation": 0.0,
            **TEST_TRAINING,
        }
    )
    train(config, work / "model", log=lambda _: None)
    return work


def test_a_model_with_a_new_label_trains_evaluates_exports_serves_and_gets_a_card(weapon_run: Path):
    from training.cli import main
    from training.release.card import build_card

    model = weapon_run / "model"
    schema = model_schema(model)
    assert schema.labels[-1] == "WEAPON" and schema.has_records
    extractor = Extractor.from_pretrained(model, device="cpu", precision="fp32")
    assert extractor.schema == schema and "B-WEAPON" in extractor.tag_names

    report_path = weapon_run / "report.json"
    assert main(["evaluate", "--model", str(model), "--data", str(weapon_run / "dev.jsonl"), "--output",
                 str(report_path), "--resamples", "10"]) == 0  # fmt: skip
    report = json.loads(report_path.read_text())
    assert list(report["span_exact"]["per_label"]) == list(schema.labels)
    assert report["span_exact"]["per_label"]["WEAPON"]["support"] == 2
    assert main(["calibrate", "--model", str(model), "--data", str(weapon_run / "dev.jsonl")]) == 0

    onnx = weapon_run / "onnx"
    dev = str(weapon_run / "dev.jsonl")
    assert (
        main(["export", "--model", str(model), "--output", str(onnx), "--gold", dev, "--max-f1-drop", "100"])
        == 0
    )
    assert Extractor.from_pretrained(onnx / "fp32", device="cpu").schema == schema

    with ServerThread(create_app(extractor)) as running:
        openapi = httpx.get(f"{running.url}/openapi.json").json()
        answer = httpx.post(
            f"{running.url}/extract", json={"texts": ["A car bomb killed 4 soldiers."]}
        ).json()
    assert openapi["components"]["schemas"]["Entity"]["properties"]["label"]["enum"] == list(schema.labels)
    assert "records" in answer["results"][0]

    card = build_card(model, [report_path])
    assert "- `WEAPON`: a label of the training data" in card


def test_a_model_refuses_gold_with_a_label_it_does_not_know(tiny_model: Path, tmp_path: Path):
    from training.evaluation.report import run_evaluation

    gold = tmp_path / "weapons.jsonl"
    write_documents(gold, weapon_documents())
    with pytest.raises(CorpusError, match=rf"{gold}:1: .*unknown label 'WEAPON'"):
        run_evaluation(tiny_model, gold)


def test_a_schema_file_that_does_not_fit_the_model_is_refused(tiny_model: Path, tmp_path: Path):
    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy)
    (copy / SCHEMA_FILE).write_text(json.dumps({"labels": ["WEAPON"]}))
    with pytest.raises(ModelDirError, match="not the model's id2label"):
        Extractor.from_pretrained(copy, device="cpu", precision="fp32")


def test_a_schema_without_a_count_gives_entities_only(tmp_path: Path, tiny_base: Path):
    train_file, dev_file = tmp_path / "train.jsonl", tmp_path / "dev.jsonl"
    write_documents(train_file, weapon_documents())
    write_documents(dev_file, [Document("d1", "A mortar hit the camp.", [Span(2, 8, "WEAPON")])])
    config = config_from_dict(
        {
            "base_model": str(tiny_base),
            "train_file": str(train_file),
            "dev_file": str(dev_file),
            "test_file": None,
            "labels": "from_corpus",
            "epochs": 1,
            "max_length": 64,
            "stride": 16,
            "augment_strip_punctuation": 0.0,
            **TEST_TRAINING,
        }
    )
    train(config, tmp_path / "model", log=lambda _: None)
    extractor = Extractor.from_pretrained(tmp_path / "model", device="cpu", precision="fp32")
    assert extractor.schema.labels == ("WEAPON",) and not extractor.schema.has_records
    assert [set(r.to_dict()) for r in extractor.extract_records(["A mortar hit the camp."])] == [{"entities"}]
    openapi = create_app(extractor).openapi()
    assert openapi["components"]["schemas"]["Entity"]["properties"]["label"]["enum"] == ["WEAPON"]
