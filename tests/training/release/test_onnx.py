"""``conflict-ie export``: ONNX fp32 gives the PyTorch entities, int8 loads, a lossy export is refused."""

from __future__ import annotations

import json
import os
import shutil
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
from training.release.export import ExportError, export, feed_forward_outputs, int8_recipes

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
    notes: list[str] = []
    # Demanding a gain of 100 points makes every variant "lose too much": the real refusal path.
    with pytest.raises(ExportError, match=r"refused: onnx-fp32 loses .* nothing written"):
        export(busy_model, output, gold, max_f1_drop=-100.0, log=notes.append)
    assert list(tmp_path.iterdir()) == []
    # Refused as soon as the float model is scored: no int8 recipe is quantized and scored first.
    assert not any("quantizing" in note or "int8" in note for note in notes), notes


def test_export_refuses_to_overwrite_and_bad_arguments(exported: Path, busy_model: Path, capsys):
    before = sorted(p.name for p in exported.iterdir())
    assert main(["export", "--model", str(busy_model), "--output", str(exported)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in exported.iterdir()) == before
    assert main(["export", "--model", str(busy_model), "--output", "x", "--max-f1-drop", "-1"]) == 2
    assert "--max-f1-drop must be >= 0" in capsys.readouterr().err


def test_onnx_dirs_are_checked_with_clear_errors(exported: Path, busy_model: Path, tmp_path: Path):
    with pytest.raises(ModelDirError, match="no model.onnx; not an ONNX model directory"):
        Extractor.from_pretrained(busy_model, backend="onnx")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.onnx").write_bytes((exported / "int8" / "model.onnx").read_bytes())
    with pytest.raises(ModelDirError, match="no config.json"):
        Extractor.from_pretrained(broken)
    with pytest.raises(ValueError, match="precision 'bf16' is for the PyTorch backend"):
        Extractor.from_pretrained(exported / "int8", precision="bf16")


def silver_gold(model: Path, path: Path, documents: int = 30) -> Path:
    """Corpus dev texts with ``model``'s own fp32 entities as gold: fp32 scores 100 against it."""
    from inference.spans import Document, Span

    texts = [d.text for d in load_documents(ROOT / "data" / "annotations" / "dev.jsonl")[:documents]]
    predicted = Extractor.from_pretrained(model, device="cpu", precision="fp32").extract(texts)
    write_documents(
        path,
        [
            Document(f"d{i}", text, [Span(e.start, e.end, e.label, e.outcome) for e in entities])
            for i, (text, entities) in enumerate(zip(texts, predicted, strict=True))
        ],
    )
    return path


def test_an_int8_model_that_loses_too_much_is_left_out_and_the_float_one_written(
    busy_model: Path, tmp_path: Path
):
    """all-mpnet-base-v2 loses all its F1 in ONNX Runtime's dynamic int8; its exact fp32 export
    should not be refused with it. Here the gold is the PyTorch model's own output, so fp32 scores
    100 and int8 only what its rounding keeps."""
    silver = silver_gold(busy_model, tmp_path / "silver.jsonl")
    notes: list[str] = []
    manifest = export(busy_model, tmp_path / "onnx", silver, max_f1_drop=0.5, log=notes.append)
    scores = manifest["strict_f1"]
    assert scores["pytorch"] == pytest.approx(1.0) and scores["onnx-fp32"] >= 0.995
    assert 100 * (scores["pytorch"] - scores["onnx-int8"]) > 0.5
    assert manifest["int8_left_out"].startswith("onnx-int8 lost")
    assert list(manifest["int8_recipes_f1"]) == list(int8_recipes(tmp_path / "onnx" / "fp32" / "model.onnx"))
    assert any(note.startswith("onnx-int8 left out") for note in notes), notes
    assert (tmp_path / "onnx" / "fp32" / "model.onnx").is_file() and not (tmp_path / "onnx" / "int8").exists()
    on_disk = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert on_disk["int8_left_out"] == manifest["int8_left_out"]


def int8_weights(path: Path) -> list[np.ndarray]:
    """The int8 weight tensors of a quantized ONNX graph (the activations are quantized at run time)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    return [
        numpy_helper.to_array(tensor)
        for tensor in graph.initializer
        if tensor.data_type == onnx.TensorProto.INT8 and tensor.dims
    ]


def test_int8_weights_fit_seven_bits_so_no_cpu_saturates_them(exported: Path):
    """ONNX Runtime multiplies uint8 activations by int8 weights with VPMADDUBSW on a CPU without
    VNNI, which sums each pair of products into 16 bits: 8-bit weights overflow it (255 x 127 x 2),
    7-bit ones cannot (255 x 64 x 2). all-mpnet-base-v2 lost all its F1 that way on an AVX2 CPU."""
    weights = int8_weights(exported / "int8" / "model.onnx")
    assert weights and max(int(np.abs(w.astype(np.int32)).max()) for w in weights) <= 64
    assert json.loads((exported / "export.json").read_text())["int8_weight_bits"] == 7
    assert json.loads((exported / "int8" / "conflict_ie.json").read_text())["int8_weight_bits"] == 7


def test_eight_bit_weights_on_request_with_a_warning_where_they_can_saturate(
    busy_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    from inference.backends.onnx import saturation_warning
    from inference.cpu import cpu_kind

    assert (
        main(
            ["export", "--model", str(busy_model), "--output", str(tmp_path / "e"), "--int8-weight-bits", "8"]
        )
        == 0
    )
    int8 = tmp_path / "e" / "int8"
    assert max(int(np.abs(w.astype(np.int32)).max()) for w in int8_weights(int8 / "model.onnx")) > 64
    settings = json.loads((int8 / "conflict_ie.json").read_text())
    assert settings["int8_weight_bits"] == 8
    avx2, vnni = frozenset({"avx2", "fma"}), frozenset({"avx2", "avx512f", "avx512_vnni"})
    message = saturation_warning(int8, settings, avx2)
    assert message and str(int8) in message and "re-export" in message
    assert saturation_warning(int8, settings, vnni) is None
    assert saturation_warning(int8, {**settings, "int8_weight_bits": 7}, avx2) is None
    assert saturation_warning(int8, {"precision": "int8"}, avx2)  # an export from before the key: 8-bit
    assert saturation_warning(tmp_path / "e" / "fp32", {"precision": "fp32"}, avx2) is None
    with caplog.at_level("WARNING", logger="inference.backends.onnx"):
        Extractor.from_pretrained(int8)
    assert any("can saturate" in r.getMessage() for r in caplog.records) == (cpu_kind() == "avx2")
    with pytest.raises(SystemExit):
        main(
            ["export", "--model", str(busy_model), "--output", str(tmp_path / "x"), "--int8-weight-bits", "6"]
        )
    with pytest.raises(ExportError, match="--int8-weight-bits is for --format onnx"):
        export(busy_model, tmp_path / "ov", format="openvino", int8_weight_bits=8)
    assert not (tmp_path / "ov").exists()


def test_feed_forward_outputs_are_the_products_after_each_gelu(exported: Path):
    import onnx

    layers = onnx.load(str(exported / "fp32" / "model.onnx")).graph
    found = feed_forward_outputs(layers)
    products = [n.name for n in layers.node if n.op_type == "MatMul"]
    assert found and set(found) < set(products)
    assert all("/output/dense/" in name and "attention" not in name for name in found)
    assert len(found) == len({name.split("/layer.")[1].split("/")[0] for name in found})  # one a layer


@pytest.fixture(scope="module")
def outlier_model(busy_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``busy_model`` whose every layer has one feed-forward unit firing at about 2000 that the
    output projection ignores: the float model computes the same, but one int8 scale for that
    projection's input rounds every other unit to a few levels, as all-mpnet-base-v2's outliers did."""
    import torch
    from transformers import AutoModelForTokenClassification

    directory = tmp_path_factory.mktemp("outlier") / "model"
    shutil.copytree(busy_model, directory)
    model = AutoModelForTokenClassification.from_pretrained(directory, use_safetensors=True).eval()
    with torch.no_grad():
        for layer in model.base_model.encoder.layer:
            layer.intermediate.dense.bias[0] = 2000.0
            layer.output.dense.weight[:, 0] = 0.0
    model.save_pretrained(directory, safe_serialization=True)
    return directory


def test_int8_keeps_the_feed_forward_outputs_float_when_quantizing_them_fails_the_gate(
    outlier_model: Path, tmp_path: Path
):
    import onnx

    silver = silver_gold(outlier_model, tmp_path / "silver.jsonl")
    notes: list[str] = []
    manifest = export(outlier_model, tmp_path / "onnx", silver, max_f1_drop=6.0, log=notes.append)
    fp32, int8 = tmp_path / "onnx" / "fp32" / "model.onnx", tmp_path / "onnx" / "int8" / "model.onnx"
    fast, careful = int8_recipes(fp32)
    tried = manifest["int8_recipes_f1"]
    assert 100 * (1 - tried[fast]) > 6, tried  # one scale for the outliers and the rest
    assert manifest["int8_recipe"] == careful and manifest["int8_left_out"] is None
    assert manifest["strict_f1"]["onnx-int8"] == tried[careful] > tried[fast]
    after_gelu = feed_forward_outputs(onnx.load(str(fp32)).graph)
    assert set(after_gelu) <= set(manifest["int8_kept_float"])
    ops = {node.name: node.op_type for node in onnx.load(str(int8)).graph.node}
    assert all(ops[name] == "MatMul" for name in after_gelu)
    assert "MatMulInteger" in ops.values() or "QAttention" in ops.values()
    assert sum(careful in note for note in notes) == 1, notes
    assert any(note.strip().startswith(f"int8 by {fast}: strict F1") for note in notes), notes


def test_an_export_directory_loads_the_variant_its_precision_chooses(
    exported: Path, busy_model: Path, tmp_path: Path
):
    """``auto`` takes int8 on a CPU, fp32 where int8 was left out or its 8-bit weights would
    saturate on this CPU (and on a GPU); ``fp32``/``int8`` ask for one."""
    from inference.backends.onnx import choose_onnx_directory
    from inference.extractor import check_model

    avx2, vnni = frozenset({"avx2"}), frozenset({"avx2", "avx512_vnni"})
    assert Extractor.from_pretrained(exported).backend.precision == "int8"
    assert Extractor.from_pretrained(exported, precision="fp32").backend.precision == "fp32"
    assert check_model(exported) == exported / "int8" and check_model(exported, "fp32") == exported / "fp32"
    assert choose_onnx_directory(exported, "auto", "cpu", avx2) == exported / "int8"  # 7-bit weights
    assert choose_onnx_directory(exported, "auto", "cuda") == exported / "fp32"
    assert choose_onnx_directory(exported / "int8", "fp32") == exported / "int8"  # runs as exported
    with pytest.raises(ValueError, match="holds the fp32 export; precision 'int8' needs the int8 one"):
        choose_onnx_directory(exported / "fp32", "int8")
    eight = tmp_path / "eight"
    export(busy_model, eight, int8_weight_bits=8, log=lambda _: None)
    assert choose_onnx_directory(eight, "auto", "cpu", avx2) == eight / "fp32"
    assert choose_onnx_directory(eight, "auto", "cpu", vnni) == eight / "int8"
    assert choose_onnx_directory(eight, "int8", "cpu", avx2) == eight / "int8"  # asked for: it warns
    shutil.rmtree(eight / "int8")  # as an export whose int8 model failed the gate
    assert choose_onnx_directory(eight, "auto", "cpu", vnni) == eight / "fp32"
    with pytest.raises(ModelDirError, match=r"no int8/ model \(its export.json says why\)"):
        Extractor.from_pretrained(eight, precision="int8")


def test_a_graph_without_gelu_has_one_int8_recipe(tmp_path: Path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "w")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="/encoder/layer.1/intermediate/dense/MatMul"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("MatMul", ["r", "w"], ["y"], name="/encoder/layer.1/output/dense/MatMul"),
    ]
    value = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in ("x", "y")]
    graph = helper.make_graph(nodes, "relu", [value[0]], [value[1]], [weight])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph), str(path))
    assert feed_forward_outputs(graph) == []
    assert list(int8_recipes(path)) == ["first-layer-float"]
