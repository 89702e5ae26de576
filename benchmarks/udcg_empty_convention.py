"""Rescore the UDCG columns of ``udcg_eval.py`` results with the reference convention.

The reference implementation of UDCG scores an empty context 0.0; results written before
``ctx_core.udcg.udcg`` followed it scored it 0.5 (``sigmoid(0)``). This rewrites each
result file from its own per-query rows, no model needed: ``udcg`` becomes the reference
value (0 for a query whose context is empty), the old value stays as ``udcg_empty_half``,
and ``empty`` counts the queries a method left without context.

Rerun::

    python benchmarks/udcg_empty_convention.py benchmarks/results/udcg/hotpotqa.json benchmarks/results/udcg/dl19.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def rescore(path: Path) -> dict[str, tuple[float, float, int]]:
    """Rewrite one result file; returns ``{method: (old udcg, new udcg, empty queries)}``."""
    report = json.loads(path.read_text(encoding="utf-8"))
    if report.get("udcg_convention") == "reference: empty context = 0.0":
        raise SystemExit(f"{path} is already rescored")
    changes = {}
    for name, method in report["methods"].items():
        rows = method["per_query"]
        for row in rows:
            row["udcg_empty_half"] = row["udcg"]
            if row["kept"] == 0:
                row["udcg"] = 0.0
        metrics = method["metrics"]
        old = metrics["udcg"]
        metrics["udcg_empty_half"] = old
        metrics["udcg"] = sum(r["udcg"] for r in rows) / len(rows)
        metrics["empty"] = sum(r["kept"] == 0 for r in rows)
        changes[name] = (old, metrics["udcg"], metrics["empty"])
    report["udcg_convention"] = "reference: empty context = 0.0"
    report["udcg_rescored_by"] = "python benchmarks/udcg_empty_convention.py"
    path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return changes


def main(argv: list[str]) -> int:
    for name in argv:
        for method, (old, new, empty) in rescore(Path(name)).items():
            print(f"{name} {method}: UDCG {old:.3f} -> {new:.3f} ({empty} queries left empty)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
