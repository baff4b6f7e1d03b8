"""predict's inputs: .jsonl and .json in any case, plain text; unreadable inputs named with their place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.cli import main

DOCUMENTS = [
    {"id": "a", "text": "Gunmen killed 12 villagers and wounded 3."},
    {"id": "b", "text": "Rebels shelled the town,\u2028killing four civilians."},  # U+2028 ends no line
]


def predict(model: Path | str, *inputs: Path) -> int:
    return main(["predict", "--model", str(model), "--device", "cpu", *map(str, inputs)])


def test_predict_reads_json_arrays_and_jsonl_in_any_case(tiny_model: Path, tmp_path: Path, capsys) -> None:
    lower = tmp_path / "in.jsonl"
    lower.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in DOCUMENTS), encoding="utf-8")
    assert predict(tiny_model, lower) == 0
    expected = capsys.readouterr().out
    upper = tmp_path / "IN.JSONL"
    upper.write_text(lower.read_text(encoding="utf-8"), encoding="utf-8")
    array = tmp_path / "in.json"
    array.write_text(json.dumps(DOCUMENTS, indent=1), encoding="utf-8")
    for path in (upper, array):
        assert predict(tiny_model, path) == 0
        assert capsys.readouterr().out == expected, path
    lines = [json.loads(line) for line in expected.splitlines()]
    assert [line["id"] for line in lines] == ["a", "b"]
    for line, document in zip(lines, DOCUMENTS, strict=True):
        assert all(e["text"] == document["text"][e["start"] : e["end"]] for e in line["entities"])


@pytest.mark.parametrize(
    "name,content,expected",
    [
        ("in.jsonl", b'{"id": "a", "text": "ok"}\n{"id": "b", "text": "caf\xe9"}\n', ":2: not valid UTF-8"),
        ("notes.txt", b"Gunmen killed\n12 in Caf\xe9.", ":2: not valid UTF-8: byte 0xe9 at byte offset 23"),
        ("in.json", b'[{"id": "a", "text": "caf\xe9"}]', ":1: not valid UTF-8: byte 0xe9 at byte offset 25"),
        ("in.json", b'{"id": "a", "text": "one object"}', ": expected a JSON array of {id, text} objects"),
        ("in.json", b'[{"id": "a", "text": "ok"}, {"id": "b"}]', ": item 2: expected an object"),
        ("in.json", b'[{"id": "a",\n "text": }]', ":2: invalid JSON"),
    ],
)
def test_predict_refuses_unreadable_inputs_with_their_place(
    tmp_path: Path, capsys, name: str, content: bytes, expected: str
) -> None:
    good = tmp_path / "good.txt"
    good.write_text("Gunmen killed 12 villagers.", encoding="utf-8")
    path = tmp_path / name
    path.write_bytes(content)
    # The inputs are read before the model is loaded: no model is needed to refuse them.
    assert predict(tmp_path / "no-model", good, path) == 2
    captured = capsys.readouterr()
    assert f"{path}{expected}" in captured.err
    assert captured.out == "" and "Traceback" not in captured.err


def test_predict_says_a_directory_is_a_directory(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    assert predict(tmp_path / "no-model", folder) == 2
    err = capsys.readouterr().err
    assert f"{folder} is a directory" in err and "does not exist" not in err
    assert ".jsonl" in err and ".json" in err and "plain text" in err
    assert predict(tmp_path / "no-model", tmp_path / "missing.txt") == 2
    assert f"{tmp_path / 'missing.txt'} does not exist" in capsys.readouterr().err


def write_jsonl(path: Path, documents: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents), encoding="utf-8")
    return path


def test_predict_refuses_an_id_twice_with_both_places(tmp_path: Path, capsys) -> None:
    """Output lines are keyed by id: a repeated id, in one file or across files, is refused up front."""
    one = write_jsonl(tmp_path / "one.jsonl", [*DOCUMENTS, {"id": "a", "text": "Another text."}])
    # Refused before the model is loaded: no model is needed.
    assert predict(tmp_path / "no-model", one) == 2
    captured = capsys.readouterr()
    assert f"{one}:3: duplicate id 'a' (first at {one}:1)" in captured.err
    assert captured.out == "" and "Traceback" not in captured.err

    clean = write_jsonl(tmp_path / "clean.jsonl", DOCUMENTS)
    other = tmp_path / "other.json"
    other.write_text(json.dumps([{"id": "c", "text": "x"}, {"id": "b", "text": "y"}]), encoding="utf-8")
    assert predict(tmp_path / "no-model", clean, other) == 2
    assert f"{other}: item 2: duplicate id 'b' (first at {clean}:2)" in capsys.readouterr().err

    # The same file named twice: every id twice, each place marked with its input position.
    assert predict(tmp_path / "no-model", clean, clean) == 2
    err = capsys.readouterr().err
    assert "2 duplicate id(s)" in err and f"{clean} is named 2 times (inputs 1, 2)" in err
    assert f"{clean}:1 [input 2]: duplicate id 'a' (first at {clean}:1 [input 1])" in err

    # Plain text files take their id from their name: two report.txt in two folders clash.
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "report.txt").write_text("Gunmen killed 12 villagers.", encoding="utf-8")
    x, y = tmp_path / "x" / "report.txt", tmp_path / "y" / "report.txt"
    assert predict(tmp_path / "no-model", x, y) == 2
    err = capsys.readouterr().err
    assert f"{y}: duplicate id 'report' (first at {x})" in err and "name without the suffix" in err


def test_predict_with_unique_ids_across_files_still_runs(tiny_model: Path, tmp_path: Path, capsys) -> None:
    first = write_jsonl(tmp_path / "first.jsonl", DOCUMENTS[:1])
    second = write_jsonl(tmp_path / "second.jsonl", DOCUMENTS[1:])
    note = tmp_path / "note.txt"
    note.write_text("Gunmen killed 12 villagers.", encoding="utf-8")
    assert predict(tiny_model, first, second, note) == 0
    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == ["a", "b", "note"]


def test_predict_takes_a_replacement_actor_table_and_names_a_bad_one(
    tiny_model: Path, tmp_path: Path, capsys
) -> None:
    text = tmp_path / "report.txt"
    text.write_text(DOCUMENTS[0]["text"], encoding="utf-8")
    table = tmp_path / "actors.yaml"
    table.write_text("actors:\n  bandits:\n    - gunmen\n", encoding="utf-8")
    args = ["predict", "--model", str(tiny_model), "--device", "cpu", "--events", "--actors", str(table)]
    assert main([*args, str(text)]) == 0
    assert "event" in json.loads(capsys.readouterr().out.splitlines()[0])

    table.write_text("actors:\n  bandits: gunmen\n", encoding="utf-8")
    assert main([*args, str(text)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("conflict-ie predict: error:") and str(table) in error and "bandits" in error
