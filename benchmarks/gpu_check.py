"""The Python steps of benchmarks/gpu_check.sh (docs/speed.md#the-device-check).

    python benchmarks/gpu_check.py env                   # torch, the device, the packages
    python benchmarks/gpu_check.py archs N SEED          # N convnet720 ids, random order
    python benchmarks/gpu_check.py summary OUT DB_URL     # OUT/summary.{json,md}, OUT/runs.csv

``summary`` reads what the script left: ``OUT/steps.tsv`` (step, seconds, exit status, time
box), ``OUT/speed.json`` and ``OUT/compile.json`` (``nas bench speed --json``) and the
database of the protocol runs and generators. It projects the wall time of all 720 ConvNets
at the measured rate, by count and by multiply-accumulates (the runs a time box cut off are
the longest, so the count projection leans low).
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

import optuna
import torch

from nas.core.outcome import RunStatus
from nas.core.runtime import default_device, device_name, versions
from nas.core.selection import select_architectures
from proxies.artifacts import GAN_GENERATOR
from search_spaces import get_space
from storage import Database, list_datasets, list_proxy_records, list_runs

SPACE = "convnet720"
PROTOCOL_STEPS = {"random": "protocol-random", "d2m": "protocol-d2m"}  # proxy -> step name


def sample(n: int, seed: int) -> list[str]:
    """A stratified sample of ``n`` convnet720 architectures, shuffled (a time box then cuts
    a random part of it, not one depth or width)."""
    archs = select_architectures(get_space(SPACE), sample=n, seed=seed)
    random.Random(seed).shuffle(archs)
    return archs


def read_steps(path: Path) -> dict[str, dict]:
    steps = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        name, seconds, status, box = line.split("\t")
        steps[name] = {"seconds": float(seconds), "exit": int(status), "box": int(box),
                       "stopped_at_box": int(status) == 124}
    return steps


def protocol_rows(db: Database, steps: dict[str, dict], shape: dict) -> list[dict]:
    """Per proxy: runs finished in its step, architectures/hour and the 720 grid's projection."""
    space = get_space(SPACE)
    every = sum(space.count_macs(spec, **shape) for spec in space.enumerate())
    rows = []
    for proxy, step in PROTOCOL_STEPS.items():
        runs = [r for r in list_runs(db) if r.config["source"].startswith(f"{proxy}-")
                and r.status in (RunStatus.FINISHED, RunStatus.DIVERGED)]
        seconds = steps.get(step, {}).get("seconds")
        row = {"proxy": proxy, "runs": len(runs), "step_seconds": seconds}
        if runs and seconds:
            done = sum(r.macs for r in runs)
            row |= {"source": runs[0].config["source"],
                    "archs_per_hour": len(runs) * 3600 / seconds,
                    "grid_hours_by_count": 720 * seconds / len(runs) / 3600,
                    "grid_hours_by_macs": every / done * seconds / 3600,
                    "mean_run_seconds": sum(r.wall_seconds for r in runs) / len(runs),
                    "mean_test_acc": sum(r.test_acc or 0 for r in runs) / len(runs),
                    "compiled": sum(bool(r.config.get("compiled")) for r in runs),
                    "bf16": sum(bool(r.config.get("bf16")) for r in runs)}
        rows.append(row)
    return rows


def pretrain_rows(db: Database) -> list[dict]:
    rows = []
    for dataset in list_datasets(db):
        for record in list_proxy_records(db, dataset.id):
            if record.method != GAN_GENERATOR or "pretrain" not in record.params:
                continue
            config = record.params["pretrain"]
            rate = config["iterations"] / record.build_seconds
            rows.append({"generator": config["generator"],
                         "width": record.params["generator"]["width"],
                         "iterations": config["iterations"], "seconds": record.build_seconds,
                         "iterations_per_second": rate,
                         "images_per_second": rate * config["batch_size"],
                         "device": record.device})
    return rows


def speed_rows(path: Path) -> dict:
    if not path.is_file():
        return {}
    report = json.loads(path.read_text())
    grid = report["grid"]
    rows = {"grid": [{**g, "archs_per_hour": g["architectures"] * 3600 / g["wall_seconds"]}
                     for g in grid],
            "trainers": [{k: r[k] for k in ("arch", "trainer", "images_per_second",
                                            "train_seconds", "test_acc", "bf16")}
                         for r in report["runs"]]}
    if len(grid) == 2:
        rows["concurrent_over_one_at_a_time"] = grid[0]["wall_seconds"] / grid[1]["wall_seconds"]
    return rows


def compile_failures(db: Database) -> list[str]:
    return sorted({f"{r.arch_id}: {r.config['compile_error']}" for r in list_runs(db)
                   if r.config.get("compile_error")})


def markdown(summary: dict) -> str:
    lines = [f"# Device check on {summary['device']}", ""]
    speed = summary["speed"]
    for g in speed.get("grid", []):
        lines.append(f"- grid on {g['device']}, {g['workers']} worker(s) x "
                     f"{g['threads_per_worker']} thread(s): {g['archs_per_hour']:.0f} "
                     "architectures/hour")
    if "concurrent_over_one_at_a_time" in speed:
        lines.append(f"- concurrent / one at a time: "
                     f"{speed['concurrent_over_one_at_a_time']:.2f}x")
    for r in speed.get("trainers", []) + summary["compile"]:
        lines.append(f"- {r['arch']} {r['trainer']}: {r['images_per_second']:.0f} img/s, "
                     f"test acc {r['test_acc']:.3f}{' (bf16)' if r['bf16'] else ''}")
    for r in summary["protocol"]:
        if "archs_per_hour" not in r:
            lines.append(f"- protocol on {r['proxy']}: no finished run")
            continue
        lines.append(f"- protocol on {r['source']}: {r['runs']} architectures in "
                     f"{r['step_seconds']:.0f} s ({r['archs_per_hour']:.0f}/hour, "
                     f"{r['mean_run_seconds']:.1f} s a run, mean test acc "
                     f"{r['mean_test_acc']:.3f}); 720 grid projected "
                     f"{r['grid_hours_by_count'] * 60:.0f} min by count, "
                     f"{r['grid_hours_by_macs'] * 60:.0f} min by MACs")
    for r in summary["pretrain"]:
        lines.append(f"- pre-training {r['generator']} width {r['width']}: "
                     f"{r['iterations_per_second']:.1f} it/s, {r['images_per_second']:.0f} "
                     f"generated images/s ({r['iterations']} iterations)")
    lines += ["", "## Steps", "", "| step | seconds | exit | box |", "| --- | --- | --- | --- |"]
    lines += [f"| {name} | {s['seconds']:.0f} | {s['exit']} | {s['box']} |"
              for name, s in summary["steps"].items()]
    lines += ["", "## Failures", ""] + ([f"- {f}" for f in summary["failures"]] or ["none"])
    return "\n".join(lines) + "\n"


def summarize(out: Path, db_url: str) -> dict:
    """Write OUT/summary.json, OUT/summary.md and OUT/runs.csv; returns the summary."""
    steps = read_steps(out / "steps.tsv")
    failures = [f"step {name} exited {s['exit']}" for name, s in steps.items()
                if s["exit"] and not (s["stopped_at_box"] and name in PROTOCOL_STEPS.values())]
    summary = {"device": device_name(default_device()), "versions": versions(),
               "steps": steps, "speed": speed_rows(out / "speed.json"),
               "compile": speed_rows(out / "compile.json").get("trainers", []),
               "protocol": [], "pretrain": [], "failures": failures}
    db = Database(db_url)
    datasets = list_datasets(db)
    if datasets:
        channels, _, size = datasets[0].summary["shape"]
        shape = {"in_channels": channels, "num_classes": len(datasets[0].summary["classes"]),
                 "im_size": size}
        summary["protocol"] = protocol_rows(db, steps, shape)
        summary["pretrain"] = pretrain_rows(db)
        summary["failures"] += [f"compile fell back: {f}" for f in compile_failures(db)]
        with open(out / "runs.csv", "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["source", "arch", "status", "val_acc", "test_acc",
                             "wall_seconds", "compiled", "bf16", "device"])
            for r in list_runs(db):
                writer.writerow([r.config["source"], r.arch_id, r.status, r.val_acc,
                                 r.test_acc, r.wall_seconds, r.config.get("compiled"),
                                 r.config.get("bf16"), r.device])
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "summary.md").write_text(markdown(summary))
    return summary


def environment() -> dict:
    """What the check runs on: the device (its memory on CUDA), torch and the packages."""
    device = default_device()
    found = {"device": device_name(device), "cuda": torch.version.cuda, **versions(),
             "optuna": optuna.__version__}
    if device.type == "cuda":
        found["memory_gib"] = torch.cuda.get_device_properties(device).total_memory / 2**30
    return found


if __name__ == "__main__":
    if sys.argv[1] == "env":
        print(json.dumps(environment(), indent=1))
    elif sys.argv[1] == "archs":
        print("\n".join(sample(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        print(markdown(summarize(Path(sys.argv[2]), sys.argv[3])))
