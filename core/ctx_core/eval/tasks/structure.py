"""The structure task: what structurization does to retrieval and to reading.

Two evaluators, each built from a data set and options and called with the variants to
compare, ``{variant: structurizer}``: ``original`` (``None``: the texts as they are,
the base every other variant is compared with), ``heuristic``
([`HeuristicStructurizer`][ctx_core.structure.heuristic.HeuristicStructurizer]) and ``llm``
([`LLMStructurizer`][ctx_core.structure.llm.LLMStructurizer], falling back to the heuristic where the
LLM's answer is unusable). [`run_retrieval_eval`][ctx_core.eval.tasks.structure.run_retrieval_eval] and [`run_reader_eval`][ctx_core.eval.tasks.structure.run_reader_eval] build
the variants by name and call them.

* [`RetrievalEvaluator`][ctx_core.eval.tasks.structure.RetrievalEvaluator] (primary metric ``ndcg@10``): dense retrieval (all-MiniLM-L6-v2 by default) over
  Cranfield or CACM, documents in the retrieval form (``{scope}.`` then
  ``**aspect**: sentences``). Following the paper, only documents of at least
  ``min_words`` words are structurized; shorter ones stay as they are. With
  ``pool_depth`` the ranking is over a pool (the judged relevant documents plus the top
  ``pool_depth`` original-text hits of each query) instead of the whole collection,
  which keeps an LLM structurizer affordable.
* [`ReaderEvaluator`][ctx_core.eval.tasks.structure.ReaderEvaluator] (primary metric ``f1``): HotpotQA (dev250, distractor setting) answered by a reader
  LLM (SmolLM2-135M by default) from the ten paragraphs, each given as it is or in the
  reading form (``This passage talks about {scope}:`` and numbered aspects). Exact match
  and token F1 with SQuAD normalization.

Both return JSON-ready dicts with the metrics per variant, per-query values, how each
text was structurized (LLM, fallback, repairs), the configuration, timings, the
environment and the command; ``ctx eval structure`` writes them to
``benchmarks/results/structure/``.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ctx_core.eval.datasets import IRCollection, load_cacm, load_cranfield, load_hotpotqa
from ctx_core.eval.datasets.formats import LoadedData
from ctx_core.eval.metrics import (
    exact_match,
    mean,
    mrr_at_k,
    ndcg_at_k,
    paired_bootstrap,
    recall_at_k,
    token_f1,
)
from ctx_core.eval.results import now, provenance
from ctx_core.models import DEFAULT_LLM
from ctx_core.progress import progress
from ctx_core.structure.base import BaseStructurizer
from ctx_core.structure.heuristic import HeuristicStructurizer
from ctx_core.structure.llm import LLMStructurizer
from ctx_core.structure.render import render

__all__ = [
    "VARIANTS",
    "ReaderEvaluator",
    "RetrievalEvaluator",
    "build_structurizer",
    "differences_from_original",
    "run_reader_eval",
    "run_retrieval_eval",
    "structurize_texts",
]

logger = logging.getLogger(__name__)

VARIANTS = ("original", "heuristic", "llm")

READER_PROMPT = (
    "Question: {question}\n\nPassages:\n{context}\n\nQuestion: {question}\nShort answer:"
)


def build_structurizer(
    variant: str, *, embedder: Any | None = None, llm: Any = DEFAULT_LLM, batch_size: int = 8
) -> BaseStructurizer | None:
    """The structurizer of a variant (``None`` for ``original``)."""
    if variant == "original":
        return None
    heuristic = HeuristicStructurizer(embedder)
    if variant == "heuristic":
        return heuristic
    if variant == "llm":
        return LLMStructurizer(llm, fallback=heuristic, batch_size=batch_size)
    raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")


def structurize_texts(
    structurizer: BaseStructurizer | None,
    texts: Sequence[str],
    *,
    format: str,
    min_words: int = 0,
    show_progress: bool = False,
) -> tuple[list[str], dict[str, Any]]:
    """Render ``texts`` structurized (texts under ``min_words`` words are left as they are).

    Returns:
        The new texts and statistics: how many were structurized, by which structurizer
        (``llm``, ``heuristic`` after a fallback, ...), the repairs and fallback reasons.
    """
    if structurizer is None:
        return list(texts), {"structurized": 0}
    chosen = [i for i, t in enumerate(texts) if t.strip() and len(t.split()) >= min_words]
    started = time.perf_counter()
    structures = structurizer.structurize_many(
        [texts[i] for i in chosen], show_progress=show_progress
    )
    seconds = time.perf_counter() - started
    result = list(texts)
    by: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    repaired = 0
    aspects = []
    for i, structure in zip(chosen, structures, strict=True):
        result[i] = render(structure, format)
        by[str(structure.metadata.get("structurizer"))] += 1
        repaired += bool(structure.metadata.get("repairs"))
        aspects.append(len(structure.aspects))
        for fallback in structure.metadata.get("fallbacks", []):
            reasons[re.sub(r"\d+", "N", str(fallback["reason"]))] += 1
    stats = {
        "structurized": len(chosen),
        "left_as_is": len(texts) - len(chosen),
        "by_structurizer": dict(by),
        "with_repairs": repaired,
        "fallback_reasons": dict(reasons.most_common()),
        "mean_aspects": round(mean(aspects), 3) if aspects else 0.0,
        "seconds": round(seconds, 2),
    }
    return result, stats


Structurizers = Mapping[str, BaseStructurizer | None]


class RetrievalEvaluator:
    """Dense retrieval over original vs structurized documents (see the module docs).

    Args:
        dataset: ``"cranfield"``, ``"cacm"``, an
            [`IRCollection`][ctx_core.eval.datasets.records.IRCollection] or your own collection loaded by
            `ctx_core.eval.datasets.formats.load_data` (BEIR or SMART format).
        embedder: An [`Embedder`][ctx_core.embeddings.Embedder] (default: packaged MiniLM).
        min_words: Structurize only documents with at least this many words.
        limit: Evaluate only the first ``limit`` judged queries.
        pool_depth: Rank within a pool (relevant documents plus this many original-text
            hits per query) instead of the whole collection.
        data_dir: The data folder.
        show_progress: Progress bars.
        command: The command line to record (default: this process's arguments).

    Examples:
        >>> evaluator = RetrievalEvaluator("cranfield", limit=5)
        >>> evaluator.primary_metric
        'ndcg@10'
        >>> results = evaluator({"original": None, "heuristic": HeuristicStructurizer()})  # doctest: +SKIP
    """

    primary_metric = "ndcg@10"

    def __init__(
        self,
        dataset: str | IRCollection | LoadedData,
        *,
        embedder: Any | None = None,
        min_words: int = 50,
        limit: int | None = None,
        pool_depth: int | None = None,
        data_dir: str | Path | None = None,
        show_progress: bool = True,
        command: str | None = None,
    ) -> None:
        loaders = {"cranfield": load_cranfield, "cacm": load_cacm}
        self.provenance: dict[str, Any] = {}
        if isinstance(dataset, LoadedData):
            if dataset.kind != "collection":
                raise ValueError(
                    f"retrieval needs a collection (beir or smart data), got {dataset.format} data"
                )
            self.provenance = dataset.provenance()
            dataset = dataset.records
        if isinstance(dataset, IRCollection):
            collection = dataset
            self.dataset = collection.name
            self._load: Callable[[Any], IRCollection] = lambda _: collection
        elif dataset in loaders:
            self.dataset = str(dataset)
            self._load = loaders[str(dataset)]
        else:
            raise ValueError(
                f"dataset must be one of {sorted(loaders)}, an IRCollection or loaded data, "
                f"got {dataset!r}"
            )
        self._embedder = embedder
        self.min_words = min_words
        self.limit = limit
        self.pool_depth = pool_depth
        self.data_dir = data_dir
        self.show_progress = show_progress
        self.command = command

    @property
    def embedder(self) -> Any:
        """The retrieval embedder (share it with a heuristic structurizer)."""
        if self._embedder is None:
            from ctx_core.embeddings import Embedder

            self._embedder = Embedder()  # a progress bar for long batches only
        return self._embedder

    def __call__(self, structurizers: Structurizers) -> dict[str, Any]:
        """Retrieve with every variant's documents; metrics, differences from ``original``.

        Args:
            structurizers: ``{variant: structurizer}``, variants among `VARIANTS`
                (``original`` maps to ``None``).

        Returns:
            A JSON-ready dict: metrics and structurization statistics per variant,
            ``differences`` from ``original`` with bootstrap intervals, per-query
            values, the configuration, timing and the run's provenance.
        """
        variants = list(structurizers)
        _check_variants(variants)
        llm = structurizers.get("llm")
        llm_name = str(getattr(llm, "model_name", type(llm).__name__)) if llm else None
        started = time.perf_counter()
        created = now()
        collection = self._load(self.data_dir)
        embedder = self.embedder
        query_ids = [q for q in collection.queries if collection.qrels.get(q)]
        if self.limit is not None:
            query_ids = query_ids[: self.limit]
        query_vectors = np.stack([embedder.embed_query(collection.queries[q]) for q in query_ids])
        documents = collection.documents
        original = [d.text for d in documents]
        original_vectors = embedder.embed(original)
        if self.pool_depth is not None:
            pool: set[int] = set()
            index = {d.id: i for i, d in enumerate(documents)}
            scores = query_vectors @ original_vectors.T
            for row, qid in enumerate(query_ids):
                pool.update(int(i) for i in np.argsort(-scores[row])[: self.pool_depth])
                pool.update(index[d] for d in collection.qrels[qid] if d in index)
            keep = sorted(pool)
            documents = [documents[i] for i in keep]
            original = [original[i] for i in keep]
            original_vectors = original_vectors[keep]
        ids = [d.id for d in documents]
        results: dict[str, Any] = {}
        per_query: dict[str, list[dict[str, Any]]] = {}
        for variant, structurizer in structurizers.items():
            texts, stats = structurize_texts(
                structurizer, original, format="retrieval", min_words=self.min_words,
                show_progress=self.show_progress,
            )  # fmt: skip
            vectors = original_vectors if structurizer is None else embedder.embed(texts)
            stats["truncated_by_embedder"] = _truncated(embedder, texts)
            stats["mean_words"] = round(mean(len(t.split()) for t in texts), 2)
            scores = query_vectors @ vectors.T
            rows: list[dict[str, Any]] = []
            for row, qid in enumerate(query_ids):
                order = np.argsort(-scores[row], kind="stable")[:100]
                ranked = [ids[i] for i in order]
                qrels = collection.qrels[qid]
                rows.append(
                    {
                        "query_id": qid,
                        "ndcg@10": ndcg_at_k(ranked, qrels, 10),
                        "mrr@10": mrr_at_k(ranked, qrels, 10),
                        "recall@100": recall_at_k(ranked, qrels, 100),
                        "top10": ranked[:10],
                    }
                )
            per_query[variant] = rows
            results[variant] = {
                "metrics": {
                    name: mean(r[name] for r in rows)
                    for name in ("ndcg@10", "mrr@10", "recall@100")
                },
                "structurization": stats,
            }
            logger.info("%s %s: %s", self.dataset, variant, results[variant]["metrics"])
        return {
            "kind": "structure-retrieval",
            "dataset": self.dataset,
            "variants": variants,
            "num_queries": len(query_ids),
            "num_documents": len(documents),
            "config": {
                "embedder": getattr(embedder, "model_name", type(embedder).__name__),
                "format": "retrieval",
                "min_words": self.min_words,
                "limit": self.limit,
                "pool_depth": self.pool_depth,
                "llm": llm_name,
                "ranking": "whole collection" if self.pool_depth is None else "pool",
            },
            "results": results,
            "differences": differences_from_original(
                per_query, ("ndcg@10", "mrr@10", "recall@100")
            ),
            "per_query": per_query,
            "wall_time_s": round(time.perf_counter() - started, 2),
            **self.provenance,
            **provenance(self.command, created),
        }


def run_retrieval_eval(
    dataset: str | IRCollection | LoadedData,
    variants: Sequence[str] = ("original", "heuristic"),
    *,
    embedder: Any | None = None,
    llm: Any = DEFAULT_LLM,
    min_words: int = 50,
    limit: int | None = None,
    pool_depth: int | None = None,
    batch_size: int = 8,
    data_dir: str | Path | None = None,
    show_progress: bool = True,
    command: str | None = None,
) -> dict[str, Any]:
    """[`RetrievalEvaluator`][ctx_core.eval.tasks.structure.RetrievalEvaluator] called with the named variants' structurizers.

    Args:
        dataset: ``"cranfield"``, ``"cacm"``, an
            [`IRCollection`][ctx_core.eval.datasets.records.IRCollection] or your own collection loaded by
            `ctx_core.eval.datasets.formats.load_data` (BEIR or SMART format).
        variants: Any of `VARIANTS`.
        embedder: An [`Embedder`][ctx_core.embeddings.Embedder] (default: packaged MiniLM),
            shared by retrieval and the heuristic structurizer.
        llm: The LLM of the ``llm`` variant (a core LLM or a model name).
        min_words: Structurize only documents with at least this many words.
        limit: Evaluate only the first ``limit`` judged queries.
        pool_depth: Rank within a pool (relevant documents plus this many original-text
            hits per query) instead of the whole collection.
        batch_size: Prompts per LLM batch (``llm`` variant).
        data_dir: The data folder.
        show_progress: Progress bars.
        command: The command line to record (default: this process's arguments).
    """
    evaluator = RetrievalEvaluator(
        dataset,
        embedder=embedder,
        min_words=min_words,
        limit=limit,
        pool_depth=pool_depth,
        data_dir=data_dir,
        show_progress=show_progress,
        command=command,
    )
    _check_variants(variants)
    return evaluator(
        {
            v: build_structurizer(v, embedder=evaluator.embedder, llm=llm, batch_size=batch_size)
            for v in variants
        }
    )


class ReaderEvaluator:
    """HotpotQA reader EM/F1 with original vs structurized paragraphs (see the module docs).

    Args:
        reader: The reader: a core LLM with ``complete_batch`` or a model name for
            [`TransformersLLM`][ctx_core.llm.transformers_llm.TransformersLLM].
        limit: Questions to evaluate (the first ones of dev250).
        max_new_tokens: Longest answer.
        batch_size: Questions per reader batch.
        data_dir: The data folder.
        show_progress: Progress bars.
        command: The command line to record (default: this process's arguments).
        data: Your own QA data (a ``qa`` file through
            `ctx_core.eval.datasets.formats.load_data`) instead of HotpotQA dev250.
    """

    primary_metric = "f1"

    def __init__(
        self,
        *,
        reader: Any = DEFAULT_LLM,
        limit: int | None = 100,
        max_new_tokens: int = 16,
        batch_size: int = 4,
        data_dir: str | Path | None = None,
        show_progress: bool = True,
        command: str | None = None,
        data: LoadedData | None = None,
    ) -> None:
        if data is not None and data.kind != "qa":
            raise ValueError(f"reading needs QA data (a qa .jsonl), got {data.format} data")
        if isinstance(reader, str):
            from ctx_core.llm import TransformersLLM

            reader = TransformersLLM(reader, batch_size=batch_size)
        self.data = data
        self.reader = reader
        self.limit = limit
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.data_dir = data_dir
        self.show_progress = show_progress
        self.command = command

    def __call__(self, structurizers: Structurizers) -> dict[str, Any]:
        """Answer every question with every variant's paragraphs; EM/F1 per variant.

        Args:
            structurizers: ``{variant: structurizer}``, variants among `VARIANTS`
                (``original`` maps to ``None``).

        Returns:
            A JSON-ready dict: metrics, structurization statistics and reading time per
            variant, ``differences`` from ``original``, per-question values (prediction,
            raw reply, answers, prompt tokens), the configuration and the run's provenance.
        """
        variants = list(structurizers)
        _check_variants(variants)
        reader, batch_size = self.reader, self.batch_size
        llm = structurizers.get("llm")
        llm_name = str(getattr(llm, "model_name", type(llm).__name__)) if llm else None
        started = time.perf_counter()
        created = now()
        if self.data is not None:
            examples = list(self.data.records[: self.limit] if self.limit else self.data.records)
        else:
            examples = load_hotpotqa(self.data_dir, limit=self.limit)
        paragraphs = [p for ex in examples for p in ex.passages]
        results: dict[str, Any] = {}
        per_query: dict[str, list[dict[str, Any]]] = {}
        for variant, structurizer in structurizers.items():
            texts, stats = structurize_texts(
                structurizer, [p.text for p in paragraphs], format="reading",
                show_progress=self.show_progress,
            )  # fmt: skip
            rendered = dict(zip((p.id for p in paragraphs), texts, strict=True))
            prompts = [
                READER_PROMPT.format(
                    context="\n\n".join(
                        f"{p.metadata['title']}\n{rendered[p.id]}" for p in ex.passages
                    ),
                    question=ex.question,
                )
                for ex in examples
            ]
            t0 = time.perf_counter()
            replies: list[str] = []
            groups = [prompts[i : i + batch_size] for i in range(0, len(prompts), batch_size)]
            for group in progress(groups, desc=f"reading ({variant})", show=self.show_progress):
                replies.extend(reader.complete_batch(group, max_tokens=self.max_new_tokens))
            read_s = time.perf_counter() - t0
            rows: list[dict[str, Any]] = []
            for ex, prompt, reply in zip(examples, prompts, replies, strict=True):
                answer = clean_answer(reply)
                rows.append(
                    {
                        "query_id": ex.id,
                        "em": exact_match(answer, ex.answers),
                        "f1": token_f1(answer, ex.answers),
                        "prediction": answer,
                        "raw": reply,
                        "answers": ex.answers,
                        "prompt_tokens": _count(reader, prompt),
                    }
                )
            per_query[variant] = rows
            results[variant] = {
                "metrics": {
                    "em": mean(r["em"] for r in rows),
                    "f1": mean(r["f1"] for r in rows),
                    "mean_prompt_tokens": mean(r["prompt_tokens"] for r in rows),
                },
                "structurization": stats,
                "read_s": round(read_s, 2),
            }
            logger.info("hotpotqa %s: %s", variant, results[variant]["metrics"])
        return {
            "kind": "structure-reader",
            "dataset": self.data.name if self.data is not None else "hotpotqa",
            "variants": variants,
            "num_queries": len(examples),
            "config": {
                "reader": _name(reader),
                "structurizing_llm": llm_name,
                "format": "reading",
                "limit": self.limit,
                "max_new_tokens": self.max_new_tokens,
                "prompt": READER_PROMPT,
                "context": "the ten paragraphs in file order, each as '<title>\\n<text>'",
            },
            "results": results,
            "differences": differences_from_original(per_query, ("em", "f1")),
            "per_query": per_query,
            "wall_time_s": round(time.perf_counter() - started, 2),
            **(self.data.provenance() if self.data is not None else {}),
            **provenance(self.command, created),
        }


def run_reader_eval(
    variants: Sequence[str] = ("original", "heuristic"),
    *,
    reader: Any = DEFAULT_LLM,
    llm: Any | None = None,
    limit: int | None = 100,
    max_new_tokens: int = 16,
    batch_size: int = 4,
    embedder: Any | None = None,
    data_dir: str | Path | None = None,
    show_progress: bool = True,
    command: str | None = None,
    data: LoadedData | None = None,
) -> dict[str, Any]:
    """[`ReaderEvaluator`][ctx_core.eval.tasks.structure.ReaderEvaluator] called with the named variants' structurizers.

    Args:
        variants: Any of `VARIANTS`.
        reader: The reader: a core LLM with ``complete_batch`` or a model name for
            [`TransformersLLM`][ctx_core.llm.transformers_llm.TransformersLLM].
        llm: The structurizing LLM of the ``llm`` variant (default: the reader).
        limit: Questions to evaluate (the first ones of dev250).
        max_new_tokens: Longest answer.
        batch_size: Questions per reader batch.
        embedder: Embedder of the heuristic structurizer.
        data_dir: The data folder.
        show_progress: Progress bars.
        command: The command line to record (default: this process's arguments).
        data: Your own QA data (`ctx_core.eval.datasets.formats.load_data` of a
            ``qa`` file) instead of HotpotQA dev250.
    """
    _check_variants(variants)
    evaluator = ReaderEvaluator(
        reader=reader,
        limit=limit,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        data_dir=data_dir,
        show_progress=show_progress,
        command=command,
        data=data,
    )
    structurizing = llm or evaluator.reader
    return evaluator(
        {
            v: build_structurizer(v, embedder=embedder, llm=structurizing, batch_size=batch_size)
            for v in variants
        }
    )


def differences_from_original(
    per_query: dict[str, list[dict[str, Any]]], metrics: Sequence[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """Each structurized variant minus ``original``, per metric, with a 95% bootstrap interval.

    Args:
        per_query: Rows per variant, as in the results' ``per_query`` (same query order).
        metrics: Row keys to compare.

    Returns:
        ``{variant: {metric: paired_bootstrap(...)}}``; empty without an ``original`` variant.

    Examples:
        >>> rows = {"original": [{"f1": 0.2}, {"f1": 0.4}], "llm": [{"f1": 0.3}, {"f1": 0.5}]}
        >>> round(differences_from_original(rows, ["f1"])["llm"]["f1"]["difference"], 3)
        0.1
    """
    baseline = per_query.get("original")
    if baseline is None:
        return {}
    return {
        variant: {
            metric: paired_bootstrap([r[metric] for r in rows], [r[metric] for r in baseline])
            for metric in metrics
        }
        for variant, rows in per_query.items()
        if variant != "original"
    }


def clean_answer(reply: str) -> str:
    """The first line of a reply, without an ``Answer:`` prefix.

    Examples:
        >>> clean_answer("Answer: Paris\\nbecause ...")
        'Paris'
    """
    line = next((x for x in reply.strip().splitlines() if x.strip()), "")
    return re.sub(r"^\s*(the\s+)?answer\s*(is)?\s*[:\-]?\s*", "", line, flags=re.IGNORECASE).strip()


def _check_variants(variants: Sequence[str]) -> None:
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ValueError(f"variants must be some of {list(VARIANTS)}, got {list(variants)}")


def _name(model: Any) -> str:
    return (
        model if isinstance(model, str) else str(getattr(model, "model_name", type(model).__name__))
    )


def _count(reader: Any, prompt: str) -> int:
    ids = getattr(reader, "prompt_ids", None)
    return len(ids(prompt)) if callable(ids) else len(prompt.split())


def _truncated(embedder: Any, texts: Sequence[str]) -> int:
    limit = getattr(embedder, "max_tokens", None)
    counter = getattr(embedder, "token_lengths", None)
    if callable(counter) and limit is not None:
        return sum(n > limit for n in counter(list(texts)))
    tokenizer = getattr(getattr(embedder, "model", None), "tokenizer", None)
    if tokenizer is None or limit is None:
        return -1
    lengths = [
        len(x) for x in tokenizer(list(texts), add_special_tokens=True, verbose=False)["input_ids"]
    ]
    return sum(n > limit for n in lengths)
