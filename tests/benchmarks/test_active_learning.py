"""The active-learning simulation on the tiny model at tiny sizes: both arms, two seeds, the outputs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import yaml
from conftest import CORPUS_ONLY

from training.corpus.store import load_documents, write_documents

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "data" / "annotations"


def load_script():
    spec = importlib.util.spec_from_file_location(
        "active_learning", ROOT / "benchmarks" / "active_learning.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_simulation_runs_both_arms_on_the_same_budget(tmp_path: Path, tiny_base: Path) -> None:
    pool = load_documents(CORPUS / "train.jsonl")[:10]
    write_documents(tmp_path / "train.jsonl", pool)
    write_documents(tmp_path / "dev.jsonl", load_documents(CORPUS / "dev.jsonl")[:3])
    write_documents(
        tmp_path / "fakes.jsonl", load_documents(CORPUS / "test.jsonl")[:2]
    )  # stands in for FA-KES
    config = {
        "base_model": str(tiny_base),
        "train_file": str(tmp_path / "train.jsonl"),
        "dev_file": str(tmp_path / "dev.jsonl"),
        "epochs": 3,
        "batch_size": 8,
        "learning_rate": 1e-3,
        "max_length": 64,
        "stride": 16,
        "augment_strip_punctuation": 0.0,
        **CORPUS_ONLY,
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    output = tmp_path / "al"
    args = ["--config", str(tmp_path / "config.yaml"), "--start", "4", "--step", "2", "--rounds", "2"]
    args += ["--seeds", "0", "1", "--epochs", "1", "--output-dir", str(output)]
    args += ["--fakes", str(tmp_path / "fakes.jsonl"), "--device", "cpu"]
    script = load_script()
    assert script.main(args, log=lambda _: None) == 0

    result = json.loads((output / "active_learning.json").read_text(encoding="utf-8"))
    points = result["points"]
    assert len(points) == 2 * 2 * 3  # seeds x arms x (start + 2 rounds)
    for seed in (0, 1):
        mine = [p for p in points if p["seed"] == seed]
        start = [p for p in mine if p["round"] == 0]
        assert len(start) == 2 and start[0]["model"] == start[1]["model"]  # one start model for both arms
        for arm in ("uncertainty", "random"):
            rounds = sorted((p for p in mine if p["arm"] == arm), key=lambda p: p["round"])
            assert [p["train_documents"] for p in rounds] == [4, 6, 8]
            trained = [
                load_documents(Path(p["model"]).with_name(Path(p["model"]).name + ".train.jsonl"))
                for p in rounds
            ]
            ids = [[d.id for d in docs] for docs in trained]
            assert all(set(a) < set(b) for a, b in zip(ids, ids[1:], strict=False))  # only ever adds
            assert all(0 <= p["dev"]["strict_f1"] <= 1 and "fakes_gold_dev" in p for p in rounds)
            record = json.loads((Path(rounds[-1]["model"]) / "training_record.json").read_text())
            assert record["config"]["epochs"] == 1
    # The uncertainty arm's first choice is what suggest ranks first with the start model.
    from inference import Extractor
    from training.annotate.uncertainty import rank_documents

    seed0 = [p for p in points if p["seed"] == 0]
    start_model = next(p["model"] for p in seed0 if p["round"] == 0)
    first_round = next(p for p in seed0 if p["arm"] == "uncertainty" and p["round"] == 1)
    start_ids = {d.id for d in load_documents(Path(start_model).with_name("start-0.train.jsonl"))}
    left = [(d.id, d.text) for d in pool if d.id not in start_ids]
    ranked = rank_documents(Extractor.from_pretrained(start_model, device="cpu", precision="fp32"), left)
    chosen = load_documents(Path(first_round["model"]).with_name("uncertainty-1.train.jsonl"))
    assert {d.id for d in chosen} - start_ids == {u.id for u in ranked[:2]}

    table = (output / "active_learning.md").read_text(encoding="utf-8")
    assert "| uncertainty | 2 | 8 |" in table and "| random | 2 | 8 |" in table
    assert "dev: uncertainty - random =" in table and "fakes_gold_dev: uncertainty - random =" in table
    assert (output / "active_learning.png").read_bytes()[:4] == b"\x89PNG"
    # A second run finds every model trained with the same settings on the same documents.
    assert script.main(args, log=lambda _: None) == 0
    again = json.loads((output / "active_learning.json").read_text(encoding="utf-8"))["points"]
    assert {p["source"] for p in again} == {"cached"}
