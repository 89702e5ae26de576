"""TREC Deep Learning 2019 passage ranking: BM25 top-100 candidates with NIST graded qrels."""

from __future__ import annotations

from pathlib import Path

from ctx_core.eval.datasets.paths import data_file
from ctx_core.eval.datasets.records import RankingQuery
from ctx_core.eval.datasets.trec import load_trec, read_qrels, read_topics

__all__ = ["DL19_FOLDER", "load_dl19", "read_qrels", "read_topics"]

#: Folder of the TREC DL 2019 files inside the data folder.
DL19_FOLDER = "trec-dl-passage"


def load_dl19(data_dir: str | Path | None = None, limit: int | None = None) -> list[RankingQuery]:
    """The 43 judged TREC DL 2019 passage queries with their BM25 top-100 passages.

    Candidates keep BM25's order; each passage's ``score`` is its BM25 score and its
    metadata holds ``rank`` (1-based BM25 rank) and ``bm25_score``. ``qrels`` holds every
    NIST judgement of the query (grades 0-3), also for judged passages BM25 did not
    retrieve, so nDCG's ideal ranking is the official one.

    Args:
        data_dir: The data folder (see [`resolve_data_dir`][ctx_core.eval.datasets.paths.resolve_data_dir]).
        limit: Keep only the first ``limit`` queries (file order).

    Examples:
        >>> queries = load_dl19(limit=1)  # doctest: +SKIP
        >>> len(queries[0].candidates)  # doctest: +SKIP
        100
    """
    _check_limit(limit)
    return load_trec(
        hits=data_file(data_dir, DL19_FOLDER, "bm25_top100_dl19.json"),
        qrels=data_file(data_dir, DL19_FOLDER, "qrels.dl19-passage.txt"),
        topics=data_file(data_dir, DL19_FOLDER, "topics.dl19-passage.txt"),
        limit=limit,
        first_stage="bm25 (Anserini, top-100)",
        score_key="bm25_score",
    )


def _check_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
