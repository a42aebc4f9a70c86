"""Print CMAKE_ARGS for a portable llama.cpp build on this CPU.

llama.cpp's default build uses ``-march=native``. On virtual machines whose CPU
advertises AMX while the hypervisor faults on AMX instructions, such a build dies
on its first completion without a word. We therefore turn native detection off and
enable exactly the instruction sets that ``/proc/cpuinfo`` lists, never AMX.

A user's own ``CMAKE_ARGS`` wins: when it is set, it is printed unchanged.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

# cpuinfo flag -> llama.cpp CMake option. AMX is deliberately absent.
_X86_OPTIONS: tuple[tuple[str, str], ...] = (
    ("avx", "GGML_AVX"),
    ("avx2", "GGML_AVX2"),
    ("fma", "GGML_FMA"),
    ("f16c", "GGML_F16C"),
    ("bmi2", "GGML_BMI2"),
    ("avx512f", "GGML_AVX512"),
    ("avx512_vnni", "GGML_AVX512_VNNI"),
    ("avx512vbmi", "GGML_AVX512_VBMI"),
    ("avx512_bf16", "GGML_AVX512_BF16"),
    ("avx_vnni", "GGML_AVX_VNNI"),
)


def cpu_flags(cpuinfo: str) -> set[str]:
    """Return the feature flags of the first CPU listed in a /proc/cpuinfo text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in {"flags", "Features"}:
            return set(value.split())
    return set()


def cmake_args(flags: set[str], machine: str) -> str:
    """CMake arguments enabling the listed x86 features; native detection off."""
    if machine not in {"x86_64", "AMD64", "i686"}:
        # ARM and others: llama.cpp's portable defaults are safe there.
        return "-DGGML_NATIVE=OFF"
    parts = ["-DGGML_NATIVE=OFF"]
    for flag, option in _X86_OPTIONS:
        parts.append(f"-D{option}={'ON' if flag in flags else 'OFF'}")
    return " ".join(parts)


def main() -> int:
    user_args = os.environ.get("CMAKE_ARGS", "").strip()
    if user_args:
        print(user_args)
        return 0
    cpuinfo_path = Path("/proc/cpuinfo")
    text = cpuinfo_path.read_text() if cpuinfo_path.exists() else ""
    print(cmake_args(cpu_flags(text), platform.machine()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
