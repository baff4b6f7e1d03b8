"""Model cards: metadata that parses, numbers that are the measured ones and nothing else."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import TEST_TRAINING

from training.cli import main
from training.corpus.store import load_documents, write_documents
from training.evaluation.report import run_evaluation
from training.release.card import (
    CardError,
    base_model_info,
    build_card,
    card_name,
    describe_dataset,
    write_card,
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def card_inputs(busy_model, tmp_path_factory) -> tuple[Path, list[Path]]:
    """The busy model with two reports: the project corpus's test split, and FA-KES-like gold."""
    work = tmp_path_factory.mktemp("card")
    gold_files = [ROOT / "data/annotations/test.jsonl", work / "fa-kes" / "gold-dev.jsonl"]
    documents = load_documents(ROOT / "data/annotations/test.jsonl")
    gold_files[1].parent.mkdir()
    write_documents(gold_files[1], documents[4:7])
    reports = []
    for gold, name in zip(gold_files, ("test.json", "fakes-gold-dev.json"), strict=True):
        report = run_evaluation(busy_model, gold, device="cpu", resamples=100)[0]
        reports.append(work / "reports" / name)
        reports[-1].parent.mkdir(exist_ok=True)
        reports[-1].write_text(json.dumps(report))
    return busy_model, reports


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n", 2)[1])


def test_model_index_holds_the_report_numbers(card_inputs):
    model, paths = card_inputs
    card = build_card(model, paths, "conflict-ie-test")
    metadata = front_matter(card)
    assert metadata["pipeline_tag"] == "token-classification" and metadata["library_name"] == "transformers"
    (entry,) = metadata["model-index"]
    assert entry["name"] == "conflict-ie-test"
    own, fakes = entry["results"]
    assert own["dataset"] == {"name": "conflict-ie corpus", "type": "conflict-ie", "split": "test"}
    assert fakes["dataset"] == {"name": "FA-KES gold-dev", "type": "fa-kes", "split": "dev"}
    for result, path in zip((own, fakes), paths, strict=True):
        report = json.loads(path.read_text())
        values = {m["name"]: m["value"] for m in result["metrics"]}
        strict = report["seqeval_strict"]
        assert values["seqeval strict IOB2 micro F1"] == round(strict["micro"]["f1"], 4)
        assert values["seqeval strict micro precision"] == round(strict["micro"]["precision"], 4)
        assert values["seqeval strict macro F1"] == round(strict["macro"]["f1"], 4)
        assert values["overlapping character spans micro F1"] == round(
            report["span_overlap"]["micro"]["f1"], 4
        )
        assert values["count outcome accuracy"] == round(report["outcome"]["accuracy"], 4)
        interval = report["bootstrap"]["seqeval_strict"]
        assert f"{interval['low']:.3f} – {interval['high']:.3f}" in card
    for heading in (
        "## Intended use",
        "## Out-of-scope use",
        "## Training data",
        "## Labels",
        "## Limitations and known failure modes",
        "## Training procedure",
    ):
        assert heading in card
    assert "weakest label is" in card and "Frequent error on" in card and "tokens/s" in card
    record = json.loads((card_inputs[0] / "training_record.json").read_text())
    assert f"| peak resident memory | {record['peak_rss_mb']:.0f} MB |" in card
    assert f"| dropout masks | {record['dropout_masks']} |" in card


def numbers_in(value, found: set[str]) -> None:
    """Every way a card may print a number from the record or a report."""
    if isinstance(value, dict):
        for key, item in value.items():
            if "sha256" not in key:  # hex digests would allow almost any short number
                numbers_in(item, found)
    elif isinstance(value, list):
        for item in value:
            numbers_in(item, found)
    elif isinstance(value, bool):
        return
    elif isinstance(value, int | float):
        for x in (value, value / 60, value * 100):  # as is, in minutes, in percent
            found.update({f"{x:.3f}", f"{x:.4f}", f"{x:.1f}", f"{x:.0f}", str(round(x, 4)), str(x)})
    elif isinstance(value, str):
        found.update(re.findall(r"\d+(?:\.\d+)?", value))


def test_no_number_in_the_card_is_typed_by_hand(card_inputs):
    model, paths = card_inputs
    card = build_card(model, paths)
    allowed: set[str] = set()
    numbers_in(json.loads((model / "training_record.json").read_text()), allowed)
    for path in paths:
        numbers_in(json.loads(path.read_text()), allowed)
        numbers_in(str(path), allowed)
    numbers_in([str(model), "conflict-ie-default", "gold-dev", "sha256", "IOB2", "MiniLM-L6-v2"], allowed)
    stray = [n for n in re.findall(r"(?<![\w.-])\d+(?:\.\d+)?(?![\w])", card) if n not in allowed]
    assert stray == []


def test_base_model_name_and_licence_come_from_its_readme(base_model_path, tmp_path):
    packaged = base_model_info({"base_model": base_model_path})
    assert packaged["id"] == "sentence-transformers/all-MiniLM-L6-v2" and packaged["licence"] == "apache-2.0"
    (tmp_path / "README.md").write_text("---\nlicense: mit\nlanguage: en\n---\n# some model\n")
    assert base_model_info({"base_model": str(tmp_path)})["licence"] == "mit"
    (tmp_path / "README.md").unlink()
    assert base_model_info({"base_model": str(tmp_path)})["licence"] is None
    assembled = base_model_info({"base_model": str(tmp_path / ".models" / "all-mpnet-base-v2")})
    assert assembled["id"] == "sentence-transformers/all-mpnet-base-v2"
    # a folder's name alone says nothing of where the model came from
    assert base_model_info({"base_model": str(tmp_path / "all-mpnet-base-v2")})["id"] is None


def test_card_command_writes_the_file_and_refuses_foreign_reports(card_inputs, tmp_path, capsys):
    model, paths = card_inputs
    output = tmp_path / "cards" / "some-file.md"
    args = ["card", "--model", str(model), "--reports", *map(str, paths), "--output", str(output)]
    assert main(args) == 0
    assert front_matter(output.read_text())["model-index"][0]["name"] == card_name(model)
    assert output.read_text().splitlines()[0] == "---" and f"# {card_name(model)}\n" in output.read_text()
    assert main([*args, "--name", "conflict-ie-x"]) == 0
    assert front_matter(output.read_text())["model-index"][0]["name"] == "conflict-ie-x"

    foreign = json.loads(paths[0].read_text())
    foreign["model_record_sha256"] = "0" * 64
    (tmp_path / "foreign.json").write_text(json.dumps(foreign))
    with pytest.raises(CardError, match="made with another model"):
        build_card(model, [tmp_path / "foreign.json"])
    assert main(["card", "--model", str(tmp_path), "--output", str(tmp_path / "c.md")]) == 2
    assert "training_record.json does not exist" in capsys.readouterr().err
    assert not (tmp_path / "c.md").exists()


def test_no_text_of_external_evaluation_sets_is_quoted(card_inputs):
    """FA-KES may not be committed, so the card quotes error examples from the own corpus only."""
    model, paths = card_inputs
    card = build_card(model, paths, "conflict-ie-test")
    fakes_report = json.loads(paths[1].read_text())
    own_report = json.loads(paths[0].read_text())
    assert all(row["example"] not in card for row in fakes_report["errors"][:3])
    assert any(row["example"] in card for row in own_report["errors"][:3])


def test_card_counts_the_train_file_extra_files_and_augmented_copies_apart(tiny_base, tmp_path):
    from training.finetune.config import config_from_dict
    from training.finetune.train import train

    corpus = load_documents(ROOT / "data/annotations/train.jsonl")
    write_documents(tmp_path / "train.jsonl", corpus[:4])
    write_documents(tmp_path / "silver.jsonl", corpus[4:7])
    write_documents(tmp_path / "dev.jsonl", load_documents(ROOT / "data/annotations/dev.jsonl")[:2])
    raw = {
        "base_model": str(tiny_base),
        "train_file": str(tmp_path / "train.jsonl"),
        "extra_train_files": [str(tmp_path / "silver.jsonl")],
        "dev_file": str(tmp_path / "dev.jsonl"),
        "epochs": 1,
        "max_length": 64,
        "stride": 16,
        "augment_strip_punctuation": 0.5,
        **TEST_TRAINING,
    }
    record = train(config_from_dict(raw), tmp_path / "run-7" / "model", log=lambda _: None)
    copies = record["augmented_copies"]
    assert copies > 0 and record["train_documents"] == 4 + 3 + copies
    assert record["train_file_documents"] == 4
    assert record["extra_train_documents"] == [{"path": str(tmp_path / "silver.jsonl"), "documents": 3}]
    card = build_card(tmp_path / "run-7" / "model", [])
    assert f"- Training: `{tmp_path / 'train.jsonl'}`, 4 documents" in card
    assert f"- Also trained on: `{tmp_path / 'silver.jsonl'}`, 3 documents" in card
    assert f"- Augmented: {copies} copies of training documents, punctuation-stripped" in card
    assert f"{record['train_documents']} documents as trained on" in card
    assert front_matter(card)["model-index"][0]["name"] == "conflict-ie-run-7"


def test_the_card_s_pipeline_call_reads_the_whole_text(card_inputs):
    from transformers import pipeline

    from inference import Extractor

    model, _ = card_inputs
    card = build_card(model, [])
    call = re.search(
        r'pipeline\("token-classification", model="path/to/model", stride=(\d+), '
        r'aggregation_strategy="(\w+)"\)',
        card,
    )
    assert call, "the card shows how to call the pipeline on long texts"
    stride, strategy = int(call.group(1)), call.group(2)
    text = " ".join(d.text for d in load_documents(ROOT / "data/annotations/dev.jsonl")[:3])
    tagger = pipeline("token-classification", model=str(model), device="cpu")
    assert len(tagger.tokenizer(text)["input_ids"]) > 6 * tagger.tokenizer.model_max_length
    half = len(text) // 2
    assert max(e["end"] for e in tagger(text, stride=stride, aggregation_strategy=strategy)) > half
    assert max(e["end"] for e in tagger(text, aggregation_strategy=strategy)) < half  # truncated
    extracted = Extractor.from_pretrained(model, device="cpu", min_scores={}).extract([text])[0]
    assert max(e.end for e in extracted) > half


def test_a_report_on_the_user_s_own_split_is_not_called_the_project_corpus(card_inputs, tmp_path, capsys):
    """A test file beside the model's train file is the user's, named by its file, never the corpus."""
    model, paths = card_inputs
    record = json.loads((model / "training_record.json").read_text())
    own_split = Path(record["config"]["train_file"]).parent / "test.jsonl"  # the user's own split
    write_documents(own_split, load_documents(ROOT / "data/annotations/test.jsonl")[:4])
    report = tmp_path / "R.json"
    report.write_text(json.dumps(run_evaluation(model, own_split, device="cpu", resamples=50)[0]))
    output = tmp_path / "card.md"
    assert main(["card", "--model", str(model), "--reports", str(report), "--output", str(output)]) == 0
    card = output.read_text()
    (result,) = front_matter(card)["model-index"][0]["results"]
    assert result["dataset"] == {"name": "test.jsonl", "type": "test", "split": "test"}
    assert "conflict-ie corpus" not in card and "the conflict-ie corpus" not in card
    assert f"On `{own_split}`, the weakest label" in card and f"### `{own_split}` (4 documents)" in card
    # Trained on the user's file too: the card does not say the corpus was written for the project.
    assert f"- Trained on `{record['config']['train_file']}`, not the project corpus" in card
    assert "written for the project" not in card
    # The project's split is recognised by its place, or by its gold wherever a copy lies.
    project = json.loads(paths[0].read_text())
    assert describe_dataset(project)["name"] == "conflict-ie corpus"
    copy = tmp_path / "elsewhere" / "held-out.jsonl"
    assert describe_dataset({"data": str(copy), "gold": project["gold"]})["split"] == "test"
    assert describe_dataset({"data": str(own_split), "gold": json.loads(report.read_text())["gold"]}) == {
        "name": "test.jsonl",
        "type": "test",
        "split": "test",
        "_title": f"`{own_split}`",
    }


def record_with_base(model: Path, directory: Path, base_model: str) -> Path:
    """A copy of the model's training record with another base model (a card needs only the record)."""
    record = json.loads((model / "training_record.json").read_text())
    directory.mkdir(parents=True)
    (directory / "training_record.json").write_text(json.dumps({**record, "base_model": base_model}))
    return directory


def test_card_claims_no_licence_or_hub_id_it_cannot_know(card_inputs, base_model_path, tmp_path):
    model, _ = card_inputs
    record = json.loads((model / "training_record.json").read_text())
    local_base = record["base_model"]  # the tiny BERT: a local folder without README metadata
    card = build_card(model, [])
    metadata = front_matter(card)
    assert metadata["license"] == "other" and "base_model" not in metadata
    assert "## Licence\n\nThe base model's licence could not be read" in card
    assert f"`{local_base}`" in card and f"It is the model at `{local_base}` (Hub id not known)" in card
    assert Path(local_base).name not in json.dumps(metadata)

    packaged = build_card(record_with_base(model, tmp_path / "packaged" / "model", base_model_path), [])
    metadata = front_matter(packaged)
    assert metadata["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert metadata["license"] == "apache-2.0" and "## Licence" not in packaged
    assert "`sentence-transformers/all-MiniLM-L6-v2` (licence: apache-2.0)" in packaged

    hub = build_card(record_with_base(model, tmp_path / "hub" / "model", "bert-base-cased"), [])
    metadata = front_matter(hub)
    assert metadata["base_model"] == "bert-base-cased" and metadata["license"] == "other"
    assert "`bert-base-cased` (licence: unknown (the base model is not a local directory" in hub


def test_the_metadata_loads_with_huggingface_hub_and_holds_the_eval_results(card_inputs, tmp_path):
    from huggingface_hub import ModelCard

    model, paths = card_inputs
    output = tmp_path / "README.md"
    write_card(model, paths, output, "conflict-ie-test")
    card = ModelCard.load(output)
    assert card.data.model_name == "conflict-ie-test"
    assert card.data.pipeline_tag == "token-classification" and card.data.license == "other"
    strict = [r for r in card.data.eval_results if r.metric_name == "seqeval strict IOB2 micro F1"]
    assert [(r.dataset_type, r.dataset_split) for r in strict] == [("conflict-ie", "test"), ("fa-kes", "dev")]
    for result, path in zip(strict, paths, strict=True):
        assert result.metric_value == round(json.loads(path.read_text())["seqeval_strict"]["micro"]["f1"], 4)
    assert card.text.startswith("\n# conflict-ie-test\n") and card.text.endswith("\n")


def test_the_committed_default_card_loads_with_huggingface_hub():
    from huggingface_hub import ModelCard

    card = ModelCard.load(ROOT / "model_cards" / "conflict-ie-default.md")
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert {r.dataset_type for r in card.data.eval_results} == {"conflict-ie", "fa-kes"}


def test_a_distilled_model_s_card_names_its_teacher_and_an_undistilled_one_none(card_inputs, tmp_path):
    model, _ = card_inputs
    assert "distilled from" not in build_card(model, [])
    record = json.loads((model / "training_record.json").read_text())
    teacher = {"teacher": "/models/mpnet", "teacher_weight": 0.5, "teacher_temperature": 2.0}
    directory = tmp_path / "distilled"
    directory.mkdir()
    (directory / "training_record.json").write_text(
        json.dumps({**record, "config": {**record["config"], **teacher}})
    )
    card = build_card(directory, [])
    assert "| distilled from (`teacher`) | `/models/mpnet`: loss weight 0.5, temperature 2.0 |" in card


def test_the_card_gives_the_head_s_rate_and_the_layer_decay_where_a_config_sets_them(card_inputs, tmp_path):
    model, _ = card_inputs
    record = json.loads((model / "training_record.json").read_text())
    rate = record["config"]["learning_rate"]
    assert f"| learning rate, warm-up ratio, weight decay | {rate} (layer decay 0.9), " in build_card(
        model, []
    )

    def row_for(name: str, **settings: float | None) -> str:
        directory = tmp_path / name
        directory.mkdir()
        config = {**record["config"], **settings}
        (directory / "training_record.json").write_text(json.dumps({**record, "config": config}))
        card = build_card(directory, [])
        return next(line for line in card.splitlines() if line.startswith("| learning rate,"))

    assert row_for("one-rate", learning_rate=5e-05, layer_lr_decay=1.0).startswith(
        "| learning rate, warm-up ratio, weight decay | 5e-05, "
    )
    assert row_for("rates", learning_rate=5e-05, head_learning_rate=0.002, layer_lr_decay=0.9).startswith(
        "| learning rate, warm-up ratio, weight decay | 5e-05 (the new head 0.002; layer decay 0.9), "
    )


def test_a_continued_model_s_card_names_the_first_base_and_the_model_it_went_on_from(
    card_inputs, base_model_path, tmp_path
):
    """Retrained from a trained model: the encoder it all started from is the base (Hub id, licence);
    each trained model it went on from gets a row."""
    model, _ = card_inputs
    record = json.loads((model / "training_record.json").read_text())
    first = {**record, "base_model": base_model_path, "continued_from": None}
    directory = tmp_path / "continued"
    directory.mkdir()
    continued = {**record, "base_model": "/models/first", "continued_from": first}
    (directory / "training_record.json").write_text(json.dumps(continued))
    card = build_card(directory, [])
    metadata = front_matter(card)
    assert metadata["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert metadata["license"] == "apache-2.0"
    epochs, best = len(first["history"]), first["best_epoch"]
    assert f"| continued from | `/models/first`: trained {epochs} epochs (best epoch {best}" in card
    assert "continued from" not in build_card(model, [])
