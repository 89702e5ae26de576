"""The lost-in-the-middle sets: NQ-open with its gold passage, and synthetic key-value retrieval."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from ctx_core.eval.datasets.paths import data_file
from ctx_core.eval.datasets.records import QAExample
from ctx_core.eval.datasets.trec_dl import _check_limit
from ctx_core.types import Passage

__all__ = ["LOST_IN_THE_MIDDLE_FOLDER", "load_kv_retrieval", "load_nq_oracle"]

#: Folder of the lost-in-the-middle files inside the data folder.
LOST_IN_THE_MIDDLE_FOLDER = "lost-in-the-middle"


def _read_jsonl_gz(path: Path, limit: int | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if limit is not None and len(rows) >= limit:
                break
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} line {number}: not valid JSON ({err.msg})") from err
    return rows


def load_nq_oracle(data_dir: str | Path | None = None, limit: int | None = None) -> list[QAExample]:
    """NQ-open questions (2,655) each with its gold Wikipedia passage (the "oracle" setting).

    Question ids are ``"nq-<line number, 0-based>"`` and passage ids ``"nq-<n>-<k>"``.
    Passage metadata holds ``title``, ``is_supporting`` and the data's ``isgold`` and
    ``hasanswer`` flags; gold passages are the supporting ones.

    Args:
        data_dir: The data folder (see [`resolve_data_dir`][ctx_core.eval.datasets.paths.resolve_data_dir]).
        limit: Keep only the first ``limit`` questions.
    """
    _check_limit(limit)
    path = data_file(data_dir, LOST_IN_THE_MIDDLE_FOLDER, "nq-open-oracle.jsonl.gz")
    examples = []
    for n, row in enumerate(_read_jsonl_gz(path, limit)):
        qid = f"nq-{n}"
        passages = [
            Passage(
                ctx["text"],
                id=f"{qid}-{k}",
                metadata={
                    "title": ctx.get("title", ""),
                    "is_supporting": bool(ctx.get("isgold", False)),
                    "isgold": bool(ctx.get("isgold", False)),
                    "hasanswer": bool(ctx.get("hasanswer", False)),
                },
            )
            for k, ctx in enumerate(row["ctxs"])
        ]
        examples.append(
            QAExample(
                id=qid,
                question=row["question"],
                passages=passages,
                answers=[str(a) for a in row["answers"]],
                supporting_ids=[p.id for p in passages if p.metadata["is_supporting"]],
            )
        )
    return examples


def load_kv_retrieval(
    data_dir: str | Path | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """The key-value retrieval prompts (500), as the raw records of the file.

    Each record has ``ordered_kv_records`` (75 ``[key, value]`` UUID pairs), the ``key``
    asked for and its ``value``.
    """
    _check_limit(limit)
    path = data_file(data_dir, LOST_IN_THE_MIDDLE_FOLDER, "kv-retrieval-75_keys.jsonl.gz")
    return _read_jsonl_gz(path, limit)
