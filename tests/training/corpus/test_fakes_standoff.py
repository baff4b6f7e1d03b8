"""FA-KES standoff annotations: id + sha1 + spans committed, texts joined from a local FA-KES folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from training.cli import main
from training.corpus.fakes_standoff import STANDOFF_FILE, read_standoff, text_sha1
from training.corpus.store import CorpusError, load_documents

FAKES_DIR = Path(__file__).resolve().parents[4] / "shared" / "datasets" / "fa-kes"
TEXTS = {
    "101": "21 August 2016 Three civilians injured in terrorist rocket attacks on Izraa town.",
    "102": "Regime shelling killed 12 people in Douma the Observatory said.",
    "201": "Dev article: ISIS killed 5 soldiers.",
}


@pytest.fixture()
def fakes_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "fa-kes"
    folder.mkdir()
    with (folder / "fakes.csv").open("w", encoding="latin-1", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["unit_id", "article_content", "source"])
        writer.writeheader()
        for unit_id, text in TEXTS.items():
            writer.writerow({"unit_id": unit_id, "article_content": text, "source": "x"})
    (folder / "splits.json").write_text(json.dumps({"train": [101, 102], "dev": [201]}))
    return folder


def standoff_line(doc_id: str, spans: list[dict], sha1: str | None = None) -> str:
    return json.dumps({"id": doc_id, "sha1": sha1 or text_sha1(TEXTS[doc_id]), "spans": spans}) + "\n"


COUNT = {"start": 15, "end": 20, "label": "CASUALTY_COUNT", "outcome": "injured"}
PERP = {"start": 0, "end": 6, "label": "PERPETRATOR"}


def test_standoff_materialises_with_the_article_text(fakes_dir: Path, tmp_path: Path) -> None:
    standoff = tmp_path / "standoff.jsonl"
    standoff.write_text(standoff_line("101", [COUNT]) + standoff_line("102", [PERP]))
    documents = read_standoff(standoff, fakes_dir)
    assert [d.id for d in documents] == ["101", "102"]
    assert documents[0].text[15:20] == "Three" and documents[0].spans[0].outcome == "injured"
    assert documents[1].text[0:6] == "Regime"


@pytest.mark.parametrize(
    "line,message",
    [
        (standoff_line("201", []), "not in the FA-KES train split"),
        (json.dumps({"id": "999", "sha1": "x", "spans": []}) + "\n", "not in the FA-KES train split"),
        (standoff_line("101", [], sha1="0" * 40), "sha1 differs"),
        (standoff_line("101", [{**COUNT, "end": 18}]), "cuts a word"),
        (standoff_line("101", [{**COUNT, "label": "WEAPON"}]), "unknown label"),
        ("{not json\n", "invalid JSON"),
    ],
)
def test_standoff_refuses_bad_lines_naming_file_and_line(
    fakes_dir: Path, tmp_path: Path, line: str, message: str
) -> None:
    standoff = tmp_path / "standoff.jsonl"
    standoff.write_text(standoff_line("102", [PERP]) + line)
    with pytest.raises(CorpusError) as error:
        read_standoff(standoff, fakes_dir)
    assert f"{standoff}:2:" in str(error.value) and message in str(error.value)


def test_duplicate_ids_are_refused(fakes_dir: Path, tmp_path: Path) -> None:
    standoff = tmp_path / "standoff.jsonl"
    standoff.write_text(standoff_line("102", [PERP]) * 2)
    with pytest.raises(CorpusError, match="duplicate id '102' \\(first on line 1\\)"):
        read_standoff(standoff, fakes_dir)


def test_convert_round_trip_and_refusal_write_nothing(fakes_dir: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "101", "text": TEXTS["101"], "spans": [COUNT]}) + "\n")
    standoff = tmp_path / "out" / "standoff.jsonl"
    args = ["convert", "--to", "fakes-standoff", "--fakes-dir", str(fakes_dir), str(corpus)]
    assert main([*args, "--output", str(standoff)]) == 0
    assert "Three" not in standoff.read_text()  # no text in the standoff file
    back = tmp_path / "back.jsonl"
    assert main(["convert", "--from", "fakes-standoff", "--fakes-dir", str(fakes_dir), str(standoff),
                 "--output", str(back)]) == 0
    assert load_documents(back)[0].to_dict() == json.loads(corpus.read_text())

    dev = tmp_path / "dev.jsonl"
    dev.write_text(json.dumps({"id": "201", "text": TEXTS["201"], "spans": []}) + "\n")
    refused = tmp_path / "refused.jsonl"
    assert main(["convert", "--to", "fakes-standoff", "--fakes-dir", str(fakes_dir), str(dev),
                 "--output", str(refused)]) == 2
    assert not refused.exists()


def test_missing_fakes_folder_is_named(tmp_path: Path) -> None:
    standoff = tmp_path / "standoff.jsonl"
    standoff.write_text(standoff_line("101", []))
    assert main(["convert", "--from", "fakes-standoff", "--fakes-dir", str(tmp_path / "nowhere"),
                 str(standoff), "--output", str(tmp_path / "o.jsonl")]) == 2


@pytest.mark.skipif(not FAKES_DIR.is_dir(), reason="FA-KES is not in ../shared")
def test_committed_annotations_are_train_articles_only() -> None:
    documents = read_standoff(STANDOFF_FILE, FAKES_DIR)
    splits = json.loads((FAKES_DIR / "splits.json").read_text())
    train = {str(i) for i in splits["train"]}
    assert len(documents) >= 250 and {d.id for d in documents} <= train
    assert sum(len(d.spans) for d in documents) > 1000


def tiny_config(tmp_path: Path, tiny_base: Path, **extra: object) -> Path:
    from training.corpus.store import write_documents

    corpus = Path(__file__).resolve().parents[3] / "data" / "annotations"
    tmp_path.mkdir(exist_ok=True)
    write_documents(tmp_path / "train.jsonl", load_documents(corpus / "train.jsonl")[:4])
    write_documents(tmp_path / "dev.jsonl", load_documents(corpus / "dev.jsonl")[:2])
    lines = {
        "base_model": str(tiny_base),
        "train_file": str(tmp_path / "train.jsonl"),
        "dev_file": str(tmp_path / "dev.jsonl"),
        "epochs": 1,
        "max_length": 64,
        "stride": 16,
        **extra,
    }
    config = tmp_path / "configs" / "c.yaml"
    config.parent.mkdir()
    config.write_text("".join(f"{key}: {json.dumps(value)}\n" for key, value in lines.items()))
    return config


def test_training_adds_the_fakes_articles_and_says_so(
    fakes_dir: Path, tmp_path: Path, tiny_base: Path
) -> None:
    from training.finetune.config import load_config
    from training.finetune.train import train

    (tmp_path / "standoff.jsonl").write_text(standoff_line("101", [COUNT]) + standoff_line("102", [PERP]))
    # paths in the config file are read relative to the config file's folder
    paths = {"fakes_dir": "../fa-kes", "fakes_annotations": "../standoff.jsonl"}
    config_file = tiny_config(tmp_path, tiny_base, **paths)
    config = load_config(config_file)
    said: list[str] = []
    record = train(config, tmp_path / "model", log=said.append)
    assert record["fakes"]["documents"] == 2 and record["train_file_documents"] == 4
    assert any("adding 2 annotated FA-KES train articles" in line for line in said)

    config_file = tiny_config(tmp_path / "b", tiny_base, fakes_dir="../gone", fakes_annotations="../s.jsonl")
    config = load_config(config_file)
    said.clear()
    record = train(config, tmp_path / "b" / "model", log=said.append)
    assert record["fakes"] is None
    assert any("not found: training on the corpus alone" in line for line in said)


@pytest.mark.skipif(not FAKES_DIR.is_dir(), reason="FA-KES is not in ../shared")
def test_second_annotation_of_30_articles_and_its_reported_agreement() -> None:
    from training.evaluation.agreement import agreement

    second_file = STANDOFF_FILE.parents[1] / "agreement" / "fakes-second30.standoff.jsonl"
    second = read_standoff(second_file, FAKES_DIR)
    report, _ = agreement(read_standoff(STANDOFF_FILE, FAKES_DIR), second, only_common=True)
    assert report["documents"] == len(second) == 30
    # The figures the guidelines report; an annotation edit that moves them must update them too.
    assert round(report["span_exact"]["micro"]["f1"], 3) == 0.988
    assert round(report["span_exact"]["per_label"]["PERPETRATOR"]["f1"], 3) == 0.988


def test_the_last_articles_can_tune_minimum_scores_instead_of_training(
    fakes_dir: Path, tmp_path: Path, tiny_base: Path
) -> None:
    from training.finetune.config import ConfigError, load_config
    from training.finetune.train import train

    (tmp_path / "standoff.jsonl").write_text(standoff_line("101", [COUNT]) + standoff_line("102", [PERP]))
    paths = {"fakes_dir": "../fa-kes", "fakes_annotations": "../standoff.jsonl"}
    config = load_config(tiny_config(tmp_path, tiny_base, **paths, fakes_calibration_documents=1))
    said: list[str] = []
    record = train(config, tmp_path / "model", log=said.append)
    assert record["fakes"]["documents"] == 1
    assert record["calibration"]["fakes_documents"] == 1
    assert any("keeping the last 1 FA-KES articles out of training" in line for line in said)

    paths = {"fakes_dir": str(fakes_dir), "fakes_annotations": str(tmp_path / "standoff.jsonl")}
    config = load_config(tiny_config(tmp_path / "b", tiny_base, **paths, fakes_calibration_documents=2))
    with pytest.raises(ConfigError, match="only 2 FA-KES articles are used: nothing would be left"):
        train(config, tmp_path / "b" / "model", log=said.append)
    assert not (tmp_path / "b" / "model").exists()


def test_fakes_repeat_trains_on_each_article_that_many_times(
    fakes_dir: Path, tmp_path: Path, tiny_base: Path
) -> None:
    from training.finetune.config import load_config
    from training.finetune.train import training_documents

    (tmp_path / "standoff.jsonl").write_text(standoff_line("101", [COUNT]) + standoff_line("102", [PERP]))
    paths = {"fakes_dir": "../fa-kes", "fakes_annotations": "../standoff.jsonl"}
    once, counts_once, _ = training_documents(load_config(tiny_config(tmp_path, tiny_base, **paths)), print)
    paths = {"fakes_dir": str(fakes_dir), "fakes_annotations": str(tmp_path / "standoff.jsonl")}
    config = load_config(tiny_config(tmp_path / "b", tiny_base, **paths, fakes_repeat=3))
    thrice, counts, _ = training_documents(config, print)
    assert len(thrice) == len(once) + 2 * 2
    assert [d.id for d in thrice].count("101") == 3 and counts["fakes_repeated"] == 4
    assert "fakes_repeated" not in counts_once
