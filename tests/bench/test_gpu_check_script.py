"""benchmarks/gpu_check.sh runs verbatim (here on a CPU, every step shrunk to tiny data) and
leaves its summary, with each protocol run and the generator's throughput, under $OUT."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.datasets import write_image_folder

ROOT = Path(__file__).resolve().parents[2]

TINY = {  # the script's knobs at their smallest; "--synthetic" keeps the speed steps tiny
    "IPC": "2", "EPOCHS": "1", "ARCHS": "3", "GRID": "2",
    "WORKERS": "1",  # protocol runs in-process here (workers: tests/core/test_parallel.py)
    "PRETRAIN": "--generator biggan --width 4 --iterations 2 --standing-batches 1",
    "D2M": "--iterations 2 --batch-real 8 --pool-width 32",
    "SPEED": "--synthetic --quick --ipc 2 --archs d1-w32-relu-none-avg --trainers toolkit "
             "--workers 2",
    "COMPILE": "--synthetic --quick --ipc 2 --archs d1-w32-relu-none-avg --trainers toolkit "
               "--grid-archs d1-w32-relu-none-avg --workers 1",
    **{f"BOX_{step}": "600" for step in ("ENV", "PRETRAIN", "D2M", "SPEED", "COMPILE", "RANDOM",
                                         "D2M_PROTOCOL", "SUMMARY")},  # a shared 2-core CPU
}


@pytest.mark.slow
def test_gpu_check_script_writes_its_summary_and_every_step(tmp_path):
    data = write_image_folder(tmp_path / "images", n_train=6, n_test=2, size=16)
    python = Path(sys.executable).parent  # its python3: the script calls python3
    env = {**os.environ, **TINY, "OUT": str(tmp_path / "out"), "RAW": str(tmp_path / "raw.pt"),
           "WHEELS": str(tmp_path / "no-wheels"), "PATH": f"{python}:{os.environ['PATH']}",
           "NAS_CACHE": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "benchmarks/with_tensors.py", "--save", env["RAW"],
                    "--data", str(data)], cwd=ROOT, env=env, check=True, capture_output=True)
    out = subprocess.run(["bash", "benchmarks/gpu_check.sh"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=1800)
    log = (tmp_path / "out" / "log.txt").read_text()
    assert out.returncode == 0, out.stderr[-2000:] + log[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert list(summary["steps"]) == ["env", "pretrain", "distill-d2m", "speed", "compile",
                                      "protocol-random", "protocol-d2m"]
    assert summary["failures"] == [], log[-3000:]
    assert [g["workers"] for g in summary["speed"]["grid"]] == [1, 2]
    assert summary["speed"]["concurrent_over_one_at_a_time"] > 0
    assert [r["proxy"] for r in summary["protocol"]] == ["random", "d2m"]
    for row in summary["protocol"]:  # three architectures offered, each trained once
        assert row["runs"] == 3 and row["grid_hours_by_count"] > 0
    (pretrain,) = summary["pretrain"]
    assert pretrain["iterations"] == 2 and pretrain["images_per_second"] > 0
    with open(tmp_path / "out" / "runs.csv") as file:
        runs = list(csv.DictReader(file))
    assert sorted(r["source"] for r in runs) == ["d2m-ipc2"] * 3 + ["random-ipc2"] * 3
    assert "protocol on random-ipc2: 3 architectures" in out.stdout  # summary.md, printed
