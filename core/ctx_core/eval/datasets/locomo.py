"""LoCoMo: very long multi-session conversations with QA pairs that cite their evidence turns."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from ctx_core.eval.datasets.paths import data_file
from ctx_core.eval.datasets.records import Conversation, LoCoMoQA, Session, Turn

__all__ = ["LOCOMO_FOLDER", "load_locomo", "normalize_evidence"]

logger = logging.getLogger(__name__)

#: Folder of the LoCoMo file inside the data folder.
LOCOMO_FOLDER = "locomo"

_SESSION = re.compile(r"^session_(\d+)$")
_SPLIT_ID = re.compile(r"^D:(\d+):(\d+)$")


def normalize_evidence(evidence: list[str]) -> list[str]:
    """Clean the few malformed evidence ids of the data set.

    ``"D8:6; D9:17"`` (two ids in one string) is split; ``"D:11:26"`` becomes
    ``"D11:26"``. Everything else is kept as it is, also ids that point at no turn.

    Examples:
        >>> normalize_evidence(["D1:3", "D8:6; D9:17", "D:11:26"])
        ['D1:3', 'D8:6', 'D9:17', 'D11:26']
    """
    result: list[str] = []
    for item in evidence:
        for part in str(item).split(";"):
            part = part.strip()
            if not part:
                continue
            match = _SPLIT_ID.match(part)
            result.append(f"D{match.group(1)}:{match.group(2)}" if match else part)
    return result


def load_locomo(data_dir: str | Path | None = None) -> list[Conversation]:
    """The LoCoMo conversations (7 here), each with its sessions, turns and QA pairs.

    Sessions are ordered by number; a session date without turns in the data is skipped.
    Answers that are numbers become strings; category-5 (adversarial) questions have no
    answer in the data: their ``answer`` is ``""`` and the data's wrong-but-tempting answer
    is kept in ``adversarial_answer``. Evidence ids are cleaned with
    :func:`normalize_evidence`; ids that still match no turn are kept and logged.
    """
    path = data_file(data_dir, LOCOMO_FOLDER, "locomo7.json")
    records = json.loads(path.read_text(encoding="utf-8"))
    return [_conversation(record) for record in records]


def _conversation(record: dict[str, Any]) -> Conversation:
    conv = record["conversation"]
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
        evidence = normalize_evidence(list(item.get("evidence") or []))
        unknown = [e for e in evidence if e not in known]
        if unknown:
            logger.info(
                "%s: evidence %s of %r matches no turn",
                record["sample_id"],
                unknown,
                item["question"],
            )
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
    return Conversation(str(record["sample_id"]), sessions, qa, speakers)
