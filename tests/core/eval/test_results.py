"""The one results writer: provenance, one line per query, default paths for every kind."""

import json

from ctx_core.eval.results import default_results_path, provenance, write_results


def test_provenance_is_added_only_where_missing(tmp_path):
    results = {"kind": "memory", "dataset": "locomo", "limit": 1, "metrics": {}, "per_query": []}
    saved = json.loads(write_results(results, tmp_path / "m.json").read_text())
    assert saved["environment"]["python"] and saved["command"] and saved["created"]
    assert saved["per_query"] == []
    stamped = {**results, **provenance("ctx eval memory", "2025-01-01T00:00:00+00:00")}
    again = json.loads(write_results(stamped, tmp_path / "m2.json").read_text())
    assert again == stamped
    assert (
        default_results_path(results).as_posix() == "benchmarks/results/memory/locomo-limit1.json"
    )


def test_rows_per_variant_one_per_line(tmp_path):
    results = {
        "kind": "structure-retrieval",
        "dataset": "cranfield",
        "variants": ["original", "heuristic"],
        "config": {"pool_depth": 5, "limit": 2},
        "per_query": {"original": [{"q": 1}, {"q": 2}], "heuristic": [{"q": 1}, {"q": 2}]},
    }
    path = write_results(results, tmp_path / "s.json", command="ctx eval structure")
    text = path.read_text()
    assert '      {"q": 2}' in text.splitlines()
    assert json.loads(text)["per_query"] == results["per_query"]
    assert default_results_path(results).as_posix() == (
        "benchmarks/results/structure/retrieval-cranfield-original+heuristic-pool5-limit2.json"
    )


def test_context_files_keep_their_provenance_names(tmp_path):
    results = {"benchmark": "context", "task": "pi-llm", "metrics": {}, "per_item": [{"a": 1}]}
    saved = json.loads(write_results(results, tmp_path / "c.json", command="ctx x").read_text())
    assert saved["command"] == "ctx x" and saved["date"] == saved["created"]
    assert saved["versions"]["python"] and saved["machine"]["cpu_count"]
    assert saved["per_item"] == [{"a": 1}]
    assert default_results_path(results).name.startswith("context-pi-llm-")
