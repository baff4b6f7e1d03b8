"""The active-learning simulation on the tiny model at tiny sizes: both arms, two seeds, the outputs."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark_scripts import load_benchmark, write_tiny_inputs

from training.corpus.store import load_documents


def test_simulation_runs_both_arms_on_the_same_budget(tmp_path: Path, tiny_base: Path) -> None:
    config = write_tiny_inputs(tmp_path, tiny_base, train_documents=10)
    pool = load_documents(tmp_path / "train.jsonl")
    output = tmp_path / "al"
    args = ["--config", str(config), "--start", "4", "--step", "2", "--rounds", "2"]
    args += ["--seeds", "0", "1", "--epochs", "1", "--output-dir", str(output)]
    args += ["--fakes", str(tmp_path / "fakes.jsonl"), "--device", "cpu"]
    script = load_benchmark("active_learning")
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
