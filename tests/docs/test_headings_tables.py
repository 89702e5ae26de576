"""The before/after heading tables in the docs are generated from the results file."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks/results/structure/headings-before-after.json"


def _script():
    spec = importlib.util.spec_from_file_location(
        "headings_before_after", ROOT / "benchmarks/headings_before_after.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_show_the_measured_headings():
    payload = json.loads(RESULTS.read_text(encoding="utf-8"))
    script = _script()
    memory_page = (ROOT / "docs/concepts/memory.md").read_text(encoding="utf-8")
    structure_page = (ROOT / "docs/concepts/structurization.md").read_text(encoding="utf-8")
    assert script.memory_table(payload) in memory_page
    assert script.structure_table(payload) in structure_page
