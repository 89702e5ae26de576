"""BEIR-format collections: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.

The layout every BEIR data set (and many others: MTEB retrieval sets, the outputs of
``beir.datasets.data_loader``) ships::

    corpus.jsonl     {"_id": "d1", "title": "...", "text": "...", "metadata": {...}}
    queries.jsonl    {"_id": "q1", "text": "..."}
    qrels/test.tsv   query-id<TAB>corpus-id<TAB>score   (a header line first)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ctx_core.eval.datasets.issues import DataIssues
from ctx_core.eval.datasets.records import IRCollection
from ctx_core.types import Passage

__all__ = ["is_beir_folder", "load_beir"]


def is_beir_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder with ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/``."""
    folder = Path(path)
    return (
        (folder / "corpus.jsonl").is_file()
        and (folder / "queries.jsonl").is_file()
        and (folder / "qrels").is_dir()
    )


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} line {number}: not valid JSON ({err.msg})") from err
            if not isinstance(record, dict):
                raise ValueError(f"{path} line {number}: expected a JSON object")
            yield number, record


def _id(path: Path, number: int, record: dict[str, Any]) -> str:
    value = record.get("_id", record.get("id"))
    if value is None or str(value) == "":
        raise ValueError(f"{path} line {number}: no '_id'")
    return str(value)


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.rstrip("\n").split("\t")
            if not line.strip():
                continue
            if number == 1 and fields[0].strip().lower() in ("query-id", "query_id", "qid"):
                continue  # the header line
            if len(fields) != 3:
                raise ValueError(
                    f"{path} line {number}: expected 'query-id<TAB>corpus-id<TAB>score', "
                    f"got {len(fields)} field(s)"
                )
            qid, docid, score = (f.strip() for f in fields)
            try:
                qrels.setdefault(qid, {})[docid] = int(float(score))
            except ValueError as err:
                raise ValueError(f"{path} line {number}: score {score!r} is not a number") from err
    return qrels


def load_beir(
    path: str | Path, *, split: str = "test", issues: DataIssues | None = None
) -> IRCollection:
    """A BEIR-format folder as an `IRCollection`.

    Documents keep their ``_id`` and their text as written; ``title`` (when not empty)
    and the record's ``metadata`` go to the passage's metadata. Only the queries judged
    in ``qrels/<split>.tsv`` matter for evaluation; all are loaded.

    Args:
        path: The folder.
        split: Which ``qrels/<split>.tsv`` to read (``test``, ``dev``, ``train``).
        issues: Where problems are counted: judgements on documents or queries the
            folder does not hold, duplicate ids.

    Raises:
        FileNotFoundError: A file is missing (named, with the splits there are).
        ValueError: A malformed line (file and line named).

    Examples:
        >>> import json, tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "title": "T", "text": "x"}) + "\\n")
        >>> _ = (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "y?"}) + "\\n")
        >>> (folder / "qrels").mkdir()
        >>> _ = (folder / "qrels" / "test.tsv").write_text("query-id\\tcorpus-id\\tscore\\nq1\\td1\\t1\\n")
        >>> collection = load_beir(folder)
        >>> collection.qrels, collection.documents[0].metadata
        ({'q1': {'d1': 1}}, {'title': 'T'})
    """
    folder = Path(path)
    issues = issues if issues is not None else DataIssues(str(folder))
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for needed in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not needed.is_file():
            splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
            hint = (
                f" (qrels splits there: {', '.join(splits) or 'none'})"
                if needed == qrels_path
                else ""
            )
            raise FileNotFoundError(f"BEIR folder {folder}: {needed.name} not found{hint}")
    documents: list[Passage] = []
    seen: set[str] = set()
    corpus = folder / "corpus.jsonl"
    for number, record in _jsonl(corpus):
        doc_id = _id(corpus, number, record)
        if doc_id in seen:
            issues.add("duplicate_document_id", f"{doc_id!r} ({corpus.name} line {number})")
            continue
        seen.add(doc_id)
        metadata: dict[str, Any] = dict(record.get("metadata") or {})
        if record.get("title"):
            metadata["title"] = str(record["title"])
        documents.append(Passage(str(record.get("text", "")), id=doc_id, metadata=metadata))
    queries: dict[str, str] = {}
    queries_path = folder / "queries.jsonl"
    for number, record in _jsonl(queries_path):
        queries[_id(queries_path, number, record)] = str(record.get("text", ""))
    qrels = _read_qrels(qrels_path)
    for qid, row in qrels.items():
        if qid not in queries:
            issues.add("judged_query_not_in_queries", f"query {qid!r} of {qrels_path.name}")
        unknown = [d for d in row if d not in seen]
        if unknown:
            issues.add(
                "judged_document_not_in_collection", f"query {qid!r}: {unknown[:3]}", len(unknown)
            )
    return IRCollection(folder.name, documents, queries, qrels, {"split": split})
