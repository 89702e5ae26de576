"""The HTML report the results writer leaves beside every result file."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from ctx_core.eval.html_report import render_html_report, write_html_report
from ctx_core.eval.methods import build_method
from ctx_core.eval.results import write_results
from ctx_core.eval.tasks.rerank import run_rerank_eval


class _Page(HTMLParser):
    """Collects what a reader sees: details blocks, table rows with their class, images."""

    def __init__(self) -> None:
        super().__init__()
        self.details = 0
        self.images: list[str] = []
        self.links: list[str] = []
        self.row_classes: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "details":
            self.details += 1
        elif tag == "img":
            self.images.append(attrs.get("src") or "")
        elif tag in ("a", "link", "script"):
            self.links.append(attrs.get("href") or attrs.get("src") or "")
        elif tag == "tr":
            self.row_classes.append(attrs.get("class") or "")

    def handle_data(self, data):
        self.text.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


@pytest.fixture(scope="module")
def udcg_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("udcg")
    results = run_rerank_eval("hotpotqa", build_method("udcg"), limit=2, show_progress=False)
    return results, write_results(results, folder / "udcg-limit2.json", command="ctx eval rerank")


def test_udcg_run_writes_a_self_contained_report_with_every_decision(udcg_run):
    results, path = udcg_run
    report = path.with_suffix(".html")
    assert report.is_file()
    text = report.read_text(encoding="utf-8")
    page = _parse(text)
    # one drill-down per query, and nothing fetched from elsewhere
    assert page.details == results["num_queries"] == 2
    assert page.links == []
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    visible = " ".join(page.text)
    for row in results["per_query"]:
        assert row["query"] in visible
        # every candidate is listed with its own reason, coloured by its decision
        for decision in row["decisions"]:
            assert re.search(
                rf"<td>{re.escape(decision['id'])}</td><td>{decision['kept']}</td>"
                rf"<td>{re.escape(decision['reason'])}</td>",
                text,
            ), decision
    decisions = [d for row in results["per_query"] for d in row["decisions"]]
    assert page.row_classes.count("kept") == sum(d["kept"] for d in decisions)
    assert page.row_classes.count("dropped") == sum(not d["kept"] for d in decisions)
    # the metrics table shows the run and the first stage side by side
    metric = results["headline"][0]
    assert f"{results['metrics'][metric]:.4f}" in text
    assert f"{results['base_metrics'][metric]:.4f}" in text


def test_report_compares_the_other_methods_of_the_folder(udcg_run, tmp_path):
    results, _ = udcg_run
    other = run_rerank_eval("hotpotqa", build_method("top-k", k=3), limit=2, show_progress=False)
    write_results(other, tmp_path / "top-3.json")
    write_results(results, tmp_path / "udcg.json")
    text = (tmp_path / "udcg.html").read_text(encoding="utf-8")
    assert "Other methods on this data set" in text
    assert "<td>top-3</td>" in text and "udcg (this run)" in text
    first = (tmp_path / "top-3.html").read_text(encoding="utf-8")
    assert "Other methods on this data set" not in first  # written when it was alone


def test_nested_metrics_and_rows_per_variant(tmp_path):
    memory = {
        "kind": "memory",
        "dataset": "locomo",
        "method": "memory-vs-fixed",
        "metrics": {"fixed-60w": {"recall@1": 0.25}, "memory-150w": {"recall@1": 0.31}},
        "per_query": [
            {
                "conversation": "c1",
                "qa": 0,
                "question": "When?",
                "values": {"fixed-60w": {"recall@1": 0.0}},
            }
        ],
    }
    page = render_html_report(memory, plots=False)
    assert "<td>fixed-60w</td>" in page and "<td>memory-150w</td>" in page
    assert "c1 #0" in page and "When?" in page and "<img" not in page
    structure = {
        "kind": "structure-retrieval",
        "dataset": "cranfield",
        "results": {"original": {"ndcg@10": 0.4}, "heuristic": {"ndcg@10": 0.41}},
        "per_query": {
            "original": [{"query_id": "1", "ndcg@10": 0.4}, {"query_id": "2", "ndcg@10": 0.2}],
            "heuristic": [{"query_id": "1", "ndcg@10": 0.5}, {"query_id": "2", "ndcg@10": 0.1}],
        },
    }
    path = write_html_report(structure, tmp_path / "deep" / "s.html")
    parsed = _parse(path.read_text(encoding="utf-8"))
    assert parsed.details == 4
    assert "per_query: heuristic (2)" in " ".join(parsed.text)
    # a bar chart and one histogram per variant
    assert len(parsed.images) == 3


def test_writer_can_skip_the_report_and_bad_input_is_named(tmp_path):
    path = write_results(
        {"kind": "memory", "dataset": "d", "metrics": {}}, tmp_path / "m.json", html=False
    )
    assert json.loads(path.read_text())["dataset"] == "d"
    assert not (tmp_path / "m.html").exists()
    with pytest.raises(TypeError, match="results must be a mapping"):
        render_html_report(["not", "a", "dict"])  # type: ignore[arg-type]
