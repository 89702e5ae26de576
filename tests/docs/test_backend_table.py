"""Docs tables generated from results files: the reranking page's "choosing a backend" table
and the CLI page's cold-start table are the ones their results files give."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "cpu" / "cpu_backends.json"
PAGE = ROOT / "docs" / "concepts" / "reranking.md"
GENERATED = re.compile(r"<!-- generated: [^\n]*-->\n(.*?)\n<!-- end generated -->", re.DOTALL)


def load_benchmark():
    spec = importlib.util.spec_from_file_location(
        "cpu_backends", ROOT / "benchmarks" / "cpu_backends.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


needs_results = pytest.mark.skipif(
    not RESULTS.exists(), reason="run benchmarks/cpu_backends.py to write its results file"
)


@needs_results
def test_docs_table_is_generated_from_the_results_file():
    result = json.loads(RESULTS.read_text(encoding="utf-8"))
    [table] = GENERATED.findall(PAGE.read_text(encoding="utf-8"))
    assert table == load_benchmark().backend_table(result)


@needs_results
def test_the_default_cpu_backend_is_the_fastest_that_kept_rankings():
    """Fastest of those that kept DL19 rankings and score a text alike in any batch."""
    from ctx_core.onnx_backend import DEFAULT_CPU_BACKEND

    result = json.loads(RESULTS.read_text(encoding="utf-8"))
    measured, invariance = result["bi_encoder"], result["batch_invariance"]
    keeping = {
        name: r
        for name, r in measured.items()
        if r["keeps_rankings"] and invariance[name]["batch_invariant"]
    }
    fastest = max(keeping, key=lambda name: keeping[name]["passages_per_s"])
    assert fastest == DEFAULT_CPU_BACKEND


def test_cli_latency_table_is_generated_from_the_results_file():
    spec = importlib.util.spec_from_file_location(
        "cli_latency", ROOT / "benchmarks" / "cli_latency.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = json.loads((ROOT / "benchmarks/results/cpu/cli_latency.json").read_text())
    [table] = GENERATED.findall((ROOT / "docs" / "cli.md").read_text(encoding="utf-8"))
    assert table == module.latency_table(result)
    assert result["after_heavy_modules"] == []
