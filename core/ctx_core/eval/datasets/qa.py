"""Multi-document QA in JSON Lines: a question, its answers and paragraphs flagged supporting.

One JSON object per line. The field names of the common layouts are all read:

| what | field names read (first found) |
|---|---|
| id | ``id``, ``_id``, ``question_id``, ``qid`` (default: the line number) |
| question | ``question``, ``question_text``, ``query`` |
| answers | ``answers`` (strings, or ``{"spans": [...]}``), ``answers_objects``, ``answer`` |
| paragraphs | ``paragraphs``, ``contexts``, ``ctxs``, ``passages``, or HotpotQA's ``context`` (``[title, sentences]`` pairs) |
| paragraph text | ``text``, ``paragraph_text``, ``content``, ``passage`` |
| paragraph id | ``id``, ``_id``, ``idx`` (default: its position) |
| supporting | ``is_supporting``, ``supporting``, ``isgold``, ``is_gold``, ``gold`` (HotpotQA's ``supporting_facts`` for ``context``) |

That covers HotpotQA (the original release and the ``contexts`` layout of dev250), NQ
with distractors (lost-in-the-middle ``ctxs`` with ``isgold``), and hand-written files.
A paragraph without a supporting flag is an error unless ``support_field`` names one
(``hasanswer`` for example) or the record lists ``supporting_ids``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ctx_core.eval.datasets.issues import DataIssues
from ctx_core.eval.datasets.records import QAExample
from ctx_core.types import Passage

__all__ = ["load_qa_jsonl"]

_ID = ("id", "_id", "question_id", "qid")
_QUESTION = ("question", "question_text", "query")
_PARAGRAPHS = ("paragraphs", "contexts", "ctxs", "passages")
_TEXT = ("text", "paragraph_text", "content", "passage")
_PARAGRAPH_ID = ("id", "_id", "idx")
_SUPPORT = ("is_supporting", "supporting", "isgold", "is_gold", "gold")


def _first(record: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in record and record[name] is not None:
            return record[name]
    return None


def _answers(record: dict[str, Any]) -> list[str]:
    value = _first(record, ("answers", "answers_objects", "answer"))
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    answers: list[str] = []
    for item in items:
        if isinstance(item, dict):
            answers.extend(str(span) for span in item.get("spans", []))
        else:
            answers.append(str(item))
    return answers


def load_qa_jsonl(
    path: str | Path,
    *,
    limit: int | None = None,
    support_field: str | None = None,
    issues: DataIssues | None = None,
) -> list[QAExample]:
    """Questions with their paragraphs from a JSON Lines file (layouts: see the module docs).

    Paragraph ids are ``"<question id>-<paragraph id>"``, unique across the file; the text
    is kept as written; metadata holds ``title`` (when there is one), ``is_supporting``
    (bool), ``position`` (0-based) and ``question_id``.

    Args:
        path: The ``.jsonl`` file.
        limit: Keep the first ``limit`` questions.
        support_field: The paragraph field that flags supporting paragraphs, when it is
            none of the usual names.
        issues: Where problems are counted: questions without a supporting paragraph,
            without answers, duplicate question ids.

    Raises:
        ValueError: Not JSON, no question or no paragraphs, a paragraph without text or
            supporting flag (file and line named).

    Examples:
        >>> import json, tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "qa.jsonl"
        >>> record = {"id": "q1", "question": "Who?", "answers": ["Ann"],
        ...           "paragraphs": [{"title": "A", "text": "Ann did.", "is_supporting": True},
        ...                          {"title": "B", "text": "Bob slept.", "is_supporting": False}]}
        >>> _ = path.write_text(json.dumps(record) + "\\n")
        >>> [example] = load_qa_jsonl(path)
        >>> example.supporting_ids, example.answers
        (['q1-0'], ['Ann'])
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    path = Path(path)
    issues = issues if issues is not None else DataIssues(str(path))
    examples: list[QAExample] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if limit is not None and len(examples) >= limit:
                break
            if not line.strip():
                continue
            where = f"{path} line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}: not valid JSON ({err.msg})") from err
            if not isinstance(record, dict):
                raise ValueError(f"{where}: expected a JSON object")
            question = _first(record, _QUESTION)
            if not isinstance(question, str) or not question.strip():
                raise ValueError(f"{where}: no question (fields {', '.join(_QUESTION)})")
            qid = str(_first(record, _ID) if _first(record, _ID) is not None else number)
            if qid in seen:
                issues.add("duplicate_question_id", f"{qid!r} ({where})")
                qid = f"{qid}@{number}"
            seen.add(qid)
            paragraphs = _paragraphs(record, where, support_field)
            passages = [
                Passage(
                    text,
                    id=f"{qid}-{pid}",
                    metadata={
                        **({"title": title} if title else {}),
                        "is_supporting": supporting,
                        "position": position,
                        "question_id": qid,
                    },
                )
                for position, (pid, title, text, supporting) in enumerate(paragraphs)
            ]
            if len({p.id for p in passages}) != len(passages):
                raise ValueError(f"{where}: two paragraphs share an id")
            supporting_ids = [p.id for p in passages if p.metadata["is_supporting"]]
            if not supporting_ids:
                issues.add("question_without_supporting_paragraph", f"{qid!r} ({where})")
            answers = _answers(record)
            if not answers:
                issues.add("question_without_answers", f"{qid!r} ({where})")
            examples.append(QAExample(qid, question, passages, answers, supporting_ids))
    return examples


def _paragraphs(
    record: dict[str, Any], where: str, support_field: str | None
) -> list[tuple[str, str, str, bool]]:
    """``(id, title, text, supporting)`` per paragraph, in the record's order."""
    items = _first(record, _PARAGRAPHS)
    if items is None and isinstance(record.get("context"), list):
        # HotpotQA's original layout: [title, [sentences]] pairs and supporting_facts.
        facts = {str(f[0]) for f in record.get("supporting_facts") or []}
        out = []
        for position, pair in enumerate(record["context"]):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ValueError(f"{where}: context item {position} is not [title, sentences]")
            title, sentences = str(pair[0]), pair[1]
            text = "".join(sentences) if isinstance(sentences, list) else str(sentences)
            out.append((str(position), title, text, title in facts))
        return out
    if not isinstance(items, list) or not items:
        raise ValueError(f"{where}: no paragraphs (fields {', '.join(_PARAGRAPHS)} or context)")
    listed = {str(i) for i in record.get("supporting_ids") or []}
    out = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{where}: paragraph {position} is not a JSON object")
        text = _first(item, _TEXT)
        if not isinstance(text, str):
            raise ValueError(
                f"{where}: paragraph {position} has no text (fields {', '.join(_TEXT)})"
            )
        raw_id = _first(item, _PARAGRAPH_ID)
        pid = str(raw_id) if raw_id is not None else str(position)
        names = (support_field,) if support_field else _SUPPORT
        flag = _first(item, names)
        if flag is None and listed:
            flag = pid in listed
        if flag is None:
            raise ValueError(
                f"{where}: paragraph {position} has no supporting flag (fields "
                f"{', '.join(names)}; or list supporting_ids in the record)"
            )
        out.append((pid, str(item.get("title") or ""), text, bool(flag)))
    return out
