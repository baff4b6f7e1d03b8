"""Training data through ``datasets``: tokenized windows cached by fingerprint (identical to the
windows of ``document_windows``), Parquet files and saved datasets as training files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TEST_TRAINING

import training.finetune.features
from inference.alignment import tag_names
from training.corpus.store import CorpusError, load_documents, read_documents, validate_files, write_documents
from training.finetune.config import config_from_dict
from training.finetune.features import document_windows, training_windows
from training.finetune.train import train

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "data" / "annotations"
LABEL2ID = {name: i for i, name in enumerate(tag_names())}


@pytest.fixture(scope="module")
def documents() -> list:
    return load_documents(CORPUS / "train.jsonl")[:150]


def test_cached_windows_are_the_windows_of_document_windows(
    documents, tokenizer, tmp_path, monkeypatch
) -> None:
    expected = [w for d in documents for w in document_windows(d, tokenizer, LABEL2ID, 128, 32)]
    assert len(expected) > len(documents)  # long documents are in more than one window
    first, cached = training_windows(documents, tokenizer, LABEL2ID, 128, 32, tmp_path)
    assert not cached and first == expected
    assert len(list(tmp_path.glob("windows-*.arrow"))) == 1

    def no_tokenizing(*_args, **_kwargs):
        raise AssertionError("tokenized again although the windows are cached")

    monkeypatch.setattr(training.finetune.features, "document_windows", no_tokenizing)
    again, cached = training_windows(documents, tokenizer, LABEL2ID, 128, 32, tmp_path)
    assert cached and again == expected
    # Other window settings or other data are another fingerprint: tokenized (and cached) anew.
    with pytest.raises(AssertionError, match="tokenized again"):
        training_windows(documents, tokenizer, LABEL2ID, 128, 16, tmp_path)
    with pytest.raises(AssertionError, match="tokenized again"):
        training_windows(documents[1:], tokenizer, LABEL2ID, 128, 32, tmp_path)


def test_parquet_and_saved_datasets_read_as_corpus_files(tmp_path) -> None:
    import datasets

    loaded = datasets.load_dataset(str(CORPUS), cache_dir=str(tmp_path / "hf"))
    loaded["dev"].to_parquet(str(tmp_path / "dev.parquet"))
    loaded["dev"].save_to_disk(str(tmp_path / "dev-saved"))
    loaded.save_to_disk(str(tmp_path / "all-splits"))
    gold = load_documents(CORPUS / "dev.jsonl")
    assert load_documents(tmp_path / "dev.parquet") == gold
    assert load_documents(tmp_path / "dev-saved") == gold
    problems = validate_files([tmp_path / "all-splits"])
    assert len(problems) == 1 and "holds several splits; name one split's directory" in str(problems[0])

    rows = loaded["dev"].select(range(3)).to_list()
    rows[1]["spans"][0]["label"] = "LOCATION"
    datasets.Dataset.from_list(rows, features=loaded["dev"].features).to_parquet(
        str(tmp_path / "bad.parquet")
    )
    _, problems = read_documents(tmp_path / "bad.parquet")
    assert {p.line for p in problems} == {2}
    assert any("unknown label 'LOCATION'" in p.message for p in problems)
    assert str(problems[0]).startswith(f"{tmp_path / 'bad.parquet'}:2: document {rows[1]['id']!r}")


def test_training_reads_parquet_and_saved_datasets_and_the_second_run_skips_tokenizing(
    tmp_path, tiny_base
) -> None:
    import datasets

    train_docs = load_documents(CORPUS / "train.jsonl")[:6]
    write_documents(tmp_path / "train.jsonl", train_docs[:4])
    write_documents(tmp_path / "extra.jsonl", train_docs[4:])
    write_documents(tmp_path / "dev.jsonl", load_documents(CORPUS / "dev.jsonl")[:2])
    datasets.Dataset.from_json(str(tmp_path / "train.jsonl")).to_parquet(str(tmp_path / "train.parquet"))
    datasets.Dataset.from_json(str(tmp_path / "extra.jsonl")).save_to_disk(str(tmp_path / "extra"))
    raw = {
        "base_model": str(tiny_base),
        "train_file": str(tmp_path / "train.parquet"),
        "extra_train_files": [str(tmp_path / "extra")],
        "dev_file": str(tmp_path / "dev.jsonl"),
        "test_file": None,
        "epochs": 1,
        "max_length": 64,
        "stride": 16,
        "augment_strip_punctuation": 0.0,
        "cache_dir": str(tmp_path / "cache"),
        **TEST_TRAINING,
    }
    lines: list[str] = []
    first = train(config_from_dict(raw), tmp_path / "model", log=lines.append)
    assert first["train_documents"] == 6 and first["data_step"]["cached"] is False
    assert any(line.startswith("tokenized ") for line in lines), lines
    second = train(config_from_dict(raw), tmp_path / "model", overwrite=True, log=lines.append)
    assert second["data_step"]["cached"] is True
    assert second["history"][0]["loss"] == pytest.approx(first["history"][0]["loss"])

    bad = json.loads((tmp_path / "train.jsonl").read_text().splitlines()[0])
    bad["spans"][0]["end"] = 10_000
    (tmp_path / "bad.jsonl").write_text(json.dumps(bad) + "\n", encoding="utf-8")
    datasets.Dataset.from_json(str(tmp_path / "bad.jsonl")).to_parquet(str(tmp_path / "bad.parquet"))
    raw["train_file"] = str(tmp_path / "bad.parquet")
    with pytest.raises(CorpusError, match=r"bad\.parquet:1: .*offsets out of range"):
        train(config_from_dict(raw), tmp_path / "model3", log=lambda _: None)
