"""The reader task: UDCG of each method's context with a reader's utilities, and the reader's EM/F1.

A rerank method decides what the reader gets; this task measures it the way the UDCG
paper does. For every query the method's output is cut to the first ``context``
passages (what the reader reads); a reader LLM gives each of them a utility,
``1 - p(NO-RESPONSE)`` (`AbstentionUtility`); the gold labels say
which are relevant; `udcg` combines the two. When the data has
answers (QA data: ``hotpotqa``, a ``qa`` file), the same reader answers from the context
and its reply is scored by exact match and token F1 (SQuAD normalization). The data
set's own ranking metrics are reported beside them.

Any `ScoringLLM` can be the reader (a local
`TransformersLLM` by default, given by alias, id or path).

Examples:
    >>> from ctx_core.eval.methods import build_method
    >>> evaluator = ReaderUDCGEvaluator("hotpotqa", reader="smollm2", limit=2, context=3)  # doctest: +SKIP
    >>> results = evaluator(build_method("top-k", k=2))  # doctest: +SKIP
    >>> sorted(results["metrics"])[:3]  # doctest: +SKIP
    ['distractor_rate', 'em', 'f1']
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctx_core.eval.datasets import RankingQuery
from ctx_core.eval.metrics import exact_match, mean, token_f1
from ctx_core.eval.rerank_datasets import RerankDataset, get_rerank_dataset
from ctx_core.eval.results import now, provenance
from ctx_core.eval.tasks.rerank import _check_output
from ctx_core.models import DEFAULT_LLM
from ctx_core.progress import progress
from ctx_core.types import Passage
from ctx_core.udcg.metric import udcg
from ctx_core.udcg.utility import AbstentionUtility

__all__ = ["READER_INSTRUCTION", "ReaderUDCGEvaluator", "reader_prompt", "run_reader_udcg_eval"]

logger = logging.getLogger(__name__)

#: What the reader is told before the documents.
READER_INSTRUCTION = (
    "Answer the question using the documents. Reply with a short answer only: a name, "
    "a date, a number or a few words, with no explanation."
)


def reader_prompt(question: str, passages: Sequence[Passage]) -> list[dict[str, str]]:
    """Chat messages asking the reader to answer ``question`` from ``passages``.

    Examples:
        >>> messages = reader_prompt("Who?", [Passage("Ann did.", id="a", metadata={"title": "A"})])
        >>> messages[1]["content"]
        'Document 1: A: Ann did.\\n\\nQuestion: Who?\\nAnswer:'
    """
    documents = "\n\n".join(
        f"Document {i}: {p.metadata['title']}: {p.text}"
        if p.metadata.get("title")
        else f"Document {i}: {p.text}"
        for i, p in enumerate(passages, 1)
    )
    return [
        {"role": "system", "content": READER_INSTRUCTION},
        {"role": "user", "content": f"{documents}\n\nQuestion: {question}\nAnswer:"},
    ]


def _complete_all(llm: Any, prompts: list[list[dict[str, str]]], max_tokens: int) -> list[str]:
    batch = getattr(llm, "complete_batch", None)
    if callable(batch):
        return list(batch(prompts, max_tokens=max_tokens, stop=["\n"]))
    return [llm.complete(p, max_tokens=max_tokens, stop=["\n"]) for p in prompts]


class ReaderUDCGEvaluator:
    """UDCG of a method's context under a reader, and the reader's EM/F1 (see the module docs).

    Args:
        dataset: A rerank data set name (``hotpotqa``, ``dl19``, ...) or a
            `RerankDataset` (your own data through
            `rerank_dataset_from_data`).
        reader: The reader: any `ScoringLLM`, an
            `AbstentionUtility` around one, or a model alias, id or
            path (default SmolLM2).
        context: Passages of the method's output the reader gets (UDCG is over them).
        answer: Let the reader answer and score EM/F1 (``None``: when the data has answers).
        max_tokens: Longest answer.
        relevance_threshold: Grade from which a passage counts as relevant (default: the
            data set's own, else 1).
        limit: Evaluate the first ``limit`` queries.
        data_dir: The data folder of the built-in data sets.
        device: Device of a reader given by name.
        show_progress: Progress bar over the queries.
        command: The command line to record.
        **dataset_options: The data set's loader options (``first_stage``, ``depth``).

    Attributes:
        primary_metric: ``"udcg"``.
    """

    primary_metric = "udcg"

    def __init__(
        self,
        dataset: str | RerankDataset,
        *,
        reader: Any = DEFAULT_LLM,
        context: int = 10,
        answer: bool | None = None,
        max_tokens: int = 24,
        relevance_threshold: int | None = None,
        limit: int | None = None,
        data_dir: str | Path | None = None,
        device: str | None = None,
        show_progress: bool = True,
        command: str | None = None,
        **dataset_options: Any,
    ) -> None:
        if isinstance(context, bool) or not isinstance(context, int) or context < 1:
            raise ValueError(f"context must be a positive int, got {context!r}")
        spec = get_rerank_dataset(dataset) if isinstance(dataset, str) else dataset
        unknown = sorted(set(dataset_options) - set(spec.options))
        if unknown:
            raise ValueError(f"dataset {spec.name!r} does not take option(s) {unknown}")
        if isinstance(reader, AbstentionUtility):
            self.utility = reader
        else:
            if reader is None or isinstance(reader, (str, Path)):
                from ctx_core.llm import TransformersLLM

                reader = TransformersLLM(None if reader is None else str(reader), device=device)
            self.utility = AbstentionUtility(reader)
        self.spec = spec
        self.context = context
        self.answer = answer
        self.max_tokens = max_tokens
        threshold = relevance_threshold
        if threshold is None:
            threshold = int(spec.info.get("relevance_threshold", 1))
        self.relevance_threshold = threshold
        self.limit = limit
        self.data_dir = data_dir
        self.show_progress = show_progress
        self.command = command
        self.dataset_options = dict(dataset_options)
        self._queries: list[RankingQuery] | None = None
        self.load_s = 0.0

    @property
    def reader(self) -> Any:
        """The reader LLM."""
        return self.utility.llm

    @property
    def queries(self) -> list[RankingQuery]:
        """The data set's queries (loaded once)."""
        if self._queries is None:
            started = time.perf_counter()
            self._queries = self.spec.load(self.data_dir, self.limit, **self.dataset_options)
            self.load_s = time.perf_counter() - started
        return self._queries

    def __call__(self, method: Any, *, label: str | None = None) -> dict[str, Any]:
        """Rerank every query with ``method``; UDCG, EM/F1 and the data set's metrics.

        Returns:
            A JSON-ready dict: ``metrics`` (means over queries: ``udcg``, ``em`` and
            ``f1`` when answered, the data set's metrics), ``per_query`` (each query's
            values, kept ids and utilities, the reader's reply), the method's config, the
            reader's settings, ``timing`` and the run's provenance.

        Raises:
            TypeError, ValueError: As the rerank task, for a method's bad output.
        """
        if not callable(getattr(method, "rerank", None)):
            raise TypeError(
                f"method must have rerank(query, candidates), got {type(method).__name__}"
            )
        spec = self.spec
        label = label or getattr(method, "name", None) or type(method).__name__
        started, created = time.perf_counter(), now()
        queries = self.queries
        answer = self.answer
        if answer is None:
            answer = any(q.metadata.get("answers") for q in queries)
        rows: list[dict[str, Any]] = []
        contexts: list[list[Passage]] = []
        rerank_s = utility_s = 0.0
        for query in progress(
            queries, desc=f"{spec.name} {label} utilities", show=self.show_progress, unit="query"
        ):
            t0 = time.perf_counter()
            output = method.rerank(query.query, list(query.candidates))
            rerank_s += time.perf_counter() - t0
            reranked = _check_output(label, query.query_id, query.candidates, output)
            context = reranked[: self.context]
            t0 = time.perf_counter()
            utilities = self.utility.utilities(query.query, context) if context else []
            utility_s += time.perf_counter() - t0
            relevant = [query.qrels.get(p.id, 0) >= self.relevance_threshold for p in context]
            metrics = {"udcg": udcg(utilities, relevant), **spec.metrics(query, reranked)}
            metrics["context_relevant"] = float(sum(relevant))
            rows.append(
                {
                    "query_id": query.query_id,
                    "metrics": metrics,
                    "context": [p.id for p in context],
                    "utilities": [round(float(u), 6) for u in utilities],
                }
            )
            contexts.append(context)
        reader_s = 0.0
        if answer:
            prompts = [reader_prompt(q.query, c) for q, c in zip(queries, contexts, strict=True)]
            t0 = time.perf_counter()
            replies = _complete_all(self.reader, prompts, self.max_tokens)
            reader_s = time.perf_counter() - t0
            for row, query, reply in zip(rows, queries, replies, strict=True):
                given: Any = query.metadata.get("answers") or []
                answers = [str(a) for a in given]
                row["reply"] = reply
                row["metrics"]["em"] = exact_match(reply, answers) if answers else 0.0
                row["metrics"]["f1"] = token_f1(reply, answers) if answers else 0.0
        names = list(rows[0]["metrics"]) if rows else ["udcg"]
        summary = {name: mean(r["metrics"][name] for r in rows) for name in names}
        config = method.config() if callable(getattr(method, "config", None)) else {"name": label}
        headline = ["udcg", *(["em", "f1"] if answer else []), *spec.headline]
        return {
            "kind": "udcg",
            "dataset": spec.name,
            "dataset_description": spec.description,
            "dataset_info": dict(spec.info),
            "dataset_options": dict(self.dataset_options),
            "limit": self.limit,
            "num_queries": len(rows),
            "method": label,
            "method_config": config,
            "reader": {
                "model": self.utility.model_name,
                "abstain_token": self.utility.abstain_token,
                "max_passage_tokens": self.utility.max_passage_tokens,
                "answers": bool(answer),
                "max_tokens": self.max_tokens,
            },
            "context": self.context,
            "relevance_threshold": self.relevance_threshold,
            "metrics": summary,
            "headline": headline,
            "timing": {
                "load_s": round(self.load_s, 3),
                "rerank_s": round(rerank_s, 3),
                "utility_s": round(utility_s, 3),
                "reader_s": round(reader_s, 3),
                "ms_per_query": round(1000 * rerank_s / max(len(rows), 1), 2),
            },
            "wall_time_s": round(time.perf_counter() - started, 3),
            **spec.provenance,
            **provenance(self.command, created),
            "per_query": rows,
        }


def run_reader_udcg_eval(
    dataset: str | RerankDataset, method: Any, *, label: str | None = None, **options: Any
) -> dict[str, Any]:
    """``ReaderUDCGEvaluator(dataset, **options)(method, label=label)``: one method, one call."""
    return ReaderUDCGEvaluator(dataset, **options)(method, label=label)
