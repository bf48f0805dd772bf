import json

import numpy as np
import pytest
import torch

import nas.api
from nas.bench import fidelity as bench
from nas.cli import main
from nas.errors import UserError
from nas.proxy_files import import_set
from proxies import list_proxies
from proxies.imported import ImportConfig
from search_spaces.convnet720 import ConvNetSpec, count_macs
from storage import Database, list_datasets, list_proxy_records, list_runs, list_scores
from tests.datasets import write_image_folder


def test_tiny_preset_runs_the_whole_pipeline_and_writes_the_report(tiny_bench):
    url, out, _ = tiny_bench
    report = json.loads((out / "report.json").read_text())
    preset = bench.PRESETS["tiny"]
    assert len(report["architectures"]) == preset.sample
    kinds = {r["name"]: r["kind"] for r in report["rows"]}
    assert kinds[f"random-ipc{preset.ipc}"] == "proxy"
    # d3 was distilled by the benchmark itself, and its ELF runs are a row of their own
    rows = {r["name"]: r for r in report["rows"]}
    d3, d3_elf = rows[f"d3-ipc{preset.ipc}"], rows[f"d3-ipc{preset.ipc}+elf"]
    assert d3["elf"] is None and d3_elf["elf"]["feature_epochs"] == 2
    priors = [p for p in list_proxy_records(Database(url)) if p.method == "d3-priors"]
    assert len(priors) == 1  # the row's build cost includes distilling the priors
    assert d3["costs"]["build_seconds"] >= priors[0].build_seconds > 0
    # stored size beside the pixel sets: D3 keeps priors + decoder, random IPC x classes pixels
    assert d3["stored_values"] == priors[0].params["stored_params"]
    classes = len(report["dataset"]["summary"]["classes"])
    assert rows[f"random-ipc{preset.ipc}"]["stored_values"] == preset.ipc * classes * 3 * 16 * 16
    assert {n for n, k in kinds.items() if k == "zero-cost"} == \
        {*preset.zero_cost, "ensemble(params+synflow+naswot)"}  # the members' rank sum too
    assert report["preset"]["name"] == "tiny"
    assert report["ground_truth"]["epochs"] == preset.truth_epochs


def test_rerunning_a_preset_reuses_every_stored_result(tiny_bench, tmp_path):
    url, _, data = tiny_bench
    db = Database(url)
    dataset = list_datasets(db)[0]
    before = (list_runs(db, dataset_id=dataset.id), list_scores(db, dataset_id=dataset.id))
    assert main(["bench", "fidelity", "--preset", "tiny", "--data", str(data), "--db", url,
                 "--out", str(tmp_path / "again")]) == 0
    after = (list_runs(db, dataset_id=dataset.id), list_scores(db, dataset_id=dataset.id))
    assert after == before  # same runs, same timings: nothing retrained or rescored
    assert (tmp_path / "again" / "report.html").exists()


def test_a_preset_reports_its_own_proxies_not_every_one_in_the_database(tiny_bench, tmp_path):
    """The tiny run's database also holds d3 runs with and without ELF; `--proxies
    random --elf` reports random alone and `--proxies random d3 --elf` no ELF row, training
    nothing."""
    url, _, data = tiny_bench
    ipc = bench.PRESETS["tiny"].ipc
    for proxies, expected in ((["random"], [f"random-ipc{ipc}"]),
                              (["random", "d3"], [f"random-ipc{ipc}", f"d3-ipc{ipc}"])):
        out = tmp_path / "-".join(proxies)
        assert main(["bench", "fidelity", "--preset", "tiny", "--data", str(data), "--db", url,
                     "--proxies", *proxies, "--elf", "--out", str(out)]) == 0
        rows = json.loads((out / "report.json").read_text())["rows"]
        assert [r["name"] for r in rows if r["kind"] == "proxy"] == expected


def test_unregistered_proxies_are_skipped_with_a_note():
    notes = []
    preset = bench.PRESETS["cpu"]
    chosen = bench.available_proxies(
        bench.dataclasses.replace(preset, proxies=("random", "no-such-proxy")), notes.append)
    assert chosen == ["random"]
    assert len(notes) == 1 and "no-such-proxy" in notes[0]


def test_distill_options_reach_every_proxy_of_the_same_artifact(tiny_data, tmp_path,
                                                                monkeypatch):
    """``distill.d2m`` configures the generator d2m-fly draws from too: a preset listing only
    d2m-fly distils with those options, not the paper's 60 epochs."""
    asked, real = [], bench.ensure_distilled

    def ensure_distilled(db, data, dataset, method, options, **kwargs):
        asked.append((method, options))
        if method == "d2m-fly":  # no generator to refine here: the proxy is skipped
            raise UserError("not distilled in this test")
        real(db, data, dataset, method, options, **kwargs)

    monkeypatch.setattr(bench, "ensure_distilled", ensure_distilled)
    preset = bench.dataclasses.replace(
        bench.PRESETS["tiny"], proxies=("d2m-fly", "random"), elf=(), zero_cost=(), sample=2,
        distill={"d2m": {"iterations": 7}, "d3": {"iterations": 3}})
    bench.run_fidelity(f"sqlite:///{tmp_path / 'nas.db'}", preset, tmp_path / "r",
                       data_path=str(tiny_data), progress=False, note=lambda _: None)
    assert asked == [("d2m-fly", {"iterations": 7}), ("random", {})]
    assert bench.PRESETS["cpu-full-ipc50"].distill_options("d2m-fly")["latents"] == "posterior"


def test_max_macs_leaves_out_the_costlier_sampled_architectures(tiny_data):
    data = nas.api.load_data(bench.PRESETS["tiny"].data_config(str(tiny_data)))
    preset = bench.dataclasses.replace(bench.PRESETS["tiny"], sample=8)
    sampled = preset.check_data(data)
    macs = {a: count_macs(ConvNetSpec.parse(a), im_size=data.im_size) for a in sampled}
    cap = sorted(macs.values())[len(macs) // 2]
    kept = bench.dataclasses.replace(preset, max_macs=cap).check_data(data)
    assert kept == [a for a in sampled if macs[a] <= cap] and len(kept) < len(sampled)


def test_an_imported_set_is_available_to_a_preset_by_name():
    notes = []
    preset = bench.dataclasses.replace(bench.PRESETS["cpu"], proxies=("mine", "other"))
    assert bench.available_proxies(preset, notes.append, imported=["mine"]) == ["mine"]
    assert len(notes) == 1 and "'other': not registered here nor imported" in notes[0]


def test_a_preset_ranks_with_an_imported_set(tmp_path):
    """The tiny preset with an imported set as its only data proxy: a row of the report."""
    preset = bench.dataclasses.replace(bench.PRESETS["tiny"], proxies=("mine",), zero_cost=(),
                                       elf=(), distill={}, sample=3)
    data_dir = write_image_folder(tmp_path / "data", n_train=20, n_test=10)
    data = nas.api.load_data(preset.data_config(str(data_dir)))
    pixels = torch.cat([data.train_images[data.train_labels == c][:2] for c in range(3)])
    np.savez(tmp_path / "set.npz", images=pixels.numpy(),
             labels=np.repeat(np.arange(3), 2))
    db = Database(f"sqlite:///{tmp_path / 'nas.db'}")
    import_set(db, data, tmp_path / "set.npz", ImportConfig("mine"))
    notes = []
    report, _ = bench.run_fidelity(db, preset, tmp_path / "report", data_path=str(data_dir),
                                   progress=False, note=notes.append)
    assert [r.name for r in report.rows] == ["mine-ipc2"]
    assert any("imported set mine-ipc2 (the preset's IPC is 3)" in n for n in notes)


def test_presets_are_one_table_from_smoke_test_to_paper_protocol():
    tiny, cpu, paper = (bench.PRESETS[n] for n in ("tiny", "cpu", "paper"))
    assert tiny.sample < cpu.sample < paper.sample == 720
    assert (paper.ipc, paper.proxy_epochs, paper.truth_epochs) == (50, 200, 100)
    assert paper.resize is None and paper.per_class is None
    assert cpu.sample >= 5  # every level of the largest factor (5 norms) can appear


def test_unknown_preset_is_a_clear_error(capsys, tmp_path):
    assert main(["bench", "fidelity", "--preset", "huge", "--db",
                 f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    assert "unknown preset 'huge'" in capsys.readouterr().err


def test_a_malformed_proxy_option_is_a_clear_error(capsys, tmp_path):
    assert main(["bench", "fidelity", "--preset", "tiny", "--option", "d2m-iterations",
                 "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    assert "METHOD.KEY=VALUE" in capsys.readouterr().err


def test_preset_fields_can_be_overridden_from_the_command_line(tiny_data, tmp_path):
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["bench", "fidelity", "--preset", "tiny", "--data", str(tiny_data), "--db", url,
                 "--sample", "3", "--where", "width=32", "--zero-cost", "params", "--elf",
                 "--out", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert len(report["architectures"]) == 3
    assert all("-w32-" in a for a in report["architectures"])
    assert [r["name"] for r in report["rows"] if r["kind"] == "zero-cost"] == ["params"]
    assert report["preset"]["where"] == ["width=32"]
    assert report["preset"]["elf"] == [] and not any("+elf" in r["name"] for r in report["rows"])


def test_a_missing_dataset_fails_before_creating_a_database(tmp_path, capsys):
    db_path = tmp_path / "nas.db"
    assert main(["bench", "fidelity", "--preset", "tiny", "--data", str(tmp_path / "nowhere"),
                 "--db", f"sqlite:///{db_path}"]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert not db_path.exists()


def test_tiny_nb201_preset_runs_end_to_end_with_published_ground_truth(tiny_data, tmp_path):
    """The nb201-cpu preset shrunk to seconds: proxies trained, zero-cost scored, ground
    truth = the published NAS-Bench-201 accuracies (nothing trained on the full data)."""
    from nas.published import load_nb201
    from search_spaces import get_space

    url, out = f"sqlite:///{tmp_path / 'nas.db'}", tmp_path / "report"
    assert main(["bench", "fidelity", "--preset", "nb201-cpu", "--data", str(tiny_data),
                 "--db", url, "--out", str(out), "--threads", "1", "--per-class", "20",
                 "--test-per-class", "10", "--sample", "6", "--ipc", "2", "--proxy-epochs", "1",
                 "--second-seed-sample", "3", "--proxies", "random",
                 "--zero-cost", "params", "synflow"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["space"] == "nb201" and len(report["architectures"]) == 6
    gt = report["ground_truth"]
    assert gt["protocol"]["sources"] == ["published NAS-Bench-201 cifar10"]
    assert gt["total_seconds"] == 0  # recorded, not trained
    table, space = load_nb201().accuracy("cifar10_test_acc"), get_space("nb201")
    rows = {r["name"]: r for r in report["rows"]}
    assert set(rows) == {"random-ipc2", "random-ipc2/seed1", "params", "synflow"}
    for a in rows["random-ipc2"]["architectures"]:
        assert a["truth"] == table[space.parse(a["arch_id"]).id] / 100
    assert rows["random-ipc2"]["metrics"]["n"] == 6
    assert rows["random-ipc2/seed1"]["metrics"]["n"] == 3  # second seed on half the cells
    assert rows["random-ipc2"]["protocol"]["train"]["lr"] == bench.PRESETS[
        "nb201-cpu"].proxy_train_config().lr
    seeds = [p for p in report["pairwise"]
             if {p["a"], p["b"]} == {"random-ipc2", "random-ipc2/seed1"}]
    assert len(seeds) == 1 and seeds[0]["n"] == 3
    runs = list_runs(Database(url), full_data=True)
    assert len(runs) == 6 and all(r.device == "published" for r in runs)


def test_nb201_presets_use_the_published_table_over_the_whole_space():
    cpu, gpu = bench.PRESETS["nb201-cpu"], bench.PRESETS["nb201-gpu"]
    assert cpu.space == gpu.space == "nb201" and cpu.ground_truth == gpu.ground_truth == "nb201"
    assert cpu.sample >= 40 and cpu.second_seed_sample >= 20 and gpu.sample == 15625
    assert {"random", "dm", "d3", "d2m"} <= set(cpu.proxies)
    with pytest.raises(ValueError, match="space='nb201'"):
        bench.dataclasses.replace(cpu, space="convnet720")


def test_cpu_presets_hold_the_d2m_papers_nas_table_at_a_cpu_budget():
    table = {"random", "dsa", "dm", "cafe", "datadam", "d2m"}
    for name in ("cpu", "nb201-cpu"):
        preset = bench.PRESETS[name]
        assert table <= set(preset.proxies) and table <= set(list_proxies())
        for method in ("dsa", "cafe", "datadam"):
            assert preset.proxy_options[method] == {"preset": "cpu"}
