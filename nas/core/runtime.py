"""Process-level setup and provenance: allocator, threads, device, versions."""

from __future__ import annotations

import ctypes
import os
import platform
from functools import cache

import numpy as np
import torch

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc mallopt parameters
_INT_MAX = 2**31 - 1  # mallopt takes a C int: a larger Python int is silently masked (1<<40 -> 0)


@cache
def tune_cpu_allocator() -> bool:
    """Stop glibc from returning large blocks to the OS after every step
    (docs/speed.md#this-machine: 1.6-2.8x faster ConvNet training on CPU): no mmap for
    large blocks, and never trim the heap top below 2 GiB. Returns False where mallopt is
    unavailable."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _INT_MAX))


def configure(threads: int | None = None) -> None:
    """Tune the allocator, set torch's thread count (default: all cores) and let cuDNN pick
    the fastest convolution per shape (fixed shapes in proxy training)."""
    tune_cpu_allocator()
    torch.set_num_threads(threads or os.cpu_count() or 1)
    torch.backends.cudnn.benchmark = True


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({cpu_model()}, {torch.get_num_threads()} threads)"


@cache
def cpu_model() -> str:
    """The processor's model name from /proc/cpuinfo on Linux, else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# CPU features that decide torch's kernels (and whether training uses bf16: ``uses_bf16``)
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


@cache
def machine() -> dict:
    """What a timing was measured on, recorded with every result: the CPU's model, its ISA
    flags among ``ISA_FLAGS`` (None where /proc/cpuinfo is absent), its logical cores, and the
    GPU's name (None without CUDA)."""
    try:
        with open("/proc/cpuinfo") as info:
            flags = next((line.split(":", 1)[1].split() for line in info
                          if line.startswith("flags")), [])
        isa: list[str] | None = [f for f in ISA_FLAGS if f in flags]
    except OSError:
        isa = None
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {"cpu": cpu_model(), "isa": isa, "cores": os.cpu_count(), "gpu": gpu}


@cache
def versions() -> dict[str, str]:
    """Library versions recorded with every run."""
    import sqlalchemy

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "platform": platform.platform(),
    }
