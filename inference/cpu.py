"""What this CPU multiplies fast: the one place that answers it for inference, training and benchmarks.

The facts come from ``/proc/cpuinfo`` (read once). Where there is no such file, or it lists no flags
(macOS, Windows), they come from torch's own probes when torch is importable, and otherwise the CPU
counts as one without native low precision. This module never needs torch: the OpenVINO and ONNX
backends import it in services that do not install torch.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")
# The flags that decide a kind and that reports name; others (sse, fma, ...) say nothing about speed here.
LOW_PRECISION_FLAGS = frozenset(
    {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8"}
)
# torch.cpu's private probes and the /proc/cpuinfo flag each one answers for.
TORCH_PROBES = {
    "_is_avx2_supported": "avx2",
    "_is_avx512_supported": "avx512f",
    "_is_vnni_supported": "avx512_vnni",
    "_is_avx512_bf16_supported": "avx512_bf16",
    "_is_amx_tile_supported": "amx_tile",
    "_is_amx_fp16_supported": "amx_fp16",
}


@dataclass(frozen=True)
class CpuInfo:
    model_name: str
    flags: frozenset[str]


def parse_cpuinfo(text: str) -> CpuInfo:
    """The first processor's model name and feature flags in a ``/proc/cpuinfo`` text ("" and an
    empty set for whatever it does not say)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, separator, value = line.partition(":")
        if not separator:
            continue
        fields.setdefault(key.strip(), value.strip())
    return CpuInfo(fields.get("model name", ""), frozenset(fields.get("flags", "").split()))


def read_cpu(cpuinfo: Path = CPUINFO) -> CpuInfo:
    """The CPU as ``cpuinfo`` describes it; torch's probes (or nothing) where it has no flags."""
    try:
        found = parse_cpuinfo(cpuinfo.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        found = CpuInfo("", frozenset())
    return CpuInfo(
        found.model_name or platform.processor() or platform.machine(),
        found.flags or torch_flags(),
    )


def torch_flags() -> frozenset[str]:
    """The flags torch's CPU probes report (empty without torch)."""
    try:
        import torch
    except ImportError:
        return frozenset()
    probes = {flag: getattr(torch.cpu, name, None) for name, flag in TORCH_PROBES.items()}
    return frozenset(flag for flag, probe in probes.items() if probe is not None and probe())


@functools.cache
def this_cpu() -> CpuInfo:
    return read_cpu()


def cpu_flags() -> frozenset[str]:
    return this_cpu().flags


def cpu_kind(flags: frozenset[str] | None = None) -> str:
    """The best low-precision arithmetic the CPU has: "amx", "avx512_bf16", "vnni" or "avx2"."""
    flags = cpu_flags() if flags is None else flags
    if flags & {"amx_bf16", "amx_int8", "amx_tile"}:
        return "amx"
    if "avx512_bf16" in flags:
        return "avx512_bf16"
    if flags & {"avx512_vnni", "avx_vnni"}:
        return "vnni"
    return "avx2"


def native_bf16(flags: frozenset[str] | None = None) -> bool:
    """True where the CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX); elsewhere bf16 is
    emulated and slower than float32."""
    return cpu_kind(flags) in ("amx", "avx512_bf16")


def int8_pairs_saturate(flags: frozenset[str] | None = None) -> bool:
    """True where ONNX Runtime multiplies uint8 activations by int8 weights with VPMADDUBSW (no
    VNNI, no AMX), which adds each pair of products in 16 signed bits: weights of 8 bits can
    overflow it (255 x 127 x 2 > 32767), weights of 7 bits cannot."""
    return cpu_kind(flags) == "avx2"


def cpu_description() -> dict[str, Any]:
    """This CPU for benchmarks and reports: model name, kind and its low-precision flags."""
    cpu = this_cpu()
    flags = sorted(cpu.flags & LOW_PRECISION_FLAGS)
    return {"model_name": cpu.model_name, "kind": cpu_kind(cpu.flags), "flags": flags}
