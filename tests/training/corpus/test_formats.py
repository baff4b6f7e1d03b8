"""Importers and exporters: Label Studio, doccano, CoNLL BIO; every span that does not fit is listed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from inference.spans import Document, Relation, Span
from training.cli import main
from training.corpus.formats import (
    parse_label,
    read_conll,
    read_doccano,
    read_label_studio,
    to_conll,
    to_doccano,
    to_label_studio,
)
from training.corpus.store import load_documents

TEXT = "Rebels killed 12 civilians and wounded three soldiers in Idlib."
#       0     6 7    13 16 17      26   31      39    45       54 57  62


def region(rid: str, start: int, end: int, labels: list[str], text: str | None = None) -> dict:
    value = {"start": start, "end": end, "text": TEXT[start:end] if text is None else text, "labels": labels}
    return {"id": rid, "from_name": "label", "to_name": "text", "type": "labels", "value": value}


def outcome_choice(rid: str, start: int, end: int, choice: str) -> dict:
    value = {"start": start, "end": end, "choices": [choice]}
    return {"id": rid, "from_name": "outcome", "to_name": "text", "type": "choices", "value": value}


def task(task_id: int, results: list[dict], text: str = TEXT, **data) -> dict:
    return {"id": task_id, "data": {"text": text, **data}, "annotations": [{"id": 1, "result": results}]}


def write_json(path: Path, payload) -> Path:
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "name,expected",
    [
        ("CASUALTY_COUNT_KILLED", ("CASUALTY_COUNT", "killed")),
        ("casualty-count:injured", ("CASUALTY_COUNT", "injured")),
        ("Casualty Count Wounded", ("CASUALTY_COUNT", "injured")),
        ("KILLED_COUNT", ("CASUALTY_COUNT", "killed")),
        ("Deaths", ("CASUALTY_COUNT", "killed")),
        ("CASUALTY_COUNT", ("CASUALTY_COUNT", None)),
        ("victim", ("VICTIM_TYPE", None)),
        ("Perpetrator", ("PERPETRATOR", None)),
        ("K", ("CASUALTY_COUNT", "killed")),
        ("P", ("PERPETRATOR", None)),
        ("LOCATION", None),
        ("VICTIM_TYPE_KILLED", None),
    ],
)
def test_label_names(name: str, expected) -> None:
    assert parse_label(name) == expected


def test_label_studio_good_task(tmp_path: Path) -> None:
    results = [
        region("a", 0, 6, ["PERPETRATOR"]),
        region("b", 14, 16, ["CASUALTY_COUNT_KILLED"]),
        region("c", 16, 27, ["VICTIM_TYPE"], text=" civilians "),  # selections with spaces are trimmed
        region("d", 39, 44, ["CASUALTY_COUNT"]),
        outcome_choice("d", 39, 44, "wounded"),  # per-region choice gives the outcome
        region("e", 45, 53, ["Victim"]),
        {"from_id": "b", "to_id": "c", "type": "relation", "direction": "right", "labels": ["victim"]},
    ]
    imported = read_label_studio(write_json(tmp_path / "ls.json", [task(7, results, doc_id="r1")]))
    assert imported.issues == []
    (document,) = imported.documents
    assert document.id == "r1"
    assert [(document.text[s.start : s.end], s.label, s.outcome) for s in document.spans] == [
        ("Rebels", "PERPETRATOR", None),
        ("12", "CASUALTY_COUNT", "killed"),
        ("civilians", "VICTIM_TYPE", None),
        ("three", "CASUALTY_COUNT", "injured"),
        ("soldiers", "VICTIM_TYPE", None),
    ]
    assert document.relations == [Relation(1, 2, "victim")]


def test_label_studio_lists_every_span_that_does_not_fit(tmp_path: Path) -> None:
    results = [
        region("ok", 0, 6, ["PERPETRATOR"]),
        region("u", 57, 62, ["LOCATION"]),
        region("m", 14, 16, ["CASUALTY_COUNT"]),
        region("r", 50, 90, ["VICTIM_TYPE"], text="x"),
        region("t", 17, 26, ["VICTIM_TYPE"], text="civilian"),
        region("w", 17, 23, ["VICTIM_TYPE"]),
        region("o", 3, 13, ["PERPETRATOR"]),
        region("c", 14, 16, ["CASUALTY_COUNT_KILLED"]),
        outcome_choice("c", 14, 16, "injured"),
    ]
    tasks = [
        task(1, results),
        {"id": 2, "data": {"text": TEXT}, "annotations": [{"result": [], "was_cancelled": True}]},
        {"id": 3, "data": {"text": TEXT}, "annotations": [{"result": []}, {"result": []}]},
        {"id": 4, "data": {"other": TEXT}, "annotations": [{"result": []}]},
    ]
    imported = read_label_studio(write_json(tmp_path / "ls.json", tasks))
    messages = [str(issue) for issue in imported.errors]
    expected = [
        ("task 1 result 1", "[57:62] LOCATION 'Idlib'", "unknown label 'LOCATION'"),
        ("task 1 result 2", "[14:16] CASUALTY_COUNT '12'", "without outcome"),
        ("task 1 result 3", "[50:90]", "out of range"),
        ("task 1 result 4", "'civilians'", "span text 'civilian' differs"),
        ("task 1 result 5", "'civili'", "cuts a word"),
        ("task 1 result 6", "[3:13] PERPETRATOR 'els killed'", "cuts a word"),
        ("task 1 result 7", "'12'", "contradictory outcomes"),
        ("task 2", "", "no submitted annotation"),
        ("task 3", "", "2 annotations"),
        ("task 4", "", "no string data.text"),
    ]
    for place, span, message in expected:
        assert any(place in m and span in m and message in m for m in messages), (place, messages)
    assert len(messages) == len(expected)
    assert [d.id for d in imported.documents] == ["1"]
    assert [(s.start, s.end) for s in imported.documents[0].spans] == [(0, 6)]


def test_label_studio_overlap_and_annotation_choice(tmp_path: Path) -> None:
    results = [region("a", 0, 13, ["PERPETRATOR"], text=None), region("b", 7, 16, ["PERPETRATOR"])]
    first = {"result": [region("x", 0, 6, ["PERPETRATOR"])], "completed_by": 1}
    second = {"result": results, "completed_by": 2}
    tasks = [{"id": 9, "data": {"text": TEXT}, "annotations": [first, second]}]
    path = write_json(tmp_path / "ls.json", tasks)
    assert [s.end for s in read_label_studio(path, annotation=0).documents[0].spans] == [6]
    chosen = read_label_studio(path, annotation=1)
    assert [(s.start, s.end) for s in chosen.documents[0].spans] == [(0, 13)]
    assert any("overlaps the span [0:13]" in str(i) and "[7:16]" in str(i) for i in chosen.errors)


def test_label_studio_utf16_offsets(tmp_path: Path) -> None:
    text = "\U0001f4a5 Gunmen killed 4 people."  # one astral character: 2 UTF-16 code units
    results = [
        {"id": "a", "type": "labels", "value": {"start": 3, "end": 9, "text": "Gunmen", "labels": ["P"]}}
    ]
    imported = read_label_studio(write_json(tmp_path / "ls.json", [task(1, results, text=text)]))
    assert imported.issues == []
    span = imported.documents[0].spans[0]
    assert text[span.start : span.end] == "Gunmen"


def test_label_studio_json_min(tmp_path: Path) -> None:
    rows = [
        {
            "id": 5,
            "text": TEXT,
            "label": [{"start": 14, "end": 16, "text": "12", "labels": ["CASUALTY_COUNT"]}],
            "outcome": [{"start": 14, "end": 16, "text": "12", "choices": ["killed"]}],
        }
    ]
    imported = read_label_studio(write_json(tmp_path / "min.json", rows))
    assert imported.issues == []
    assert imported.documents[0].spans == [Span(14, 16, "CASUALTY_COUNT", "killed")]
    chosen = read_label_studio(tmp_path / "min.json", annotator="ann@example.org")
    assert chosen.documents == imported.documents and chosen.errors == []
    assert [str(issue) for issue in chosen.issues] == [
        f"{tmp_path / 'min.json'}: JSON-MIN rows hold one annotation each; "
        "--annotation and --annotator choose only in the JSON export (note)"
    ]


def test_doccano(tmp_path: Path) -> None:
    lines = [
        {
            "id": 1,
            "text": TEXT,
            "label": [[0, 6, "PERPETRATOR"], [14, 16, "KILLED"], [17, 26, "VICTIM_TYPE"]],
        },
        {
            "id": 2,
            "text": TEXT,
            "entities": [
                {"id": 10, "label": "CASUALTY_COUNT", "start_offset": 39, "end_offset": 44},
                {"id": 11, "label": "VICTIM_TYPE", "start_offset": 45, "end_offset": 53},
            ],
            "relations": [{"id": 1, "from_id": 10, "to_id": 11, "type": "victim"}],
        },
        {"id": 3, "text": TEXT, "label": [[57, 62, "GPE"], [0, 99, "PERPETRATOR"], "junk"]},
    ]
    path = tmp_path / "doccano.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n{oops\n", encoding="utf-8")
    imported = read_doccano(path, default_outcome="injured")
    first, second, third = imported.documents
    assert [s.label for s in first.spans] == ["PERPETRATOR", "CASUALTY_COUNT", "VICTIM_TYPE"]
    assert first.spans[1].outcome == "killed" and first.relations is None
    assert second.spans[0] == Span(39, 44, "CASUALTY_COUNT", "injured")  # --default-outcome
    assert second.relations == [Relation(0, 1, "victim")]
    assert third.spans == []
    messages = [str(i) for i in imported.errors]
    assert any(f"{path}:3 label 0" in m and "unknown label 'GPE'" in m for m in messages)
    assert any(f"{path}:3 label 1" in m and "out of range" in m for m in messages)
    assert any(f"{path}:3 label 2" in m and "expected [start, end, label]" in m for m in messages)
    assert any(f"{path}:4" in m and "invalid JSON" in m for m in messages)


CONLL = """-DOCSTART- -X- -X- O

Rebels NNS B-NP B-PERPETRATOR
killed VBD B-VP O
12 CD B-NP B-CASUALTY_COUNT:killed
civilians NNS I-NP B-VICTIM_TYPE
. . O O

Three CD B-NP B-CASUALTY_COUNT
soldiers NNS I-NP S-VICTIM_TYPE
were VBD B-VP O
wounded VBN I-VP O

-DOCSTART-\tO
# id = second
At\tB-K
least\tI-K
five\tE-K
died\tO
in\tO
Deir\tB-LOC
ez-Zor\tI-LOC
by\tO
Syrian\tI-PERPETRATOR
army\tI-PERPETRATOR
troops\tB-VICTIM_TYPE
shelling
"""


def test_conll_reader(tmp_path: Path) -> None:
    path = tmp_path / "in.conll"
    path.write_text(CONLL, encoding="utf-8")
    imported = read_conll(path, default_outcome="injured")
    first, second = imported.documents
    assert first.id == "in-1" and second.id == "second"
    assert first.text == "Rebels killed 12 civilians .\nThree soldiers were wounded"
    shown = [(first.text[s.start : s.end], s.label, s.outcome) for s in first.spans]
    assert shown == [
        ("Rebels", "PERPETRATOR", None),
        ("12", "CASUALTY_COUNT", "killed"),
        ("civilians", "VICTIM_TYPE", None),
        ("Three", "CASUALTY_COUNT", "injured"),  # no outcome in the tag: the default
        ("soldiers", "VICTIM_TYPE", None),
    ]
    assert second.text == "At least five died in Deir ez-Zor by Syrian army troops shelling"
    assert [(second.text[s.start : s.end], s.label) for s in second.spans] == [
        ("At least five", "CASUALTY_COUNT"),  # BIOES, markup tag K
        ("Syrian army", "PERPETRATOR"),  # an I- with no open span starts one (IOB1)
        ("troops", "VICTIM_TYPE"),
    ]
    messages = [str(i) for i in imported.errors]
    assert any(f"{path}:21" in m and "unknown label 'LOC'" in m for m in messages)
    assert any(f"{path}:27" in m and "no tag column" in m for m in messages)
    assert len(messages) == 2


def test_conll_reader_without_documents_and_inconsistent_tags(tmp_path: Path) -> None:
    path = tmp_path / "sentences.conll"
    lines = ["Gunmen B-PERPETRATOR", "killed O", "", "Two B-CASUALTY_COUNT:killed", "men I-VICTIM_TYPE"]
    path.write_text("\n".join([*lines, "of I-VICTIM_TYPE", "X B-?"]) + "\n", encoding="utf-8")
    imported = read_conll(path)
    assert [d.id for d in imported.documents] == ["sentences-1", "sentences-2"]
    assert [d.text for d in imported.documents] == ["Gunmen killed", "Two men of X"]
    # "men of" is one bad span (skipped whole), not a bad "men" and a new span "of"
    assert [(s.start, s.end) for s in imported.documents[1].spans] == [(0, 3)]
    messages = [str(i) for i in imported.errors]
    assert any(f"{path}:5" in m and "follows a span of another type" in m for m in messages)
    assert any(f"{path}:7" in m and "unknown label '?'" in m for m in messages)
    assert len(messages) == 2


def test_corpus_conll_round_trip_is_identical(tmp_path: Path, corpus_documents: list[Document]) -> None:
    source = tmp_path / "corpus.jsonl"
    source.write_text("".join(json.dumps(d.to_dict()) + "\n" for d in corpus_documents), encoding="utf-8")
    assert main(["convert", "--to", "conll", str(source), "--output", str(tmp_path / "c.conll")]) == 0
    back = tmp_path / "back.jsonl"
    assert main(["convert", "--from", "conll", str(tmp_path / "c.conll"), "--output", str(back)]) == 0
    # CoNLL holds no relations (the exporter lists them as left out); everything else comes back.
    assert load_documents(back) == [replace(d, relations=None) for d in corpus_documents]


def test_plain_conll_round_trip(tmp_path: Path, corpus_documents: list[Document]) -> None:
    tokenized = Document(
        "t1",
        "Rebels killed 12 civilians and wounded three soldiers .\nThe army said 4 people were hurt",
        [Span(0, 6, "PERPETRATOR"), Span(14, 16, "CASUALTY_COUNT", "killed"), Span(17, 26, "VICTIM_TYPE")],
    )
    path = tmp_path / "plain.conll"
    content, _ = to_conll([tokenized], comments=False)
    path.write_text(content, encoding="utf-8")
    (back,) = read_conll(path).documents
    assert (back.text, back.spans) == (tokenized.text, tokenized.spans)
    # Real text rebuilt from tokens differs in spacing only: the same labelled words, in order.
    content, _ = to_conll(corpus_documents, comments=False)
    path.write_text(content, encoding="utf-8")
    imported = read_conll(path)
    assert imported.issues == []

    def squeezed(document: Document) -> list[tuple[str, str | None, str]]:
        return [(s.label, s.outcome, "".join(document.text[s.start : s.end].split())) for s in document.spans]

    assert [squeezed(d) for d in imported.documents] == [squeezed(d) for d in corpus_documents]


def test_label_studio_and_doccano_round_trips(tmp_path: Path, corpus_documents: list[Document]) -> None:
    ls = write_json(tmp_path / "ls.json", to_label_studio(corpus_documents))
    imported = read_label_studio(ls)
    assert imported.issues == [] and imported.documents == corpus_documents
    doccano = tmp_path / "doccano.jsonl"
    doccano.write_text(
        "".join(json.dumps(line) + "\n" for line in to_doccano(corpus_documents)), encoding="utf-8"
    )
    imported = read_doccano(doccano)
    assert imported.issues == [] and imported.documents == corpus_documents


def test_convert_fails_without_skip_bad_and_lists_with_it(tmp_path: Path, capsys) -> None:
    results = [region("ok", 0, 6, ["PERPETRATOR"]), region("u", 57, 62, ["LOCATION"])]
    source = write_json(tmp_path / "ls.json", [task(1, results)])
    output = tmp_path / "out.jsonl"
    output.write_text("previous content\n", encoding="utf-8")
    args = ["convert", "--from", "label-studio", str(source), "--output", str(output)]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "task 1 result 1" in captured.err and "unknown label 'LOCATION'" in captured.err
    assert "nothing written" in captured.err
    assert output.read_text(encoding="utf-8") == "previous content\n"
    assert main([*args, "--skip-bad"]) == 0
    captured = capsys.readouterr()
    assert "unknown label 'LOCATION'" in captured.err and "left out the 1 item" in captured.err
    (document,) = load_documents(output)
    assert document.spans == [Span(0, 6, "PERPETRATOR")]
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_convert_validates_output(tmp_path: Path, capsys) -> None:
    # Two tasks with one id: each fits on its own, the output file would not.
    source = write_json(tmp_path / "ls.json", [task(1, [], doc_id="same"), task(2, [], doc_id="same")])
    output = tmp_path / "out.jsonl"
    assert main(["convert", "--from", "label-studio", str(source), "--output", str(output)]) == 2
    assert f"{source} task 1 and {source} task 2 have the same document id 'same'" in capsys.readouterr().err
    assert not output.exists()


def test_convert_markup_still_works(tmp_path: Path) -> None:
    markup = tmp_path / "drafts.txt"
    markup.write_text("### m1\nGunmen killed [[12|K]] [[villagers|V]].\n", encoding="utf-8")
    output = tmp_path / "m.jsonl"
    assert main(["convert", str(markup), "--output", str(output)]) == 0
    assert load_documents(output)[0].spans[0] == Span(14, 16, "CASUALTY_COUNT", "killed")


def test_label_studio_relations_that_do_not_fit(tmp_path: Path) -> None:
    results = [
        region("p", 0, 6, ["PERPETRATOR"]),
        region("c", 14, 16, ["CASUALTY_COUNT_KILLED"]),
        region("x", 57, 62, ["LOCATION"]),
        {"from_id": "c", "to_id": "p", "type": "relation"},  # the type comes from the target: perpetrator
        {"from_id": "c", "to_id": "x", "type": "relation", "labels": ["victim"]},
        {"from_id": "p", "to_id": "p", "type": "relation", "labels": ["victim"]},
    ]
    imported = read_label_studio(write_json(tmp_path / "ls.json", [task(1, results)]))
    assert imported.documents[0].relations == [Relation(1, 0, "perpetrator")]
    messages = [str(i) for i in imported.errors]
    assert any("result 4" in m and "region that was not imported" in m for m in messages)
    assert any("result 5" in m and "PERPETRATOR -> PERPETRATOR" in m for m in messages)
    assert len(messages) == 3  # and the LOCATION region itself


def test_convert_lists_the_accepted_labels_for_an_unknown_one(tmp_path: Path, capsys) -> None:
    results = [region("w", 0, 6, ["WEAPON"]), region("x", 57, 62, ["Arms"])]
    source = write_json(tmp_path / "ls.json", [task(1, results)])
    output = tmp_path / "out.jsonl"
    assert main(["convert", "--from", "label-studio", str(source), "--output", str(output)]) == 2
    err = capsys.readouterr().err
    accepted = "(accepted: CASUALTY_COUNT_KILLED, CASUALTY_COUNT_INJURED, VICTIM_TYPE, PERPETRATOR"
    assert f"task 1 result 0: span [0:6] WEAPON 'Rebels': unknown label 'WEAPON' {accepted}" in err
    assert f"unknown label 'Arms' {accepted}" in err
    (names,) = [line for line in err.splitlines() if line.startswith("label names accepted")]
    aliases = ("ACTOR, ATTACKER, P, PERP, PERPETRATORS -> PERPETRATOR", "V, VICTIM", "WOUNDED", "K, I")
    assert all(alias in names for alias in aliases), names
    assert not output.exists()


@pytest.mark.parametrize(
    "source,name,content",
    [
        (None, "drafts.txt", b"### a\nGunmen killed [[12|K]] in Caf\xe9.\n"),
        ("doccano", "d.jsonl", b'{"text": "ok"}\n{"text": "Caf\xe9"}\n'),
        ("conll", "c.conll", b"Gunmen O\r\nkilled O\r\n\r\nCaf\xe9 O\r\n"),
        ("label-studio", "ls.json", b'[\n {"data": {"text": "Caf\xe9"}}\n]'),
    ],
)
def test_convert_names_the_place_of_a_byte_that_is_not_utf8(
    tmp_path: Path, capsys, source: str | None, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    output = tmp_path / "out.jsonl"
    assert main(["convert", *(["--from", source] if source else []), str(path), "--output", str(output)]) == 2
    err = capsys.readouterr().err
    offset = content.index(b"\xe9")
    line = content[:offset].count(b"\n") + 1
    assert f"{path}:{line}: not valid UTF-8: byte 0xe9 at byte offset {offset}" in err
    assert "Traceback" not in err and not output.exists()


def test_convert_says_a_directory_is_a_directory(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    assert main(["convert", "--from", "doccano", str(folder), "--output", str(tmp_path / "out.jsonl")]) == 2
    err = capsys.readouterr().err
    assert f"{folder} is a directory" in err and "not found" not in err
    markup = tmp_path / "drafts.txt"
    markup.write_text("### m1\nGunmen killed [[12|K]] [[villagers|V]].\n", encoding="utf-8")
    for target in ("corpus", "conll"):
        assert main(["convert", str(markup), "--to", target, "--output", str(folder)]) == 2
        assert f"--output {folder} is a directory" in capsys.readouterr().err
    assert list(folder.iterdir()) == [] and not list(tmp_path.glob(".*"))


def test_doccano_and_conll_keep_unicode_line_separators_inside_a_text(tmp_path: Path) -> None:
    text = "Rebels killed 12\u2028civilians\x85in Idlib."
    document = Document("u1", text, [Span(14, 16, "CASUALTY_COUNT", "killed")])
    doccano = tmp_path / "d.jsonl"
    doccano.write_text(json.dumps(to_doccano([document])[0], ensure_ascii=False) + "\n", encoding="utf-8")
    assert read_doccano(doccano).documents == [document]
    conll = tmp_path / "c.conll"
    conll.write_text(to_conll([document])[0], encoding="utf-8")
    imported = read_conll(conll)
    assert imported.issues == [] and imported.documents == [document]


def annotation(who, results: list[dict], **fields) -> dict:
    return {"id": fields.pop("id", 1), "completed_by": who, "result": results, **fields}


def choice_tasks() -> list[dict]:
    first = [region("p", 0, 6, ["PERPETRATOR"])]
    second = [region("v", 17, 26, ["VICTIM_TYPE"])]
    ann = {"id": 1, "email": "ann@example.org", "first_name": "", "last_name": ""}
    bob = {"id": 2, "email": "bob@example.org", "first_name": "", "last_name": ""}
    one = [
        annotation(ann, first, created_at="2024-03-01T10:00:00.000000Z", updated_at="2024-04-15T10:00:00Z"),
        annotation(bob, [], was_cancelled=True, updated_at="2024-05-01T10:00:00Z"),
        annotation(
            bob,
            second,
            ground_truth=True,
            created_at="2024-02-01T09:00:00Z",
            updated_at="2024-04-01T08:00:00.123456",  # no zone: read as UTC
        ),
    ]
    two = [annotation(2, second, updated_at="2024-01-01T00:00:00Z")]  # completed_by as a bare user id
    three = [annotation(3, second), annotation(4, first)]  # no timestamps: latest is the last
    return [
        {"id": task_id, "data": {"text": TEXT}, "annotations": annotations}
        for task_id, annotations in ((1, one), (2, two), (3, three))
    ]


@pytest.mark.parametrize(
    "options,chosen,problems",
    [
        (
            {"annotator": "ann@example.org"},
            {1: "Rebels"},
            [
                "task 2: no submitted annotation by 'ann@example.org' (annotations by 2)",
                "task 3: no submitted annotation by",
            ],
        ),
        (
            {"annotator": "BOB@example.org"},
            {1: "civilians"},
            ["task 2: no submitted", "task 3: no submitted"],
        ),
        ({"annotator": "2"}, {1: "civilians", 2: "civilians"}, ["task 3: no submitted"]),
        ({"annotation": "latest"}, {1: "Rebels", 2: "civilians", 3: "Rebels"}, []),
        (
            {"annotation": "ground-truth"},
            {1: "civilians"},
            ["task 2: no submitted annotation marked ground truth", "task 3: no submitted annotation marked"],
        ),
        (
            {"annotation": 1},
            {1: "civilians", 3: "Rebels"},
            ["task 2: --annotation 1 asks for submitted annotation number 1 (0 = first); the task has 1"],
        ),
        (
            {"annotator": "2", "annotation": "latest"},
            {1: "civilians", 2: "civilians"},
            ["task 3"],
        ),
        (
            {},
            {2: "civilians"},
            [
                "task 1: 2 annotations (by ann@example.org, bob@example.org)",
                "task 3: 2 annotations (by 3, 4)",
            ],
        ),
    ],
)
def test_label_studio_annotation_by_annotator_latest_ground_truth_or_position(
    tmp_path: Path, options: dict, chosen: dict[int, str], problems: list[str]
) -> None:
    imported = read_label_studio(write_json(tmp_path / "ls.json", choice_tasks()), **options)
    texts = {int(d.id): TEXT[d.spans[0].start : d.spans[0].end] for d in imported.documents}
    assert texts == chosen
    messages = [str(issue) for issue in imported.errors]
    assert len(messages) == len(problems), messages
    assert all(any(p in m for m in messages) for p in problems), messages


def test_convert_label_studio_choice_and_id_prefix_options(tmp_path: Path, capsys) -> None:
    source = write_json(tmp_path / "ls.json", choice_tasks()[:2])
    output = tmp_path / "out.jsonl"
    args = [
        "convert",
        "--from",
        "label-studio",
        str(source),
        "--output",
        str(output),
        "--id-prefix",
        "ls-p1-",
    ]
    assert main([*args, "--annotation", "ground-truth", "--skip-bad"]) == 0
    assert [d.id for d in load_documents(output)] == ["ls-p1-1"]
    assert "task 2: no submitted annotation marked ground truth" in capsys.readouterr().err
    assert main([*args, "--annotator", "bob@example.org", "--annotation", "latest", "--skip-bad"]) == 0
    assert [d.id for d in load_documents(output)] == ["ls-p1-1"]
    assert (
        "task 2: no submitted annotation by 'bob@example.org' (annotations by 2)" in capsys.readouterr().err
    )
    assert main([*args, "--annotator", "2", "--annotation", "latest"]) == 0
    assert [(d.id, d.spans[0].label) for d in load_documents(output)] == [
        ("ls-p1-1", "VICTIM_TYPE"),
        ("ls-p1-2", "VICTIM_TYPE"),
    ]
    with pytest.raises(SystemExit):
        main([*args, "--annotation", "newest"])
    assert "expected a number (0 = first), 'latest' or 'ground-truth'" in capsys.readouterr().err


@pytest.mark.parametrize("source", ["markup", "corpus", "label-studio", "doccano", "conll"])
def test_id_prefix_applies_to_every_importer(tmp_path: Path, source: str) -> None:
    document = Document("7", TEXT, [Span(0, 6, "PERPETRATOR"), Span(14, 16, "CASUALTY_COUNT", "killed")])
    path = tmp_path / "input"
    if source == "markup":
        path.write_text(
            "### 7\n[[Rebels|P]] killed [[12|K]] civilians and wounded three soldiers in Idlib.\n"
        )
    elif source == "conll":
        path.write_text(to_conll([document])[0], encoding="utf-8")
    else:
        payload = {"corpus": [document.to_dict()], "doccano": to_doccano([document])}.get(source)
        if source == "label-studio":
            write_json(path, to_label_studio([document]))
        else:
            path.write_text("".join(json.dumps(line) + "\n" for line in payload), encoding="utf-8")
    output = tmp_path / "out.jsonl"
    assert (
        main(["convert", "--from", source, str(path), "--output", str(output), "--id-prefix", "team-b:"]) == 0
    )
    assert load_documents(output) == [replace(document, id="team-b:7")]


def two_projects(tmp_path: Path) -> tuple[Path, Path]:
    """Two Label Studio projects whose task ids are both 1 and 2."""
    killed = [region("r1", 14, 16, ["CASUALTY_COUNT_KILLED"])]
    victims = [region("r1", 17, 26, ["VICTIM_TYPE"])]
    first = write_json(tmp_path / "A.json", [task(1, killed), task(2, victims)])
    second = write_json(tmp_path / "B.json", [task(1, victims), task(2, killed)])
    return first, second


def test_convert_names_an_id_clash_by_input_file_and_task(tmp_path: Path, capsys) -> None:
    first, second = two_projects(tmp_path)
    output = tmp_path / "merged.jsonl"
    args = ["convert", "--from", "label-studio", str(first), str(second), "--output", str(output)]
    assert main([*args, "--annotation", "latest", "--skip-bad"]) == 2
    err = capsys.readouterr().err
    assert f"{first} task 1 and {second} task 1 have the same document id '1'" in err
    assert f"{first} task 2 and {second} task 2 have the same document id '2'" in err
    assert "--id-prefix once per input file" in err and "--id-prefix-from-file" in err
    assert "merged.jsonl:" not in err and not output.exists()  # no line of a file never written

    # One prefix for every file moves the ids, not the clash.
    assert main([*args, "--id-prefix", "ls-"]) == 2
    assert "have the same document id 'ls-1'" in capsys.readouterr().err and not output.exists()


def test_convert_gives_each_input_file_its_own_id_prefix(tmp_path: Path, capsys) -> None:
    first, second = two_projects(tmp_path)
    output = tmp_path / "merged.jsonl"
    args = ["convert", "--from", "label-studio", str(first), str(second), "--output", str(output)]
    assert main([*args, "--id-prefix", "p1-", "--id-prefix", "p2-"]) == 0
    assert [d.id for d in load_documents(output)] == ["p1-1", "p1-2", "p2-1", "p2-2"]
    assert [d.spans[0].label for d in load_documents(output)][::2] == ["CASUALTY_COUNT", "VICTIM_TYPE"]
    assert main([*args, "--id-prefix-from-file"]) == 0
    assert [d.id for d in load_documents(output)] == ["A-1", "A-2", "B-1", "B-2"]
    capsys.readouterr()
    for wrong, message in (
        (
            ["--id-prefix", "a-", "--id-prefix", "b-", "--id-prefix", "c-"],
            "given 3 times for 2 input file(s)",
        ),
        (["--id-prefix", "a-", "--id-prefix-from-file"], "not both"),
    ):
        assert main([*args, *wrong]) == 2
        assert message in capsys.readouterr().err


def test_convert_names_a_repeated_id_inside_one_file_by_its_lines(tmp_path: Path, capsys) -> None:
    lines = [{"id": "7", "text": TEXT, "label": [[0, 6, "PERPETRATOR"]]}] * 2
    source = tmp_path / "team.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    output = tmp_path / "out.jsonl"
    args = ["convert", "--from", "doccano", str(source), "--output", str(output), "--skip-bad"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{source}:1 and {source}:2 have the same document id '7'" in err
    assert "Ids within one file must be unique" in err and not output.exists()
