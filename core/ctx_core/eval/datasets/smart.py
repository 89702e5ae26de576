"""Cranfield and CACM: classic test collections in SMART format (``.I``/``.T``/``.W`` ...).

SMART files hold records that start with ``.I <number>`` followed by fields, each opened
by a line holding only a dot and a capital letter (``.T`` title, ``.W`` text, ``.A``
authors, ``.B`` bibliography, ``.K`` keywords, ``.C`` categories, ``.N`` entry note,
``.X`` citation links).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from ctx_core.eval.datasets.issues import DataIssues
from ctx_core.eval.datasets.paths import data_file
from ctx_core.eval.datasets.records import IRCollection
from ctx_core.types import Passage

__all__ = [
    "CRANFIELD_GAINS",
    "GLASGOW_FOLDER",
    "load_cacm",
    "load_cranfield",
    "load_smart",
    "read_judgements",
    "read_smart",
]

#: Folder of the Glasgow test collections inside the data folder.
GLASGOW_FOLDER = "glasgow-ir"

#: Cranfield relevance codes (Cleverdon's scale, 1 = complete answer ... 4 = minimum
#: interest, per the collection's ``cranqrel.readme``) mapped to nDCG gains, so that a
#: higher gain means more relevant. Code -1 ("no interest") is kept as judged, gain 0.
CRANFIELD_GAINS = {1: 4, 2: 3, 3: 2, 4: 1, -1: 0}

_FIELD = re.compile(r"^\.([A-Z])\s*$")
_ID = re.compile(r"^\.I\s+(\S+)\s*$")
# Metadata keys for the SMART fields kept besides the text.
_METADATA_FIELDS = {
    "T": "title",
    "A": "authors",
    "B": "bibliography",
    "K": "keywords",
    "C": "categories",
    "N": "entry",
}


def read_smart(path: str | Path) -> list[tuple[str, dict[str, str]]]:
    """Parse a SMART file into ``(record id, {field letter: text})`` pairs, in file order.

    Field text keeps its line breaks; leading and trailing blank space is stripped.

    Raises:
        ValueError: Text appears before the first ``.I`` line or outside a field (the
            line number is named).
    """
    records: list[tuple[str, dict[str, list[str]]]] = []
    current: dict[str, list[str]] | None = None
    field: str | None = None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\n")
            match = _ID.match(line)
            if match:
                current = {}
                records.append((match.group(1), current))
                field = None
                continue
            match = _FIELD.match(line)
            if match:
                if current is None:
                    raise ValueError(f"{path} line {number}: field before the first .I line")
                field = match.group(1)
                current.setdefault(field, [])
                continue
            if current is None or field is None:
                if line.strip():
                    raise ValueError(f"{path} line {number}: text outside a field")
                continue
            current[field].append(line)
    return [(rid, {k: "\n".join(v).strip() for k, v in fields.items()}) for rid, fields in records]


def _metadata(fields: dict[str, str]) -> dict[str, object]:
    return {name: fields[letter] for letter, name in _METADATA_FIELDS.items() if letter in fields}


def load_cranfield(data_dir: str | Path | None = None) -> IRCollection:
    """The Cranfield collection: 1,400 aerodynamics abstracts, 225 queries, graded qrels.

    Document ids are the ``.I`` numbers (``"1"`` ... ``"1400"``); the text is the ``.W``
    field (which repeats the title); title, authors and bibliography go to metadata.
    Documents 471 and 995 have empty text in the source and are kept as they are.
    Query ids are ``"1"`` ... ``"225"`` in file order: the qrels number queries that way,
    not by the ``.I`` numbers of ``cran.qry``. Relevance codes become gains through
    `CRANFIELD_GAINS` (complete answer 4 ... minimum interest 1; "no interest" 0).

    Raises:
        ValueError: A qrels line is malformed or has an unknown relevance code.
    """
    return load_smart(
        data_file(data_dir, GLASGOW_FOLDER, "cran", "cran.all.1400"),
        data_file(data_dir, GLASGOW_FOLDER, "cran", "cran.qry"),
        data_file(data_dir, GLASGOW_FOLDER, "cran", "cranqrel"),
        qrels_format="pairs",
        query_ids="position",
        gains=CRANFIELD_GAINS,
        title="skip",
        name="cranfield",
    )


def load_cacm(data_dir: str | Path | None = None) -> IRCollection:
    """The CACM collection: 3,204 Communications of the ACM records, 64 queries, 52 judged.

    Document ids are the ``.I`` numbers; the text is the title, then the abstract when
    there is one (1,587 records have one); authors, bibliography (issue and date),
    keywords, categories and the entry note go to metadata. The ``.X`` citation links are
    not loaded. Queries keep their ``.I`` numbers (``"1"`` ... ``"64"``); relevance is
    binary (1). The qrels go through [`read_judgements`][ctx_core.eval.datasets.smart.read_judgements] (format detected).
    """
    return load_smart(
        data_file(data_dir, GLASGOW_FOLDER, "cacm", "cacm.all"),
        data_file(data_dir, GLASGOW_FOLDER, "cacm", "query.text"),
        data_file(data_dir, GLASGOW_FOLDER, "cacm", "qrels.text"),
        name="cacm",
        query_ids="id",
        title="prepend",
    )


def _norm_id(value: str) -> str:
    # SMART files number records with leading zeros in places ("001"); "1" names the same one.
    return str(int(value)) if value.isdigit() else value


def _detect_qrels_format(path: Path, rows: list[tuple[int, list[str]]]) -> str:
    width = len(rows[0][1])
    for number, fields in rows:
        if len(fields) != width:
            raise ValueError(
                f"{path} line {number}: {len(fields)} fields, {width} on the lines before"
            )
    if width in (2, 3):
        return "pairs"
    if width != 4:
        raise ValueError(
            f"{path} line {rows[0][0]}: expected 2-4 fields (SMART 'qid docid [rel]' or "
            f"'qid docid 0 0', TREC 'qid iteration docid rel'), got {width}"
        )
    smart = all(f[2] == "0" and f[3] == "0" for _, f in rows)
    trec = len({f[1] for _, f in rows}) == 1 and all(f[3].lstrip("-").isdigit() for _, f in rows)
    if smart and trec:
        raise ValueError(
            f"{path}: cannot tell SMART ('qid docid 0 0') from TREC ('qid 0 docid rel') qrels; "
            "pass qrels_format='smart' or 'trec' (--qrels-format)"
        )
    if smart:
        return "smart"
    if trec:
        return "trec"
    bad = next(n for n, f in rows if not (f[2] == "0" and f[3] == "0"))
    raise ValueError(
        f"{path} line {bad}: neither SMART ('qid docid 0 0') nor TREC ('qid 0 docid rel', "
        "the same iteration on every line) qrels; pass qrels_format= (--qrels-format)"
    )


def read_judgements(
    path: str | Path, qrels_format: str = "auto"
) -> tuple[dict[str, dict[str, int]], str]:
    r"""Read relevance judgements in any of the layouts classic collections ship.

    * ``"smart"``: ``qid docid 0 0`` (CACM, CISI), relevance 1;
    * ``"trec"``: ``qid iteration docid relevance`` (MED, TREC);
    * ``"pairs"``: ``qid docid`` (relevance 1) or ``qid docid relevance``;
    * ``"auto"``: told apart by the fields (every line must agree); a file where
      both four-field readings fit (every line ``q 0 0 0``) is an error asking for
      the format.

    Numeric ids lose leading zeros (``"001"`` is ``"1"``), as the ``.I`` ids do.

    Returns:
        ``(qrels by query id then document id, the format read)``.

    Raises:
        ValueError: A line does not fit the format (file and line named), or the
            format is unknown or cannot be told.

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "MED.REL"
        >>> _ = path.write_text("1 0 13 1\n1 0 14 1\n2 0 80 1\n")
        >>> read_judgements(path)
        ({'1': {'13': 1, '14': 1}, '2': {'80': 1}}, 'trec')
    """
    if qrels_format not in ("auto", "smart", "trec", "pairs"):
        raise ValueError(f"qrels_format must be auto, smart, trec or pairs, got {qrels_format!r}")
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        rows = [(n, line.split()) for n, line in enumerate(handle, start=1) if line.strip()]
    if not rows:
        raise ValueError(f"{path}: no judgements")
    chosen = _detect_qrels_format(path, rows) if qrels_format == "auto" else qrels_format
    qrels: dict[str, dict[str, int]] = {}
    for number, fields in rows:
        if chosen == "smart" and len(fields) == 4:
            qid, docid, rel = fields[0], fields[1], "1"
        elif chosen == "trec" and len(fields) == 4:
            qid, docid, rel = fields[0], fields[2], fields[3]
        elif chosen == "pairs" and len(fields) in (2, 3):
            qid, docid, rel = fields[0], fields[1], fields[2] if len(fields) == 3 else "1"
        else:
            raise ValueError(
                f"{path} line {number}: {len(fields)} fields do not fit {chosen} qrels"
            )
        try:
            grade = int(rel)
        except ValueError as err:
            raise ValueError(f"{path} line {number}: relevance {rel!r} is not an int") from err
        qrels.setdefault(_norm_id(qid), {})[_norm_id(docid)] = grade
    return qrels, chosen


def load_smart(
    documents: str | Path,
    queries: str | Path,
    qrels: str | Path,
    *,
    qrels_format: str = "auto",
    query_ids: str = "auto",
    name: str | None = None,
    gains: Mapping[int, int] | None = None,
    title: Literal["once", "prepend", "skip"] = "once",
    issues: DataIssues | None = None,
) -> IRCollection:
    """A test collection in SMART format (MED, CISI, CACM, Cranfield, NPL, ...) from its files.

    Document ids are the ``.I`` numbers; the text is the ``.T`` title then the ``.W``
    text (see ``title``); other fields go to
    metadata. Query text is the ``.W`` field.

    Args:
        documents: The documents file (``MED.ALL``, ``cacm.all``, ...).
        queries: The queries file (``MED.QRY``, ...).
        qrels: The judgements, in SMART or TREC layout (see [`read_judgements`][ctx_core.eval.datasets.smart.read_judgements]).
        qrels_format: ``"auto"`` (detected), ``"smart"``, ``"trec"`` or ``"pairs"``.
        query_ids: How the judgements name queries: ``"id"`` (the ``.I`` numbers),
            ``"position"`` (1, 2, ... in file order, as Cranfield's do) or ``"auto"``
            (``id`` unless only positions match every judged query; counted as an issue).
        name: The collection's name (default: the documents file's stem, lower case).
        gains: Maps the file's relevance codes to gains (Cranfield's codes run the other
            way: `CRANFIELD_GAINS`); a code missing from it is an error. Without it
            the codes are the gains, and negative codes are counted as issues.
        title: Where the ``.T`` title goes: ``"once"`` before the ``.W`` text unless the
            text already starts with it, ``"prepend"`` always, ``"skip"`` nowhere (the
            ``.W`` text only); a record without ``.W`` is its title in every mode but
            ``"skip"``.
        issues: Where problems are counted: judgements on documents the collection does
            not hold, judged queries missing from the queries file, negative grades.

    Raises:
        ValueError: Unparseable judgements (file and line named), unknown options.
    """
    if title not in ("once", "prepend", "skip"):
        raise ValueError(f"title must be once, prepend or skip, got {title!r}")
    if query_ids not in ("auto", "id", "position"):
        raise ValueError(f"query_ids must be auto, id or position, got {query_ids!r}")
    issues = issues if issues is not None else DataIssues(str(documents))
    docs = []
    for rid, fields in read_smart(documents):
        head, body = fields.get("T", "") if title != "skip" else "", fields.get("W", "")
        repeated = " ".join(body.split()).startswith(" ".join(head.split()))
        if head and body and (title == "prepend" or not repeated):
            text = f"{head}\n{body}"
        else:
            text = body or head
        docs.append(Passage(text, id=_norm_id(rid), metadata=_metadata(fields)))
    records = read_smart(queries)
    by_id = {_norm_id(rid): " ".join(f.get("W", "").split()) for rid, f in records}
    by_position = {str(n): " ".join(f.get("W", "").split()) for n, (_, f) in enumerate(records, 1)}
    judged, fmt = read_judgements(qrels, qrels_format)
    if query_ids == "auto":
        query_ids = "id"
        if not set(judged) <= set(by_id) and set(judged) <= set(by_position):
            query_ids = "position"
            issues.add("query_ids_by_position", f"{qrels} numbers queries by position in {queries}")
    texts = by_id if query_ids == "id" else by_position
    if gains is not None:
        for qid, row in judged.items():
            for docid, code in row.items():
                if code not in gains:
                    raise ValueError(
                        f"{qrels}: query {qid} document {docid}: unknown relevance code {code} "
                        f"(gains know {sorted(gains)})"
                    )
                row[docid] = gains[code]
    known = {d.id for d in docs}
    for qid, row in judged.items():
        negative = [d for d, g in row.items() if g < 0]
        if negative:
            issues.add("negative_relevance", f"query {qid!r}: {negative[:3]}", len(negative))
        if qid not in texts:
            issues.add("judged_query_not_in_queries", f"query {qid!r} of {qrels}")
        unknown = [d for d in row if d not in known]
        if unknown:
            issues.add(
                "judged_document_not_in_collection",
                f"query {qid!r}: {unknown[:3]}",
                count=len(unknown),
            )
    info: dict[str, object] = {"qrels_format": fmt, "query_ids": query_ids}
    return IRCollection(name or Path(documents).stem.lower(), docs, texts, judged, info)
