"""Your own data, in a standard format, from a path: what ``ctx eval ... --data PATH`` reads.

| format | what ``PATH`` is | loads as |
|---|---|---|
| ``beir`` | folder with ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv`` | collection |
| ``trec`` | folder with a hits JSON or a run file (+ ``corpus.jsonl`` / ``collection.tsv``), TREC qrels, topics | ranking |
| ``smart`` | folder with a SMART documents file, a SMART queries file and qrels (SMART or TREC layout, detected) | collection |
| ``qa`` | a ``.jsonl`` file of questions with paragraphs flagged supporting | qa |
| ``locomo`` | a LoCoMo-format ``.json`` file (or a folder holding one) | conversations |

`detect_format` tells them apart (``--format`` overrides it); `load_data`
returns a `LoadedData` that holds the records, the problems found
(`DataIssues`) and the data's provenance
(`data_fingerprint`: path and content hash), which every result file records.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctx_core.eval.datasets.beir import is_beir_folder, load_beir
from ctx_core.eval.datasets.issues import DataIssues
from ctx_core.eval.datasets.locomo import load_locomo
from ctx_core.eval.datasets.qa import load_qa_jsonl
from ctx_core.eval.datasets.records import Conversation, IRCollection, QAExample, RankingQuery
from ctx_core.eval.datasets.smart import load_smart
from ctx_core.eval.datasets.trec import find_trec_files, load_trec

__all__ = [
    "FORMATS",
    "LoadedData",
    "data_fingerprint",
    "describe",
    "detect_format",
    "load_data",
]

#: The formats `load_data` reads.
FORMATS = ("beir", "trec", "smart", "qa", "locomo")

#: What each format loads as.
KINDS = {
    "beir": "collection",
    "smart": "collection",
    "trec": "ranking",
    "qa": "qa",
    "locomo": "conversations",
}


@dataclass
class LoadedData:
    """Records loaded from a path, with the problems found and where they came from.

    Attributes:
        name: A short name for tables and file names (the folder's or file's name).
        format: One of `FORMATS`.
        kind: ``"collection"``, ``"ranking"``, ``"qa"`` or ``"conversations"``.
        records: An `IRCollection`, a list of
            `RankingQuery`, of
            `QAExample` or of
            `Conversation`, by ``kind``.
        issues: Problems found while loading (counted, see ``DataIssues``).
        source: Path, format and content hash (`data_fingerprint`).
    """

    name: str
    format: str
    kind: str
    records: Any
    issues: DataIssues
    source: dict[str, Any] = field(default_factory=dict)

    def provenance(self) -> dict[str, Any]:
        """What a result file records: ``data`` (path, format, hash) and ``data_issues``."""
        return {"data": dict(self.source), "data_issues": self.issues.to_dict()}


def _first_line(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.strip():
                    return line.strip()
    except OSError:
        return ""
    return ""


def _smart_files(folder: Path) -> dict[str, Path]:
    """Documents, queries and qrels of a SMART folder (the larger ``.I`` file is the documents)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    smart = [p for p in files if _first_line(p).startswith(".I")]
    if len(smart) != 2:
        names = ", ".join(p.name for p in smart) or "none"
        raise ValueError(
            f"SMART folder {folder}: expected two SMART files (documents and queries, each "
            f"starting with '.I'), found {len(smart)} ({names})"
        )
    documents, queries = sorted(smart, key=lambda p: p.stat().st_size, reverse=True)
    rest = [p for p in files if p not in smart and _looks_like_qrels(_first_line(p))]
    if len(rest) != 1:
        names = ", ".join(p.name for p in rest) or "none"
        raise ValueError(
            f"SMART folder {folder}: expected one qrels file (lines of 2-4 fields), found {names}"
        )
    return {"documents": documents, "queries": queries, "qrels": rest[0]}


def _looks_like_qrels(line: str) -> bool:
    fields = line.split()
    return 2 <= len(fields) <= 4 and fields[0].isdigit()


def detect_format(path: str | Path) -> str:
    """The format of ``path`` (one of `FORMATS`), told from its files.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: No format fits (the formats and their layouts are named).
    """
    target = Path(path)
    if not target.exists():
        raise FileNotFoundError(f"--data {path}: no such file or folder")
    if target.is_file():
        if target.suffix == ".jsonl":
            return "qa"
        if target.suffix == ".json":
            return "locomo"
    elif is_beir_folder(target):
        return "beir"
    else:
        names = [p.name.lower() for p in target.iterdir() if p.is_file()]
        if any("qrels" in n for n in names) and any(
            n.endswith((".json", ".run", ".trec")) or n.startswith("run") for n in names
        ):
            return "trec"
        smart = [p for p in target.iterdir() if p.is_file() and _first_line(p).startswith(".I")]
        if len(smart) >= 2:
            return "smart"
        jsons = [n for n in names if n.endswith(".json")]
        if len(jsons) == 1:
            return "locomo"
    raise ValueError(
        f"cannot tell the format of {path}; pass --format: beir (corpus.jsonl, queries.jsonl, "
        "qrels/), trec (hits JSON or run file, qrels, topics), smart (.I files and qrels), "
        "qa (a .jsonl of questions with paragraphs), locomo (a LoCoMo .json)"
    )


def data_fingerprint(path: str | Path) -> dict[str, Any]:
    """``path`` (absolute), its files' count and bytes, and a SHA-256 of their names and content.

    The hash covers every file under a folder (sorted by relative path, hidden files
    excepted), so two runs on the same data show the same hash.

    Examples:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "a.txt").write_text("x")
        >>> info = data_fingerprint(folder)
        >>> info["files"], info["bytes"], len(info["sha256"])
        (1, 1, 64)
    """
    root = Path(path).resolve()
    if root.is_file():
        files = [root]
    else:
        files = sorted(
            p
            for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
    digest = hashlib.sha256()
    total = 0
    for file in files:
        digest.update((file.relative_to(root).as_posix() if file != root else file.name).encode())
        digest.update(b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                total += len(block)
        digest.update(b"\0")
    return {"path": str(root), "files": len(files), "bytes": total, "sha256": digest.hexdigest()}


def load_data(
    path: str | Path,
    format: str | None = None,
    *,
    split: str = "test",
    qrels_format: str = "auto",
    limit: int | None = None,
) -> LoadedData:
    """Load your own data from ``path`` in one of `FORMATS` (detected when ``None``).

    Args:
        path: The file or folder.
        format: One of `FORMATS`; ``None`` detects it (`detect_format`).
        split: BEIR: which ``qrels/<split>.tsv``.
        qrels_format: SMART: ``auto``, ``smart``, ``trec`` or ``pairs`` (see
            `read_judgements`).
        limit: TREC and QA: keep the first ``limit`` queries (collections are limited
            when they become ranking queries).

    Returns:
        The records with their problems and provenance; the problems are also logged,
        one warning per kind.

    Raises:
        ValueError: Unknown format, a layout that does not fit it, malformed content
            (file and line named).

    Examples:
        >>> import json, tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "mine.jsonl"
        >>> _ = path.write_text(json.dumps({"question": "Who?", "answers": ["Ann"],
        ...     "paragraphs": [{"text": "Ann did.", "is_supporting": True}]}) + "\\n")
        >>> data = load_data(path)
        >>> data.format, data.kind, len(data.records)
        ('qa', 'qa', 1)
    """
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    target = Path(path)
    if not target.exists():
        raise FileNotFoundError(f"--data {path}: no such file or folder")
    issues = DataIssues(str(target))
    records: IRCollection | list[RankingQuery] | list[QAExample] | list[Conversation]
    info: dict[str, Any] = {}
    if fmt == "beir":
        records = load_beir(target, split=split, issues=issues)
        info = dict(records.info)
    elif fmt == "smart":
        files = _smart_files(_folder(target, fmt))
        records = load_smart(
            files["documents"], files["queries"], files["qrels"], qrels_format=qrels_format,
            name=target.name, issues=issues,
        )  # fmt: skip
        info = {**records.info, **{k: p.name for k, p in files.items()}}
    elif fmt == "trec":
        files = find_trec_files(_folder(target, fmt))
        records = load_trec(**files, limit=limit, issues=issues)  # type: ignore[arg-type]
        info = {k: p.name for k, p in files.items()}
    elif fmt == "qa":
        if not target.is_file():
            raise ValueError(f"--data {path}: the qa format is a .jsonl file")
        records = load_qa_jsonl(target, limit=limit, issues=issues)
    else:
        records = load_locomo(path=target, issues=issues)
    issues.log()
    name = target.stem if target.is_file() else target.name
    source = {"format": fmt, **data_fingerprint(target), **({"read": info} if info else {})}
    return LoadedData(name, fmt, KINDS[fmt], records, issues, source)


def _folder(path: Path, fmt: str) -> Path:
    if not path.is_dir():
        raise ValueError(f"--data {path}: the {fmt} format is a folder")
    return path


def describe(data: LoadedData) -> str:
    """One line: name, format, counts and the number of problems."""
    records = data.records
    if isinstance(records, IRCollection):
        size = f"{len(records.documents)} documents, {len(records.qrels)} judged queries"
    else:
        noun = {"ranking": "queries", "qa": "questions"}.get(data.kind, data.kind)
        size = f"{len(records)} {noun}"
    problems = sum(v["count"] for v in data.issues.to_dict().values())
    return f"{data.name} ({data.format}): {size}; {problems} data issue(s)" + (
        "" if not problems else f" ({', '.join(data.issues.to_dict())})"
    )
