"""The data check behind ``conflict-ie stats``: each section's numbers on hand-written documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import doc

from inference.spans import Document, Span
from training.cli import main
from training.corpus.datacheck import check_data, format_check

CORPUS = Path(__file__).resolve().parents[3] / "data" / "annotations"
WORDS = "men killed one two three four five six seven eight"  # one token a word with MiniLM


def test_counts_spans_per_document_and_window_cut(tokenizer) -> None:
    # 10 tokens; max_length 8 leaves 6 besides [CLS] and [SEP]; windows [0, 6) and [4, 10).
    a = doc("a", WORDS, [("men", "PERPETRATOR", None), ("four five", "CASUALTY_COUNT", "killed")])
    b = doc("b", WORDS, [("two three four five six", "VICTIM_TYPE", None), ("eight", "PERPETRATOR", None)])
    c = doc("c", "Nothing happened.", [])
    check = check_data({"train": [a, b, c]}, tokenizer, max_length=8, stride=2)

    counts = check.counts["train"]
    assert (counts.documents, counts.words, counts.spans) == (3, 22, 4)
    assert counts.labels == {
        "CASUALTY_COUNT:killed": 1,
        "CASUALTY_COUNT:injured": 0,
        "VICTIM_TYPE": 1,
        "PERPETRATOR": 2,
    }
    assert check.total.labels == counts.labels and check.total.documents == 3

    density = check.density["train"]
    assert (density.mean, density.median, density.max) == (1.3333, 2.0, 2)
    assert (density.documents_without_spans, density.ids_without_spans) == (1, ["c"])

    cut = check.window_cut["train"]
    # "four five" (tokens 5-6) runs past window [0, 6) but is whole in [4, 10); "two ... six"
    # (tokens 3-7) starts before the second window: whole in none.
    assert (cut.spans, cut.documents_with_several_windows, cut.windows) == (4, 2, 5)
    assert (cut.cut_in_first_window, cut.cut_in_every_window, cut.not_on_token_boundaries) == (2, 1, 0)
    assert cut.share_cut == 0.5
    assert cut.never_whole == [("b", 15, 38, "two three four five six")]
    assert any("1 span(s) whole in no window" in w for w in check.warnings)
    assert check.errors == []

    # With a longer window nothing is cut; without a tokenizer the section is skipped.
    wide = check_data({"train": [a, b, c]}, tokenizer, max_length=16, stride=2).window_cut["train"]
    assert (wide.windows, wide.cut_in_first_window) == (3, 0)
    assert check_data({"train": [a, b, c]}).window_cut is None
    with pytest.raises(ValueError, match="stride"):
        check_data({"train": [a]}, tokenizer, max_length=8, stride=6)


def test_spans_off_the_tokenizer_units_are_errors(tokenizer) -> None:
    bad = Document("x", WORDS, [Span(1, 3, "PERPETRATOR")])  # "en" of "men"
    check = check_data({"train": [bad]}, tokenizer, max_length=8, stride=2)
    assert check.window_cut["train"].unaligned == [("x", 1, 3, "en")]
    assert check.errors == ["train: 1 span(s) not on the tokenizer's word units (train refuses them)"]


def test_rare_labels_and_new_labels() -> None:
    text = "a b c d e f"

    def marked(*labels: str | tuple[str, str]) -> list[tuple[str, str, str | None]]:
        return [
            (word, *(label if isinstance(label, tuple) else (label, None)))
            for word, label in zip(text.split(), labels, strict=False)
        ]

    train = [doc("t", text, marked("VICTIM_TYPE", "VICTIM_TYPE", "PERPETRATOR", "PERPETRATOR"))]
    # dev: VICTIM_TYPE 1 of 4 = 25%, exactly half of train's 50%: not rare (the rule is "below").
    dev = [doc("d", text, marked("VICTIM_TYPE", "PERPETRATOR", "PERPETRATOR", ("CASUALTY_COUNT", "injured")))]
    # test: VICTIM_TYPE 1 of 5 = 20%: rare; an unknown label and a count without outcome.
    test = [doc("s", text, marked("VICTIM_TYPE", "PERPETRATOR", "PERPETRATOR", "WEAPON", "CASUALTY_COUNT"))]
    check = check_data({"dev.jsonl": dev, "train.jsonl": train, "test.jsonl": test})

    assert check.reference == "train.jsonl"  # by name, not by position
    assert [(r.split, r.label, r.count, r.share, r.reference_share) for r in check.rare] == [
        ("test.jsonl", "VICTIM_TYPE", 1, 0.2, 0.5)
    ]
    assert check.few_reference_examples == {
        "CASUALTY_COUNT:killed": 0,
        "CASUALTY_COUNT:injured": 0,
        "VICTIM_TYPE": 2,
        "PERPETRATOR": 2,
    }
    assert check.not_in_reference == {
        "dev.jsonl": ["CASUALTY_COUNT:injured"],
        "test.jsonl": ["WEAPON", "CASUALTY_COUNT"],
    }
    assert check.outside_label_set == {"test.jsonl": ["WEAPON", "CASUALTY_COUNT"]}
    assert check.errors == [
        "test.jsonl: entity type(s) outside the project's set (CASUALTY_COUNT:killed, "
        "CASUALTY_COUNT:injured, VICTIM_TYPE, PERPETRATOR): WEAPON, CASUALTY_COUNT"
    ]
    assert (
        "dev.jsonl: entity type(s) not in train.jsonl, never learned: CASUALTY_COUNT:injured"
        in check.warnings
    )
    assert (
        "test.jsonl: VICTIM_TYPE is rare: 20.0% of its spans (1) against 50.0% in train.jsonl"
        in check.warnings
    )
    assert "train.jsonl: only 2 VICTIM_TYPE span(s) (fewer than 50)" in check.warnings
    # Without a split named train, the first split is the reference.
    assert check_data({"a": dev, "b": test}).reference == "a"


def test_strings_labelled_differently_across_splits() -> None:
    tagged = [
        ("Rebels", "PERPETRATOR", None),
        ("two", "CASUALTY_COUNT", "killed"),
        ("farmers", "VICTIM_TYPE", None),
    ]
    text = "Rebels shelled the village and killed two farmers."
    train = [doc("a", text, tagged), doc("b", text, tagged)]
    dev = [doc("c", text, [*tagged[:2], ("farmers", "PERPETRATOR", None)])]
    test = [doc("d", text, tagged[1:])]  # Rebels untagged
    check = check_data({"train": train, "dev": dev, "test": test})
    found = [(i.split, i.document, i.start, i.end, i.text) for i in check.inconsistent]
    assert found == [("dev", "c", 42, 49, "farmers"), ("test", "d", 0, 6, "Rebels")]
    assert "is PERPETRATOR here; corpus-wide in this context: VICTIM_TYPE 3x" in check.inconsistent[0].message
    assert "2 occurrence(s) of 2 string(s) labelled differently" in check.warnings[-1]
    consistent = check_data({"train": train, "dev": train})
    assert consistent.inconsistent == [] and consistent.warnings == [
        f"train: only {n} {label} span(s) (fewer than 50)"
        for label, n in consistent.few_reference_examples.items()
    ]


def test_json_shape_and_text_sections(tokenizer) -> None:
    a = doc("a", WORDS, [("men", "PERPETRATOR", None), ("four five", "CASUALTY_COUNT", "killed")])
    check = check_data({"train": [a], "dev": [a]}, tokenizer, max_length=8, stride=2)
    out = json.loads(json.dumps(check.to_dict()))
    assert set(out) == {
        "splits", "reference", "labels", "counts", "spans_per_document", "window_cut", "rare_labels",
        "inconsistent_strings", "new_labels", "warnings", "errors",
    }  # fmt: skip
    assert out["splits"] == ["train", "dev"] and set(out["counts"]) == {"train", "dev", "total"}
    assert out["counts"]["total"]["spans"] == 4
    assert out["spans_per_document"]["dev"]["ids_without_spans"] == []
    window = out["window_cut"]
    assert (window["max_length"], window["stride"]) == (8, 2)
    assert window["splits"]["train"]["cut_in_first_window"] == 1
    assert window["splits"]["train"]["share_cut"] == 0.5 and window["splits"]["train"]["never_whole"] == []
    assert out["rare_labels"]["fraction"] == 0.5 and out["rare_labels"]["rare"] == []
    assert out["new_labels"] == {"not_in_reference": {}, "outside_label_set": {}}
    text = format_check(check)
    assert text.splitlines()[0].split()[:3] == ["split", "docs", "words"]
    for section in ("== spans per document", "== window cut", "== label shares", "== strings labelled",
                    "== new labels", "== 0 error(s)"):  # fmt: skip
        assert section in text


def test_stats_command_writes_json_and_text(tmp_path: Path, capsys) -> None:
    a = doc("a", WORDS, [("men", "PERPETRATOR", None), ("four five", "CASUALTY_COUNT", "killed")])
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps(a.to_dict()) + "\n")
    assert main(["stats", str(train), "--no-windows"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:3] == ["train.jsonl", "1", "10"]
    assert "== window cut: skipped (no tokenizer)" in lines
    report = tmp_path / "check.json"
    assert (
        main(["stats", str(train), "--json", "--output", str(report), "--max-length", "8", "--stride", "2"])
        == 0
    )
    assert "wrote the data check" in capsys.readouterr().out
    written = json.loads(report.read_text())
    assert written["window_cut"]["splits"]["train.jsonl"]["cut_in_first_window"] == 1
    assert main(["stats", str(train), "--max-length", "8", "--stride", "7"]) == 2
    assert "stride" in capsys.readouterr().err


def test_stats_on_the_shipped_corpus(capsys) -> None:
    paths = [str(CORPUS / f"{split}.jsonl") for split in ("train", "dev", "test")]
    assert main(["stats", *paths, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["splits"] == ["train.jsonl", "dev.jsonl", "test.jsonl"] and out["reference"] == "train.jsonl"
    assert out["counts"]["total"]["documents"] == sum(out["counts"][s]["documents"] for s in out["splits"])
    assert out["window_cut"]["max_length"] == 256 and out["errors"] == []
    for split in out["splits"]:
        assert 0 <= out["window_cut"]["splits"][split]["share_cut"] < 1
