"""Results tables are generated: every page's marked tables equal what their builders give.

Runs ``benchmarks/tables.py``'s builders over the committed result files (no model is
loaded; a few seconds). Fails when a page's table differs from its results (run
``python benchmarks/tables.py`` to regenerate) or when a results table sits outside a
marker (typed by hand).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from ctx_core.eval.tables import (
    TableRegistry,
    comparison_cell,
    find_markers,
    markdown_table,
    paired_values,
    render_page,
    unmarked_tables,
    update_pages,
)

ROOT = Path(__file__).resolve().parents[1]


def _tables_module():
    spec = importlib.util.spec_from_file_location(
        "benchmarks_tables", ROOT / "benchmarks/tables.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tables():
    return _tables_module()


def test_every_page_table_matches_its_results(tables):
    stale, unmarked = tables.check_pages(ROOT)
    assert not stale, (
        f"tables differ from their result files in {[str(p) for p in stale]}: "
        "run `python benchmarks/tables.py`"
    )
    assert not unmarked, f"results tables typed outside a table marker: {unmarked}"


def test_every_builder_is_used_by_a_page(tables):
    used = {m.name for page in tables.pages(ROOT) for m in find_markers(page.read_text("utf-8"))}
    assert set(tables.TABLES.names()) == used


def test_a_changed_result_is_caught(tmp_path):
    registry = TableRegistry()
    (tmp_path / "r.json").write_text('{"value": 0.5}')

    @registry.register("value")
    def value(root):
        import json

        return markdown_table(["value"], [[json.loads((root / "r.json").read_text())["value"]]])

    page = tmp_path / "page.md"
    page.write_text("# P\n\n<!-- table: value -->\n<!-- /table -->\n")
    assert update_pages([page], tmp_path, registry) == [page]
    assert "| 0.5 |" in page.read_text()
    assert update_pages([page], tmp_path, registry, check=True) == []
    (tmp_path / "r.json").write_text('{"value": 0.7}')
    assert update_pages([page], tmp_path, registry, check=True) == [page]
    assert "| 0.5 |" in page.read_text()  # check leaves the page alone


def test_markers_are_validated():
    registry = TableRegistry()
    with pytest.raises(ValueError, match="not closed"):
        find_markers("<!-- table: a -->\n| x |\n")
    with pytest.raises(ValueError, match="without an opening"):
        find_markers("<!-- /table -->\n")
    with pytest.raises(ValueError, match="inside"):
        find_markers("<!-- table: a -->\n<!-- table: b -->\n<!-- /table -->\n")
    with pytest.raises(KeyError, match="no table builder"):
        render_page("<!-- table: nope -->\n<!-- /table -->", ".", registry)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a", lambda root: "")
        registry.register("a", lambda root: "")
    # Markers inside code fences are examples, not tables.
    assert find_markers("```\n<!-- table: a -->\n```\n") == []


def test_unmarked_results_tables_are_found():
    text = (
        "| option | default |\n|---|---|\n| k | 10 |\n\n"
        "| method | nDCG@10 |\n|---|---|\n| bm25 | 0.506 |\n\n"
        "<!-- table: t -->\n| method | nDCG@10 |\n|---|---|\n| x | 0.1 |\n<!-- /table -->\n"
        "```\n| a | 1.5 ms |\n|---|---|\n| b | 2.0 ms |\n```\n"
    )
    assert unmarked_tables(text) == [(5, "| method | nDCG@10 |")]


def test_paired_values_need_the_same_queries():
    a = {"method": "a", "per_query": [{"query_id": "1", "metrics": {"m": 1.0}}]}
    b = {"method": "b", "per_query": [{"query_id": "2", "metrics": {"m": 0.0}}]}
    with pytest.raises(ValueError, match="different queries"):
        paired_values(a, b, "m")
    rows = [{"query_id": str(i), "metrics": {"m": float(i % 2)}} for i in range(12)]
    same = {"method": "c", "per_query": rows}
    assert paired_values(same, same, "m")[0] == [
        float(int(i) % 2) for i in sorted(map(str, range(12)))
    ]
    assert comparison_cell([1.0] * 3, [0.0] * 3) == "n too small (3 < 10)"
    assert comparison_cell([1.0] * 12, [0.5] * 12) == "+0.500 [+0.500, +0.500]"
