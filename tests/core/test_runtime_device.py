"""nas.core.runtime: runs record the processor they ran on, not just the architecture."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from nas.core.runtime import ISA_FLAGS, cpu_model, device_name, machine


def test_cpu_device_name_names_the_processor_model():
    info = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in
              (info.read_text().splitlines() if info.is_file() else [])
              if line.startswith("model name")]
    if not models:
        pytest.skip("no model name in /proc/cpuinfo on this system")
    threads = torch.get_num_threads()
    assert device_name(torch.device("cpu")) == f"cpu ({models[0]}, {threads} threads)"


def test_machine_names_the_cpu_its_isa_flags_and_cores():
    info = machine()
    assert info["cpu"] == cpu_model() and info["cores"] == os.cpu_count()
    info_file = Path("/proc/cpuinfo")
    if not info_file.is_file():
        pytest.skip("no /proc/cpuinfo on this system")
    flags = set()  # read independently: every flags line
    for line in info_file.read_text().splitlines():
        if line.startswith("flags"):
            flags |= set(line.split(":", 1)[1].split())
    assert info["isa"] == [f for f in ISA_FLAGS if f in flags]
    assert info["gpu"] == (torch.cuda.get_device_name() if torch.cuda.is_available() else None)
