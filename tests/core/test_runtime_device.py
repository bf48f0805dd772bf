"""nas.core.runtime: runs record the processor they ran on, not just the architecture."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nas.core.runtime import device_name


def test_cpu_device_name_names_the_processor_model():
    info = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in
              (info.read_text().splitlines() if info.is_file() else [])
              if line.startswith("model name")]
    if not models:
        pytest.skip("no model name in /proc/cpuinfo on this system")
    threads = torch.get_num_threads()
    assert device_name(torch.device("cpu")) == f"cpu ({models[0]}, {threads} threads)"
