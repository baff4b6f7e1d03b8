"""Training end to end: config checks, a real fine-tune, the saved directory used three ways."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from conftest import TEST_TRAINING, tiny_training_config

from inference import Extractor
from inference.alignment import entity_types
from inference.spans import Document
from training.cli import main
from training.corpus.store import CorpusError, load_documents, write_documents
from training.finetune.config import (
    ConfigError,
    TrainConfig,
    config_from_dict,
    load_config,
    parse_overrides,
    resolve_mixed_precision,
)
from training.finetune.train import train

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_YAML = ROOT / "training/configs/default.yaml"


def test_default_config_loads():
    config = load_config(ROOT / "training/configs/default.yaml")
    assert config.base_model is None and config.learning_rate == pytest.approx(2e-4)


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"epochs": 3, "learnig_rate": 0.1}, "unknown key(s) learnig_rate; valid keys are base_model"),
        ({"epochs": "three"}, "epochs must be int"),
        ({"stride": 200, "max_length": 256}, "stride must be"),
        ({"train_fraction": 0}, "train_fraction must be"),
        ({"mixed_precision": "fp8"}, "mixed_precision must be auto, no, bf16 or fp16"),
        ({"attention_dropout": 1.5}, "attention_dropout must be null or from 0 up to but not including 1"),
        ({"attention_dropout": "none"}, "attention_dropout must be float"),
        ({"micro_batch_size": -1}, "micro_batch_size must be >= 0"),
        ({"head_learning_rate": 0}, "head_learning_rate must be null or positive"),
        ({"head_learning_rate": "fast"}, "head_learning_rate must be float"),
        ({"label_weights": ["PERPETRATOR"]}, "label_weights must map labels to weights"),
        ({"label_weights": {"PERPETRATOR": 0}}, "label_weights must be positive; PERPETRATOR is not"),
        ({"label_weights": {"PERPETRATOR": "heavy"}}, "label_weights.PERPETRATOR must be float"),
    ],
)
def test_bad_config_is_refused_with_what_is_wrong(raw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_from_dict(raw)


def test_default_yaml_holds_the_code_defaults_key_by_key():
    raw = yaml.safe_load(DEFAULT_YAML.read_text())
    assert list(raw) == [f.name for f in fields(TrainConfig)]
    loaded, defaults = load_config(DEFAULT_YAML).to_dict(), TrainConfig().to_dict()
    for key in defaults:
        assert loaded[key] == defaults[key], key
    assert defaults["augment_strip_punctuation"] == 0.2
    assert Path(defaults["train_file"]) == ROOT / "data/annotations/train.jsonl"


@pytest.mark.parametrize(
    "setting,device,native_bf16,used",
    [
        ("auto", "cpu", True, "bf16"),
        ("auto", "cpu", False, "no"),  # emulated bf16 is slower than fp32
        ("auto", "cpu:0", True, "bf16"),  # each process's device under accelerate launch on CPU
        ("auto", "mps", True, "no"),
        ("no", "cpu", True, "no"),
        ("bf16", "cpu", False, "bf16"),  # asked for explicitly: done even where it is slow
    ],
)
def test_auto_mixed_precision_is_bf16_only_where_hardware_multiplies_it(setting, device, native_bf16, used):
    assert resolve_mixed_precision(setting, device, cpu_native_bf16=native_bf16) == used


@pytest.mark.parametrize("content", ["[]", "null", "", "- epochs: 3\n", "3\n"])
def test_a_config_file_that_is_not_a_mapping_is_refused(tmp_path, content):
    path = tmp_path / "config.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: .*must be a mapping"):
        load_config(path)


def test_config_paths_are_relative_to_the_config_file_and_set_paths_to_the_working_directory(
    tmp_path, monkeypatch
):
    (tmp_path / "configs").mkdir()
    (tmp_path / "elsewhere").mkdir()
    config = tmp_path / "configs" / "run.yaml"
    config.write_text(
        "train_file: data/train.jsonl\nextra_train_files: [../silver.jsonl, /abs/x.jsonl]\n"
        "dev_file: ../dev.jsonl\ntest_file: null\n"
    )
    monkeypatch.chdir(tmp_path / "elsewhere")
    loaded = load_config(config)
    assert loaded.train_file == str(tmp_path / "configs" / "data" / "train.jsonl")
    assert loaded.extra_train_files == [str(tmp_path / "silver.jsonl"), "/abs/x.jsonl"]
    assert loaded.dev_file == str(tmp_path / "dev.jsonl") and loaded.test_file is None
    overridden = load_config(config, parse_overrides(["dev_file=mine/dev.jsonl", "test_file=t.jsonl"]))
    assert overridden.dev_file == str(tmp_path / "elsewhere" / "mine" / "dev.jsonl")
    assert overridden.test_file == str(tmp_path / "elsewhere" / "t.jsonl")


def test_the_default_config_works_from_another_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["train", "--config", str(DEFAULT_YAML), "--output", str(tmp_path / "out")]
    assert main([*args, "--set", "base_model=./no/such/model"]) == 2
    error = capsys.readouterr().err
    assert f"base_model '{tmp_path / 'no/such/model'}': no such directory" in error, error
    assert "does not exist" not in error


def test_set_is_blamed_for_its_own_unknown_keys():
    with pytest.raises(ConfigError, match=r"^--set: unknown key\(s\) epoch; valid keys") as raised:
        load_config(DEFAULT_YAML, parse_overrides(["epoch=1"]))
    assert "default.yaml" not in str(raised.value)
    with pytest.raises(ConfigError, match=r"^--set: epochs must be int, got str 'ten'"):
        load_config(DEFAULT_YAML, parse_overrides(["epochs=ten"]))


@pytest.mark.parametrize("written", ["5e-5", "1E-4", "2.0e-4", "3", "1e-3", "+4.5E+0"])
def test_floats_are_read_as_people_write_them(tmp_path, written):
    assert load_config(DEFAULT_YAML, parse_overrides([f"learning_rate={written}"])).learning_rate == float(
        written
    )
    path = tmp_path / "config.yaml"
    path.write_text(f"learning_rate: {written}\nweight_decay: {written}\n")
    loaded = load_config(path)
    assert loaded.learning_rate == loaded.weight_decay == float(written)
    assert isinstance(loaded.learning_rate, float)


@pytest.mark.parametrize(
    "pair,message",
    [
        ("epochs=1e1", "epochs must be int, got str '1e1'"),
        ("epochs=3.0", "epochs must be int, got float 3.0"),
        ("learning_rate=fast", "learning_rate must be float, got str 'fast'"),
        ("weight_decay=.nan", "weight_decay must be a finite number, got nan"),
        ("learning_rate=true", "learning_rate must be float, got bool True"),
    ],
)
def test_numbers_that_are_not_numbers_of_the_field_type_are_refused(pair, message):
    with pytest.raises(ConfigError, match=re.escape(f"--set: {message}")):
        load_config(DEFAULT_YAML, parse_overrides([pair]))


def test_missing_inputs_are_reported_before_any_work(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("train_file: nowhere/train.jsonl\n")
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert f"{tmp_path / 'nowhere/train.jsonl'}: file does not exist" in error and ":0" not in error
    assert not (tmp_path / "out").exists()
    config.write_text(
        f"base_model: ./no/such/model\ntrain_file: {ROOT}/data/annotations/dev.jsonl\n"
        f"dev_file: {ROOT}/data/annotations/dev.jsonl\n"
    )
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "out")]) == 2
    assert f"base_model '{tmp_path / 'no/such/model'}': no such directory" in capsys.readouterr().err


def test_existing_output_is_never_overwritten_silently(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("precious")
    assert main(["train", "--output", str(tmp_path / "out")]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "out" / "keep.txt").read_text() == "precious"


def test_tiny_model_directory_is_complete(tiny_model):
    names = sorted(p.name for p in tiny_model.iterdir())
    assert {
        "config.json",
        "model.safetensors",
        "conflict_ie.json",
        "training_record.json",
        "tokenizer.json",
    } <= set(names)
    record = json.loads((tiny_model / "training_record.json").read_text())
    assert record["best_epoch"] in (1, 2) and len(record["history"]) == 2
    assert set(record["versions"]) >= {"torch", "transformers", "accelerate", "seqeval"}
    assert len(record["corpus_sha256"]) == 64
    if sys.platform.startswith("linux"):
        assert 50 < record["peak_rss_mb"] < 100_000  # MB, not KiB or bytes
    left = [p for p in tiny_model.parent.iterdir() if p.name.startswith(".") and p.name != ".windows-cache"]
    assert not left, "staging left behind"
    assert list((tiny_model.parent / ".windows-cache").glob("windows-*.arrow"))  # the tokenized windows


@pytest.mark.slow
def test_brief_fine_tune_of_the_real_base_model(tmp_path, capsys):
    """Real all-MiniLM-L6-v2, a handful of documents: saved, reloaded three ways."""
    train_docs = load_documents(ROOT / "data/annotations/train.jsonl")[:6]
    dev_docs = load_documents(ROOT / "data/annotations/dev.jsonl")[:3]
    write_documents(tmp_path / "train.jsonl", train_docs)
    write_documents(tmp_path / "dev.jsonl", dev_docs)
    config = config_from_dict(
        {
            "train_file": str(tmp_path / "train.jsonl"),
            "dev_file": str(tmp_path / "dev.jsonl"),
            "epochs": 2,
            "batch_size": 8,
            "max_length": 128,
            "stride": 32,
            "learning_rate": 3e-4,
            "augment_strip_punctuation": 0.0,
            **TEST_TRAINING,
            "mixed_precision": "auto",  # the real base model as users train it
        }
    )
    record = train(config, tmp_path / "model", log=lambda _: None)
    assert record["history"][-1]["loss"] < record["history"][0]["loss"]
    assert record["mixed_precision"] == resolve_mixed_precision("auto", "cpu")
    assert record["dropout_masks"] == "torch"
    model_dir = tmp_path / "model"

    extractor = Extractor.from_pretrained(model_dir, device="cpu")
    text = dev_docs[0].text
    entities = extractor.extract([text, ""])
    assert entities[1] == []
    for entity in entities[0]:
        assert entity["text"] == text[entity["start"] : entity["end"]]
        assert entity["label"] in {"CASUALTY_COUNT", "VICTIM_TYPE", "PERPETRATOR"}

    from transformers import pipeline

    tagger = pipeline("token-classification", model=str(model_dir), aggregation_strategy="first")
    assert set(tagger.model.config.id2label.values()) == {"O"} | {
        f"{p}-{t}" for t in entity_types() for p in "BI"
    }
    for group in tagger(text[:400]):
        assert group["entity_group"] in entity_types()

    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(json.dumps({"id": "x1", "text": text}) + "\n")
    (tmp_path / "plain.txt").write_text(text)
    assert main(["predict", "--model", str(model_dir), str(inputs), str(tmp_path / "plain.txt")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["id"] for line in lines] == ["x1", "plain"]
    assert lines[0]["entities"] == lines[1]["entities"] == entities[0]


def test_evaluate_command_writes_a_report(tiny_model, tmp_path, capsys):
    report_path = tmp_path / "reports" / "dev.json"
    code = main(
        [
            "evaluate",
            "--model",
            str(tiny_model),
            "--data",
            str(ROOT / "data/annotations/dev.jsonl"),
            "--output",
            str(report_path),
        ]
    )
    assert code == 0
    report = json.loads(report_path.read_text())
    assert set(report["seqeval_strict"]["per_label"]) == {"CASUALTY_COUNT", "VICTIM_TYPE", "PERPETRATOR"}
    assert 0.0 <= report["span_exact"]["micro"]["f1"] <= 1.0
    assert "seqeval_strict:  micro F1" in capsys.readouterr().out


def test_extra_train_files_are_trained_on_and_checked_against_dev(tmp_path, tiny_base):
    train_docs = load_documents(ROOT / "data/annotations/train.jsonl")[:4]
    extra_docs = load_documents(ROOT / "data/annotations/train.jsonl")[4:7]
    dev_docs = load_documents(ROOT / "data/annotations/dev.jsonl")[:2]
    write_documents(tmp_path / "train.jsonl", train_docs)
    write_documents(tmp_path / "silver.jsonl", extra_docs)
    write_documents(tmp_path / "dev.jsonl", dev_docs)
    raw = {
        "base_model": str(tiny_base),
        "train_file": str(tmp_path / "train.jsonl"),
        "extra_train_files": [str(tmp_path / "silver.jsonl")],
        "dev_file": str(tmp_path / "dev.jsonl"),
        "epochs": 1,
        "max_length": 64,
        "stride": 16,
        "train_fraction": 0.5,
        "augment_strip_punctuation": 0.0,
        **TEST_TRAINING,
    }
    lines: list[str] = []
    record = train(config_from_dict(raw), tmp_path / "model", log=lines.append)
    # train_fraction thins the corpus only: 2 of 4 corpus documents + all 3 extra ones.
    assert any(line.startswith("training on 5 documents") for line in lines), lines
    assert record["config"]["extra_train_files"] == [str(tmp_path / "silver.jsonl")]

    # A dev document inside the extra data is a leak: refused before any work, naming file and line.
    write_documents(tmp_path / "leaky.jsonl", extra_docs + dev_docs[1:])
    raw["extra_train_files"] = [str(tmp_path / "leaky.jsonl")]
    with pytest.raises(CorpusError, match=r"leaky\.jsonl:4: id also in .*dev\.jsonl:2"):
        train(config_from_dict(raw), tmp_path / "model2", log=lambda _: None)
    assert not (tmp_path / "model2").exists()
    with pytest.raises(ConfigError, match="extra_train_files must be a list of file paths"):
        config_from_dict({"extra_train_files": [3]})


def test_extra_train_files_holding_test_documents_are_refused(tmp_path, tiny_base):
    test_docs = load_documents(ROOT / "data/annotations/test.jsonl")[:3]
    write_documents(tmp_path / "train.jsonl", load_documents(ROOT / "data/annotations/train.jsonl")[:4])
    write_documents(tmp_path / "dev.jsonl", load_documents(ROOT / "data/annotations/dev.jsonl")[:2])
    write_documents(
        tmp_path / "leaky.jsonl", load_documents(ROOT / "data/annotations/train.jsonl")[4:6] + test_docs[2:]
    )
    raw = {
        "base_model": str(tiny_base),
        "train_file": str(tmp_path / "train.jsonl"),
        "extra_train_files": [str(tmp_path / "leaky.jsonl")],
        "dev_file": str(tmp_path / "dev.jsonl"),
    }
    assert config_from_dict(raw).test_file == str(ROOT / "data/annotations/test.jsonl")
    with pytest.raises(CorpusError, match=r"leaky\.jsonl:3: id also in .*data/annotations/test\.jsonl:3"):
        train(config_from_dict(raw), tmp_path / "model", log=lambda _: None)
    write_documents(tmp_path / "own-test.jsonl", test_docs)
    renamed = [Document(f"copy-{d.id}", d.text, d.spans) for d in test_docs[:1]]
    write_documents(tmp_path / "leaky.jsonl", renamed)
    raw["test_file"] = str(tmp_path / "own-test.jsonl")
    with pytest.raises(CorpusError, match=r"leaky\.jsonl:1: text also in .*own-test\.jsonl:1"):
        train(config_from_dict(raw), tmp_path / "model", log=lambda _: None)
    assert not (tmp_path / "model").exists()


def modes(directory: Path) -> dict[str, int]:
    return {
        str(p.relative_to(directory)): p.stat().st_mode & 0o777 for p in [directory, *directory.rglob("*")]
    }


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["umask-022", "umask-027"])
def test_saved_model_directory_has_the_permissions_the_umask_gives(tiny_model, tmp_path, umask):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from training.finetune.train import save_model_dir

    model = AutoModelForTokenClassification.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    output = tmp_path / "saved" / "model"
    previous = os.umask(umask)
    try:
        save_model_dir(model, tokenizer, config_from_dict({"max_length": 64, "stride": 16}), {}, output)
    finally:
        os.umask(previous)
    found = modes(output)
    assert "model.safetensors" in found and "tokenizer.json" in found
    expected = {name: (0o777 if (output / name).is_dir() else 0o666) & ~umask for name in found}
    assert found == expected


def test_a_model_with_dev_f1_zero_is_saved_with_a_loud_warning(tmp_path, tiny_base, capsys):
    from training.release.card import build_card

    write_documents(tmp_path / "train.jsonl", load_documents(ROOT / "data/annotations/train.jsonl")[:4])
    unannotated = [
        Document(d.id, d.text, []) for d in load_documents(ROOT / "data/annotations/dev.jsonl")[:2]
    ]
    write_documents(tmp_path / "dev.jsonl", unannotated)  # nothing to find: dev F1 is 0 whatever the model
    raw = {
        "base_model": str(tiny_base),
        "train_file": str(tmp_path / "train.jsonl"),
        "dev_file": str(tmp_path / "dev.jsonl"),
        "epochs": 1,
        "max_length": 64,
        "stride": 16,
        "augment_strip_punctuation": 0.0,
        **TEST_TRAINING,
    }
    record = train(config_from_dict(raw), tmp_path / "model", log=lambda _: None)
    (warning,) = record["warnings"]
    assert "dev strict F1 is 0.0000" in warning and str(tmp_path / "dev.jsonl") in warning
    assert f"WARNING: {warning}" in capsys.readouterr().err
    saved = json.loads((tmp_path / "model" / "training_record.json").read_text())
    assert saved["warnings"] == [warning]
    card = build_card(tmp_path / "model", [])
    assert f"## Warning\n\n- **{warning}**" in card


def test_saved_tokenizer_says_the_training_window(tiny_model):
    from transformers import AutoTokenizer

    settings = json.loads((tiny_model / "conflict_ie.json").read_text())
    saved = json.loads((tiny_model / "tokenizer_config.json").read_text())
    assert saved["model_max_length"] == settings["max_length"] == 64
    assert AutoTokenizer.from_pretrained(tiny_model).model_max_length == 64


def test_adamw_decays_weight_matrices_but_not_biases_or_layer_norms(tiny_base):
    from training.finetune.train import build_optimizer, load_base_model

    model, _ = load_base_model(str(tiny_base))
    optimizer, _ = build_optimizer(
        model, config_from_dict({"weight_decay": 0.05, "layer_lr_decay": 1.0}), steps=10
    )
    names = {id(p): name for name, p in model.named_parameters()}
    decayed, kept = ({names[id(p)] for p in g["params"]} for g in optimizer.param_groups)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.05, 0.0]
    assert decayed | kept == set(names.values()) and not decayed & kept
    assert "classifier.weight" in decayed and "bert.embeddings.word_embeddings.weight" in decayed
    assert all(name.endswith("weight") and "LayerNorm" not in name for name in decayed)
    assert {name for name in names.values() if name.endswith("bias") or "LayerNorm" in name} == kept


def test_adamw_is_the_fused_kernel_and_steps_as_the_default_one(tiny_base):
    import copy

    import torch

    from training.finetune.train import build_optimizer, load_base_model, parameter_groups

    model, _ = load_base_model(str(tiny_base))
    reference = copy.deepcopy(model)
    config = config_from_dict(
        {"weight_decay": 0.05, "learning_rate": 1e-3, "warmup_ratio": 0.0, "layer_lr_decay": 1.0}
    )
    optimizer, _ = build_optimizer(model, config, steps=10)
    assert all(group["fused"] for group in optimizer.param_groups)
    plain = torch.optim.AdamW(parameter_groups(reference, 0.05, 1e-3), foreach=True)
    torch.manual_seed(0)
    for _ in range(3):
        for p, q in zip(model.parameters(), reference.parameters(), strict=True):
            p.grad = torch.randn_like(p)
            q.grad = p.grad.clone()
        optimizer.step()
        plain.step()
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6), name


def test_head_learning_rate_gives_the_new_head_groups_of_its_own(tiny_base):
    from training.finetune.train import build_optimizer, load_base_model

    model, _ = load_base_model(str(tiny_base))
    settings = {"learning_rate": 1e-5, "head_learning_rate": 1e-3, "weight_decay": 0.05, "warmup_ratio": 0.0}
    settings["layer_lr_decay"] = 1.0  # one encoder rate: this test is about the head's
    optimizer, scheduler = build_optimizer(model, config_from_dict(settings), steps=10)
    names = {id(p): name for name, p in model.named_parameters()}
    groups = [
        ({names[id(p)] for p in group["params"]}, group["lr"], group["weight_decay"])
        for group in optimizer.param_groups
    ]
    assert groups[2:] == [({"classifier.weight"}, 1e-3, 0.05), ({"classifier.bias"}, 1e-3, 0.0)]
    assert [(lr, decay) for _, lr, decay in groups[:2]] == [(1e-5, 0.05), (1e-5, 0.0)]
    assert sum(len(group) for group, _, _ in groups) == len(names)
    optimizer.step()
    scheduler.step()  # the linear schedule scales both rates alike
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.9e-5, 0.9e-5, 0.9e-3, 0.9e-3])


def test_layer_lr_decay_lowers_each_encoder_layer_from_the_top(tiny_base):
    from training.finetune.train import build_optimizer, load_base_model

    model, _ = load_base_model(str(tiny_base))
    layers = model.config.num_hidden_layers
    assert layers >= 2
    settings = {"learning_rate": 1e-3, "layer_lr_decay": 0.5, "warmup_ratio": 0.0}
    optimizer, _ = build_optimizer(model, config_from_dict(settings), steps=10)
    rate = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    named = dict(model.named_parameters())
    assert len(rate) == len(named)
    for name, parameter in named.items():
        if name.startswith("classifier."):
            expected = 1e-3
        elif ".embeddings." in name:
            expected = 1e-3 * 0.5**layers
        else:
            layer = int(name.split(".layer.")[1].split(".")[0])
            expected = 1e-3 * 0.5 ** (layers - 1 - layer)
        assert rate[id(parameter)] == pytest.approx(expected), name
    top = f"bert.encoder.layer.{layers - 1}.output.dense.weight"
    assert rate[id(named[top])] == rate[id(named["classifier.weight"])] == 1e-3


def test_layer_lr_decay_of_one_keeps_one_rate_and_is_checked(tiny_base):
    from training.finetune.train import build_optimizer, load_base_model

    model, _ = load_base_model(str(tiny_base))
    optimizer, _ = build_optimizer(
        model, config_from_dict({"learning_rate": 1e-3, "layer_lr_decay": 1.0}), steps=10
    )
    assert {group["initial_lr"] for group in optimizer.param_groups} == {1e-3}
    assert len(optimizer.param_groups) == 2
    for bad in (0, 1.5, -0.9):
        with pytest.raises(ConfigError, match="layer_lr_decay must be in"):
            config_from_dict({"layer_lr_decay": bad})


def test_layer_lr_decay_on_an_encoder_without_numbered_layers_is_refused():
    """A decay that would silently leave every rate alone is an error, not a no-op."""
    import torch

    from training.finetune.train import parameter_rates

    class Unlayered(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base_model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
            self.config = type("Config", (), {"num_hidden_layers": 2})()

    with pytest.raises(ConfigError, match=r"layer_lr_decay 0.9: the base model \(Sequential\) has no "):
        parameter_rates(Unlayered(), 1e-3, layer_decay=0.9)
    assert {rate for _, rate in parameter_rates(Unlayered(), 1e-3).values()} == {1e-3}


def test_mpnet_yaml_differs_from_the_default_only_where_it_says():
    default = load_config(DEFAULT_YAML).to_dict()
    mpnet = load_config(ROOT / "training/configs/mpnet.yaml").to_dict()
    changed = {key: mpnet[key] for key in default if mpnet[key] != default[key]}
    assert changed == {
        "base_model": str(ROOT / ".models/all-mpnet-base-v2"),
        "learning_rate": 5e-5,
        "head_learning_rate": 2e-3,
        "layer_lr_decay": 1.0,
        "epochs": 3,
    }
    assert list(yaml.safe_load((ROOT / "training/configs/mpnet.yaml").read_text())) == list(default)


def test_trainings_in_one_process_may_use_different_mixed_precision(tmp_path, tiny_base):
    """accelerate keeps one state per process; a second training with another precision used to fail."""
    write_documents(tmp_path / "train.jsonl", load_documents(ROOT / "data/annotations/train.jsonl")[:8])
    write_documents(tmp_path / "dev.jsonl", load_documents(ROOT / "data/annotations/dev.jsonl")[:2])
    for precision in ("bf16", "no"):
        settings = tiny_training_config(tiny_base, tmp_path, epochs=1, mixed_precision=precision)
        config = config_from_dict(settings)
        record = train(config, tmp_path / precision, log=lambda _: None)
        assert record["mixed_precision"] == precision


def test_attention_dropout_replaces_the_base_models_own(tiny_base):
    from training.finetune.train import load_base_model

    own = load_base_model(str(tiny_base))[0].config.attention_probs_dropout_prob
    assert own > 0
    model = load_base_model(str(tiny_base), attention_dropout=0.0)[0]
    assert model.config.attention_probs_dropout_prob == 0.0
    assert config_from_dict({"attention_dropout": 0}).attention_dropout == 0.0
    assert config_from_dict({"attention_dropout": None}).attention_dropout is None


def test_a_bool_key_takes_a_bool_and_an_int_key_refuses_one(monkeypatch):
    from types import SimpleNamespace

    from training.finetune import config as config_module

    monkeypatch.setattr(config_module, "_DEFAULTS", SimpleNamespace(flag=False, epochs=5))
    assert config_module._typed("flag", True, "test.yaml") is True
    with pytest.raises(ConfigError, match="flag must be bool, got int 1"):
        config_module._typed("flag", 1, "test.yaml")
    with pytest.raises(ConfigError, match="epochs must be int, got bool True"):
        config_module._typed("epochs", True, "test.yaml")


def test_distil_yaml_is_the_default_with_the_mpnet_teacher():
    default = load_config(DEFAULT_YAML).to_dict()
    distil = load_config(ROOT / "training/configs/distil.yaml").to_dict()
    changed = {key: distil[key] for key in default if distil[key] != default[key]}
    assert changed == {"teacher": str(ROOT / "runs/mpnet/model")}
    assert list(yaml.safe_load((ROOT / "training/configs/distil.yaml").read_text())) == list(default)


def _head(model_dir) -> tuple[list[str], object]:
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(model_dir)
    tags = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return tags, model.classifier


def test_a_trained_model_as_base_model_keeps_its_head(tiny_model):
    """Retraining from a trained model (new annotations) continues from its head, not a fresh one."""
    import torch

    from training.finetune.train import load_base_model

    tags, head = _head(tiny_model)
    model, _ = load_base_model(str(tiny_model))
    assert [model.config.id2label[i] for i in range(len(tags))] == tags
    assert torch.equal(model.classifier.weight, head.weight)
    assert torch.equal(model.classifier.bias, head.bias)


def test_a_trained_base_with_other_tags_keeps_the_rows_of_the_tags_both_have(tiny_model):
    """A schema that drops, reorders and adds labels: each shared tag keeps its trained row, found by
    name (never by position), and a new tag gets a fresh one."""
    import torch

    from inference.schema import LabelSchema
    from training.finetune.train import load_base_model

    tags, head = _head(tiny_model)
    schema = LabelSchema.from_dict({"labels": ["WEAPON", "PERPETRATOR"], "outcomes": {}, "roles": {}}, "test")
    notes: list[str] = []
    model, _ = load_base_model(str(tiny_model), schema, log=notes.append)
    names = schema.tag_names()
    assert [model.config.id2label[i] for i in range(len(names))] == names
    for i, tag in enumerate(names):
        if tag in tags:
            assert torch.equal(model.classifier.weight[i], head.weight[tags.index(tag)]), tag
        else:
            assert not any(torch.equal(model.classifier.weight[i], row) for row in head.weight), tag
    assert any("B-WEAPON" in note and "CASUALTY_COUNT" in note for note in notes), notes


def test_training_continues_from_a_trained_model(tmp_path, tiny_model):
    """End to end: at a learning rate too small to move a weight, the saved head is the base's."""
    import torch

    work = tmp_path / "work"
    work.mkdir()
    write_documents(work / "train.jsonl", load_documents(ROOT / "data/annotations/train.jsonl")[24:32])
    write_documents(work / "dev.jsonl", load_documents(ROOT / "data/annotations/dev.jsonl")[:4])
    config = config_from_dict(tiny_training_config(tiny_model, work, epochs=1, learning_rate=1e-12))
    notes: list[str] = []
    record = train(config, tmp_path / "model", log=notes.append)
    assert record["base_model"] == str(tiny_model)
    base_record = json.loads((tiny_model / "training_record.json").read_text())
    assert record["continued_from"] == base_record
    assert base_record["continued_from"] is None  # the tiny model started from an encoder
    assert any("continues from its head" in note for note in notes), notes
    (_, before), (_, after) = _head(tiny_model), _head(tmp_path / "model")
    assert torch.allclose(after.weight, before.weight, atol=1e-6)


def test_a_base_model_with_a_broken_training_record_is_refused_before_any_work(tmp_path, tiny_model, capsys):
    """Its record goes into the new one (``continued_from``): read at the start, not after the epochs."""
    import shutil

    base = tmp_path / "base"
    shutil.copytree(tiny_model, base)
    (base / "training_record.json").write_text("{not json", encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    write_documents(work / "train.jsonl", load_documents(ROOT / "data/annotations/train.jsonl")[24:28])
    write_documents(work / "dev.jsonl", load_documents(ROOT / "data/annotations/dev.jsonl")[:2])
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_training_config(base, work, epochs=1)))
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert f"{base / 'training_record.json'}: invalid JSON" in captured.err
    assert "training on" not in captured.out and not (tmp_path / "out").exists()
