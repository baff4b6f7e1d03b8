"""The learning-curve script on the tiny model: two small shares, a reused 100% point, the outputs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml
from conftest import CORPUS_ONLY

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "annotations"


def load_script():
    spec = importlib.util.spec_from_file_location("learning_curve", ROOT / "benchmarks" / "learning_curve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> dict:
    from training.corpus import load_documents, write_documents

    work = tmp_path_factory.mktemp("curve")
    write_documents(work / "train.jsonl", load_documents(CORPUS / "train.jsonl")[:8])
    write_documents(work / "dev.jsonl", load_documents(CORPUS / "dev.jsonl")[:3])
    write_documents(work / "fakes.jsonl", load_documents(CORPUS / "test.jsonl")[:2])  # stands in for FA-KES
    config = {
        "base_model": str(tiny_base),
        "train_file": str(work / "train.jsonl"),
        "dev_file": str(work / "dev.jsonl"),
        "epochs": 3,
        "batch_size": 8,
        "learning_rate": 1e-3,
        "max_length": 64,
        "stride": 16,
        "augment_strip_punctuation": 0.0,
        **CORPUS_ONLY,
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    script = load_script()
    output = work / "curve"
    args = ["--config", str(work / "config.yaml"), "--fractions", "0.5", "1.0", "--epochs", "1"]
    args += ["--output-dir", str(output), "--fakes", str(work / "fakes.jsonl"), "--device", "cpu"]
    assert script.main(args, log=lambda _: None) == 0
    return {"work": work, "script": script, "output": output, "args": args}


def test_writes_table_json_and_plot(setup: dict) -> None:
    output = setup["output"]
    result = json.loads((output / "learning_curve.json").read_text(encoding="utf-8"))
    points = result["points"]
    assert [p["fraction"] for p in points] == [0.5, 1.0]
    assert [p["train_documents"] for p in points] == [4, 8]
    assert all(p["source"] == "trained" and p["epochs"] == 1 for p in points)  # --epochs overrides the config
    for point in points:
        for column in ("dev", "fakes_gold_dev"):
            assert 0.0 <= point[column]["strict_f1"] <= 1.0 and 0.0 <= point[column]["span_f1"] <= 1.0
    table = (output / "learning_curve.md").read_text(encoding="utf-8")
    assert "| train share | train docs |" in table and "FA-KES strict F1" in table
    assert "| 50% | 4 |" in table and "| 100% | 8 |" in table
    assert (output / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reuse_and_cache(setup: dict, tmp_path: Path) -> None:
    first = json.loads((setup["output"] / "learning_curve.json").read_text(encoding="utf-8"))["points"]
    full_model = setup["output"] / "models" / "frac-1"
    args = [*setup["args"], "--reuse", str(full_model)]
    assert setup["script"].main(args, log=lambda _: None) == 0
    again = json.loads((setup["output"] / "learning_curve.json").read_text(encoding="utf-8"))["points"]
    assert [p["source"] for p in again] == ["cached", "reused"]
    assert again[1]["model"] == str(full_model)
    for before, after in zip(first, again, strict=True):  # the same models give the same scores
        assert before["dev"] == after["dev"] and before["fakes_gold_dev"] == after["fakes_gold_dev"]


def test_reuse_must_fit_the_curve(setup: dict, capsys) -> None:
    work = setup["work"]
    args = ["--config", str(work / "config.yaml"), "--fractions", "1.0", "--epochs", "2"]
    args += ["--output-dir", str(work / "other"), "--reuse", str(setup["output"] / "models" / "frac-1")]
    assert setup["script"].main(args, log=lambda _: None) == 2
    assert "epochs: trained with 1, this curve uses 2" in capsys.readouterr().err
    assert not (work / "other" / "learning_curve.json").exists()


def test_fakes_column_left_out_when_absent(setup: dict) -> None:
    script = setup["script"]
    points = json.loads((setup["output"] / "learning_curve.json").read_text(encoding="utf-8"))["points"]
    plain = [{k: v for k, v in p.items() if k != "fakes_gold_dev"} for p in points]
    table = script.markdown(plain, {"epochs": 1})
    assert "FA-KES" in table and "FA-KES strict F1" not in table and "column left out" in table
    script.plot(plain, setup["work"] / "plain.png")
    assert (setup["work"] / "plain.png").is_file()
