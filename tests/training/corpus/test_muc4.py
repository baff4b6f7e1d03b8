"""Issue #14 item 2: MUC-4 role-filler entities as corpus documents, and the GRIT/GTT metric.

The converter and the metric are tested on hand-made records; the shared data (../shared) is used
only where it is present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TEST_TRAINING
from training.cli import main
from training.corpus.formats.muc4 import MUC4_SCHEMA, read_gold, read_muc4
from training.corpus.store import load_documents, write_documents
from training.evaluation.ree import entities_from_spans, matches, normalize, ree_scores
from training.finetune.config import load_config

ROOT = Path(__file__).resolve().parents[3]
SHARED_MUC4 = ROOT.parent / "shared" / "datasets" / "muc4"
TEXT = (
    "armed forces members attacked the village. the armed forces said the fmln was behind it; "
    "fmln guerrillas used a car bomb. the car-bomb wounded two peasants."
)


def grit_record(docid: str = "TST3-MUC4-0001") -> dict:
    return {
        "docid": docid,
        "doctext": TEXT,
        "extracts": {
            "PerpInd": [[["armed forces members", 0]], [["guerrillas", TEXT.index("guerrillas")]]],
            "PerpOrg": [[["armed forces", TEXT.index("the armed") + 4], ["fmln", TEXT.index("fmln")]]],
            "Target": [[["village", TEXT.index("village")]]],
            "Victim": [[["two peasants", TEXT.index("two peasants")], ["peasant", None]]],
            "Weapon": [[["car bomb", TEXT.index("car bomb")], ["bomb", None]]],
        },
    }


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_every_mention_is_tagged_and_overlaps_go_to_the_longest(tmp_path: Path):
    imported = read_muc4(write_jsonl(tmp_path / "test.json", [grit_record()]))
    (document,) = imported.documents
    tagged = [(TEXT[s.start : s.end], s.label, s.start) for s in document.spans]
    assert tagged == [
        ("armed forces members", "PERP_IND", 0),
        ("village", "TARGET", TEXT.index("village")),
        ("armed forces", "PERP_ORG", TEXT.index("the armed") + 4),
        ("fmln", "PERP_ORG", TEXT.index("fmln")),
        ("fmln", "PERP_ORG", TEXT.index("fmln guerrillas")),  # the repeat, found by matching
        ("guerrillas", "PERP_IND", TEXT.index("guerrillas")),
        ("car bomb", "WEAPON", TEXT.index("car bomb")),
        ("bomb", "WEAPON", TEXT.index("car-bomb") + 4),  # whole word after the hyphen
        ("two peasants", "VICTIM", TEXT.index("two peasants")),
    ]
    # "peasant" is only inside "peasants": no word-boundary occurrence.
    assert [(u.label, u.mention, u.reason) for u in imported.unplaced] == [
        ("VICTIM", "peasant", "not found on word boundaries")
    ]
    assert "1 mention(s) not placed (1 not found on word boundaries)" in imported.summary()


def test_an_inner_mention_of_another_role_is_listed_as_overlapped(tmp_path: Path):
    record = grit_record()
    record["extracts"]["PerpOrg"] = [[["armed forces", 0]]]  # only inside "armed forces members" at 0
    record["doctext"] = record["doctext"].replace("the armed forces said", "the army said")
    imported = read_muc4(write_jsonl(tmp_path / "test.json", [record]))
    assert ("PERP_ORG", "armed forces", "overlapped") in [
        (u.label, u.mention, u.reason) for u in imported.unplaced
    ]


def test_gtt_templates_are_merged_per_role(tmp_path: Path):
    templates = [
        {"incident_type": "bombing", "PerpInd": [], "PerpOrg": [[["fmln", TEXT.index("fmln")]]],
         "Target": [], "Victim": [], "Weapon": [[["car bomb", TEXT.index("car bomb")]]]},
        {"incident_type": "attack", "PerpInd": [], "PerpOrg": [[["fmln", TEXT.index("fmln")]]],
         "Target": [[["village", TEXT.index("village")]]], "Victim": [], "Weapon": []},
    ]  # fmt: skip
    path = write_jsonl(tmp_path / "test.json", [{"docid": "d", "doctext": TEXT, "templates": templates}])
    ((_, _, gold),) = read_gold(path)
    assert (
        gold["PERP_ORG"] == [["fmln"]]
        and gold["TARGET"] == [["village"]]
        and gold["WEAPON"] == [["car bomb"]]
    )
    labels = [s.label for s in read_muc4(path).documents[0].spans]
    assert labels.count("PERP_ORG") == 2  # both occurrences of "fmln"


def test_convert_writes_a_corpus_of_the_muc4_labels_and_lists_the_unplaced(tmp_path: Path, capsys):
    write_jsonl(tmp_path / "dev.json", [grit_record("DEV-1"), grit_record("DEV-2")])
    output, unplaced = tmp_path / "dev.jsonl", tmp_path / "unplaced.jsonl"
    argv = ["convert", "--from", "muc4", str(tmp_path), "--split", "dev", "--output", str(output)]
    assert main([*argv, "--unplaced", str(unplaced)]) == 0
    documents = load_documents(output, MUC4_SCHEMA)
    assert [d.id for d in documents] == ["DEV-1", "DEV-2"] and len(documents[0].spans) == 9
    assert [json.loads(line)["mention"] for line in unplaced.read_text().splitlines()] == [
        "peasant",
        "peasant",
    ]
    assert "2 mention(s) not placed" in capsys.readouterr().err


def test_convert_names_a_missing_split(tmp_path: Path, capsys):
    argv = ["convert", "--from", "muc4", str(tmp_path), "--split", "test", "--output", str(tmp_path / "x")]
    assert main(argv) != 0
    assert "no test.json" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------ the metric (GRIT eval.py, strict)


def test_normalize_drops_case_punctuation_and_articles():
    assert normalize("The  F.M.L.N.") == "fmln"
    assert normalize("an urban guerrilla, the") == "urban guerrilla"
    assert normalize("theatre") == "theatre"  # an article only as a whole word


def test_an_entity_counts_when_any_of_its_mentions_is_predicted():
    gold = [["armed forces members", "military"]]
    assert matches(gold, [["military"]]) == 1
    assert matches(gold, [["the Military."]]) == 1
    assert matches(gold, [["soldiers"]]) == 0


def test_matching_is_one_to_one_and_maximal():
    gold = [["military", "army"], ["army"]]
    # Two predictions of the first entity's mentions: only one can match it; "army" can take the second.
    assert matches(gold, [["military"], ["army"]]) == 2
    assert matches(gold, [["military"], ["military"]]) == 1
    # A predicted entity matches only when every one of its mentions is the gold entity's.
    assert matches(gold, [["military", "police"]]) == 0


def test_worked_example_per_role_and_micro():
    gold = [
        {
            "PERP_ORG": [["fmln", "farabundo marti national liberation front"]],
            "VICTIM": [["jesuits"], ["maid"]],
        },
        {"WEAPON": [["bomb", "car bomb"]]},
    ]
    predicted = [
        {
            "PERP_ORG": entities_from_spans(["FMLN", "fmln", "the fmln"]),
            "VICTIM": entities_from_spans(["jesuits"]),
        },
        {"WEAPON": entities_from_spans(["car bomb", "bomb"]), "TARGET": entities_from_spans(["embassy"])},
    ]
    scores = ree_scores(gold, predicted, ["PERP_ORG", "TARGET", "VICTIM", "WEAPON"])
    # PERP_ORG: "fmln" three ways is one entity, matched. VICTIM: 1 of 2 found. WEAPON: "bomb" inside
    # "car bomb" is the same predicted entity, one match. TARGET: one spurious.
    assert scores["per_role"]["PERP_ORG"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "matched": 1,
                                                  "predicted": 1, "gold": 1}  # fmt: skip
    assert scores["per_role"]["VICTIM"]["recall"] == 0.5 and scores["per_role"]["VICTIM"]["precision"] == 1.0
    assert (scores["per_role"]["WEAPON"]["matched"], scores["per_role"]["WEAPON"]["predicted"]) == (1, 1)
    assert scores["per_role"]["TARGET"]["f1"] == 0.0
    micro = scores["micro"]
    assert (micro["matched"], micro["predicted"], micro["gold"]) == (3, 4, 4)
    assert micro["f1"] == pytest.approx(0.75)


def test_a_taggers_contained_mentions_are_one_entity_given_by_the_first():
    spans = ["the FMLN guerrillas", "FMLN", "urban commandos", "the embassy", "embassy", "commandos"]
    assert entities_from_spans(spans) == [["the FMLN guerrillas"], ["urban commandos"], ["the embassy"]]
    # words, not characters: "arm" is not inside "army"
    assert entities_from_spans(["army", "arm", "", "."]) == [["army"], ["arm"]]


# ------------------------------------------------------------------ the shared data (skips without it)

needs_shared = pytest.mark.skipif(not SHARED_MUC4.is_dir(), reason="../shared/datasets/muc4 is absent")


@needs_shared
def test_the_shared_test_split_converts_to_valid_documents(tmp_path: Path):
    output = tmp_path / "test.jsonl"
    argv = ["convert", "--from", "muc4", str(SHARED_MUC4), "--split", "test", "--output", str(output)]
    assert main(argv) == 0
    documents = load_documents(output, MUC4_SCHEMA)
    assert len(documents) == 200 and {s.label for d in documents for s in d.spans} == set(MUC4_SCHEMA.labels)


@needs_shared
def test_the_muc4_config_trains_with_the_same_cli(tmp_path: Path, tiny_base: Path):
    """The shipped config on a 5-document slice of each split, with the tiny model: the real run
    differs only in the data and the base model."""
    from training.finetune.train import train

    config = load_config(ROOT / "training" / "configs" / "muc4.yaml")
    assert config.labels == list(MUC4_SCHEMA.labels) and config.fakes_dir is None
    files = {}
    for split in ("train", "dev"):
        documents = read_muc4(SHARED_MUC4 / "grit" / f"{split}.json").documents
        files[split] = tmp_path / f"{split}.jsonl"
        write_documents(files[split], [d for d in documents if d.spans][:5])
    overrides = {
        "base_model": str(tiny_base),
        "train_file": str(files["train"]),
        "dev_file": str(files["dev"]),
        "test_file": None,
        "epochs": 1,
        "max_length": 64,
        "stride": 16,
        **TEST_TRAINING,
    }
    small = load_config(ROOT / "training" / "configs" / "muc4.yaml", overrides)
    record = train(small, tmp_path / "model", log=lambda _: None)
    assert record["labels"][1:3] == ["B-PERP_IND", "I-PERP_IND"]
    assert json.loads((tmp_path / "model" / "label_schema.json").read_text())["labels"] == list(
        MUC4_SCHEMA.labels
    )
    # The benchmark scores it on a split with the metric and prints the published rows beside it.
    benchmark = load_muc4_eval()
    scores = tmp_path / "scores.json"
    argv = ["--model", str(tmp_path / "model"), "--data", str(SHARED_MUC4), "--split", "dev"]
    assert benchmark.main([*argv, "--output", str(scores)]) == 0
    result = json.loads(scores.read_text())
    assert result["micro"]["gold"] == sum(row["gold"] for row in result["per_role"].values()) > 0


def load_muc4_eval():
    import importlib.util

    spec = importlib.util.spec_from_file_location("muc4_eval", ROOT / "benchmarks" / "muc4_eval.py")
    assert spec is not None and spec.loader is not None
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    return benchmark


def test_the_benchmark_tunes_role_minimums_on_dev_and_scores_test_with_the_copy(
    tmp_path: Path, tiny_base: Path, capsys
):
    """Hand-made GRIT records (no shared data): a tiny MUC-4 model trained with the shipped config,
    minimums chosen on dev, the calibrated copy written and the test split scored with it."""
    from training.finetune.train import train

    data = tmp_path / "muc4"
    data.mkdir()
    for split, count in (("train", 4), ("dev", 2), ("test", 2)):
        records = [grit_record(f"{split}-{i}") for i in range(count)]
        for i, record in enumerate(records):  # a document in one split only
            record["doctext"] += f" ({split} report {i})"
        write_jsonl(data / f"{split}.json", records)
        write_documents(tmp_path / f"{split}.jsonl", read_muc4(data / f"{split}.json").documents)
    overrides = {
        "base_model": str(tiny_base),
        "train_file": str(tmp_path / "train.jsonl"),
        "dev_file": str(tmp_path / "dev.jsonl"),
        "test_file": None,
        "epochs": 1,
        "max_length": 64,
        "stride": 16,
        **TEST_TRAINING,
    }
    model = tmp_path / "model"
    train(load_config(ROOT / "training" / "configs" / "muc4.yaml", overrides), model, log=lambda _: None)
    original = (model / "conflict_ie.json").read_bytes()
    benchmark = load_muc4_eval()
    tuned, scores = tmp_path / "tuned", tmp_path / "scores.json"
    argv = ["--model", str(model), "--data", str(data), "--output", str(scores)]
    assert benchmark.main([*argv, "--tune-min-scores-on", "dev", "--output-model", str(tuned)]) == 0
    result = json.loads(scores.read_text())
    assert (result["model"], result["split"]) == (str(tuned), "test")
    tuning = result["tuning"]
    assert json.loads((tuned / "conflict_ie.json").read_text())["min_scores"] == tuning["min_scores"]
    assert (
        json.loads((tuned / "training_record.json").read_text())["calibration"]["dev_f1"] == tuning["dev_f1"]
    )
    assert tuning["dev_f1"]["after"] >= tuning["dev_f1"]["before"] and tuning["dev_file"] == str(
        data / "dev.json"
    )
    assert (model / "conflict_ie.json").read_bytes() == original
    out = capsys.readouterr().out
    assert "minimum span scores chosen on dev" in out and "GRIT (Du, Rush & Cardie 2021)" in out
    # Never tuned on test, and never without a place for the copy.
    for wrong in (
        ["--tune-min-scores-on", "test", "--output-model", str(tuned)],
        ["--output-model", str(tuned)],
    ):
        with pytest.raises(SystemExit):
            benchmark.main([*argv, *wrong])
