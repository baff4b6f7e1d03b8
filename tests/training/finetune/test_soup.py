"""Model soups on real model directories: the tiny fine-tuned model and a copy with another head."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from inference.extractor import Extractor
from inference.model_dir import SETTINGS_FILE
from training.cli import main
from training.corpus.store import load_documents, write_documents
from training.finetune.soup import SoupError, make_soup, mean_weights

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def dev_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("soup-dev") / "dev.jsonl"
    write_documents(path, load_documents(ROOT / "data/annotations/dev.jsonl")[:4])
    return path


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(str(directory / "model.safetensors"))


def test_mean_weights_is_the_elementwise_mean_in_the_first_dtype() -> None:
    first = {"w": torch.tensor([1.0, 2.0], dtype=torch.bfloat16), "b": torch.tensor([0.0])}
    second = {"w": torch.tensor([3.0, 6.0], dtype=torch.bfloat16), "b": torch.tensor([1.0])}
    mean = mean_weights([first, second])
    assert mean["w"].dtype == torch.bfloat16 and mean["w"].tolist() == [2.0, 4.0]
    assert mean["b"].tolist() == [0.5]
    with pytest.raises(SoupError, match="other weight names"):
        mean_weights([first, {"w": first["w"]}])
    with pytest.raises(SoupError, match="weight b has different shapes"):
        mean_weights([first, {"w": first["w"], "b": torch.zeros(2)}])


def test_a_uniform_soup_averages_every_ingredient_and_is_a_usable_model(
    tiny_model: Path, busy_model: Path, dev_file: Path, tmp_path: Path
) -> None:
    output = tmp_path / "soup"
    soup = make_soup([tiny_model, busy_model], output, dev_file, "uniform", device="cpu", log=lambda _: None)

    averaged, a, b = _weights(output), _weights(tiny_model), _weights(busy_model)
    assert set(averaged) == set(a)
    for key in a:
        assert torch.allclose(averaged[key].float(), (a[key].float() + b[key].float()) / 2, atol=1e-6)
    assert [i["in_soup"] for i in soup["ingredients"]] == [True, True]
    record = json.loads((output / "training_record.json").read_text())
    assert record["soup"] == soup and record["soup"]["method"] == "uniform"
    assert (
        record["calibration"]["min_scores"] == json.loads((output / SETTINGS_FILE).read_text())["min_scores"]
    )
    extractor = Extractor.from_pretrained(output, device="cpu", precision="fp32")
    assert extractor.schema.labels == Extractor.from_pretrained(tiny_model, device="cpu").schema.labels
    assert isinstance(extractor.extract(["Gunmen killed 12 villagers."])[0], list)


def test_a_greedy_soup_holds_exactly_the_ingredients_it_names(
    tiny_model: Path, busy_model: Path, dev_file: Path, tmp_path: Path
) -> None:
    output = tmp_path / "soup"
    soup = make_soup([tiny_model, busy_model], output, dev_file, "greedy", device="cpu", log=lambda _: None)

    ingredients = soup["ingredients"]
    best = max(ingredients, key=lambda i: i["dev_f1"])
    assert best["in_soup"] and soup["dev_f1"] >= best["dev_f1"]
    kept = [_weights(Path(i["model"])) for i in ingredients if i["in_soup"]]
    expected = mean_weights(kept)
    assert all(torch.equal(expected[k], v) for k, v in _weights(output).items())


def test_the_command_writes_a_soup(
    tiny_model: Path, busy_model: Path, dev_file: Path, tmp_path: Path
) -> None:
    output = tmp_path / "soup"
    args = ["soup", "--models", str(tiny_model), str(busy_model), "--output", str(output)]
    assert main([*args, "--data", str(dev_file), "--method", "uniform", "--device", "cpu"]) == 0
    assert (output / "model.safetensors").is_file()


def _variant(model: Path, tmp_path: Path, name: str, change: dict) -> Path:
    directory = tmp_path / name
    shutil.copytree(model, directory)
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, **change}))
    return directory


def test_ingredients_that_cannot_be_averaged_are_refused_before_anything_is_written(
    tiny_model: Path, dev_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "soup"
    wider = _variant(tiny_model, tmp_path, "wider", {"hidden_size": 64})
    with pytest.raises(SoupError, match=rf"{wider} cannot be averaged with .*hidden_size"):
        make_soup([tiny_model, wider], output, dev_file, device="cpu")
    with pytest.raises(SoupError, match="at least two"):
        make_soup([tiny_model], output, dev_file, device="cpu")
    with pytest.raises(SoupError, match="is one of the ingredients"):
        make_soup([tiny_model, wider], wider, dev_file, device="cpu")
    with pytest.raises(SoupError, match="unknown soup method"):
        make_soup([tiny_model, tiny_model], output, dev_file, "mean", device="cpu")
    assert not output.exists()

    output.mkdir()
    (output / "kept.txt").write_text("already here")
    args = [
        "soup",
        "--models",
        str(tiny_model),
        str(tiny_model),
        "--output",
        str(output),
        "--data",
        str(dev_file),
    ]
    assert main(args) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in output.iterdir()] == ["kept.txt"]


def test_the_card_of_a_soup_names_what_was_averaged(
    tiny_model: Path, busy_model: Path, dev_file: Path, tmp_path: Path
) -> None:
    from training.evaluation.report import run_evaluation
    from training.release.card import build_card

    output = tmp_path / "soup"
    make_soup([tiny_model, busy_model], output, dev_file, "uniform", device="cpu", log=lambda _: None)
    report = tmp_path / "reports" / "test.json"
    report.parent.mkdir()
    report.write_text(json.dumps(run_evaluation(output, dev_file, device="cpu", resamples=10)[0]))
    card = build_card(output, [report])
    row = next(line for line in card.splitlines() if "model soup" in line)
    assert "averaged over 2 of 2 trainings (uniform" in row
    assert str(tiny_model) in row and str(busy_model) in row
