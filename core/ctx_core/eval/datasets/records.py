"""Plain records the loaders return: queries with candidates, QA examples, collections, dialogs."""

from __future__ import annotations

from dataclasses import dataclass, field

from ctx_core.types import Passage

__all__ = [
    "Conversation",
    "IRCollection",
    "LoCoMoQA",
    "QAExample",
    "RankingQuery",
    "Session",
    "Turn",
]


@dataclass
class RankingQuery:
    """One query with the candidates to rerank and its relevance judgements.

    Attributes:
        query_id: The query's id in the data set.
        query: The query text.
        candidates: The first-stage candidates, in first-stage order (best first).
        qrels: Graded relevance by passage id for every judged passage, including judged
            passages that are not among the candidates; a missing id counts as 0.
        metadata: Anything else worth keeping (e.g. the first stage's name).
    """

    query_id: str
    query: str
    candidates: list[Passage]
    qrels: dict[str, int]
    metadata: dict[str, object] = field(default_factory=dict)


@dataclass
class QAExample:
    """A question with the paragraphs a reader gets, its answers and the supporting paragraphs.

    Attributes:
        id: The question's id.
        question: The question text.
        passages: The paragraphs in data-set order; each keeps its title in
            ``metadata["title"]`` and ``metadata["is_supporting"]`` (bool).
        answers: Acceptable answers (any one counts).
        supporting_ids: Ids of the passages needed to answer.
    """

    id: str
    question: str
    passages: list[Passage]
    answers: list[str]
    supporting_ids: list[str]


@dataclass
class IRCollection:
    """A classic test collection: documents, queries and graded relevance judgements.

    Attributes:
        name: The collection's name (``"cranfield"``, ``"cacm"``, a folder's name, ...).
        documents: Every document, in collection order.
        queries: Query text by query id.
        qrels: Relevance by query id, then document id (queries without judgements are absent).
        info: How the files were read (e.g. the qrels layout detected).
    """

    name: str
    documents: list[Passage]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    info: dict[str, object] = field(default_factory=dict)


@dataclass
class Turn:
    """One utterance of a LoCoMo dialog.

    Attributes:
        dia_id: The dialog id the QA evidence points at, e.g. ``"D1:3"``.
        speaker: Who speaks.
        text: What they say.
        image_caption: The caption of an image shared with the turn, if any.
    """

    dia_id: str
    speaker: str
    text: str
    image_caption: str | None = None


@dataclass
class Session:
    """One LoCoMo session: the turns of one sitting and when it took place.

    Attributes:
        session_id: ``"session_1"``, ``"session_2"``, ...
        date: The date and time as written in the data, e.g. ``"1:56 pm on 8 May, 2023"``.
        turns: The turns, in order.
        summary: The data set's summary of the session, when it has one.
    """

    session_id: str
    date: str
    turns: list[Turn]
    summary: str | None = None


@dataclass
class LoCoMoQA:
    """A question about a LoCoMo conversation.

    Attributes:
        question: The question.
        answer: The answer as a string (numbers are converted); ``""`` for the adversarial
            category-5 questions, which have no answer in the conversation.
        category: 1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop, 5 adversarial
            (the data set's numbering).
        evidence: Dialog ids of the turns that support the answer.
        adversarial_answer: For category 5, the tempting but wrong answer the data gives.
    """

    question: str
    answer: str
    category: int
    evidence: list[str]
    adversarial_answer: str | None = None


@dataclass
class Conversation:
    """A very long multi-session LoCoMo conversation and its QA pairs.

    Attributes:
        conversation_id: The sample id, e.g. ``"conv-26"``.
        sessions: Sessions in chronological (numeric) order.
        qa: Questions about the conversation.
        speakers: The two speakers' names.
    """

    conversation_id: str
    sessions: list[Session]
    qa: list[LoCoMoQA]
    speakers: tuple[str, str] = ("", "")

    @property
    def turns(self) -> list[Turn]:
        """Every turn of every session, in order."""
        return [turn for session in self.sessions for turn in session.turns]
