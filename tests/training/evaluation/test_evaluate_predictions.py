"""``evaluate --predictions``: any system's output in the ``predict`` shape, scored like a model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from training.cli import main
from training.corpus.store import load_documents, write_documents
from training.evaluation.predictions import PredictionsError
from training.evaluation.report import evaluate_predictions, run_evaluation

ROOT = Path(__file__).resolve().parents[3]
# What only one of the two reports can say: how the predictions were made.
MODEL_FIELDS = {"model", "model_record_sha256", "precision", "runtime"}
PREDICTION_FIELDS = {"predictions", "predictions_sha256", "tokenizer"}


@pytest.fixture(scope="module")
def gold(tmp_path_factory) -> Path:
    """Five dev documents: four with gold relations (so a records section), one without spans."""
    path = tmp_path_factory.mktemp("gold") / "gold.jsonl"
    write_documents(path, load_documents(ROOT / "data/annotations/dev.jsonl")[:5])
    return path


def gold_lines(path: Path) -> list[dict[str, Any]]:
    """Perfect predictions in the ``predict`` shape, one object per gold document."""
    return [
        {
            "id": d.id,
            "entities": [{**s.to_dict(), "text": d.text[s.start : s.end]} for s in d.spans],
        }
        for d in load_documents(path)
    ]


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def without(report: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    return {key: value for key, value in report.items() if key not in fields}


@pytest.mark.parametrize("model_name", ["tiny_model", "busy_model"])
def test_predictions_of_a_model_give_exactly_its_report(model_name, request, gold, tmp_path, capsys):
    model = request.getfixturevalue(model_name)
    assert main(["predict", "--model", str(model), str(gold)]) == 0
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(capsys.readouterr().out, encoding="utf-8")

    common = ["--data", str(gold), "--resamples", "200", "--seed", "7"]
    by_model, by_predictions = tmp_path / "model.json", tmp_path / "predictions.json"
    page_model, page_predictions = tmp_path / "model.html", tmp_path / "predictions.html"
    args = ["evaluate", "--model", str(model), *common, "--output", str(by_model), "--html", str(page_model)]
    assert main(args) == 0
    printed_model = capsys.readouterr().out
    args = ["evaluate", "--predictions", str(predictions), *common, "--output", str(by_predictions)]
    if model_name == "busy_model":  # the model's own tokenizer named; the tiny one uses the default
        args += ["--tokenizer", str(model)]
    assert main([*args, "--html", str(page_predictions)]) == 0
    printed_predictions = capsys.readouterr().out

    a, b = json.loads(by_model.read_text()), json.loads(by_predictions.read_text())
    assert set(a) - set(b) == MODEL_FIELDS and set(b) - set(a) == PREDICTION_FIELDS
    assert without(a, MODEL_FIELDS) == without(b, PREDICTION_FIELDS)
    assert b["predictions"] == str(predictions) and b["data"] == a["data"] == str(gold)
    assert "records" in b and b["bootstrap"]["seqeval_strict"]["resamples"] == 200
    if model_name == "busy_model":
        assert sum(len(d["entities"]) for d in b["per_document"]) > 20
        assert b["tokenizer"] == str(model)
    assert printed_predictions == printed_model
    # The page names its source (title and header): the rest is the same.
    page = page_predictions.read_text()
    assert str(predictions) in page and str(model) not in page
    assert page.replace(str(predictions), str(model)) == page_model.read_text()

    # The same from Python in one call, from the file or from the parsed lines.
    lines = [json.loads(line) for line in predictions.read_text().splitlines()]
    tokenizer = str(model) if model_name == "busy_model" else None
    from_file = evaluate_predictions(predictions, gold, tokenizer=tokenizer, resamples=200, seed=7)
    from_list = evaluate_predictions(lines, gold, tokenizer=tokenizer, resamples=200, seed=7)
    assert from_file == b
    assert without(from_list, PREDICTION_FIELDS) == without(b, PREDICTION_FIELDS)
    assert from_list["predictions"] is None and from_list["predictions_sha256"] is None
    python_model = run_evaluation(model, gold, resamples=200, seed=7)[0]
    assert without(python_model, MODEL_FIELDS) == without(b, PREDICTION_FIELDS)


JUNK_COUNT = {"best": 999, "low": 1, "high": None}


def test_any_order_and_extra_fields_are_accepted_and_ignored(gold, tokenizer):
    lines = gold_lines(gold)
    perfect = evaluate_predictions(lines, gold, tokenizer=tokenizer, resamples=20)
    assert perfect["seqeval_strict"]["micro"]["f1"] == perfect["span_exact"]["micro"]["f1"] == 1.0
    assert perfect["records"]["predicted_spans"] == perfect["records"]["gold_spans"]
    noisy = [
        {
            **line,
            "text": "not read",
            "records": [{"count": None}],
            "entities": [
                {**e, "score": 0.5, **({"count": JUNK_COUNT} if "outcome" in e else {})}
                for e in line["entities"]
            ],
        }
        for line in reversed(lines)
    ]
    report = evaluate_predictions(noisy, gold, tokenizer=tokenizer, resamples=20)
    assert without(report, {"per_document"}) == without(perfect, {"per_document"})
    assert [d["id"] for d in report["per_document"]] == [line["id"] for line in lines]
    assert report["per_document"][0]["entities"] == noisy[-1]["entities"]


def refusal(gold: Path, tmp_path: Path, lines: list[Any], capsys) -> tuple[str, Path]:
    predictions = write_lines(tmp_path / "predictions.jsonl", lines)
    assert main(["evaluate", "--predictions", str(predictions), "--data", str(gold)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err, predictions


def test_refuses_a_gold_document_without_prediction(gold, tmp_path, capsys):
    lines = gold_lines(gold)
    missing = lines.pop(2)["id"]
    error, _ = refusal(gold, tmp_path, lines, capsys)
    assert f"{gold}:3: document {missing!r} has no prediction line" in error


def test_refuses_a_prediction_for_a_document_not_in_gold(gold, tmp_path, capsys):
    lines = gold_lines(gold)
    lines.insert(1, {"id": "not-in-gold", "entities": []})
    error, predictions = refusal(gold, tmp_path, lines, capsys)
    assert f"{predictions}:2: document 'not-in-gold' is not in the gold file {gold}" in error


def test_refuses_a_duplicate_id(gold, tmp_path, capsys):
    lines = gold_lines(gold)
    lines.append(lines[1])
    error, predictions = refusal(gold, tmp_path, lines, capsys)
    assert f"{predictions}:6: duplicate id {lines[1]['id']!r} (first on line 2)" in error


def first_entity(lines: list[dict[str, Any]], label: str | None = None) -> tuple[dict[str, Any], int]:
    for number, line in enumerate(lines, start=1):
        for entity in line["entities"]:
            if label is None or entity["label"] == label:
                return entity, number
    raise AssertionError("no entity")


def test_refuses_an_entity_whose_text_differs_from_the_gold_text(gold, tmp_path, capsys):
    lines = gold_lines(gold)
    entity, number = first_entity(lines)
    true_text, entity["text"] = entity["text"], entity["text"].upper() + "x"
    error, predictions = refusal(gold, tmp_path, lines, capsys)
    where = f"{predictions}:{number}: document {lines[number - 1]['id']!r}: entity 0"
    where += f" [{entity['start']}:{entity['end']}]"
    assert f"{where}: text {entity['text']!r} differs from the gold text {true_text!r} there" in error


@pytest.mark.parametrize("end", ["beyond", "empty"])
def test_refuses_offsets_out_of_range(gold, tmp_path, capsys, end):
    lines = gold_lines(gold)
    entity, number = first_entity(lines)
    length = len(load_documents(gold)[number - 1].text)
    entity["end"] = length + 3 if end == "beyond" else entity["start"]
    error, predictions = refusal(gold, tmp_path, lines, capsys)
    assert f"{predictions}:{number}: document {lines[number - 1]['id']!r}: entity 0 " in error
    assert f"offsets out of range for a text of {length} characters" in error


def test_refuses_an_unknown_label(gold, tmp_path, capsys):
    lines = gold_lines(gold)
    entity, number = first_entity(lines, "PERPETRATOR")
    entity["label"] = "WEAPON"
    error, predictions = refusal(gold, tmp_path, lines, capsys)
    assert f"{predictions}:{number}: document {lines[number - 1]['id']!r}: entity " in error
    assert "unknown label 'WEAPON' (expected one of CASUALTY_COUNT, VICTIM_TYPE, PERPETRATOR)" in error


@pytest.mark.parametrize("outcome", [None, "dead", "absent"])
def test_refuses_a_count_without_a_valid_outcome(gold, tmp_path, capsys, outcome):
    lines = gold_lines(gold)
    entity, number = first_entity(lines, "CASUALTY_COUNT")
    if outcome == "absent":
        del entity["outcome"]
    else:
        entity["outcome"] = outcome
    error, predictions = refusal(gold, tmp_path, lines, capsys)
    shown = None if outcome == "absent" else outcome
    assert f"{predictions}:{number}: document {lines[number - 1]['id']!r}: entity " in error
    assert f"CASUALTY_COUNT needs 'outcome' killed or injured, got {shown!r}" in error


def test_refuses_invalid_json_and_bad_lines_with_their_place(gold, tmp_path, capsys):
    lines: list[Any] = gold_lines(gold)
    predictions = write_lines(tmp_path / "predictions.jsonl", lines)
    text = predictions.read_text().splitlines()
    text[1] = text[1][:-1]  # the closing brace gone
    predictions.write_text("\n".join(text) + "\n", encoding="utf-8")
    assert main(["evaluate", "--predictions", str(predictions), "--data", str(gold)]) == 2
    assert f"{predictions}:2: invalid JSON" in capsys.readouterr().err

    lines[3] = ["not", "an", "object"]
    lines[4] = {"id": lines[4]["id"], "entities": {"label": "PERPETRATOR"}}
    error, predictions = refusal(gold, tmp_path, lines, capsys)
    assert f"{predictions}:4: a line must hold a JSON object with 'id' and 'entities'" in error
    assert f"{predictions}:5: document {lines[4]['id']!r}: 'entities' must be a list" in error


def test_refuses_a_file_that_is_not_utf8_with_its_line(gold, tmp_path, capsys):
    predictions = write_lines(tmp_path / "predictions.jsonl", gold_lines(gold))
    data = predictions.read_bytes().split(b"\n")
    data[2] = data[2].replace(b'"entities"', b'"entit\xffies"')
    predictions.write_bytes(b"\n".join(data))
    assert main(["evaluate", "--predictions", str(predictions), "--data", str(gold)]) == 2
    assert f"{predictions}:3: not valid UTF-8" in capsys.readouterr().err


def test_python_refusal_lists_every_problem(gold):
    lines = gold_lines(gold)
    lines.append({"id": "not-in-gold", "entities": []})
    with pytest.raises(PredictionsError) as raised:
        evaluate_predictions(lines[1:], gold)
    message = str(raised.value)
    assert "2 problem(s) in the predictions" in message
    assert f"{gold}:1: document {lines[0]['id']!r} has no prediction line" in message
    assert "item 5: document 'not-in-gold' is not in the gold file" in message
    assert [p.line for p in raised.value.problems] == [5, 1]  # prediction lines, then gold


def test_exactly_one_of_model_and_predictions(gold, tmp_path, capsys):
    predictions = write_lines(tmp_path / "predictions.jsonl", gold_lines(gold))
    for args, message in (
        ([], "one of the arguments --model --predictions is required"),
        (["--model", str(tmp_path), "--predictions", str(predictions)], "not allowed with argument"),
    ):
        with pytest.raises(SystemExit) as raised:
            main(["evaluate", "--data", str(gold), *args])
        assert raised.value.code == 2
        assert message in capsys.readouterr().err
    args = ["evaluate", "--model", str(tmp_path), "--data", str(gold), "--tokenizer", str(tmp_path)]
    assert main(args) == 2
    assert "--tokenizer is for --predictions" in capsys.readouterr().err
    args = ["evaluate", "--predictions", str(predictions), "--data", str(gold), "--device", "cpu"]
    assert main(args) == 2
    assert "--device and --precision are for --model" in capsys.readouterr().err
