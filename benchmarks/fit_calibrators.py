"""Fit the calibrators shipped in ``ctx_core/data/calibrators`` on the data in ../shared/data.

- ``hybrid-hotpotqa``: HybridSignals with the ``udcg-hybrid`` features, on all 250 HotpotQA
  dev questions (supporting paragraphs relevant);
- ``minilm-hotpotqa`` / ``minilm-dl19``: a plain MiniLM ``EmbeddingScorer`` (column
  ``score``, passage text only) with Platt scaling plus the gap to the best candidate, on HotpotQA and on DL19
  (grade >= 2 relevant: grade-1 passages are "related" but do not answer).

Rerun::

    python benchmarks/fit_calibrators.py

Signals are cached with those of ``benchmarks/udcg_eval.py`` (same cache keys).
"""

from __future__ import annotations

import sys
from pathlib import Path

from udcg_eval import FEATURE_SETS, cached, load

from ctx_core.progress import progress
from ctx_core.scoring import EmbeddingScorer
from ctx_core.udcg import HybridSignals, LogisticCalibrator

TARGET = Path(__file__).resolve().parents[1] / "core" / "ctx_core" / "data" / "calibrators"


def main() -> int:
    hybrid = HybridSignals()
    for dataset, min_grade in (("hotpotqa", 1), ("dl19", 2)):
        queries, _ = load(dataset, None)
        tag = f"{dataset}-{len(queries)}"
        signals = cached(
            f"udcg-signals-{tag}",
            lambda queries=queries: [
                hybrid.signals(q.query, q.candidates) for q in progress(queries, desc=dataset, show=True)
            ],
        )
        labels = [[int(q.qrels.get(p.id, 0) >= min_grade) for p in q.candidates] for q in queries]
        info = {"dataset": dataset, "queries": len(queries), "min_grade": min_grade, "model": hybrid.model_name}
        if dataset == "hotpotqa":
            calibrator = LogisticCalibrator.fit(
                signals, labels, features=FEATURE_SETS["udcg-hybrid"], info={**info, "signals": "hybrid"}
            )
            print("hybrid-hotpotqa", calibrator, calibrator.save(TARGET / "hybrid-hotpotqa.json"))
        scorer = EmbeddingScorer(hybrid.embedder)
        scores = cached(
            f"udcg-minilm-scores-{tag}",
            lambda queries=queries: [
                {"score": scorer.score(q.query, q.candidates)}
                for q in progress(queries, desc=f"{dataset} (EmbeddingScorer)", show=True)
            ],
        )
        calibrator = LogisticCalibrator.fit(
            scores, labels, features=("score", "gap_to_best:score"), info={**info, "signals": "embedding"}
        )
        print(f"minilm-{dataset}", calibrator, calibrator.save(TARGET / f"minilm-{dataset}.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
