"""pre-annotate: tasks in the import formats of Label Studio and doccano, and the round trip of what
a person accepts and corrects there back through ``convert --from``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from inference import Extractor
from inference.spans import Span
from training.cli import main
from training.corpus.formats import EXPORT_NAMES
from training.corpus.store import load_documents, write_documents

CORPUS = Path(__file__).resolve().parents[3] / "data" / "annotations"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    work = tmp_path_factory.mktemp("pool")
    write_documents(work / "pool.jsonl", load_documents(CORPUS / "dev.jsonl")[:5])
    (work / "report.txt").write_text(
        "Gunmen killed 12 villagers and wounded three in Zamfara.", encoding="utf-8"
    )
    return [work / "pool.jsonl", work / "report.txt"]


@pytest.fixture(scope="module")
def expected(busy_model: Path, inputs: list[Path]) -> dict[str, list[dict]]:
    """What ``extract`` gives for every input document, by id."""
    documents = load_documents(inputs[0])
    texts = {d.id: d.text for d in documents} | {"report": inputs[1].read_text(encoding="utf-8")}
    entities = Extractor.from_pretrained(busy_model, device="cpu").extract(list(texts.values()))
    return dict(zip(texts, [[e.to_dict() for e in found] for found in entities], strict=True))


def pre_annotate(model: Path, inputs: list[Path], target: str, output: Path) -> None:
    args = ["pre-annotate", "--model", str(model), *map(str, inputs), "--to", target, "--output", str(output)]
    assert main([*args, "--device", "cpu"]) == 0


def spans_of(entities: list[dict]) -> list[Span]:
    return sorted(Span(e["start"], e["end"], e["label"], e.get("outcome")) for e in entities)


def test_label_studio_tasks_and_config(
    busy_model: Path, inputs: list[Path], expected, tmp_path: Path
) -> None:
    output = tmp_path / "tasks.json"
    pre_annotate(busy_model, inputs, "label-studio", output)
    tasks = json.loads(output.read_text(encoding="utf-8"))
    assert [t["data"]["doc_id"] for t in tasks] == list(expected)
    config = ET.fromstring((tmp_path / "tasks.label_config.xml").read_text(encoding="utf-8"))
    labels = config.find("Labels")
    assert labels is not None and config.find("Text") is not None
    assert (labels.get("name"), labels.get("toName")) == ("label", "text")
    assert config.find("Text").attrib == {"name": "text", "value": "$text", "granularity": "word"}
    names = {label.get("value") for label in labels}
    assert names == set(EXPORT_NAMES.values())
    version = tasks[0]["predictions"][0]["model_version"]
    assert version.startswith("conflict-ie-") and all(
        t["predictions"][0]["model_version"] == version for t in tasks
    )
    region_ids = [r["id"] for t in tasks for r in t["predictions"][0]["result"]]
    assert len(region_ids) == len(set(region_ids)) > 0  # Label Studio wants every result id unique
    for task in tasks:
        (prediction,) = task["predictions"]
        assert 0.0 <= prediction["score"] <= 1.0
        text, entities = task["data"]["text"], expected[task["data"]["doc_id"]]
        assert len(prediction["result"]) == len(entities)
        for region, entity in zip(prediction["result"], entities, strict=True):
            assert (region["from_name"], region["to_name"], region["type"]) == ("label", "text", "labels")
            value = region["value"]
            assert (value["start"], value["end"]) == (entity["start"], entity["end"])
            assert value["text"] == text[value["start"] : value["end"]]
            assert value["labels"] == [EXPORT_NAMES[(entity["label"], entity.get("outcome"))]]
            assert value["labels"][0] in names
            assert region["score"] == value["score"] == entity["score"]


def corrected(entities: list[dict]) -> tuple[list[dict], list[Span]]:
    """A person's correction: the first entity deleted, the second relabelled a perpetrator."""
    kept = [dict(e) for e in entities[1:]]
    if kept:
        kept[0] = {**kept[0], "label": "PERPETRATOR", "outcome": None}
    return kept, spans_of(kept)


def test_label_studio_export_of_corrected_pre_annotations_converts_back(
    busy_model: Path, inputs: list[Path], expected, tmp_path: Path
) -> None:
    pre_annotate(busy_model, inputs, "label-studio", tmp_path / "tasks.json")
    tasks = json.loads((tmp_path / "tasks.json").read_text(encoding="utf-8"))
    wanted = {}
    exported = []
    for number, task in enumerate(tasks, start=1):
        doc_id = task["data"]["doc_id"]
        # The first task is accepted as it is; the others are corrected.
        prediction = task["predictions"][0]
        result = [dict(r, origin="prediction") for r in prediction["result"]]
        wanted[doc_id] = spans_of(expected[doc_id])
        if number > 1:
            regions_left, wanted[doc_id] = corrected(expected[doc_id])
            result = result[1:]
            if result:
                value = {**result[0]["value"], "labels": ["PERPETRATOR"]}
                result[0] = {**result[0], "value": value, "origin": "prediction-changed"}
            assert len(result) == len(regions_left)
        annotation = {
            "id": 100 + number,
            "completed_by": {"id": 1, "email": "annotator@example.org"},
            "result": result,
            "was_cancelled": False,
            "ground_truth": False,
            "created_at": "2024-05-01T10:00:00.000000Z",
            "updated_at": "2024-05-01T10:05:00.000000Z",
            "lead_time": 42.5,
            "prediction": {"id": number, "model_version": prediction["model_version"]},
        }
        predictions = [{**prediction, "id": number, "task": number}]
        exported.append(
            {"id": number, "data": task["data"], "annotations": [annotation], "predictions": predictions}
        )
    (tmp_path / "export.json").write_text(json.dumps(exported), encoding="utf-8")
    args = [
        "convert",
        "--from",
        "label-studio",
        str(tmp_path / "export.json"),
        "--output",
        str(tmp_path / "c.jsonl"),
    ]
    assert main(args) == 0
    back = {d.id: d.spans for d in load_documents(tmp_path / "c.jsonl")}
    assert back == wanted
    assert sum(map(len, wanted.values())) > 0


def test_doccano_import_lines_and_corrected_export_convert_back(
    busy_model: Path, inputs: list[Path], expected, tmp_path: Path
) -> None:
    pre_annotate(busy_model, inputs, "doccano", tmp_path / "import.jsonl")
    lines = [
        json.loads(line) for line in (tmp_path / "import.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert [line["doc_id"] for line in lines] == list(expected)
    wanted = {}
    exported = []
    for number, line in enumerate(lines, start=1):
        entities = expected[line["doc_id"]]
        assert line["label"] == [
            [e["start"], e["end"], EXPORT_NAMES[(e["label"], e.get("outcome"))]] for e in entities
        ]
        assert line["label_scores"] == [e["score"] for e in entities]
        assert line["model_version"].startswith("conflict-ie-") and 0 <= line["confidence"] <= 1
        kept, wanted[line["doc_id"]] = corrected(entities)
        labels = [[e["start"], e["end"], EXPORT_NAMES[(e["label"], e.get("outcome"))]] for e in kept]
        # doccano's export: its own id, the text, the labels now, comments, and the metadata keys.
        meta = {k: v for k, v in line.items() if k not in ("text", "label")}
        exported.append({"id": number, "text": line["text"], "label": labels, "Comments": [], **meta})
    (tmp_path / "export.jsonl").write_text("".join(json.dumps(e) + "\n" for e in exported), encoding="utf-8")
    args = [
        "convert",
        "--from",
        "doccano",
        str(tmp_path / "export.jsonl"),
        "--output",
        str(tmp_path / "c.jsonl"),
    ]
    assert main(args) == 0
    assert {d.id: d.spans for d in load_documents(tmp_path / "c.jsonl")} == wanted


def test_pre_annotate_refuses_a_directory_output(
    busy_model: Path, inputs: list[Path], tmp_path: Path, capsys
) -> None:
    args = [
        "pre-annotate",
        "--model",
        str(busy_model),
        str(inputs[1]),
        "--to",
        "doccano",
        "--output",
        str(tmp_path),
    ]
    assert main(args) == 2
    assert "is a directory" in capsys.readouterr().err
