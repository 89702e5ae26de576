"""Cranfield and CACM: classic test collections in SMART format (``.I``/``.T``/``.W`` ...).

SMART files hold records that start with ``.I <number>`` followed by fields, each opened
by a line holding only a dot and a capital letter (``.T`` title, ``.W`` text, ``.A``
authors, ``.B`` bibliography, ``.K`` keywords, ``.C`` categories, ``.N`` entry note,
``.X`` citation links).
"""

from __future__ import annotations

import re
from pathlib import Path

from ctx_core.eval.datasets.paths import data_file
from ctx_core.eval.datasets.records import IRCollection
from ctx_core.types import Passage

__all__ = [
    "CRANFIELD_GAINS",
    "GLASGOW_FOLDER",
    "load_cacm",
    "load_cranfield",
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
    :data:`CRANFIELD_GAINS` (complete answer 4 ... minimum interest 1; "no interest" 0).

    Raises:
        ValueError: A qrels line is malformed or has an unknown relevance code.
    """
    docs_path = data_file(data_dir, GLASGOW_FOLDER, "cran", "cran.all.1400")
    queries_path = data_file(data_dir, GLASGOW_FOLDER, "cran", "cran.qry")
    qrels_path = data_file(data_dir, GLASGOW_FOLDER, "cran", "cranqrel")
    documents = [
        Passage(fields.get("W", ""), id=str(int(rid)), metadata=_metadata(fields))
        for rid, fields in read_smart(docs_path)
    ]
    queries = {
        str(position): " ".join(fields.get("W", "").split())
        for position, (_, fields) in enumerate(read_smart(queries_path), start=1)
    }
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 3:
                raise ValueError(f"{qrels_path} line {number}: expected 3 fields")
            qid, docid, code = parts[0], parts[1], int(parts[2])
            if code not in CRANFIELD_GAINS:
                raise ValueError(f"{qrels_path} line {number}: unknown relevance code {code}")
            qrels.setdefault(str(int(qid)), {})[str(int(docid))] = CRANFIELD_GAINS[code]
    return IRCollection("cranfield", documents, queries, qrels)


def load_cacm(data_dir: str | Path | None = None) -> IRCollection:
    """The CACM collection: 3,204 Communications of the ACM records, 64 queries, 52 judged.

    Document ids are the ``.I`` numbers; the text is the title, then the abstract when
    there is one (1,587 records have one); authors, bibliography (issue and date),
    keywords, categories and the entry note go to metadata. The ``.X`` citation links are
    not loaded. Queries keep their ``.I`` numbers (``"1"`` ... ``"64"``); relevance is
    binary (1).
    """
    docs_path = data_file(data_dir, GLASGOW_FOLDER, "cacm", "cacm.all")
    queries_path = data_file(data_dir, GLASGOW_FOLDER, "cacm", "query.text")
    qrels_path = data_file(data_dir, GLASGOW_FOLDER, "cacm", "qrels.text")
    documents = []
    for rid, fields in read_smart(docs_path):
        text = fields.get("T", "")
        if fields.get("W"):
            text = f"{text}\n{fields['W']}" if text else fields["W"]
        documents.append(Passage(text, id=str(int(rid)), metadata=_metadata(fields)))
    queries = {
        str(int(rid)): " ".join(fields.get("W", "").split())
        for rid, fields in read_smart(queries_path)
    }
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 4:
                raise ValueError(f"{qrels_path} line {number}: expected 4 fields")
            qrels.setdefault(str(int(parts[0])), {})[str(int(parts[1]))] = 1
    return IRCollection("cacm", documents, queries, qrels)
