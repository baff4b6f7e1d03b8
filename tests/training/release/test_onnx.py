"""``conflict-ie export``: ONNX fp32 gives the PyTorch entities, int8 loads, a lossy export is refused."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from inference.backends.onnx import OnnxBackend
from inference.extractor import Extractor, UnitProbabilities
from inference.model_dir import ModelDirError
from inference.results import Entity
from training.cli import main
from training.corpus.store import load_documents, write_documents
from training.release.export import ExportError, export

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def gold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gold") / "gold.jsonl"
    write_documents(path, load_documents(ROOT / "data" / "annotations" / "dev.jsonl")[:6])
    return path


@pytest.fixture(scope="module")
def exported(busy_model: Path, gold: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("export") / "onnx"
    # A random head scores about 3 points of F1 here: what int8 moves of it says nothing about
    # quantisation, so the gate runs but cannot refuse (its refusal is tested on its own).
    command = ["export", "--model", str(busy_model), "--output", str(output), "--gold", str(gold)]
    assert main([*command, "--max-f1-drop", "5"]) == 0
    return output


@pytest.fixture(scope="module")
def texts() -> list[str]:
    documents = load_documents(ROOT / "data" / "annotations" / "dev.jsonl")[:10]
    return [d.text for d in documents] + ["Gunmen killed 12 villagers.", "", "Ünïcödé: 😀 3 killed."]


def without_scores(results: list[list[Entity]]) -> list[list[Entity]]:
    return [[replace(e, score=0.0) for e in entities] for entities in results]


def test_export_has_the_permissions_the_umask_gives(busy_model: Path, tmp_path: Path):
    previous = os.umask(0o027)
    try:
        export(busy_model, tmp_path / "onnx", log=lambda _: None)
    finally:
        os.umask(previous)
    paths = [tmp_path / "onnx", *(tmp_path / "onnx").rglob("*")]
    found = {str(p): p.stat().st_mode & 0o777 for p in paths}
    assert found == {str(p): 0o750 if p.is_dir() else 0o640 for p in paths}


def test_export_writes_two_loadable_models_and_a_manifest(exported: Path):
    manifest = json.loads((exported / "export.json").read_text())
    assert set(manifest["strict_f1"]) == {"pytorch", "onnx-fp32", "onnx-int8"}
    assert manifest["fused"] is True and manifest["fp32_max_logit_diff"] < 1e-3
    fp32, int8 = exported / "fp32" / "model.onnx", exported / "int8" / "model.onnx"
    assert int8.stat().st_size < 0.6 * fp32.stat().st_size  # the weights really are 8-bit
    assert not [p for p in exported.parent.iterdir() if p.name.startswith(".")]  # no staging left
    # The first layer stays float32; the other layer's products are int8.
    import onnx

    kept = manifest["int8_kept_float"]
    assert kept and all("layer.0" in name or name == "Attention_0" for name in kept)
    ops = {node.name: node.op_type for node in onnx.load(str(int8)).graph.node}
    assert all(ops[name] in ("MatMul", "Attention") for name in kept)
    assert "QAttention" in ops.values() or "MatMulInteger" in ops.values()


PROB_TOLERANCE = 1e-4


def span_key(entity: Entity) -> tuple[str, int, int]:
    return entity.label, entity.start, entity.end


def near_tie_units(probabilities: list[UnitProbabilities], margin: float) -> list[list[tuple[int, int]]]:
    """Per text, the character ranges of units whose two most probable tags are within ``margin``."""
    ranges = []
    for text_probs in probabilities:
        ordered = np.sort(text_probs.probs, axis=1)
        close = (ordered[:, -1] - ordered[:, -2]) < margin
        ranges.append([(u.start, u.end) for u, tie in zip(text_probs.units, close, strict=True) if tie])
    return ranges


def test_onnx_fp32_gives_the_pytorch_entities(busy_model: Path, exported: Path, texts):
    torch_extractor = Extractor.from_pretrained(busy_model, device="cpu", precision="fp32")
    onnx_extractor = Extractor.from_pretrained(exported / "fp32")
    assert isinstance(onnx_extractor.backend, OnnxBackend) and onnx_extractor.backend.precision == "fp32"
    assert Extractor.from_pretrained(exported / "int8").backend.precision == "int8"
    torch_probs = torch_extractor.unit_probabilities(texts)
    onnx_probs = onnx_extractor.unit_probabilities(texts)
    for want, got in zip(torch_probs, onnx_probs, strict=True):
        assert [u.start for u in got.units] == [u.start for u in want.units]
        assert np.abs(got.probs - want.probs).max(initial=0.0) < PROB_TOLERANCE
    torch_results = torch_extractor.extract(texts)
    onnx_results = onnx_extractor.extract(texts)
    assert sum(map(len, torch_results)) > 100
    # float32 kernels of the two runtimes round differently (and differently on each CPU), so a unit
    # whose two best tags are within that rounding of each other may flip; every other entity is equal.
    ties = near_tie_units(torch_probs, margin=2 * PROB_TOLERANCE)
    flipped = 0
    pairs = zip(without_scores(onnx_results), without_scores(torch_results), ties, strict=True)
    for got, want, text_ties in pairs:
        differing = [e for e in got if e not in want] + [e for e in want if e not in got]
        for entity in differing:
            assert any(start < entity.end and entity.start < end for start, end in text_ties), entity
        flipped += len(differing)
    assert flipped <= 0.01 * sum(map(len, torch_results))
    for got, want in zip(onnx_results, torch_results, strict=True):
        scores = {span_key(e): e.score for e in want}
        for entity in got:
            if span_key(entity) in scores:
                assert entity.score == pytest.approx(scores[span_key(entity)], abs=1e-3)


def test_onnx_int8_runs_and_gives_well_formed_entities(exported: Path, texts):
    results = Extractor.from_pretrained(exported / "int8", device="cpu", threads=1).extract(texts)
    assert len(results) == len(texts) and sum(map(len, results)) > 0
    for text, entities in zip(texts, results, strict=True):
        assert all(text[e.start : e.end] == e.text and 0 <= e.score <= 1 for e in entities)


def test_a_lossy_export_is_refused_and_leaves_nothing(busy_model: Path, gold: Path, tmp_path: Path):
    output = tmp_path / "new" / "onnx"
    # Demanding a gain of 100 points makes every variant "lose too much": the real refusal path.
    with pytest.raises(ExportError, match=r"refused: onnx-fp32 loses .* nothing written"):
        export(busy_model, output, gold, max_f1_drop=-100.0, log=lambda _: None)
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_to_overwrite_and_bad_arguments(exported: Path, busy_model: Path, capsys):
    before = sorted(p.name for p in exported.iterdir())
    assert main(["export", "--model", str(busy_model), "--output", str(exported)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in exported.iterdir()) == before
    assert main(["export", "--model", str(busy_model), "--output", "x", "--max-f1-drop", "-1"]) == 2
    assert "--max-f1-drop must be >= 0" in capsys.readouterr().err


def test_onnx_dirs_are_checked_with_clear_errors(exported: Path, busy_model: Path, tmp_path: Path):
    with pytest.raises(ModelDirError, match="is an export directory; load one of its models"):
        Extractor.from_pretrained(exported)
    with pytest.raises(ModelDirError, match="no model.onnx; not an ONNX model directory"):
        Extractor.from_pretrained(busy_model, backend="onnx")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.onnx").write_bytes((exported / "int8" / "model.onnx").read_bytes())
    with pytest.raises(ModelDirError, match="no config.json"):
        Extractor.from_pretrained(broken)
    with pytest.raises(ValueError, match="precision 'bf16' is for the PyTorch backend"):
        Extractor.from_pretrained(exported / "int8", precision="bf16")


def test_an_int8_model_that_loses_too_much_is_left_out_and_the_float_one_written(
    busy_model: Path, tmp_path: Path
):
    """all-mpnet-base-v2 loses all its F1 in ONNX Runtime's dynamic int8; its exact fp32 export
    should not be refused with it. Here the gold is the PyTorch model's own output, so fp32 scores
    100 and int8 only what its rounding keeps."""
    from inference.spans import Document, Span

    texts = [d.text for d in load_documents(ROOT / "data" / "annotations" / "dev.jsonl")[:30]]
    predicted = Extractor.from_pretrained(busy_model, device="cpu", precision="fp32").extract(texts)
    silver = tmp_path / "silver.jsonl"
    documents = [
        Document(f"d{i}", text, [Span(e.start, e.end, e.label, e.outcome) for e in entities])
        for i, (text, entities) in enumerate(zip(texts, predicted, strict=True))
    ]
    write_documents(silver, documents)
    notes: list[str] = []
    manifest = export(busy_model, tmp_path / "onnx", silver, max_f1_drop=0.5, log=notes.append)
    scores = manifest["strict_f1"]
    assert scores["pytorch"] == pytest.approx(1.0) and scores["onnx-fp32"] >= 0.995
    assert 100 * (scores["pytorch"] - scores["onnx-int8"]) > 0.5
    assert manifest["int8_left_out"].startswith("onnx-int8 lost")
    assert any(note.startswith("onnx-int8 left out") for note in notes), notes
    assert (tmp_path / "onnx" / "fp32" / "model.onnx").is_file() and not (tmp_path / "onnx" / "int8").exists()
    on_disk = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert on_disk["int8_left_out"] == manifest["int8_left_out"]
