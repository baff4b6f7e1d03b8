"""``inference.cpu``: kinds and native bf16 from real-looking /proc/cpuinfo texts, the fallbacks where
there is none, and on this machine the same answer as torch's own probe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from inference.cpu import (
    CPUINFO,
    LOW_PRECISION_FLAGS,
    cpu_description,
    cpu_kind,
    native_bf16,
    parse_cpuinfo,
    read_cpu,
    this_cpu,
    torch_flags,
)

ROOT = Path(__file__).resolve().parents[2]

SAPPHIRE_RAPIDS = """\
processor	: 0
vendor_id	: GenuineIntel
cpu family	: 6
model		: 143
model name	: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
stepping	: 8
cpu MHz		: 2699.998
cache size	: 107520 KB
flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr \
sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid \
tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c \
rdrand hypervisor lahf_lm abm 3dnowprefetch ssbd ibrs ibpb stibp ibrs_enhanced fsgsbase tsc_adjust bmi1 \
hle avx2 smep bmi2 erms invpcid rtm avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb \
avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx_vnni avx512_bf16 arat \
avx512vbmi umip pku ospke waitpkg avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg \
avx512_vpopcntdq la57 rdpid cldemote movdiri movdir64b fsrm md_clear serialize tsxldtrk amx_bf16 \
avx512_fp16 amx_tile amx_int8 arch_capabilities
bugs		: spectre_v1 spectre_v2 spec_store_bypass swapgs taa mmio_stale_data eibrs_pbrsb
bogomips	: 5399.99

processor	: 1
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov avx2 avx512f amx_bf16 amx_int8
"""

GENOA = """\
processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 17
model name	: AMD EPYC 9B14
stepping	: 1
flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr \
sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid \
extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes \
xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch \
osvw topoext ssbd ibrs ibpb stibp vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid \
avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl \
xsaveopt xsavec xgetbv1 xsaves avx512_bf16 clzero xsaveerptr wbnoinvd arat avx512vbmi umip pku ospke \
avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid fsrm
bugs		: sysret_ss_attrs null_seg spectre_v1 spectre_v2 spec_store_bypass srso
bogomips	: 5199.99
"""

MILAN = """\
processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 1
model name	: AMD EPYC 7B13
flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr \
sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid \
extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes \
xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch \
osvw topoext ssbd ibrs ibpb stibp vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid rdseed \
adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 clzero xsaveerptr arat npt nrip_save umip \
vaes vpclmulqdq rdpid fsrm
bogomips	: 4899.99
"""

ARM = """\
processor	: 0
BogoMIPS	: 50.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm bf16
CPU implementer	: 0x41
"""


@pytest.mark.parametrize(
    "text,model_name,kind,bf16,low_precision",
    [
        (
            SAPPHIRE_RAPIDS,
            "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz",
            "amx",
            True,
            ["amx_bf16", "amx_int8", "avx2", "avx512_bf16", "avx512_vnni", "avx512f", "avx_vnni"],
        ),
        (GENOA, "AMD EPYC 9B14", "avx512_bf16", True, ["avx2", "avx512_bf16", "avx512_vnni", "avx512f"]),
        (MILAN, "AMD EPYC 7B13", "avx2", False, ["avx2"]),
    ],
)
def test_cpuinfo_of_real_cpus_gives_their_kind(text, model_name, kind, bf16, low_precision):
    cpu = parse_cpuinfo(text)
    assert cpu.model_name == model_name
    assert "avx2" in cpu.flags and "fpu" in cpu.flags
    assert (cpu_kind(cpu.flags), native_bf16(cpu.flags)) == (kind, bf16)
    assert sorted(cpu.flags & LOW_PRECISION_FLAGS) == low_precision


def test_only_the_first_processor_counts():
    # processor 1 lists fewer flags (as a test text); processor 0's line is the answer
    cpu = parse_cpuinfo(SAPPHIRE_RAPIDS)
    assert {"avx512_fp16", "amx_tile", "fpu"} <= cpu.flags and len(cpu.flags) > 100


def test_vnni_without_bf16_and_amx_as_torch_names_it():
    assert cpu_kind(frozenset({"avx2", "avx_vnni"})) == "vnni"
    assert cpu_kind(frozenset({"avx2", "avx512f", "avx512_vnni"})) == "vnni"
    assert cpu_kind(frozenset({"avx2", "amx_tile"})) == "amx" and native_bf16(frozenset({"amx_tile"}))


def test_without_flags_in_cpuinfo_torch_answers(tmp_path: Path):
    arm = tmp_path / "cpuinfo"
    arm.write_text(ARM)
    assert parse_cpuinfo(ARM).flags == frozenset()
    for source in (arm, tmp_path / "absent"):
        cpu = read_cpu(source)
        assert cpu.flags == torch_flags() and cpu.model_name
        assert native_bf16(cpu.flags) == torch_native_bf16()


def test_without_torch_nor_cpuinfo_bf16_is_not_native(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    cpu = read_cpu(tmp_path / "absent")
    assert cpu.flags == frozenset() and cpu_kind(cpu.flags) == "avx2" and not native_bf16(cpu.flags)


def test_the_openvino_backend_imports_without_torch():
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "import inference.backends.openvino as ov\n"
        "print(ov.auto_precision(('fp32',)), ov.native_bf16())"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] in ("bf16", "fp32")


@pytest.mark.skipif(not CPUINFO.is_file(), reason="no /proc/cpuinfo on this system")
def test_this_cpus_cpuinfo_agrees_with_torch():
    from_cpuinfo = parse_cpuinfo(CPUINFO.read_text())
    assert from_cpuinfo.flags, "this /proc/cpuinfo lists no flags"
    assert this_cpu() == read_cpu() and this_cpu().flags == from_cpuinfo.flags
    assert native_bf16(from_cpuinfo.flags) == torch_native_bf16()


def test_cpu_description_names_this_cpu():
    description = cpu_description()
    assert set(description) == {"model_name", "kind", "flags"}
    assert description["model_name"] and description["kind"] == cpu_kind()
    assert set(description["flags"]) <= LOW_PRECISION_FLAGS


def torch_native_bf16() -> bool:
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
