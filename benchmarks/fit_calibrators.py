"""Fit the calibrators shipped in ``ctx_core/data/calibrators`` on the data in ../shared/data.

- ``hybrid-hotpotqa`` (the reranker's default): HybridSignals with the ``udcg-hybrid``
  features of ``udcg_eval.py``, on all 250 HotpotQA dev questions (supporting paragraphs
  relevant) plus, per question, an unrelated list (another question's paragraphs, all
  irrelevant) so that a list with nothing useful can come out empty;
- ``minilm-hotpotqa`` / ``minilm-dl19``: for a plain MiniLM ``EmbeddingScorer`` (column
  ``score``, passage text only): Platt scaling plus the gap to the best candidate, fitted
  the same way on HotpotQA and on DL19 (grade >= 2 relevant: grade-1 passages are
  "related" but do not answer).

Rerun (all, or only the named data sets)::

    python benchmarks/fit_calibrators.py [hotpotqa] [dl19]

Embeddings are cached with those of ``benchmarks/udcg_eval.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from udcg_eval import FEATURE_SETS, hybrid_signals, load, save_embedder, warm_embedder

from ctx_core.progress import progress
from ctx_core.scoring import EmbeddingScorer
from ctx_core.udcg import LogisticCalibrator

TARGET = Path(__file__).resolve().parents[1] / "core" / "ctx_core" / "data" / "calibrators"


def main(argv: list[str]) -> int:
    chosen = set(argv) or {"hotpotqa", "dl19"}
    for dataset, min_grade in (("hotpotqa", 1), ("dl19", 2)):
        if dataset not in chosen:
            continue
        queries, _ = load(dataset, None)
        tag = f"{dataset}-{len(queries)}"
        labels = [[int(q.qrels.get(p.id, 0) >= min_grade) for p in q.candidates] for q in queries]
        negatives = [
            [0] * len(queries[(i + 1) % len(queries)].candidates) for i in range(len(queries))
        ]
        info = {
            "dataset": dataset,
            "queries": len(queries),
            "min_grade": min_grade,
            "unrelated_lists": True,
        }
        embedder = warm_embedder(tag)
        if dataset == "hotpotqa":
            own, unrelated = hybrid_signals(queries, tag, embedder)
            calibrator = LogisticCalibrator.fit(
                own + unrelated,
                labels + negatives,
                features=FEATURE_SETS["udcg-hybrid"],
                info={**info, "signals": "hybrid", "model": "all-MiniLM-L6-v2"},
            )
            print("hybrid-hotpotqa", calibrator, calibrator.save(TARGET / "hybrid-hotpotqa.json"))
        scorer = EmbeddingScorer(embedder)
        n = len(queries)
        own_scores = [
            {"score": scorer.score(q.query, q.candidates)}
            for q in progress(queries, desc=dataset, show=True)
        ]
        unrelated_scores = [
            {"score": scorer.score(q.query, queries[(i + 1) % n].candidates)}
            for i, q in enumerate(queries)
        ]
        save_embedder(embedder, tag)
        calibrator = LogisticCalibrator.fit(
            own_scores + unrelated_scores,
            labels + negatives,
            features=("score", "gap_to_best:score"),
            info={**info, "signals": "embedding", "model": "all-MiniLM-L6-v2"},
        )
        print(f"minilm-{dataset}", calibrator, calibrator.save(TARGET / f"minilm-{dataset}.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
