"""The demo trains through `nas search`'s engine: its proxy and full-data trainings are Optuna
studies that name their objective and carry the proxy, dataset and protocol."""

from __future__ import annotations

import optuna

from nas.core.trainer import TrainConfig
from nas.demo import DemoConfig, run_demo
from nas.engines.session import FULL_OBJECTIVE, PROXY_OBJECTIVE
from storage import list_runs

TINY = DemoConfig(per_class=24, test_per_class=10, ipc=2, sample=2, where=("width=32",),
                  proxy_epochs=1, full_epochs=1)


def test_demo_trainings_are_named_studies_in_its_database(tiny_data, tmp_path):
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    db, report, paths = run_demo(TINY, data_path=str(tiny_data), db_url=url, progress=False)
    studies = {s.study_name: s for s in optuna.get_all_study_summaries(url)}
    assert set(studies) == {"convnet720/random-ipc2/grid/seed0", "convnet720/full/grid/seed0"}
    for name, proxy, objective, epochs in (
            ("convnet720/random-ipc2/grid/seed0", "random-ipc2", PROXY_OBJECTIVE, 1),
            ("convnet720/full/grid/seed0", "full", FULL_OBJECTIVE, 1)):
        study = optuna.load_study(study_name=name, storage=url)
        assert study.metric_names == [objective]
        assert study.user_attrs["proxy"] == proxy
        assert study.user_attrs["dataset"] == report.dataset["key"]
        assert study.user_attrs["protocol"] == TrainConfig(epochs=epochs).protocol()
        assert len(study.trials) == TINY.sample
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    runs = list_runs(db)
    assert len(runs) == 2 * TINY.sample and all(r.search_id is not None for r in runs)
    assert [r.name for r in report.rows] == ["random-ipc2"]
    assert paths["html"].is_file()
