"""HotpotQA dev (distractor setting): 250 questions, 10 paragraphs each, 2 of them supporting."""

from __future__ import annotations

from pathlib import Path

from ctx_core.eval.datasets.paths import data_file
from ctx_core.eval.datasets.qa import load_qa_jsonl
from ctx_core.eval.datasets.records import QAExample, RankingQuery
from ctx_core.eval.datasets.trec_dl import _check_limit

__all__ = ["HOTPOTQA_FOLDER", "hotpotqa_as_ranking", "load_hotpotqa"]

#: Folder of the HotpotQA file inside the data folder.
HOTPOTQA_FOLDER = "hotpotqa-dev250-distractor"


def load_hotpotqa(data_dir: str | Path | None = None, limit: int | None = None) -> list[QAExample]:
    """HotpotQA dev questions with their 10 paragraphs (supporting and distractors).

    Paragraph ids are ``"<question id>-<paragraph id>"``, unique across the data set.
    The text is the paragraph exactly as in the file; ``metadata`` holds ``title``,
    ``is_supporting`` (bool), ``position`` (0-based place in the file's order) and
    ``question_id``. Paragraphs stay in the file's order, where the supporting ones
    sit at no particular place.

    Args:
        data_dir: The data folder (see [`resolve_data_dir`][ctx_core.eval.datasets.paths.resolve_data_dir]).
        limit: Keep only the first ``limit`` questions.

    A preset of `ctx_core.eval.datasets.qa.load_qa_jsonl` on the data folder's file.
    """
    _check_limit(limit)
    return load_qa_jsonl(data_file(data_dir, HOTPOTQA_FOLDER, "dev250.jsonl"), limit=limit)


def hotpotqa_as_ranking(examples: list[QAExample]) -> list[RankingQuery]:
    """HotpotQA examples as ranking queries: the paragraphs are the candidates (file order).

    Every paragraph is judged: supporting ones get relevance 1, distractors 0.

    Examples:
        >>> from ctx_core import Passage
        >>> ex = QAExample("q", "Who?", [Passage("a", id="q-0"), Passage("b", id="q-1")], ["x"], ["q-1"])
        >>> hotpotqa_as_ranking([ex])[0].qrels
        {'q-0': 0, 'q-1': 1}
    """
    queries = []
    for example in examples:
        supporting = set(example.supporting_ids)
        queries.append(
            RankingQuery(
                query_id=example.id,
                query=example.question,
                candidates=list(example.passages),
                qrels={p.id: int(p.id in supporting) for p in example.passages},
                metadata={"answers": list(example.answers), "first_stage": "data-set order"},
            )
        )
    return queries
