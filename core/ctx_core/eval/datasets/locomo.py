"""LoCoMo: very long multi-session conversations with QA pairs that cite their evidence turns."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from ctx_core.eval.datasets.issues import DataIssues
from ctx_core.eval.datasets.paths import data_file
from ctx_core.eval.datasets.records import Conversation, LoCoMoQA, Session, Turn

__all__ = ["LOCOMO_FOLDER", "load_locomo", "normalize_evidence"]

logger = logging.getLogger(__name__)

#: Folder of the LoCoMo file inside the data folder.
LOCOMO_FOLDER = "locomo"

_SESSION = re.compile(r"^session_(\d+)$")
_SPLIT_ID = re.compile(r"^D:(\d+):(\d+)$")
_DIA_ID = re.compile(r"^[Dd](\d+):(\d+)$")
_SEPARATORS = re.compile(r"[;,\s]+")


def normalize_evidence(evidence: list[str], issues: DataIssues | None = None) -> list[str]:
    """Clean the malformed evidence ids LoCoMo-format files hold, counting each repair.

    Unambiguous repairs only: several ids in one string (``"D8:6; D9:17"``,
    ``"D9:1 D4:4"``) are split; ``"D:11:26"`` becomes ``"D11:26"``; leading zeros go
    (``"D30:05"`` -> ``"D30:5"``). Anything else is kept as it is (and counted as
    ``evidence_malformed`` in ``issues``).

    Examples:
        >>> normalize_evidence(["D1:3", "D8:6; D9:17", "D:11:26", "D9:1 D4:4", "D30:05"])
        ['D1:3', 'D8:6', 'D9:17', 'D11:26', 'D9:1', 'D4:4', 'D30:5']
    """
    result: list[str] = []
    for item in evidence:
        parts = [p for p in _SEPARATORS.split(str(item).strip()) if p]
        if len(parts) > 1 and issues is not None:
            issues.add("evidence_list_split", f"{item!r} -> {parts}")
        for part in parts:
            match = _SPLIT_ID.match(part) or _DIA_ID.match(part)
            if not match:
                if issues is not None:
                    issues.add("evidence_malformed", repr(part))
                result.append(part)
                continue
            clean = f"D{int(match.group(1))}:{int(match.group(2))}"
            if clean != part and issues is not None:
                issues.add("evidence_normalized", f"{part!r} -> {clean!r}")
            result.append(clean)
    return result


def load_locomo(
    data_dir: str | Path | None = None,
    *,
    path: str | Path | None = None,
    issues: DataIssues | None = None,
) -> list[Conversation]:
    """LoCoMo-format conversations, each with its sessions, turns and QA pairs.

    Without ``path``, the data folder's ``locomo/locomo7.json`` (7 conversations).
    Sessions are ordered by number; a session date without turns in the data is skipped.
    Answers that are numbers become strings; category-5 (adversarial) questions have no
    answer in the data: their ``answer`` is ``""`` and the data's wrong-but-tempting answer
    is kept in ``adversarial_answer``. Evidence ids are cleaned with
    [`normalize_evidence`][ctx_core.eval.datasets.locomo.normalize_evidence]; every repair, and every id that still matches no turn
    (kept as it is), is counted in ``issues`` and logged as one warning per kind.

    Args:
        data_dir: The data folder (see [`resolve_data_dir`][ctx_core.eval.datasets.paths.resolve_data_dir]).
        path: A LoCoMo-format JSON file (a list of ``{"sample_id", "conversation",
            "qa"}`` records, or one record), or a folder holding exactly one ``.json`` file.
        issues: Where the data's problems are counted (default: a fresh counter, logged).

    Raises:
        ValueError: Not JSON, or a record without ``conversation`` / ``qa``.
    """
    if path is None:
        file = data_file(data_dir, LOCOMO_FOLDER, "locomo7.json")
    else:
        file = Path(path)
        if file.is_dir():
            found = sorted(file.glob("*.json"))
            if len(found) != 1:
                raise ValueError(
                    f"LoCoMo folder {file}: expected one .json file, found {len(found)}"
                )
            file = found[0]
    own = issues is None
    issues = issues if issues is not None else DataIssues(str(file))
    try:
        records = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{file}: not valid JSON ({err.msg}, line {err.lineno})") from err
    records = [records] if isinstance(records, dict) else records
    for n, record in enumerate(records):
        if not isinstance(record, dict) or "conversation" not in record or "qa" not in record:
            raise ValueError(f"{file}: record {n} has no 'conversation' and 'qa'")
    conversations = [_conversation(record, issues, n) for n, record in enumerate(records)]
    if own:
        issues.log()
    return conversations


def _conversation(record: dict[str, Any], issues: DataIssues, n: int) -> Conversation:
    conv = record["conversation"]
    sample_id = str(record.get("sample_id", f"conversation-{n}"))
    summaries = record.get("session_summary") or {}
    numbers = sorted(
        int(m.group(1))
        for key, value in conv.items()
        if (m := _SESSION.match(key)) and isinstance(value, list)
    )
    sessions = []
    for n in numbers:
        turns = [
            Turn(
                dia_id=str(t["dia_id"]),
                speaker=str(t["speaker"]),
                text=str(t["text"]),
                image_caption=t.get("blip_caption"),
            )
            for t in conv[f"session_{n}"]
        ]
        sessions.append(
            Session(
                session_id=f"session_{n}",
                date=str(conv.get(f"session_{n}_date_time", "")),
                turns=turns,
                summary=summaries.get(f"session_{n}_summary"),
            )
        )
    known = {t.dia_id for s in sessions for t in s.turns}
    qa = []
    for item in record["qa"]:
        evidence = normalize_evidence(list(item.get("evidence") or []), issues)
        for missing in (e for e in evidence if e not in known):
            issues.add("evidence_matches_no_turn", f"{sample_id}: {missing!r}")
        answer = item.get("answer")
        adversarial = item.get("adversarial_answer")
        qa.append(
            LoCoMoQA(
                question=str(item["question"]),
                answer="" if answer is None else str(answer),
                category=int(item["category"]),
                evidence=evidence,
                adversarial_answer=None if adversarial is None else str(adversarial),
            )
        )
    speakers = (str(conv.get("speaker_a", "")), str(conv.get("speaker_b", "")))
    return Conversation(sample_id, sessions, qa, speakers)
