"""The JSON users see, pinned: ``predict --events`` lines, the service's ``/extract`` answer and
the ``evaluate --model`` report (JSON and text) on a fixed model, against files in tests/data/contract.

The model is the untrained tiny base with a seeded random head (no training, no calibrated minimum
scores), so that what it tags does not depend on the CPU a fixture training ran on. Scores may
move by one unit of their 4-decimal rounding between CPUs; everything else must match to the byte.
Regenerate the files (only for an intended change of the contract) with
``CONTRACT_REGENERATE=1 python -m pytest tests/test_json_contract.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import busy_head

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "tests" / "data" / "contract"
DEV = ROOT / "data" / "annotations" / "dev.jsonl"
SCORE = re.compile(r'"score": (-?[0-9.e-]+)')
# What names this machine or the fixture training run rather than the model's answers.
ON_CPU = ("--device", "cpu", "--precision", "fp32")  # bf16 where the CPU has it would differ
MACHINE = re.compile(r'"(model_record_sha256|cpu)": "[^"]*"')


def contract_model(tiny_model: Path, tiny_base: Path, directory: Path) -> Path:
    """``tiny_model``'s directory (tokenizer, labels, settings without ``min_scores``) with the
    untrained base's encoder and a seeded head biased to tag about 15% of tokens (``busy_head``)."""
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

    from inference.model_dir import SETTINGS_FILE
    from training.corpus.store import load_documents

    shutil.copytree(tiny_model, directory)
    settings = json.loads((directory / SETTINGS_FILE).read_text())
    settings.pop("min_scores", None)
    (directory / SETTINGS_FILE).write_text(json.dumps(settings, indent=2))
    config = AutoConfig.from_pretrained(tiny_model)
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(tiny_base, config=config).eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    head = model.classifier
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.weight.shape, generator=torch.Generator().manual_seed(0)) * 4)
    texts = [d.text for d in load_documents(DEV)[:4]]
    batch = tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="pt")
    busy_head(model, batch, 0.15)
    with torch.no_grad():
        head.bias.copy_(torch.round(head.bias, decimals=2))  # pinned outputs: no last-bit differences
    model.save_pretrained(directory, safe_serialization=True)
    return directory


def gold(directory: Path) -> Path:
    """The three shortest dev documents with casualty counts: small files, every label and records."""
    from training.corpus.store import load_documents, write_documents

    documents = [d for d in load_documents(DEV) if any(s.label == "CASUALTY_COUNT" for s in d.spans)]
    path = directory / "gold.jsonl"
    write_documents(path, sorted(documents, key=lambda d: len(d.text))[:3])
    return path


def inputs(directory: Path, gold_file: Path) -> Path:
    from training.corpus.store import load_documents

    items = [{"id": d.id, "text": d.text} for d in load_documents(gold_file)]
    items.append({"id": "odd", "text": "Ünïcödé: 3 killed in Aleppo — “officials” said. 😀"})
    path = directory / "inputs.jsonl"
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


def predict_output(model: Path, path: Path, capsys: Any) -> str:
    from training.cli import main

    assert main(["predict", "--model", str(model), *ON_CPU, "--events", str(path)]) == 0
    return capsys.readouterr().out


def service_output(model: Path, path: Path) -> str:
    from servers import ServerThread

    from inference import Extractor
    from inference.service.app import create_app

    extractor = Extractor.from_pretrained(model, device="cpu", precision="fp32")
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    body = {"texts": [i["text"] for i in items], "ids": [i["id"] for i in items]}
    with ServerThread(create_app(extractor)) as server:
        response = httpx.post(f"{server.url}/extract", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.text


def evaluate_output(model: Path, gold_file: Path, report: Path, capsys: Any) -> str:
    from training.cli import main

    command = ["evaluate", "--model", str(model), "--data", str(gold_file), *ON_CPU]
    assert main([*command, "--resamples", "20", "--output", str(report)]) == 0
    return capsys.readouterr().out


def outputs(tiny_model: Path, tiny_base: Path, work: Path, capsys: Any) -> dict[str, str]:
    model = contract_model(tiny_model, tiny_base, work / "model")
    gold_file = gold(work)
    path = inputs(work, gold_file)
    report = work / "report.json"
    evaluate_text = evaluate_output(model, gold_file, report, capsys)
    got = {
        "predict.jsonl": predict_output(model, path, capsys),
        "service.json": service_output(model, path),
        "evaluate.json": report.read_text(encoding="utf-8"),
        "evaluate.txt": evaluate_text,
    }
    return {name: MACHINE.sub(r'"\1": "_"', text.replace(str(work), "WORK")) for name, text in got.items()}


def assert_same(got: str, want: str, name: str) -> None:
    """Byte-identical but for entity scores, which may differ by one rounding unit."""
    assert SCORE.sub('"score": _', got) == SCORE.sub('"score": _', want), name
    got_scores = [float(s) for s in SCORE.findall(got)]
    want_scores = [float(s) for s in SCORE.findall(want)]
    assert all(abs(a - b) <= 2e-4 for a, b in zip(got_scores, want_scores, strict=True)), name


def test_predict_service_and_evaluate_json_match_the_pinned_files(
    tiny_model: Path, tiny_base: Path, tmp_path: Path, capsys
) -> None:
    got = outputs(tiny_model, tiny_base, tmp_path, capsys)
    if os.environ.get("CONTRACT_REGENERATE") == "1":
        CONTRACT.mkdir(parents=True, exist_ok=True)
        for name, text in got.items():
            (CONTRACT / name).write_text(text, encoding="utf-8")
    assert '"records"' in got["predict.jsonl"] and '"event"' in got["predict.jsonl"]
    assert got["predict.jsonl"].count('"label"') > 20  # the model tags enough to pin something
    for name, text in got.items():
        assert_same(text, (CONTRACT / name).read_text(encoding="utf-8"), name)
