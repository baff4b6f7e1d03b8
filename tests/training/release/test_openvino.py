"""``conflict-ie export --format openvino``: fp32 gives the PyTorch probabilities, int8 is quantized
and loads, bf16 runs where the CPU has it, ``auto`` picks by CPU kind, bad directories are named."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino")
pytest.importorskip("nncf")

from inference.backends.openvino import (  # noqa: E402
    AUTO_ORDER,
    OpenVinoBackend,
    auto_precision,
    float_ops_precision,
)
from inference.cpu import cpu_kind, native_bf16  # noqa: E402
from inference.extractor import Extractor, check_model  # noqa: E402
from inference.model_dir import ModelDirError  # noqa: E402
from training.cli import main  # noqa: E402
from training.corpus.store import load_documents, write_documents  # noqa: E402
from training.release.export import ExportError, export  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
DEV = ROOT / "data" / "annotations" / "dev.jsonl"


@pytest.fixture(scope="module")
def gold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gold") / "gold.jsonl"
    write_documents(path, load_documents(DEV)[:6])
    return path


@pytest.fixture(scope="module")
def exported(busy_model: Path, gold: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("export") / "openvino"
    calibration = ROOT / "data" / "annotations" / "train.jsonl"
    argv = ["export", "--format", "openvino", "--model", str(busy_model), "--output", str(output)]
    assert main([*argv, "--gold", str(gold), "--calibration", str(calibration)]) == 0
    return output


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [d.text for d in load_documents(DEV)[:8]] + ["Gunmen killed 12 villagers.", ""]


def test_export_writes_fp32_and_int8_and_a_manifest(exported: Path):
    manifest = json.loads((exported / "export.json").read_text())
    expected = {"pytorch", "openvino-fp32", "openvino-int8"} | ({"openvino-bf16"} if native_bf16() else set())
    assert set(manifest["strict_f1"]) == expected
    assert manifest["format"] == "openvino" and manifest["fp32_max_logit_diff"] < 1e-3
    assert manifest["cpu"]["kind"] == cpu_kind() and manifest["auto_precision"] == AUTO_ORDER[cpu_kind()][0]
    assert 0 < manifest["calibration_windows"] <= 300
    fp32, int8 = (exported / v / "model.bin" for v in ("fp32", "int8"))
    assert int8.stat().st_size < 0.7 * fp32.stat().st_size  # the quantized products hold 8-bit weights
    assert (
        "FakeQuantize" in (exported / "int8" / "model.xml").read_text()
        or "u8" in (exported / "int8" / "model.xml").read_text()
    )
    assert not [p for p in exported.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_openvino_fp32_gives_the_pytorch_probabilities(busy_model: Path, exported: Path, texts):
    reference = Extractor.from_pretrained(busy_model, device="cpu", precision="fp32")
    extractor = Extractor.from_pretrained(exported / "fp32", precision="fp32", threads=1)
    assert isinstance(extractor.backend, OpenVinoBackend) and extractor.backend.precision == "fp32"
    for want, got in zip(
        reference.unit_probabilities(texts), extractor.unit_probabilities(texts), strict=True
    ):
        assert [u.start for u in got.units] == [u.start for u in want.units]
        assert np.abs(got.probs - want.probs).max(initial=0.0) < 1e-4


@pytest.mark.parametrize("precision", ["int8", "bf16"])
def test_low_precisions_give_well_formed_entities(exported: Path, texts, precision):
    if precision == "bf16" and not native_bf16():
        pytest.skip("this CPU has no native bf16 (avx512_bf16 or amx_bf16)")
    extractor = Extractor.from_pretrained(exported, precision=precision)
    assert extractor.backend.precision == precision
    results = extractor.extract(texts)
    assert len(results) == len(texts) and sum(map(len, results)) > 0
    for text, entities in zip(texts, results, strict=True):
        assert all(text[e.start : e.end] == e.text and 0 <= e.score <= 1 for e in entities)


def test_int8_runs_its_float_operations_in_bf16_only_where_native(exported: Path):
    zen4 = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"})
    vnni = frozenset({"avx2", "avx512f", "avx512_vnni"})
    assert float_ops_precision("int8", zen4) == "bf16" and float_ops_precision("int8", vnni) == "f32"
    assert float_ops_precision("fp32", zen4) == "f32" and float_ops_precision("bf16", zen4) == "bf16"
    extractor = Extractor.from_pretrained(exported, precision="int8", threads=1)
    hint = extractor.backend.compiled.get_property("INFERENCE_PRECISION_HINT")
    assert hint.get_type_name() == float_ops_precision("int8") == extractor.backend.float_ops
    # The export's F1 gate measured int8 as it runs here, and says so.
    manifest = json.loads((exported / "export.json").read_text())
    assert manifest["int8_float_ops"] == float_ops_precision("int8")


def test_auto_picks_by_cpu_kind(exported: Path):
    amx = frozenset({"avx2", "avx512f", "amx_bf16", "amx_int8", "avx512_bf16"})
    zen4 = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"})
    avx2 = frozenset({"avx2", "fma"})
    assert auto_precision(("fp32", "int8"), amx) == "int8"
    assert auto_precision(("fp32",), zen4) == "bf16"
    assert auto_precision(("fp32",), avx2) == "fp32"
    # Without VNNI, OpenVINO's int8 ran slower than its fp32 (RESULTS.md, fourteenth session).
    assert auto_precision(("fp32", "int8"), avx2) == "fp32"
    assert auto_precision(("int8",), avx2) == "int8"
    # Loading the export directory itself applies the rule to this CPU.
    assert Extractor.from_pretrained(exported).backend.precision == auto_precision(("fp32", "int8"))
    fp32_auto = Extractor.from_pretrained(exported / "fp32").backend.precision
    assert fp32_auto == ("bf16" if native_bf16() else "fp32")


def test_a_lossy_openvino_export_is_refused_and_leaves_nothing(busy_model: Path, gold: Path, tmp_path: Path):
    output = tmp_path / "new" / "openvino"
    notes: list[str] = []
    with pytest.raises(ExportError, match=r"refused: openvino-fp32 loses .* nothing written"):
        export(
            busy_model,
            output,
            gold,
            max_f1_drop=-100.0,
            format="openvino",
            calibration=gold,
            log=notes.append,
        )
    assert list(tmp_path.iterdir()) == []
    assert not any("quantizing" in note or "int8" in note for note in notes), notes


def test_bad_openvino_requests_get_clear_errors(exported: Path, busy_model: Path, tmp_path: Path, capsys):
    with pytest.raises(ValueError, match="holds the int8 export; precision 'fp32' needs the fp32 one"):
        Extractor.from_pretrained(exported / "int8", precision="fp32")
    with pytest.raises(ValueError, match="runs on the CPU only"):
        Extractor.from_pretrained(exported, device="cuda")
    with pytest.raises(ModelDirError, match="no model.xml; not an OpenVINO model directory"):
        Extractor.from_pretrained(busy_model, backend="openvino")
    with pytest.raises(ValueError, match="precision 'int8' is for exported models"):
        Extractor.from_pretrained(busy_model, precision="int8")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.xml").write_text((exported / "fp32" / "model.xml").read_text())
    with pytest.raises(ModelDirError, match="no model.bin beside model.xml"):
        Extractor.from_pretrained(broken)
    argv = ["export", "--model", str(busy_model), "--output", str(tmp_path / "x")]
    assert main([*argv, "--calibration", str(DEV)]) == 2
    assert "--calibration is for --format openvino" in capsys.readouterr().err


def test_health_and_the_card_say_which_path_auto_took(
    exported: Path, busy_model: Path, gold: Path, tmp_path: Path
):
    import httpx
    from servers import ServerThread

    from inference.service.app import create_app
    from training.evaluation.report import run_evaluation
    from training.release.card import write_card

    extractor = Extractor.from_pretrained(exported)
    with ServerThread(create_app(extractor)) as running:
        health = httpx.get(f"{running.url}/health", timeout=30).json()
    chosen = auto_precision(("fp32", "int8"))
    assert health == {
        "status": "ok",
        "backend": "OpenVinoBackend",
        "device": "cpu",
        "precision": chosen,
        "cpu": cpu_kind(),
        "pid": os.getpid(),
    }
    report = run_evaluation(exported, gold, resamples=10)[0]
    assert report["runtime"]["precision"] == chosen
    report_path = tmp_path / "report.json"
    report_path.write_text(json.dumps(report))
    card = write_card(busy_model, [report_path], tmp_path / "card.md").read_text()
    assert f"Run in {chosen} on OpenVinoBackend, a CPU of kind `{cpu_kind()}`" in card


def test_check_model_picks_the_directory_auto_loads(exported: Path):
    """What ``serve --workers N`` checks once, before its workers load the model."""
    chosen = "int8" if auto_precision(("fp32", "int8")) == "int8" else "fp32"
    assert check_model(exported) == exported / chosen
    assert check_model(exported, "fp32") == exported / "fp32"
    with pytest.raises(ModelDirError, match="does not exist"):
        check_model(exported / "missing")
