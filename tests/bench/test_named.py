"""Experiments as named data: the named recipes and contenders are the ones the indexed lists
defined before (same cache keys, so stored runs stay valid), every entry loads, and an unknown
name is refused in one line before anything is read."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from nas import api
from nas.bench import fidelity, frontier, named, search_outcome, two_stage
from nas.cli import main
from nas.core.trainer import TrainConfig
from nas.engines import SearchConfig

# The definitions as they stood in the code before recipes became data, by list index.
_FAST = {"lr": 0.05, "batch_size": 50, "augment": "flip"}
_DM = {"iterations": 200, "batch_real": 64}
OLD_RECIPES = (  # (method, ipc, resize, train, cells, options, seed)
    ("random", 10, 16, {"epochs": 50}, None, {}, None),
    ("random", 10, 16, {"epochs": 50, **_FAST}, None, {}, None),
    ("dm", 10, 16, {"epochs": 50, **_FAST}, None, _DM, None),
    ("random", 900, 16, {"epochs": 1, **_FAST}, None, {}, None),
    ("random", 50, 16, {"epochs": 30, **_FAST}, None, {}, None),
    ("random", 10, None, {"epochs": 50, **_FAST}, None, {}, None),
    ("random", 50, None, {"epochs": 200}, 24, {}, None),
    ("random", 10, 16, {"epochs": 50, **_FAST}, None, {}, 1),
    ("random", 50, 16, {"epochs": 200}, 24, {}, None),
    ("random", 50, 16, {"epochs": 200}, 24, {}, 1),
    ("dm", 50, 16, {"epochs": 200}, 24, _DM, None),
)
BY_INDEX = ("random-ipc10-16px-50ep-d2m", "random-ipc10-16px-50ep-fast",
            "dm-ipc10-16px-50ep-fast", "random-ipc900-16px-1ep-fast",
            "random-ipc50-16px-30ep-fast", "random-ipc10-32px-50ep-fast",
            "random-ipc50-32px-200ep-d2m", "random-ipc10-16px-50ep-fast-seed1",
            "random-ipc50-16px-200ep-d2m", "random-ipc50-16px-200ep-d2m-seed1",
            "dm-ipc50-16px-200ep-d2m")
OLD_CONTENDERS = {  # old name (also its studies' name) -> (strategy, settings)
    "zero-cost only": ("sh", {"fidelities": ("ensemble",), "bracket": 64, "cpu_budget": 1e-9}),
    "sh ensemble>train25>train50": ("sh", {"fidelities": ("ensemble", "train:25", "train:50"),
                                           "bracket": 64, "eta": 4}),
    "sh params>synflow>ensemble>train50": ("sh", {
        "fidelities": ("params", "synflow", "ensemble", "train:50"), "bracket": 1024, "eta": 4,
        "trials": 1024 + 256 + 64 + 16}),
    "sh params>synflow>ensemble>full1": ("sh", {
        "fidelities": ("params", "synflow", "ensemble", "full:1"), "bracket": 1024, "eta": 4,
        "trials": 1024 + 256 + 64 + 16}),
    "sh params>synflow>ensemble": ("sh", {
        "fidelities": ("params", "synflow", "ensemble"), "bracket": 1024, "eta": 4,
        "trials": 1024 + 256 + 64}),
    "rea ensemble": ("rea", {"rea_score": "ensemble", "population": 10, "sample": 3}),
    "rea train50": ("rea", {"rea_score": "train:50", "population": 10, "sample": 3}),
}
NEW_CONTENDERS = ("zero-cost-only", "sh-ensemble-train25-train50", "sh-zero-cost-train50",
                  "sh-zero-cost-full1", "sh-zero-cost", "rea-ensemble", "rea-train50")


def _keys(method, ipc, resize, train, cells, options, seed, frontier_seed=0):
    """What keys a recipe's stored proxy and runs: the dataset's resize, the proxy's
    (method, ipc, seed, options) and each run's key (``api.run_key``) on a stand-in dataset."""
    seed = frontier_seed if seed is None else seed
    proxy = SimpleNamespace(key=repr((method, ipc, seed, sorted(options.items()))))
    dataset = SimpleNamespace(key=f"cifar10-{resize}")
    run = api.run_key(dataset, proxy, "nb201", "nb201-0", seed, TrainConfig(**train))
    return resize, proxy.key, run, cells


def test_named_recipes_key_the_same_runs_as_the_old_indexed_ones():
    for old, name in zip(OLD_RECIPES, BY_INDEX, strict=True):
        r = frontier.recipe(name)
        assert _keys(r.method, r.ipc, r.resize, r.train, r.cells, r.options, r.seed) == \
            _keys(*old)
    assert [r.name for r in frontier.recipes()] == list(BY_INDEX)  # every one, file order


def test_recipes_that_differ_only_in_seed_share_a_label_but_for_the_seed():
    fast, seed1 = frontier.recipes(["random-ipc10-16px-50ep-fast",
                                    "random-ipc10-16px-50ep-fast-seed1"])
    assert fast.label == "random ipc10 16px 50ep lr.05 b50 flip"
    assert seed1.label == fast.label + " seed 1"
    assert dataclasses.replace(seed1, name=fast.name, seed=None) == fast
    labels = [r.label for r in frontier.recipes()]
    assert len(set(labels)) == len(labels)


def test_named_contenders_run_the_old_searches_under_the_old_study_names():
    cfg = search_outcome.OutcomeConfig()
    for (old_name, (strategy, settings)), name in zip(OLD_CONTENDERS.items(), NEW_CONTENDERS,
                                                      strict=True):
        old = search_outcome.Contender(old_name, strategy, settings)
        new = search_outcome.contender(name)
        a, b = (dataclasses.asdict(search_outcome.search_config(c, 3, cfg)) for c in (old, new))
        assert {**a, "study": ""} == {**b, "study": ""}
        if old_name != "zero-cost only":  # its label is now "sh ensemble", like its ladder
            assert b["study"] == f"outcome/{old_name}/seed3"


def test_every_benchmark_trains_nb201_with_the_one_fast_protocol():
    assert named.training("nb201-fast") == _FAST
    assert two_stage.TwoStageConfig().train == _FAST
    contender = search_outcome.contender("rea-train50")
    config = search_outcome.search_config(contender, 0, search_outcome.OutcomeConfig())
    assert config.train == TrainConfig(epochs=50, **_FAST)
    assert isinstance(config, SearchConfig)


@pytest.mark.parametrize("kind", list(named.KINDS))
def test_every_entry_loads(kind):
    load = {"training": lambda n: TrainConfig(epochs=1, **named.training(n)),
            "frontier": lambda n: TrainConfig(**frontier.recipe(n).train),
            "contenders": lambda n: search_outcome.contender(n).ladder,
            "presets": fidelity.get_preset}[kind]
    for name in named.names(kind):
        assert load(name)


@pytest.mark.parametrize("argv", [["bench", "frontier", "--recipes", "random-ipc10-16px-50ep-fast",
                                   "nope"],
                                  ["bench", "search-outcome", "--contenders", "nope"]])
def test_an_unknown_name_is_one_line_listing_the_valid_ones_exit_2(argv, tmp_path, capsys):
    db = tmp_path / "x.db"
    code = main([*argv, "--db", f"sqlite:///{db}", "--out", str(tmp_path / "out"),
                 "--data", str(tmp_path / "missing")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    valid = "random-ipc10-16px-50ep-d2m" if "frontier" in argv else "zero-cost-only"
    assert "'nope'" in err and valid in err
    assert not db.exists() and not (tmp_path / "out").exists()


def test_a_preset_extends_another_and_overrides_its_fields():
    cpu, full = fidelity.get_preset("cpu"), fidelity.get_preset("cpu-full")
    assert (full.per_class, full.test_per_class, full.truth_epochs) == (None, None, 20)
    assert dataclasses.replace(full, description=cpu.description, per_class=cpu.per_class,
                               test_per_class=cpu.test_per_class, truth_epochs=15) == cpu
    assert fidelity.get_preset("paper").resize is None  # "native"
    assert isinstance(cpu.proxies, tuple) and list(fidelity.PRESETS) == named.names("presets")
