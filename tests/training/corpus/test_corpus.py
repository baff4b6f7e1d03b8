"""Corpus validation: every kind of problem is reported with its file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.cli import main
from training.corpus.markup import parse_markup_text, read_markup, to_markup
from training.corpus.store import CorpusError, load_documents, validate_files

GOOD = {
    "id": "d1",
    "text": "Rebels killed 12 civilians.",
    "spans": [
        {"start": 0, "end": 6, "label": "PERPETRATOR"},
        {"start": 14, "end": 16, "label": "CASUALTY_COUNT", "outcome": "killed"},
        {"start": 17, "end": 26, "label": "VICTIM_TYPE"},
    ],
}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def with_spans(doc_id: str, spans: list[dict]) -> str:
    return json.dumps({**GOOD, "id": doc_id, "spans": spans})


@pytest.mark.parametrize(
    "line,expected",
    [
        ("{not json", "invalid JSON"),
        (with_spans("d2", [{"start": 0, "end": 6, "label": "ACTOR"}]), "unknown label 'ACTOR'"),
        (with_spans("d2", [{"start": 14, "end": 16, "label": "CASUALTY_COUNT"}]), "needs 'outcome'"),
        (
            with_spans("d2", [{"start": 14, "end": 16, "label": "CASUALTY_COUNT", "outcome": "dead"}]),
            "needs 'outcome'",
        ),
        (with_spans("d2", [{"start": 20, "end": 90, "label": "VICTIM_TYPE"}]), "out of range"),
        (
            with_spans(
                "d2",
                [
                    {"start": 0, "end": 6, "label": "PERPETRATOR"},
                    {"start": 3, "end": 13, "label": "PERPETRATOR"},
                ],
            ),
            "overlap",
        ),
        (with_spans("d2", [{"start": 17, "end": 23, "label": "VICTIM_TYPE"}]), "cuts a word"),
        (
            with_spans("d2", [{"start": 13, "end": 16, "label": "CASUALTY_COUNT", "outcome": "killed"}]),
            "whitespace",
        ),
        (json.dumps({"id": "d2", "spans": []}), "'text' must be a string"),
        (json.dumps({**GOOD, "id": "d1"}), "duplicate id 'd1'"),
    ],
)
def test_each_problem_is_reported_with_file_and_line(tmp_path, line, expected):
    path = write_lines(tmp_path / "train.jsonl", [json.dumps(GOOD), line])
    problems = validate_files([path])
    assert any(p.line == 2 and p.path == str(path) and expected in p.message for p in problems), problems


def test_a_document_in_two_splits_is_reported(tmp_path):
    train = write_lines(tmp_path / "train.jsonl", [json.dumps(GOOD)])
    dev = write_lines(tmp_path / "dev.jsonl", [json.dumps({**GOOD, "id": "other"})])
    problems = validate_files([train, dev])
    assert [str(p) for p in problems] == [f"{dev}:1: text also in {train}:1 (a document in two splits)"]


def test_load_documents_raises_with_every_problem(tmp_path):
    path = write_lines(tmp_path / "bad.jsonl", ["[]", "{oops"])
    with pytest.raises(CorpusError) as caught:
        load_documents(path)
    assert [p.line for p in caught.value.problems] == [1, 2]


def test_validate_command_exits_non_zero_and_names_the_place(tmp_path, capsys):
    path = write_lines(tmp_path / "dev.jsonl", [json.dumps(GOOD), "{oops"])
    assert main(["validate", str(path)]) == 1
    assert f"{path}:2: invalid JSON" in capsys.readouterr().err
    good = write_lines(tmp_path / "ok.jsonl", [json.dumps(GOOD)])
    assert main(["validate", str(good)]) == 0


def test_relations_are_validated(tmp_path):
    doc = {
        **GOOD,
        "relations": [{"head": 1, "tail": 2, "type": "victim"}, {"head": 0, "tail": 2, "type": "victim"}],
    }
    problems = validate_files([write_lines(tmp_path / "r.jsonl", [json.dumps(doc)])])
    assert [p.message.split(": ", 1)[1] for p in problems] == [
        "relation 1: head 0 is PERPETRATOR, not CASUALTY_COUNT"
    ]


def test_the_shipped_corpus_is_valid_and_split_70_15_15():
    root = Path(__file__).resolve().parents[3] / "data" / "annotations"
    paths = [root / f"{split}.jsonl" for split in ("train", "dev", "test")]
    assert validate_files(paths) == []
    sizes = [len(load_documents(p)) for p in paths]
    assert sum(sizes) >= 150
    assert 0.65 <= sizes[0] / sum(sizes) <= 0.75
    assert 0.10 <= sizes[1] / sum(sizes) <= 0.20 and 0.10 <= sizes[2] / sum(sizes) <= 0.20


def test_markup_round_trips_and_reports_problems(tmp_path):
    text, spans, problems = parse_markup_text("[[Rebels|P]] killed [[12|K]] [[civilian|V]]s.")
    assert text == "Rebels killed 12 civilians." and problems == ["span 'civilian' cuts a word"]
    path = write_lines(
        tmp_path / "m.txt", ["### a", "[[Rebels|P]] killed [[12|K]] and hurt [[3|I]].", "### a", "x [[y|Q]]"]
    )
    documents, errors = read_markup(path)
    assert to_markup(documents[0]) == "[[Rebels|P]] killed [[12|K]] and hurt [[3|I]]."
    assert {str(e) for e in errors} == {
        f"{path}:3: a: unknown tag 'Q' on 'y' (use K, I, V or P)",
        f"{path}:0: duplicate id 'a'",
    }


def test_the_shipped_second_annotation_matches_the_corpus_texts_and_its_reported_agreement():
    from training.evaluation.agreement import agreement

    root = Path(__file__).resolve().parents[3] / "data" / "annotations"
    second_path = root / "agreement" / "second-annotation.jsonl"
    assert validate_files([second_path]) == []
    corpus = [d for split in ("train", "dev", "test") for d in load_documents(root / f"{split}.jsonl")]
    second = load_documents(second_path)
    report, _ = agreement(corpus, second, only_common=True)
    assert report["documents"] == len(second) == 40
    # The figure the guidelines report; a corpus edit that moves it must update the guidelines too.
    assert round(report["span_exact"]["micro"]["f1"], 3) == 0.981


def test_validate_names_a_directory_and_the_line_of_a_byte_that_is_not_utf8(tmp_path, capsys):
    folder = tmp_path / "splits"
    folder.mkdir()
    latin1 = tmp_path / "latin1.jsonl"
    second = json.dumps({**GOOD, "id": "d2", "text": "Caf\xe9 bombed."}, ensure_ascii=False)
    latin1.write_bytes(f"{json.dumps(GOOD)}\n{second}\n".encode("latin-1"))
    offset = len(json.dumps(GOOD)) + 1 + len('{"id": "d2", "text": "Caf')
    assert main(["validate", str(folder), str(latin1)]) == 1
    err = capsys.readouterr().err
    assert f"{folder}: is a directory, not a corpus file" in err and "does not exist" not in err
    assert f"{latin1}:2: not valid UTF-8: byte 0xe9 at byte offset {offset}" in err
    assert "Traceback" not in err


def test_stats_reads_every_file_before_printing(tmp_path, capsys):
    good = write_lines(tmp_path / "train.jsonl", [json.dumps(GOOD)])
    bad = write_lines(tmp_path / "dev.jsonl", ["{oops"])
    assert main(["stats", str(good), str(bad), str(tmp_path / "missing.jsonl")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{bad}:1: invalid JSON" in captured.err
    assert f"{tmp_path / 'missing.jsonl'}: file does not exist" in captured.err
    assert main(["stats", str(good)]) == 0
    header, row, total = capsys.readouterr().out.splitlines()[:3]  # the label table, then the data check
    assert header.split()[:3] == ["split", "docs", "words"] and row.split()[:3] == ["train.jsonl", "1", "4"]
    assert total.split()[:3] == ["total", "1", "4"]


def test_the_corpus_loads_as_one_hugging_face_dataset(tmp_path):
    import datasets

    corpus = Path(__file__).resolve().parents[3] / "data" / "annotations"
    loaded = datasets.load_dataset(str(corpus), cache_dir=str(tmp_path))
    assert set(loaded) == {"train", "dev", "test"}
    for split in loaded:
        documents = load_documents(corpus / f"{split}.jsonl")
        assert loaded[split]["id"] == [d.id for d in documents]
        first = loaded[split][0]
        assert [(s["start"], s["end"], s["label"]) for s in first["spans"]] == [
            (s.start, s.end, s.label) for s in documents[0].spans
        ]
    with_links = [d for d in load_documents(corpus / "dev.jsonl") if d.relations is not None]
    row = loaded["dev"][loaded["dev"]["id"].index(with_links[0].id)]
    assert row["relations"] == [r.to_dict() for r in with_links[0].relations]
    assert loaded["train"].features["spans"].feature["outcome"].dtype == "string"


def test_split_that_would_produce_a_bad_corpus_writes_nothing(tmp_path, capsys):
    first = write_lines(tmp_path / "a.jsonl", [json.dumps(GOOD)])
    again = write_lines(tmp_path / "b.jsonl", [json.dumps(GOOD)])  # the same id in two inputs
    out = tmp_path / "out"
    out.mkdir()
    (out / "train.jsonl").write_text("precious\n")
    assert main(["split", str(first), str(again), "--output-dir", str(out)]) == 2
    assert "duplicate id" in capsys.readouterr().err
    assert (out / "train.jsonl").read_text() == "precious\n"
    assert sorted(p.name for p in out.iterdir()) == ["train.jsonl"]
    assert main(["split", str(first), "--output-dir", str(out)]) == 0
    assert sum(len(load_documents(out / f"{s}.jsonl")) for s in ("train", "dev", "test")) == 1


def test_relations_follow_the_schemas_roles(tmp_path):
    from inference.schema import LabelSchema

    text = "Rebels killed 12 civilians."
    spans = [
        {"start": 0, "end": 6, "label": "ARMED"},
        {"start": 14, "end": 16, "label": "TOLL", "outcome": "killed"},
        {"start": 17, "end": 26, "label": "PEOPLE"},
    ]
    relations = [{"head": 1, "tail": 2, "type": "victim"}, {"head": 1, "tail": 0, "type": "perpetrator"}]
    path = write_lines(
        tmp_path / "c.jsonl", [json.dumps({"id": "d", "text": text, "spans": spans, "relations": relations})]
    )
    outcomes = {"TOLL": ("killed",)}
    roles = LabelSchema(
        ("ARMED", "TOLL", "PEOPLE"), outcomes, {"count": "TOLL", "victim": "PEOPLE", "perpetrator": "ARMED"}
    )
    assert validate_files([path], roles) == []
    swapped = LabelSchema(
        ("ARMED", "TOLL", "PEOPLE"), outcomes, {"count": "TOLL", "victim": "ARMED", "perpetrator": "PEOPLE"}
    )
    assert [p.message for p in validate_files([path], swapped)] == [
        "document 'd': relation 0: tail 2 is PEOPLE, not ARMED",
        "document 'd': relation 1: tail 0 is ARMED, not PEOPLE",
    ]
    # No roles: the relations are read without a label check, as with any labels (schema None).
    assert validate_files([path], LabelSchema(("ARMED", "TOLL", "PEOPLE"), outcomes)) == []
    assert load_documents(path, schema=None)[0].relations is not None
