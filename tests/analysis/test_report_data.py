"""The typed report reads and writes the stored layout: every committed report's JSON comes
back byte for byte, and renders as its committed Markdown."""

import json
from pathlib import Path

import pytest

from nas.analysis.render import write_report
from nas.analysis.report_data import Report

RESULTS = Path(__file__).parents[2] / "benchmarks" / "results"
REPORTS = sorted(p.name for p in RESULTS.glob("*.json")
                 if {"rows", "ground_truth", "scoring"} <= set(json.loads(p.read_text())))


def test_the_committed_fidelity_reports_are_found():
    assert {"cpu-full.json", "cpu-paper-table.json", "nb201-cpu.json"} <= set(REPORTS)


@pytest.mark.parametrize("name", REPORTS)
def test_a_committed_report_round_trips_byte_for_byte(name):
    text = (RESULTS / name).read_text()
    report = Report.from_json(text)
    assert report.to_json() == text
    assert len(report.rows) == len(json.loads(text)["rows"]) > 0


def _sections(markdown: str) -> dict[str, str]:
    head, *rest = markdown.split("\n## ")
    return {"": head} | {s.split("\n", 1)[0]: s for s in rest}


def test_a_committed_report_renders_as_its_committed_markdown(tmp_path):
    """cpu-full.md was written by the renderer from cpu-full.json; only its "Inside the top"
    table predates the rule that shows too few architectures as such."""
    report = Report.from_json((RESULTS / "cpu-full.json").read_text())
    paths = write_report(report, tmp_path)
    assert paths["json"].read_text() == (RESULTS / "cpu-full.json").read_text()
    rendered = _sections(paths["markdown"].read_text())
    committed = _sections((RESULTS / "cpu-full.md").read_text())
    assert set(rendered) == set(committed)
    assert "Pairwise Spearman differences" in rendered and "Setup" in rendered
    for title in set(committed) - {"Inside the top"}:
        assert rendered[title] == committed[title]
