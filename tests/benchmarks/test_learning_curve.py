"""The learning-curve script on the tiny model: two small shares, a reused 100% point, the outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from benchmark_scripts import load_benchmark, write_tiny_inputs


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> dict:
    work = tmp_path_factory.mktemp("curve")
    config = write_tiny_inputs(work, tiny_base, train_documents=8)
    script = load_benchmark("learning_curve")
    output = work / "curve"
    args = ["--config", str(config), "--fractions", "0.5", "1.0", "--epochs", "1"]
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


def fake_fakes(folder: Path, texts: dict[str, str]) -> Path:
    """A FA-KES folder with these train articles (the real one lives in ../shared)."""
    import csv

    folder.mkdir(parents=True)
    with (folder / "fakes.csv").open("w", encoding="latin-1", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["unit_id", "article_content", "source"])
        writer.writeheader()
        writer.writerows({"unit_id": i, "article_content": t, "source": "x"} for i, t in texts.items())
    (folder / "splits.json").write_text(json.dumps({"train": [int(i) for i in texts], "dev": []}))
    return folder


def standoff(texts: dict[str, str]) -> str:
    from training.corpus.fakes_standoff import text_sha1

    count = {"start": 9, "end": 11, "label": "CASUALTY_COUNT", "outcome": "killed"}
    lines = [{"id": i, "sha1": text_sha1(t), "spans": [count]} for i, t in texts.items()]
    return "".join(json.dumps(line) + "\n" for line in lines)


def test_fakes_curve_and_its_points_survive_appended_annotations(setup: dict, tmp_path: Path) -> None:
    from training.finetune.config import load_config

    texts = {str(100 + n): f"Shelling {10 + n} people died in town number {n}." for n in range(3)}
    folder = fake_fakes(tmp_path / "fa-kes", texts)
    config = yaml.safe_load((setup["work"] / "config.yaml").read_text(encoding="utf-8"))
    first_two = dict(list(texts.items())[:2])
    (tmp_path / "standoff.jsonl").write_text(standoff(first_two), encoding="utf-8")
    config.update(fakes_dir=str(folder), fakes_annotations=str(tmp_path / "standoff.jsonl"))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    output = tmp_path / "curve"
    args = ["--config", str(tmp_path / "config.yaml"), "--fakes-documents", "1", "0", "--epochs", "1"]
    args += ["--output-dir", str(output), "--fakes", str(setup["work"] / "fakes.jsonl"), "--device", "cpu"]
    assert setup["script"].main(args, log=lambda _: None) == 0
    points = json.loads((output / "learning_curve.json").read_text(encoding="utf-8"))["points"]
    assert [(p["fakes_documents"], p["source"]) for p in points] == [(1, "trained"), (2, "trained")]
    assert (output / "models" / "fakes-2").is_dir()
    table = (output / "learning_curve.md").read_text(encoding="utf-8")
    assert "| FA-KES articles |" in table and "| 100% | 1 |" in table

    # Annotating a third article: the 1 and 2 points stay valid, "all" is now a new point of 3.
    (tmp_path / "standoff.jsonl").write_text(standoff(texts), encoding="utf-8")
    args[args.index("0")] = "2"
    assert setup["script"].main(args, log=lambda _: None) == 0
    points = json.loads((output / "learning_curve.json").read_text(encoding="utf-8"))["points"]
    assert [(p["fakes_documents"], p["source"]) for p in points] == [(1, "cached"), (2, "cached")]
    script = setup["script"]
    everything = load_config(tmp_path / "config.yaml", {"epochs": 1})  # the curve's --epochs 1
    everything = script.point_config(everything, "fakes_max_documents", 0)
    reasons = script.mismatch(script.read_record(output / "models" / "fakes-2"), everything)
    assert reasons == [
        "FA-KES articles: trained on 2, this point uses 3",
        "corpus: the train/dev files or FA-KES annotations have changed since it was trained",
    ]


def test_fakes_curve_needs_fakes(setup: dict, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(setup["work"] / "config.yaml"), "--fakes-documents", "5"]
    assert setup["script"].main(args, log=lambda _: None) == 2
    assert "--fakes-documents needs FA-KES" in capsys.readouterr().err


def test_corpus_hash_of_a_whole_file_equals_the_hash_of_all_its_lines(tmp_path: Path) -> None:
    from training.corpus.store import corpus_hash

    (tmp_path / "a.jsonl").write_text('{"x": 1}\n', encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"y": 1}\n{"y": 2}\n\n', encoding="utf-8")
    files = [tmp_path / "a.jsonl"]
    whole = corpus_hash([*files, tmp_path / "b.jsonl"])
    (tmp_path / "b.jsonl").write_text('{"y": 1}\n{"y": 2}\n', encoding="utf-8")
    assert corpus_hash(files, (tmp_path / "b.jsonl", 2)) == corpus_hash([*files, tmp_path / "b.jsonl"])
    assert corpus_hash(files, (tmp_path / "b.jsonl", 1)) != corpus_hash(files, (tmp_path / "b.jsonl", 2))
    assert whole != corpus_hash(files, (tmp_path / "b.jsonl", 2))  # a blank line is part of a whole file


def test_a_record_from_before_a_config_key_existed_matches_the_keys_default(tmp_path: Path) -> None:
    from training.finetune.config import TrainConfig, config_from_dict

    script = load_benchmark("learning_curve")
    config = config_from_dict(
        {"train_file": str(tmp_path / "absent.jsonl"), "fakes_dir": None, "fakes_annotations": None}
    )
    old = {k: v for k, v in config.to_dict().items() if k not in ("labels", "cache_dir")}
    assert script.mismatch({"config": old, "fakes": {"documents": 0}}, config) == []
    # A key the record lacks is compared with its default: a non-default value is still a mismatch.
    other = config_from_dict({**config.to_dict(), "labels": ["WEAPON"]})
    assert script.mismatch({"config": old, "fakes": {"documents": 0}}, other) == [
        f"labels: trained with {TrainConfig().labels!r}, this curve uses ['WEAPON']"
    ]
