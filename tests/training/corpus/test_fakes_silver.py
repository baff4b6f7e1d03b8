"""FA-KES silver data: crowd answers placed on train articles only, one document per sentence."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from training.cli import main
from training.corpus.fakes_silver import (
    SilverError,
    _check_train_only,
    build_silver,
    split_actor_answer,
    split_count_answer,
)
from training.corpus.store import load_documents

FAKES_DIR = Path(__file__).resolve().parents[4] / "shared" / "datasets" / "fa-kes"


def parts(splitter, answer: str) -> list[tuple[str, str]]:
    words, found = splitter(answer)
    return [(part.label, " ".join(words[part.first : part.last])) for part in found]


@pytest.mark.parametrize(
    "answer,expected",
    [
        ("57 civilians", [("CASUALTY_COUNT", "57"), ("VICTIM_TYPE", "civilians")]),
        ("13 of whom were women", [("CASUALTY_COUNT", "13"), ("VICTIM_TYPE", "women")]),
        ("70 people", [("CASUALTY_COUNT", "70"), ("VICTIM_TYPE", "people")]),
        ("a child", [("VICTIM_TYPE", "child")]),
        ("Three", [("CASUALTY_COUNT", "three")]),
        ("20 other terrorists", [("CASUALTY_COUNT", "20"), ("VICTIM_TYPE", "terrorists")]),
        ("23 ISIS Terrorists", [("CASUALTY_COUNT", "23"), ("VICTIM_TYPE", "isis terrorists")]),
        ("six Syrian", [("CASUALTY_COUNT", "six")]),
    ],
)
def test_count_answers(answer: str, expected: list[tuple[str, str]]) -> None:
    assert parts(split_count_answer, answer) == expected


@pytest.mark.parametrize(
    "answer,expected",
    [
        ("Syrian aircraft", ["syrian"]),
        ("Russian air strikes", ["russian"]),
        ("the US-led coalition", ["us led coalition"]),
        ("Syria's government", ["government"]),
        ("Russian and Syrian regime", ["russian", "syrian regime"]),
        ("Syrian planes or those of government ally Russia", []),
    ],
)
def test_actor_answers(answer: str, expected: list[str]) -> None:
    assert [text for _, text in parts(split_actor_answer, answer)] == expected


ARTICLES = {
    "101": "Mon 1 May 2017 Strike kills 12. Syrian warplanes killed at least 12 civilians in Idlib on "
    "Monday. The town was later retaken by rebels.",
    "102": "Tue 2 May 2017 Clashes in Hama. ISIS fighters killed 5 soldiers and 3 of whom were women. "
    "A ceasefire was announced.",
    "201": "Wed 3 May 2017 Dev article. Rebels killed 9 civilians near Aleppo on Wednesday.",
}
CROWD = [  # Content-Title differs from fakes.csv in punctuation, as in the real files
    {
        "Content-Title": ARTICLES["101"].replace("Idlib", "Idlib,"),
        "Actor": "Syrian warplanes",
        "Civilians": "12 civilians",
    },
    {
        "Content-Title": ARTICLES["102"],
        "Actor": "ISIS",
        "NonCivilians": "5 soldiers",
        "Women": "3 of whom were women",
    },
    {"Content-Title": ARTICLES["201"], "Actor": "Rebels", "Civilians": "9 civilians"},
]


def fake_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "fa-kes"
    folder.mkdir()
    with (folder / "fakes.csv").open("w", encoding="latin-1", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["unit_id", "article_title", "article_content"])
        writer.writerows([unit_id, "t", text] for unit_id, text in ARTICLES.items())
    columns = ["Content-Title", "Title", "Actor", "Civilians", "NonCivilians", "Children", "Women"]
    with (folder / "crowdsourced-annotations.derived.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({c: row.get(c, "") for c in columns} for row in CROWD)
    splits = {"train": ["101", "102"], "dev": ["201"]}
    (folder / "splits.json").write_text(json.dumps(splits), encoding="utf-8")
    return folder


def shown(document) -> list[tuple[str, str, str | None]]:
    return [(document.text[s.start : s.end], s.label, s.outcome) for s in document.spans]


def test_silver_from_a_small_folder(tmp_path: Path) -> None:
    imported, summary = build_silver(fake_folder(tmp_path))
    by_id = {d.id: d for d in imported.documents}
    assert sorted(by_id) == ["101#s1", "102#s1"]  # only sentences with answers, only train articles
    assert by_id["101#s1"].text == "Syrian warplanes killed at least 12 civilians in Idlib on Monday."
    assert shown(by_id["101#s1"]) == [
        ("Syrian", "PERPETRATOR", None),
        ("at least 12", "CASUALTY_COUNT", "killed"),  # the quantifier joins the count
        ("civilians", "VICTIM_TYPE", None),
    ]
    assert shown(by_id["102#s1"]) == [
        ("ISIS", "PERPETRATOR", None),
        ("5", "CASUALTY_COUNT", "killed"),
        ("soldiers", "VICTIM_TYPE", None),
        ("3", "CASUALTY_COUNT", "killed"),
        ("women", "VICTIM_TYPE", None),
    ]
    assert "crowd rows of dev or reserved articles (not used) 1" in summary
    assert not any("201" in str(issue) for issue in imported.issues)


def test_only_train_split(tmp_path: Path) -> None:
    with pytest.raises(SilverError, match="'train' split only"):
        build_silver(fake_folder(tmp_path), split="dev")
    with pytest.raises(SilverError, match="missing"):
        build_silver(tmp_path)


def test_train_only_guard() -> None:
    from inference.spans import Document

    _check_train_only([Document("101#s1", "x")], {"101"}, {"201"})
    with pytest.raises(AssertionError, match="non-train"):
        _check_train_only([Document("201#s0", "x")], {"101"}, {"201"})
    with pytest.raises(AssertionError, match="non-train"):
        _check_train_only([Document("999#s0", "x")], {"101"}, {"201"})


def test_convert_command(tmp_path: Path, capsys) -> None:
    output = tmp_path / "silver.jsonl"
    args = [
        "convert",
        "--from",
        "fakes-crowd",
        "--fakes-dir",
        str(fake_folder(tmp_path)),
        "--output",
        str(output),
    ]
    assert main(args) == 0
    assert len(load_documents(output)) == 2
    assert "FA-KES silver (train)" in capsys.readouterr().err
    assert main([*args, "--id-prefix", "fakes-"]) == 0
    assert [d.id for d in load_documents(output)] == ["fakes-101#s1", "fakes-102#s1"]


@pytest.mark.skipif(not FAKES_DIR.is_dir(), reason="../shared/datasets/fa-kes is absent")
def test_silver_from_the_real_files(tmp_path: Path) -> None:
    splits = json.loads((FAKES_DIR / "splits.json").read_text(encoding="utf-8"))
    train, dev = set(splits["train"]), set(splits["dev"])
    imported, summary = build_silver(FAKES_DIR)
    documents = imported.documents
    assert len(documents) > 300, summary
    units = {d.id.split("#")[0] for d in documents}
    assert units <= train and not units & dev
    with (FAKES_DIR / "fakes.csv").open(encoding="latin-1", newline="") as handle:
        texts = {row["unit_id"]: row["article_content"] for row in csv.DictReader(handle)}
    for document in documents:
        assert document.text in texts[document.id.split("#")[0]]
    output = tmp_path / "silver.jsonl"
    from training.corpus.formats import write_corpus_validated

    write_corpus_validated(output, documents)  # raises if any span does not validate
    labels = {s.label for d in documents for s in d.spans}
    assert labels == {"CASUALTY_COUNT", "VICTIM_TYPE", "PERPETRATOR"}


def test_convert_names_what_is_wrong_in_the_fakes_folder(tmp_path: Path, capsys) -> None:
    folder = fake_folder(tmp_path)
    output = tmp_path / "silver.jsonl"

    def convert(fakes_dir: Path) -> str:
        args = ["convert", "--from", "fakes-crowd", "--fakes-dir", str(fakes_dir), "--output", str(output)]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and not output.exists()
        return err

    assert f"--fakes-dir {folder / 'splits.json'} is not a directory" in convert(folder / "splits.json")
    (folder / "splits.json").write_text('{"train": ["101"],\n "dev": }', encoding="utf-8")
    assert f"{folder / 'splits.json'}:2: invalid JSON" in convert(folder)
    (folder / "splits.json").write_text('["101"]', encoding="utf-8")
    assert "splits.json: expected an object with lists 'train' and 'dev'" in convert(folder)
    crowd = folder / "crowdsourced-annotations.derived.csv"
    crowd.write_bytes(crowd.read_bytes().replace(b"Idlib", b"Idl\xefb", 1))
    offset = crowd.read_bytes().index(b"\xef")
    assert f"{crowd}:2: not valid UTF-8: byte 0xef at byte offset {offset}" in convert(folder)
