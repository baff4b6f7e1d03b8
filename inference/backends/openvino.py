"""An OpenVINO ``Backend`` for ``Extractor``, and how ``auto`` picks a precision for the CPU it finds.

``conflict-ie export --format openvino`` writes ``OUTPUT/fp32`` (float32 weights; runs in float32, or
in bfloat16 through OpenVINO's inference-precision hint) and ``OUTPUT/int8`` (NNCF static int8), each
a complete model directory (``model.xml`` and ``model.bin``, ``config.json`` for the tag names, the
tokenizer files, ``conflict_ie.json``). An IR file holds no pickled code.

Loading the export directory itself with precision ``auto`` picks by CPU kind (``AUTO_ORDER``):

- AMX (Intel Xeon 4th gen and later): int8, then bf16, then fp32;
- AVX512-BF16 without AMX (AMD Zen 4 and later): int8, then bf16, then fp32;
- VNNI without native bf16 (AVX512-VNNI or AVX-VNNI): int8, then fp32;
- AVX2 only: fp32, then int8. Without VNNI, OpenVINO's int8 ran slower than its fp32 (AMD EPYC Zen 3,
  60 FA-KES articles, one document a call: 1.24x the pipeline against 1.60x). On such a CPU the
  fastest path measured is the ONNX int8 export (2.19x), which ONNX Runtime runs with its own kernels;

where int8 is taken only if the export made one (it passed the F1 gate). Measured side by side in
``benchmarks/bench_inference.py``; bf16 is never chosen where the CPU would emulate it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from inference.cpu import cpu_kind, native_bf16
from inference.model_dir import ModelDirError, check_tokenizer_files, read_settings

OPENVINO_FILE = "model.xml"
WEIGHTS_FILE = "model.bin"
EXPORT_VARIANTS = ("fp32", "int8")
OPENVINO_PRECISIONS = ("fp32", "bf16", "int8")
AUTO_ORDER = {
    "amx": ("int8", "bf16", "fp32"),
    "avx512_bf16": ("int8", "bf16", "fp32"),
    "vnni": ("int8", "fp32"),
    "avx2": ("fp32", "int8"),
}


def auto_precision(available: tuple[str, ...], flags: frozenset[str] | None = None) -> str:
    """The first precision of ``AUTO_ORDER`` for this CPU that ``available`` variants can run."""
    runnable = set(available) | ({"bf16"} if "fp32" in available else set())
    return next(p for p in AUTO_ORDER[cpu_kind(flags)] if p in runnable)


def is_openvino_dir(path: str | Path) -> bool:
    """True for an OpenVINO model directory, or an export directory holding OpenVINO variants."""
    directory = Path(path)
    return (directory / OPENVINO_FILE).is_file() or bool(_variants(directory))


def _variants(directory: Path) -> tuple[str, ...]:
    return tuple(v for v in EXPORT_VARIANTS if (directory / v / OPENVINO_FILE).is_file())


def choose_directory(path: str | Path, precision: str) -> tuple[Path, str]:
    """The model directory to load and the precision to run it in, checked.

    ``path`` is a variant directory (fp32/ or int8/) or the export directory above them;
    ``precision`` is "auto", "fp32", "bf16" or "int8"."""
    directory = Path(path)
    if not directory.is_dir():
        raise ModelDirError(f"model directory {directory} does not exist")
    if precision not in ("auto", *OPENVINO_PRECISIONS):
        raise ValueError(f"precision {precision!r} is not one of an OpenVINO model's: auto, fp32, bf16, int8")
    if precision == "bf16" and not native_bf16():
        raise ValueError(
            "precision 'bf16' needs a CPU with native bfloat16 (avx512_bf16 or amx_bf16 in /proc/cpuinfo); "
            "this one would emulate it, slower than fp32"
        )
    variants = _variants(directory)
    if not (directory / OPENVINO_FILE).is_file() and variants:
        chosen = auto_precision(variants) if precision == "auto" else precision
        wanted = "int8" if chosen == "int8" else "fp32"
        if wanted not in variants:
            raise ModelDirError(f"{directory}: no {wanted}/ model for precision {precision!r}")
        directory = directory / wanted
        _check_variant_dir(directory)
    else:
        _check_variant_dir(directory)
        exported = str(read_settings(directory).get("precision", "fp32"))
        chosen = precision
        if precision == "auto":
            chosen = "bf16" if exported == "fp32" and native_bf16() else exported
        elif (precision == "int8") != (exported == "int8"):
            raise ValueError(
                f"{directory} holds the {exported} export; precision {precision!r} needs the "
                f"{'int8' if precision == 'int8' else 'fp32'} one"
            )
    return directory, chosen


def _check_variant_dir(directory: Path) -> None:
    if not (directory / OPENVINO_FILE).is_file():
        raise ModelDirError(f"{directory}: no {OPENVINO_FILE}; not an OpenVINO model directory")
    if not (directory / WEIGHTS_FILE).is_file():
        raise ModelDirError(f"{directory}: no {WEIGHTS_FILE} beside {OPENVINO_FILE}")
    if not (directory / "config.json").is_file():
        raise ModelDirError(f"{directory}: no config.json (needed for the tag names)")
    check_tokenizer_files(directory)


def float_ops_precision(precision: str, flags: frozenset[str] | None = None) -> str:
    """OpenVINO's inference-precision hint for ``precision``: the type of the operations that are
    not int8. fp32 runs them in f32 and bf16 in bf16; int8 runs its float operations (attention
    softmax, layer norms, GELU, the fused attention subgraph) in bf16 where the CPU multiplies it
    natively (a tenth faster on AVX512-BF16, within the F1 gate the export checks on that CPU), else
    f32. Always explicit: OpenVINO's own default follows the CPU and would change results silently."""
    if precision == "bf16" or (precision == "int8" and native_bf16(flags)):
        return "bf16"
    return "f32"


class OpenVinoBackend:
    """Runs ``model.xml`` on OpenVINO's CPU plugin; same contract as ``TorchBackend``.

    ``float_ops`` overrides ``float_ops_precision(precision)`` ("f32" or "bf16"), for comparisons."""

    def __init__(
        self,
        path: str | Path,
        precision: str = "fp32",
        threads: int | None = None,
        float_ops: str | None = None,
    ) -> None:
        import openvino as ov

        self.float_ops = float_ops or float_ops_precision(precision)
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": self.float_ops,
            "PERFORMANCE_HINT": "LATENCY",
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.device = "cpu"
        self.precision = precision
        self.cpu_kind = cpu_kind()
        try:
            self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        except RuntimeError as error:
            raise ModelDirError(f"{path}: OpenVINO cannot load it ({str(error).splitlines()[0]})") from error
        self._inputs = {name for port in self.compiled.inputs for name in port.get_names()}
        missing = {"input_ids", "attention_mask"} - self._inputs
        if missing:
            raise ModelDirError(f"{path}: the OpenVINO model lacks inputs {sorted(missing)}")
        self._request = self.compiled.create_infer_request()

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        output = self._request.infer(feeds)
        return np.asarray(output[self.compiled.output(0)], dtype=np.float32)

    def probabilities(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        logits = self.logits(input_ids, attention_mask)
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)


def load_openvino(
    model_dir: str | Path, device: str = "auto", threads: int | None = None, precision: str = "auto"
) -> tuple[OpenVinoBackend, Path, dict[int, str]]:
    """Backend, checked directory and tag names of an OpenVINO model (or export) directory."""
    from inference.backends.onnx import read_id2label

    if device not in ("auto", "cpu"):
        raise ValueError(f"device {device!r}: the OpenVINO backend runs on the CPU only; use 'cpu' or 'auto'")
    directory, chosen = choose_directory(model_dir, precision)
    backend = OpenVinoBackend(directory / OPENVINO_FILE, chosen, threads)
    return backend, directory, read_id2label(directory)
