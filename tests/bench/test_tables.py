"""Generated tables: every block in the committed README, docs and results index equals what
its JSON renders, and one number changed in a copy, or in a source, is caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from nas.bench import frontier, search_outcome, tables, two_stage
from nas.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the files the tables read and write."""
    for name in tables.FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / tables.RESULTS, tmp_path / tables.RESULTS, dirs_exist_ok=True)
    return tmp_path


def test_the_committed_copies_agree_with_their_json():
    assert tables.stale(ROOT) == []
    shown = {m["name"] for f in tables.FILES for m in tables.BLOCK.finditer(
        (ROOT / f).read_text())}
    assert shown == set(tables.BLOCKS)  # every block is shown somewhere


def test_a_number_edited_in_a_copy_fails_and_a_rewrite_restores_it(repo, capsys):
    readme = repo / "README.md"
    text = readme.read_text()
    body = text[text.index("<!-- generated:measured -->"):]
    assert "0.53 [0.27, 0.72]" in body  # the frontier ensemble's Spearman, as the JSON has it
    readme.write_text(text.replace("0.53 [0.27, 0.72]", "0.54 [0.27, 0.72]", 1))
    assert tables.stale(repo) == ["README.md: measured"]
    assert main(["bench", "tables", "--check", "--root", str(repo)]) == 1
    assert "README.md: measured" in capsys.readouterr().out
    assert main(["bench", "tables", "--root", str(repo)]) == 0
    assert readme.read_text() == text and tables.stale(repo) == []


def test_a_changed_source_makes_every_copy_of_it_stale(repo):
    path = repo / tables.RESULTS / "nb201-frontier.json"
    result = json.loads(path.read_text())
    result["points"][0]["spearman"] = 0.6  # the ensemble inside the prefilter's top
    path.write_text(json.dumps(result))
    assert set(tables.stale(repo)) == {"README.md: measured",
                                       "docs/nas-bench-201.md: frontier-recipes",
                                       "benchmarks/results/README.md: measured"}


def test_the_frontier_row_names_the_best_affordable_recipe_by_spearman():
    result = json.loads((ROOT / tables.RESULTS / "nb201-frontier.json").read_text())
    recipes = [p for p in result["points"] if p.get("score") == "final-val" and "recipe_config"
               in p and p["cpu_seconds_per_cell"] <= 120]
    best = sorted(recipes, key=lambda p: p["spearman"])[-1]
    _, answer, _, _ = tables._frontier(ROOT / tables.RESULTS)
    assert f"{best['recipe']} ({best['cpu_seconds_per_cell']:.0f} CPU-s), " \
           f"{best['spearman']:.2f} on {best['cells']} cells" in answer


def test_an_unknown_block_is_refused():
    with pytest.raises(ValueError, match="unknown generated block 'nope'"):
        tables.fill("<!-- generated:nope -->\n<!-- /generated -->\n", ROOT / tables.RESULTS,
                    "README.md")


@pytest.mark.parametrize("stem, render", [
    ("nb201-frontier", lambda d: frontier.markdown(frontier.FrontierResult.from_dict(d))),
    ("two-stage-nb201", lambda d: two_stage.markdown(two_stage.TwoStageResult.from_dict(d))),
    ("two-stage-convnet720",
     lambda d: two_stage.markdown(two_stage.TwoStageResult.from_dict(d))),
    ("nb201-search-outcome", search_outcome.markdown)])
def test_each_committed_result_table_is_what_its_json_renders(stem, render):
    stored = json.loads((ROOT / tables.RESULTS / f"{stem}.json").read_text())
    assert render(stored) == (ROOT / tables.RESULTS / f"{stem}.md").read_text()


def test_proxy_rows_pair_across_tables_without_their_ipc_or_artifact():
    rows = [SimpleNamespace(name="d2m-ipc50[artifact=dbe57c39]", kind="proxy"),
            SimpleNamespace(name="d2m-ipc10+elf", kind="proxy"),
            SimpleNamespace(name="random-fly-ipc50", kind="proxy"),
            SimpleNamespace(name="grad_norm", kind="zero-cost")]
    by_name = tables._by_proxy(SimpleNamespace(rows=rows))
    assert by_name == {"d2m": rows[0], "d2m+elf": rows[1], "random-fly": rows[2]}
