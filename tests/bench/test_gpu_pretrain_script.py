"""benchmarks/gpu_pretrain_biggan.sh runs verbatim (here on a CPU, two iterations, tiny data)
and leaves a generator file that another database imports."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nas.cli import main
from tests.datasets import write_image_folder

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_pretrain_script_exports_an_importable_generator(tmp_path):
    data = write_image_folder(tmp_path / "data", n_train=6, n_test=2, size=32)
    nas = Path(sys.executable).with_name("nas")
    env = {**os.environ, "ITERATIONS": "2", "NAS": str(nas), "NAS_DATA": str(data)}
    out = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_pretrain_biggan.sh"),
                          str(tmp_path / "gpu"), "--width", "4", "--standing-batches", "1"],
                         capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "pre-training wall time:" in out.stdout
    exported = tmp_path / "gpu" / "biggan-cifar10-32.pt"
    assert exported.is_file()
    assert main(["pretrain", "--from-checkpoint", str(exported), "--data", str(data),
                 "--db", f"sqlite:///{tmp_path / 'elsewhere.db'}"]) == 0
