"""validate, stats and check-corpus on a corpus with other labels than the default ones: the label
schema from the corpus (--labels from-corpus), a training config (--config) or a model (--model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from inference.schema import LabelSchema, write_schema
from inference.spans import Document, Span
from training.cli import main
from training.corpus.quality import check_documents

MUC4 = ["PERP_IND", "PERP_ORG", "TARGET", "VICTIM", "WEAPON"]
TEXT = "guerrillas killed 5 peasants with a car bomb in the village of la paz ."


def line(doc_id: str, marked: list[tuple[str, str]], text: str = TEXT) -> str:
    spans = [{"start": text.index(t), "end": text.index(t) + len(t), "label": label} for t, label in marked]
    return json.dumps({"id": doc_id, "text": text, "spans": spans})


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, Path]:
    train = tmp_path / "train.jsonl"
    train.write_text(
        line("a", [("guerrillas", "PERP_IND"), ("peasants", "VICTIM"), ("car bomb", "WEAPON")]) + "\n",
        encoding="utf-8",
    )
    dev = tmp_path / "dev.jsonl"
    dev.write_text(line("b", [("guerrillas", "PERP_ORG"), ("village", "TARGET")], TEXT + " x") + "\n")
    return {"train": train, "dev": dev}


def model_dir(path: Path, schema: LabelSchema) -> Path:
    """A model directory's label files (config.json's id2label and label_schema.json), no weights."""
    path.mkdir()
    id2label = dict(enumerate(schema.tag_names()))
    (path / "config.json").write_text(json.dumps({"id2label": id2label}), encoding="utf-8")
    write_schema(path, schema)
    return path


def config_file(path: Path, labels: object, train: Path) -> Path:
    path.write_text(yaml.safe_dump({"labels": labels, "train_file": str(train)}), encoding="utf-8")
    return path


def test_validate_takes_the_schema_from_the_corpus_a_config_or_a_model(corpus, tmp_path, capsys) -> None:
    paths = [str(corpus["train"]), str(corpus["dev"])]
    assert main(["validate", *paths]) == 1  # the default labels, as before
    assert "unknown label 'PERP_IND'" in capsys.readouterr().err
    assert main(["validate", *paths, "--labels", "from-corpus"]) == 0
    assert "ok: 2 documents in 2 file(s)" in capsys.readouterr().out
    assert (
        main(["validate", *paths, "--config", str(config_file(tmp_path / "c.yaml", MUC4, corpus["train"]))])
        == 0
    )
    from_corpus = config_file(tmp_path / "f.yaml", "from_corpus", corpus["train"])
    assert (
        main(["validate", *paths, "--config", str(from_corpus)]) == 1
    )  # the train file lacks PERP_ORG, TARGET
    assert "unknown label 'PERP_ORG'" in capsys.readouterr().err
    model = model_dir(tmp_path / "model", LabelSchema(("PERP_IND", "VICTIM", "WEAPON")))
    assert main(["validate", *paths, "--model", str(model)]) == 1
    assert (
        f"{corpus['dev']}:1: document 'b': span 0 [0:10]: unknown label 'PERP_ORG'" in capsys.readouterr().err
    )


def test_stats_names_the_labels_new_against_a_models_schema(corpus, tmp_path, capsys) -> None:
    paths = [str(corpus["train"]), str(corpus["dev"]), "--no-windows"]
    model = model_dir(tmp_path / "model", LabelSchema(("PERP_IND", "VICTIM", "WEAPON")))
    output = tmp_path / "check.json"
    assert main(["stats", *paths, "--model", str(model), "--json", "--output", str(output)]) == 1
    check = json.loads(output.read_text())
    assert check["labels"] == ["PERP_IND", "VICTIM", "WEAPON"]
    assert check["new_labels"]["outside_label_set"] == {"dev.jsonl": ["PERP_ORG", "TARGET"]}
    assert check["errors"] == [
        f"dev.jsonl: entity type(s) outside the schema of model {model} (PERP_IND, VICTIM, WEAPON): "
        "PERP_ORG, TARGET"
    ]
    capsys.readouterr()

    assert main(["stats", *paths, "--labels", "from-corpus"]) == 0
    out = capsys.readouterr().out
    assert "PERP_ORG" in out.split("\n")[0] and "CASUALTY_COUNT" not in out
    assert "dev.jsonl: entity type(s) not in train.jsonl, never learned: PERP_ORG, TARGET" in out


def test_stats_with_a_configs_labels(corpus, tmp_path, capsys) -> None:
    config = config_file(tmp_path / "c.yaml", ["PERP_IND", "VICTIM", "WEAPON", "PERP_ORG"], corpus["train"])
    assert (
        main(["stats", str(corpus["train"]), str(corpus["dev"]), "--no-windows", "--config", str(config)])
        == 1
    )
    assert f"outside the labels of config {config} (PERP_IND, VICTIM, WEAPON, PERP_ORG): TARGET" in (
        capsys.readouterr().out
    )
    # The default labels, as before: the labels outside them are named.
    assert main(["stats", str(corpus["train"]), "--no-windows"]) == 1
    assert "outside the project's set (CASUALTY_COUNT:killed, CASUALTY_COUNT:injured, VICTIM_TYPE, " in (
        capsys.readouterr().out
    )


def test_check_corpus_runs_the_casualty_checks_only_where_the_schema_has_their_roles(corpus, capsys) -> None:
    # "5" near "killed" is in no span, but this schema has no count: no untagged-number suspect.
    assert main(["check-corpus", str(corpus["train"]), "--labels", "from-corpus"]) == 0
    out = capsys.readouterr().out
    assert "0 suspect(s)" in out and "== untagged-number" not in out
    assert (
        "(not run, the schema lacks their roles: untagged-number, count-without-victim, unreadable-count, "
        "untagged-actor)" in out
    )
    assert main(["check-corpus", str(corpus["train"])]) == 2  # the default labels, as before


def test_count_checks_follow_the_schemas_role_labels() -> None:
    schema = LabelSchema(
        ("TOLL", "PEOPLE", "ARMED"),
        {"TOLL": ("killed",)},
        {"count": "TOLL", "victim": "PEOPLE", "perpetrator": "ARMED"},
    )
    text = "The rebels killed 12 in the town. The army killed 3 civilians and 40 were hurt."
    spans = [Span(0, 10, "ARMED"), Span(18, 20, "TOLL", "killed"), Span(50, 51, "TOLL", "killed")]
    spans.append(Span(52, 61, "PEOPLE"))
    suspects = check_documents([("c.jsonl", 1, Document("d", text, spans))], schema)
    assert [(s.check, text[s.start : s.end]) for s in suspects] == [
        ("span-edge", "The rebels"),  # ARMED plays the perpetrator: no leading determiner
        ("count-without-victim", "12"),
        ("untagged-number", "40"),
    ]
    assert "has no PEOPLE in its sentence" in suspects[1].message
    no_victim = LabelSchema(("TOLL",), {"TOLL": ("killed",)}, {"count": "TOLL"})
    only_counts = [Span(18, 20, "TOLL", "killed"), Span(50, 51, "TOLL", "killed")]
    suspects = check_documents([("c.jsonl", 1, Document("d", text, only_counts))], no_victim)
    assert [s.check for s in suspects] == ["untagged-number"]
