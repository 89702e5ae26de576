"""TREC-style ranking data: first-stage candidates (a run file or hits JSON) with TREC qrels.

Two ways to give the candidates, both common:

* a **hits JSON** in the rank_llm / pyserini layout: a list of
  ``{"query": "...", "hits": [{"qid", "docid", "rank", "score", "content"}, ...]}``;
* a **run file** (``qid Q0 docid rank score tag`` per line) plus the passages' text in a
  ``corpus.jsonl`` (BEIR layout, ``_id``/``title``/``text``) or a ``collection.tsv``
  (``docid<TAB>text``, MS MARCO layout).

Queries come from a topics file (``qid<TAB>query``, or a ``queries.jsonl``); judgements
from a TREC qrels file (``qid iteration docid relevance``). Every judged passage is kept in
the query's qrels, also those the first stage did not retrieve, so nDCG's ideal ranking is
the official one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ctx_core.eval.datasets.issues import DataIssues
from ctx_core.eval.datasets.records import RankingQuery
from ctx_core.types import Passage

__all__ = ["find_trec_files", "load_trec", "read_qrels", "read_run", "read_topics"]


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Read a TREC qrels file (``qid iteration docid relevance`` per line).

    Returns:
        Relevance by query id, then document id, exactly as graded in the file.

    Raises:
        ValueError: A line does not have four fields or its relevance is not an integer
            (the line number is named).
    """
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 4:
                raise ValueError(f"{path} line {number}: expected 4 fields, got {len(fields)}")
            qid, _, docid, rel = fields
            try:
                qrels.setdefault(qid, {})[docid] = int(rel)
            except ValueError as err:
                raise ValueError(f"{path} line {number}: relevance {rel!r} is not an int") from err
    return qrels


def read_topics(path: str | Path) -> dict[str, str]:
    """Read a tab-separated topics file (``qid<TAB>query`` per line)."""
    topics: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            qid, sep, text = line.rstrip("\n").partition("\t")
            if not sep:
                raise ValueError(f"{path} line {number}: expected 'qid<TAB>query'")
            topics[qid.strip()] = text.strip()
    return topics


def read_run(path: str | Path) -> dict[str, list[tuple[str, float]]]:
    """A TREC run file: ``(docid, score)`` per query, best first (by rank, then file order).

    Raises:
        ValueError: A line without six fields or with a non-numeric rank or score.
    """
    rows: dict[str, list[tuple[int, int, str, float]]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 6:
                raise ValueError(
                    f"{path} line {number}: expected 'qid Q0 docid rank score tag', "
                    f"got {len(fields)} field(s)"
                )
            qid, _, docid, rank, score, _ = fields
            try:
                rows.setdefault(qid, []).append((int(rank), number, docid, float(score)))
            except ValueError as err:
                raise ValueError(f"{path} line {number}: rank or score is not a number") from err
    return {qid: [(d, s) for _, _, d, s in sorted(hits)] for qid, hits in rows.items()}


def _read_corpus(path: Path) -> dict[str, Passage]:
    corpus: dict[str, Passage] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if path.suffix == ".jsonl":
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path} line {number}: not valid JSON ({err.msg})") from err
                doc_id = str(record.get("_id", record.get("id", "")))
                if not doc_id:
                    raise ValueError(f"{path} line {number}: no '_id'")
                metadata = {"title": str(record["title"])} if record.get("title") else {}
                corpus[doc_id] = Passage(str(record.get("text", "")), id=doc_id, metadata=metadata)
            else:
                doc_id, sep, text = line.rstrip("\n").partition("\t")
                if not sep:
                    raise ValueError(f"{path} line {number}: expected 'docid<TAB>text'")
                corpus[doc_id.strip()] = Passage(text, id=doc_id.strip())
    return corpus


def _read_queries(path: Path) -> dict[str, str]:
    if path.suffix != ".jsonl":
        return read_topics(path)
    queries: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} line {number}: not valid JSON ({err.msg})") from err
            queries[str(record.get("_id", record.get("id", "")))] = str(record.get("text", ""))
    return queries


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")


def load_trec(
    *,
    qrels: str | Path,
    hits: str | Path | None = None,
    run: str | Path | None = None,
    corpus: str | Path | None = None,
    topics: str | Path | None = None,
    limit: int | None = None,
    first_stage: str | None = None,
    score_key: str = "first_stage_score",
    issues: DataIssues | None = None,
) -> list[RankingQuery]:
    """Ranking queries from TREC-style files (see the module docs for the layouts).

    Candidates keep the first stage's order; each passage's ``score`` is its first-stage
    score and its metadata holds ``rank`` (1-based) and ``score_key``. Queries keep the
    candidates' file order; queries without judgements are left out (and counted).

    Args:
        qrels: TREC qrels file.
        hits: Hits JSON (candidates with their text); or give ``run`` and ``corpus``.
        run: TREC run file.
        corpus: ``corpus.jsonl`` or ``collection.tsv`` with the text of the run's passages.
        topics: ``qid<TAB>query`` file or ``queries.jsonl``: required with ``run``; with
            ``hits`` it names queries whose hits are empty.
        limit: Keep the first ``limit`` queries.
        first_stage: What made the candidates (recorded in each query's metadata).
        score_key: Metadata key of the first-stage score.
        issues: Where problems are counted: judged queries without candidates,
            candidate queries without judgements, run passages missing from the corpus.

    Raises:
        ValueError: Neither ``hits`` nor ``run`` (or both); a run without ``corpus`` or
            ``topics``; malformed lines (file and line named).

    Examples:
        >>> import json, tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "run.trec").write_text("7 Q0 b 1 2.5 bm25\\n7 Q0 a 2 1.0 bm25\\n")
        >>> _ = (folder / "collection.tsv").write_text("a\\tcats purr\\nb\\tdogs bark\\n")
        >>> _ = (folder / "topics.tsv").write_text("7\\twhat do cats do\\n")
        >>> _ = (folder / "qrels.txt").write_text("7 0 a 2\\n")
        >>> [q] = load_trec(qrels=folder / "qrels.txt", run=folder / "run.trec",
        ...                 corpus=folder / "collection.tsv", topics=folder / "topics.tsv")
        >>> [p.id for p in q.candidates], q.qrels
        (['b', 'a'], {'a': 2})
    """
    _check_limit(limit)
    if (hits is None) == (run is None):
        raise ValueError(
            "give the candidates as hits= (a hits JSON) or run= (a run file), not both"
        )
    issues = issues if issues is not None else DataIssues(str(hits or run))
    judged = read_qrels(qrels)
    topic_texts = _read_queries(Path(topics)) if topics is not None else {}
    entries: list[tuple[str, str, list[Passage]]] = []
    if hits is not None:
        entries = _from_hits(Path(hits), topic_texts, score_key)
    else:
        if corpus is None or topics is None:
            raise ValueError("a run file needs corpus= (the passages' text) and topics=")
        texts = _read_corpus(Path(corpus))
        for qid, ranked in read_run(run).items():  # type: ignore[arg-type]
            if qid not in topic_texts:
                issues.add("run_query_not_in_topics", f"query {qid!r}")
                continue
            candidates = []
            for rank, (docid, score) in enumerate(ranked, start=1):
                if docid not in texts:
                    issues.add("run_document_not_in_corpus", f"query {qid!r}: {docid!r}")
                    continue
                candidates.append(
                    texts[docid].with_metadata(rank=rank, **{score_key: score}).with_score(score)
                )
            entries.append((qid, topic_texts[qid], candidates))
    queries: list[RankingQuery] = []
    for qid, text, candidates in entries:
        if qid not in judged:
            issues.add("query_without_judgements", f"query {qid!r}")
            continue
        if limit is not None and len(queries) >= limit:
            break
        queries.append(
            RankingQuery(
                query_id=qid,
                query=text,
                candidates=candidates,
                qrels=dict(judged[qid]),
                metadata={"first_stage": first_stage or "given (run file or hits)"},
            )
        )
    given = {qid for qid, _, _ in entries}
    missing = [q for q in judged if q not in given]
    if missing:
        issues.add("judged_query_without_candidates", f"{missing[:5]}", len(missing))
    return queries


def _from_hits(
    path: Path, topics: dict[str, str], score_key: str
) -> list[tuple[str, str, list[Passage]]]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from err
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a list of {{'query', 'hits'}} records")
    by_text = {text: qid for qid, text in topics.items()}
    entries = []
    for n, record in enumerate(records):
        if not isinstance(record, dict) or "query" not in record or "hits" not in record:
            raise ValueError(f"{path}: record {n} has no 'query' and 'hits'")
        hits: Iterable[dict[str, Any]] = record["hits"]
        hits = list(hits)
        qid = str(
            record.get("qid") or (hits[0]["qid"] if hits else by_text.get(record["query"], ""))
        )
        if not qid:
            raise ValueError(f"{path}: query {record['query']!r} has no hits and no topic id")
        candidates = []
        for position, hit in enumerate(hits, start=1):
            missing = [k for k in ("docid", "content") if k not in hit]
            if missing:
                raise ValueError(f"{path}: record {n} hit {position - 1} lacks {missing}")
            score = float(hit.get("score", 0.0))
            candidates.append(
                Passage(
                    hit["content"],
                    id=str(hit["docid"]),
                    metadata={"rank": int(hit.get("rank", position)), score_key: score},
                    score=score,
                )
            )
        entries.append((qid, str(record["query"]), candidates))
    return entries


def find_trec_files(folder: str | Path) -> dict[str, Path]:
    """The TREC files of a folder, by role: ``qrels``, ``hits`` or ``run`` (+ ``corpus``), ``topics``.

    Recognized names: ``qrels*`` / ``*.qrels``; ``*.json`` (hits); ``*.run`` /
    ``*.trec`` / ``run*`` (run file); ``corpus.jsonl`` / ``collection.tsv``;
    ``topics*`` / ``queries.tsv`` / ``queries.jsonl``.

    Raises:
        ValueError: A role has no file or several candidate files (all named).
    """
    root = Path(folder)
    files = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))

    lower = {p: p.name.lower() for p in files}
    topics = [
        p for p in files
        if lower[p].startswith("topics") or lower[p] in ("queries.tsv", "queries.jsonl")
    ]  # fmt: skip
    hits = [p for p in files if p.suffix == ".json"]
    runs = [
        p for p in files
        if p.suffix in (".run", ".trec") or (lower[p].startswith("run") and "qrels" not in lower[p])
    ]  # fmt: skip
    if hits and runs:
        raise ValueError(
            f"TREC folder {root}: both hits JSON ({hits[0].name}) and a run file ({runs[0].name})"
        )
    found = {"qrels": _one(root, "qrels", [p for p in files if "qrels" in lower[p]])}
    if runs:
        found["run"] = _one(root, "run", runs)
        corpus = [p for p in files if lower[p] in ("corpus.jsonl", "collection.tsv")]
        found["corpus"] = _one(root, "corpus", corpus)
        found["topics"] = _one(root, "topics", topics)
    else:
        found["hits"] = _one(root, "hits JSON or run", hits)
        if topics:
            found["topics"] = _one(root, "topics", topics)
    return found


def _one(root: Path, role: str, matches: list[Path]) -> Path:
    if len(matches) != 1:
        names = ", ".join(p.name for p in matches)
        problem = f"several {role} files ({names}); keep one" if matches else f"no {role} file"
        raise ValueError(f"TREC folder {root}: {problem}")
    return matches[0]
