"""The corpus checker lists suspects with their place; agreement scores two annotations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import doc

from inference.spans import Document
from training.cli import main
from training.corpus.quality import check_documents
from training.evaluation.agreement import AgreementError, agreement


def suspects_of(*documents: Document) -> list:
    return check_documents([("c.jsonl", line, d) for line, d in enumerate(documents, start=1)])


def test_untagged_number_near_casualty_word() -> None:
    document = doc(
        "d1",
        "Gunmen killed 12 civilians and wounded 7 in 2021 near a camp 30 km away. "
        "A 17-year-old and a man aged 40 were killed. The death toll rose 5 percent. "
        "Three vehicles were destroyed and two people were killed.",
        [
            ("Gunmen", "PERPETRATOR", None),
            ("12", "CASUALTY_COUNT", "killed"),
            ("civilians", "VICTIM_TYPE", None),
        ],
    )
    found = [
        (s.check, document.text[s.start : s.end])
        for s in suspects_of(document)
        if s.check == "untagged-number"
    ]
    # 7 and "two" are suspects; the year, the distance, the ages, the percentage, the vehicles are not.
    assert found == [("untagged-number", "7"), ("untagged-number", "two")]


def test_suspect_place_and_format() -> None:
    document = doc("d9", "Militants killed 4 people.", [])
    (suspect,) = [s for s in suspects_of(document) if s.check == "untagged-number"]
    assert (suspect.path, suspect.line, suspect.doc_id, suspect.start, suspect.end) == (
        "c.jsonl",
        1,
        "d9",
        17,
        18,
    )
    assert str(suspect).startswith("c.jsonl:1: d9 [17:18] untagged-number: '4' near 'killed'")


def test_same_string_labelled_differently_in_the_same_context() -> None:
    tagged = [
        ("Rebels", "PERPETRATOR", None),
        ("two", "CASUALTY_COUNT", "killed"),
        ("farmers", "VICTIM_TYPE", None),
    ]
    first = doc("a", "Rebels shelled the village and killed two farmers.", tagged)
    second = doc("b", "Rebels shelled the village and killed two farmers.", tagged)
    third = doc("c", "Rebels shelled the village and killed two farmers.", tagged[1:])  # Rebels untagged
    fourth = doc(
        "d",
        "Rebels shelled the village and killed two farmers.",
        [*tagged[:2], ("farmers", "PERPETRATOR", None)],
    )
    found = [
        (s.doc_id, s.message) for s in suspects_of(first, second, third, fourth) if s.check == "inconsistent"
    ]
    assert [doc_id for doc_id, _ in found] == ["c", "d"]
    assert "'Rebels' between '<start>' and 'shelled' is untagged here" in found[0][1]
    assert "PERPETRATOR 3x, untagged 1x" in found[0][1]
    assert "'farmers' between 'two' and '.' is PERPETRATOR here" in found[1][1]


def test_untagged_mention_outside_casualty_sentences_is_not_a_suspect() -> None:
    first = doc(
        "a",
        "Rebels killed two farmers.",
        [("Rebels", "PERPETRATOR", None), ("two", "CASUALTY_COUNT", "killed")],
    )
    second = doc("b", "Rebels killed two farmers. Rebels took the town.", [("Rebels", "PERPETRATOR", None)])
    assert [s for s in suspects_of(first, second) if s.check == "inconsistent"] == []


def test_count_without_victim_and_span_edges() -> None:
    document = doc(
        "e",
        "The rebels killed 12. Shelling wounded 3 civilians, the ministry said. A toll of 9 was given. "
        "Troops killed three of them.",
        [
            ("The rebels", "PERPETRATOR", None),
            ("12", "CASUALTY_COUNT", "killed"),
            ("3", "CASUALTY_COUNT", "injured"),
            ("civilians,", "VICTIM_TYPE", None),
            ("9", "CASUALTY_COUNT", "killed"),
            ("three", "CASUALTY_COUNT", "killed"),
        ],
    )
    found = [(s.check, document.text[s.start : s.end]) for s in suspects_of(document)]
    assert ("count-without-victim", "12") in found
    # a toll names no victims; "three of them" refers back to victims named before
    assert ("count-without-victim", "9") not in found and ("count-without-victim", "three") not in found
    assert ("span-edge", "The rebels") in found and ("span-edge", "civilians,") in found
    messages = {s.message for s in suspects_of(document) if s.check == "span-edge"}
    assert any("starts with the determiner 'The'" in m for m in messages)
    assert any("ends with ','" in m for m in messages)


def test_check_corpus_command_on_the_real_corpus(tmp_path: Path, capsys) -> None:
    from training.corpus.store import read_documents

    path = Path(__file__).resolve().parents[3] / "data" / "annotations" / "dev.jsonl"
    report = tmp_path / "qc.txt"
    assert main(["check-corpus", str(path), "--output", str(report)]) == 0
    lines = report.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("check-corpus: ") and "suspect(s)" in lines[0]
    by_line = {number: document for number, document in read_documents(path)[0]}
    entries = [line for line in lines if line.startswith(f"{path}:")]
    assert entries
    for entry in entries:  # every suspect names a real line, its document id and a range inside it
        place, doc_id, offsets = entry.split(" ", 3)[:3]
        document = by_line[int(place.split(":")[1])]
        start, end = (int(x) for x in offsets.strip("[]").split(":"))
        assert document.id == doc_id and 0 <= start < end <= len(document.text)
    assert "suspect(s)" in capsys.readouterr().out


def test_agreement_scores() -> None:
    text = "Rebels killed 12 civilians and wounded three soldiers."
    first = [
        doc(
            "x",
            text,
            [
                ("Rebels", "PERPETRATOR", None),
                ("12", "CASUALTY_COUNT", "killed"),
                ("civilians", "VICTIM_TYPE", None),
                ("three", "CASUALTY_COUNT", "injured"),
            ],
        )
    ]
    second = [
        doc(
            "x",
            text,
            [
                ("Rebels", "PERPETRATOR", None),
                ("12", "CASUALTY_COUNT", "injured"),  # same span, other outcome
                ("three soldiers", "VICTIM_TYPE", None),
            ],
        )
    ]
    report, differences = agreement(first, second)
    exact = report["span_exact"]
    assert exact["micro"]["f1"] == pytest.approx(2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4))
    assert exact["per_label"]["PERPETRATOR"]["f1"] == 1.0
    assert exact["per_label"]["CASUALTY_COUNT"]["f1"] == pytest.approx(2 / 3)
    assert exact["per_label"]["VICTIM_TYPE"]["f1"] == 0.0
    assert report["outcome"] == {"accuracy": 0.0, "matched_counts": 1}
    ((doc_id, missing, extra),) = differences
    assert doc_id == "x" and len(missing) == 2 and len(extra) == 1
    same, _ = agreement(first, first)
    assert same["span_exact"]["micro"]["f1"] == 1.0


def test_agreement_refuses_mismatched_documents() -> None:
    a = Document("x", "Rebels killed 12 civilians.", [])
    with pytest.raises(AgreementError, match="texts differ"):
        agreement([a], [Document("x", "Rebels killed 13 civilians.", [])])
    with pytest.raises(AgreementError, match="only in the first"):
        agreement([a, Document("y", "t", [])], [a])
    report, _ = agreement([a, Document("y", "t", [])], [a], only_common=True)
    assert report["documents"] == 1 and report["only_in_first"] == ["y"]


def test_agreement_command(tmp_path: Path, capsys) -> None:
    text = "Gunmen killed 5 villagers."
    first = doc("x", text, [("Gunmen", "PERPETRATOR", None), ("5", "CASUALTY_COUNT", "killed")])
    second = doc("x", text, [("Gunmen", "PERPETRATOR", None), ("villagers", "VICTIM_TYPE", None)])
    paths = []
    for name, document in (("a.jsonl", first), ("b.jsonl", second)):
        paths.append(tmp_path / name)
        paths[-1].write_text(json.dumps(document.to_dict()) + "\n", encoding="utf-8")
    output = tmp_path / "agreement.json"
    assert main(["agreement", str(paths[0]), str(paths[1]), "--diff", "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "span_exact: micro F1 0.5000" in printed
    assert (
        "x - [14:15] CASUALTY_COUNT:killed '5'" in printed
        and "x + [16:25] VICTIM_TYPE 'villagers'" in printed
    )
    assert json.loads(output.read_text())["span_exact"]["micro"]["f1"] == 0.5


def test_agreement_names_a_directory_and_a_byte_that_is_not_utf8(tmp_path: Path, capsys) -> None:
    good = tmp_path / "a.jsonl"
    good.write_text(json.dumps(doc("x", "Gunmen killed 5.", []).to_dict()) + "\n", encoding="utf-8")
    assert main(["agreement", str(tmp_path), str(good)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}: is a directory" in err and "does not exist" not in err
    latin1 = tmp_path / "b.jsonl"
    latin1.write_bytes(b'{"id": "x", "text": "Caf\xe9"}\n')
    assert main(["agreement", str(good), str(latin1)]) == 2
    err = capsys.readouterr().err
    assert f"{latin1}:1: not valid UTF-8: byte 0xe9 at byte offset 24" in err and "Traceback" not in err


def test_agreement_refuses_a_directory_as_output_before_printing(tmp_path: Path, capsys) -> None:
    good = tmp_path / "a.jsonl"
    good.write_text(json.dumps(doc("x", "Gunmen killed 5.", []).to_dict()) + "\n", encoding="utf-8")
    folder = tmp_path / "reports"
    folder.mkdir()
    assert main(["agreement", str(good), str(good), "--output", str(folder)]) == 2
    captured = capsys.readouterr()
    assert f"--output {folder} is a directory" in captured.err and captured.out == ""
    assert list(folder.iterdir()) == [] and not list(tmp_path.glob(".*"))


def test_untagged_actor_where_it_reads_as_the_agent_of_a_killing() -> None:
    tagged = doc(
        "a",
        "Assad regime warplanes killed 12 civilians. Civilians fled Assads air force.",
        [("Assad regime", "PERPETRATOR", None), ("12", "CASUALTY_COUNT", "killed")],
    )
    untagged = doc(
        "b",
        "Regime shelling killed 5 people. Two children were killed by Assads air force. "
        "Syrian army shelled the town, killing 3. Tags regime airstrikes Aleppo. "
        "The regime said 4 people were killed.",
        [
            ("5", "CASUALTY_COUNT", "killed"),
            ("children", "VICTIM_TYPE", None),
            ("air force", "PERPETRATOR", None),
            ("3", "CASUALTY_COUNT", "killed"),
        ],
    )
    found = [s for s in suspects_of(tagged, untagged) if s.check == "untagged-actor"]
    # "Regime" before an attack noun, and "Syrian army" (an alias of the actor tagged in "a") before a
    # verb of attack are suspects; "Assads air force" (D1), the keyword line and the speaker are not.
    assert [(s.doc_id, untagged.text[s.start : s.end]) for s in found] == [
        ("b", "Regime"),
        ("b", "Syrian army"),
    ]
    assert "before 'shelling killed'" in found[0].message and "tagged PERPETRATOR 0x" in found[1].message
