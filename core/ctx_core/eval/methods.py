"""Rerank methods by name (the baselines), configurable from the command line.

A method takes a query and its candidates (first-stage order, best first) and returns
the passages to read, in the order to read them; it may drop passages. Methods are
built by name with keyword options (``ctx eval rerank --method NAME --set key=value``):

| name | what it does | options |
|---|---|---|
| ``none`` | keeps the input (first-stage, e.g. BM25) order | - |
| ``embedding`` | sorts by [`EmbeddingScorer`][ctx_core.scoring.embedding.EmbeddingScorer] (default the packaged MiniLM) | ``model``, ``batch_size``, ``device``, ``with_title`` |
| ``scorer`` | sorts by any scorer of `ctx_core.scoring.registry` | ``scorer``, ``with_title``, the scorer's options |
| ``long-context-reorder`` | puts the best passages at both ends and the weakest in the middle (LangChain's ``LongContextReorder``) | ``base`` (+ its options) |
| ``top-k`` | keeps the first ``k`` of a base ranking | ``k``, ``base`` (+ its options) |
| ``random`` | a seeded shuffle, the chance baseline | ``seed`` |
| ``udcg`` | the distraction-aware reranker (`ctx_core.udcg`), see [`udcg_method`][ctx_core.eval.rerankers.udcg_method] | ``calibrator``, ``utility``, ``token_budget``, ``max_passages``, ``order``, ``allow_empty`` |
| ``incontext`` | sorts by the in-context block-sparse ranker ([`ctx_core.incontext`][ctx_core.incontext]), see [`InContextMethod`][ctx_core.eval.rerankers.InContextMethod] | ``model``, ``calibrate``, ``heads``, ``length_normalization``, ``with_title``, ranker options |

Every method also takes ``top_k=N``: the method's ranking cut to its first ``N``
passages (``--method embedding --set top_k=4``).

The names live in the one registry (`ctx_core._registry`, kind ``"method"``); the
core rerankers (``udcg``, ``incontext``) are built by [`ctx_core.eval.rerankers`][ctx_core.eval.rerankers]. Another
method is registered in one line, lazily imported::

    register_method("my-method", "my_package.methods:MyMethod")

Examples:
    >>> from ctx_core import Passage
    >>> method = build_method("top-k", k=2)
    >>> [p.id for p in method.rerank("q", [Passage("a", id="1"), Passage("b", id="2"), Passage("c", id="3")])]
    ['1', '2']
    >>> method.name
    'top-2'
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from ctx_core import _registry
from ctx_core.rerank import apply_scores
from ctx_core.scoring.base import Scorer
from ctx_core.types import Passage

__all__ = [
    "InputOrder",
    "LongContextReorder",
    "RandomOrder",
    "RerankMethod",
    "RerankerMethod",
    "ScorerMethod",
    "TopK",
    "build_method",
    "long_context_order",
    "method_names",
    "register_method",
]

T = TypeVar("T")


@runtime_checkable
class RerankMethod(Protocol):
    """What the harness evaluates: a named, configurable reranking of candidates.

    Attributes:
        name: Short label used in tables, plots and result file names.
    """

    name: str

    def rerank(self, query: str, candidates: list[Passage]) -> list[Passage]:
        """The passages to read, in reading order; may drop passages, never adds any."""
        ...

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the method (written into the result file)."""
        ...


class InputOrder:
    """Keeps the candidates in their input (first-stage) order: the no-rerank baseline."""

    name = "none"

    def rerank(self, query: str, candidates: list[Passage]) -> list[Passage]:
        """Return the candidates unchanged."""
        return list(candidates)

    def config(self) -> dict[str, Any]:
        """``{"name": "none"}``."""
        return {"name": "none"}


class ScorerMethod:
    """Sorts candidates by a relevance scorer (ties keep the input order).

    Args:
        scorer: Any [`Scorer`][ctx_core.scoring.base.Scorer].
        name: The method's label (default: the scorer's ``name``).
        with_title: Score ``"<title>: <text>"`` when a passage has ``metadata["title"]``
            (the returned passages keep their own text).
        options: Options the scorer was built with, recorded in [`config`][ctx_core.eval.methods.ScorerMethod.config].
    """

    def __init__(
        self,
        scorer: Scorer,
        *,
        name: str | None = None,
        with_title: bool = False,
        options: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(scorer, Scorer):
            raise TypeError(f"scorer must implement score()/ascore(), got {type(scorer).__name__}")
        self.scorer = scorer
        self.name = name or str(getattr(scorer, "name", type(scorer).__name__))
        self.with_title = with_title
        self.options = dict(options or {})
        self.scorer_class = type(scorer).__name__

    def rerank(self, query: str, candidates: list[Passage]) -> list[Passage]:
        """Score the candidates and return them all, best first, with their new scores."""
        if not candidates:
            return []
        view = [self._scored_text(p) for p in candidates] if self.with_title else candidates
        scores = self.scorer.score(query, view)
        scored = apply_scores(candidates, scores)
        order = sorted(range(len(scored)), key=lambda i: -scores[i])
        return [scored[i] for i in order]

    def _scored_text(self, passage: Passage) -> Passage:
        title = passage.metadata.get("title")
        return Passage(f"{title}: {passage.text}", id=passage.id) if title else passage

    def config(self) -> dict[str, Any]:
        """Name, scorer class and model, and the options given."""
        return {
            "name": self.name,
            "scorer": self.scorer_class,
            "model": getattr(self.scorer, "model_name", None),
            "with_title": self.with_title,
            **self.options,
        }


def long_context_order(items: Sequence[T]) -> list[T]:
    """Reorder a best-first list so the best items sit at both ends, the weakest in the middle.

    The same order as LangChain's ``LongContextReorder`` ("lost in the middle"): walking
    the list from the weakest item up, items go alternately to the front and to the
    back, so the best item ends up first when the length is odd and last when it is even.

    Examples:
        >>> long_context_order([1, 2, 3, 4, 5])
        [1, 3, 5, 4, 2]
        >>> long_context_order([1, 2, 3, 4])
        [2, 4, 3, 1]
    """
    n = len(items)
    front = [items[r] for r in range(n) if (n - 1 - r) % 2 == 0]
    back = [items[r] for r in reversed(range(n)) if (n - 1 - r) % 2 == 1]
    return front + back


class LongContextReorder:
    """Orders a base ranking for long contexts: best at both ends, weakest in the middle.

    Args:
        base: The ranking to reorder (default: the input order).
    """

    def __init__(self, base: RerankMethod | None = None) -> None:
        self.base = base or InputOrder()
        self.name = (
            "long-context-reorder"
            if isinstance(self.base, InputOrder)
            else f"{self.base.name}+long-context-reorder"
        )

    def rerank(self, query: str, candidates: list[Passage]) -> list[Passage]:
        """The base ranking, reordered by [`long_context_order`][ctx_core.eval.methods.long_context_order]."""
        return long_context_order(self.base.rerank(query, candidates))

    def config(self) -> dict[str, Any]:
        """Name and the base method's config."""
        return {"name": "long-context-reorder", "base": self.base.config()}


class TopK:
    """Keeps the first ``k`` passages of a base ranking.

    Args:
        base: The ranking to cut (default: the input order).
        k: How many passages to keep.
    """

    def __init__(self, base: RerankMethod | None = None, k: int = 5) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        self.base = base or InputOrder()
        self.k = k
        self.name = f"top-{k}" if isinstance(self.base, InputOrder) else f"{self.base.name}+top-{k}"

    def rerank(self, query: str, candidates: list[Passage]) -> list[Passage]:
        """The first ``k`` passages of the base ranking."""
        return self.base.rerank(query, candidates)[: self.k]

    def config(self) -> dict[str, Any]:
        """Name, ``k`` and the base method's config."""
        return {"name": "top-k", "k": self.k, "base": self.base.config()}


class RandomOrder:
    """A seeded shuffle of the candidates (the same query always gets the same order).

    Args:
        seed: Seed mixed with the query text.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.name = "random"

    def rerank(self, query: str, candidates: list[Passage]) -> list[Passage]:
        """The candidates in a random order that depends only on ``seed`` and ``query``."""
        shuffled = list(candidates)
        random.Random(f"{self.seed}:{query}").shuffle(shuffled)
        return shuffled

    def config(self) -> dict[str, Any]:
        """Name and seed."""
        return {"name": "random", "seed": self.seed}


class RerankerMethod:
    """Any component with ``rerank(query, candidates)`` as a named method.

    The config is the method's name, the options it was built with and the component's
    own ``config()`` under ``"reranker"``.

    Args:
        reranker: The component (e.g. [`UtilityDistractionReranker`][ctx_core.udcg.reranker.UtilityDistractionReranker]).
        name: The method's label.
        options: Options it was built with, recorded in [`config`][ctx_core.eval.methods.RerankerMethod.config].

    Examples:
        >>> class Reverse:
        ...     def rerank(self, query, candidates):
        ...         return candidates[::-1]
        ...     def config(self):
        ...         return {"type": "Reverse"}
        >>> method = RerankerMethod(Reverse(), name="reverse", options={"seed": 1})
        >>> method.config()
        {'name': 'reverse', 'seed': 1, 'reranker': {'type': 'Reverse'}}
    """

    def __init__(self, reranker: Any, *, name: str, options: dict[str, Any] | None = None) -> None:
        if not callable(getattr(reranker, "rerank", None)):
            raise TypeError(f"reranker must have rerank(), got {type(reranker).__name__}")
        self.reranker = reranker
        self.name = name
        self.options = dict(options or {})

    def rerank(self, query: str, candidates: list[Passage]) -> list[Passage]:
        """The component's ranking."""
        result: list[Passage] = self.reranker.rerank(query, candidates)
        return result

    def config(self) -> dict[str, Any]:
        """Name, options and the component's config."""
        get = getattr(self.reranker, "config", None)
        inner = get() if callable(get) else {"type": type(self.reranker).__name__}
        return {"name": self.name, **self.options, "reranker": inner}


class _MemoScorer:
    """Remembers a scorer's scores per (query, passage texts) within one process.

    Methods built on the same model (``embedding``, ``embedding`` with ``top_k``, ...) then
    score each query once per run of ``ctx eval rerank``; their timings exclude the reuse.
    """

    def __init__(self, scorer: Any, max_entries: int = 20_000) -> None:
        self.scorer = scorer
        self.name = scorer.name
        self.model_name = getattr(scorer, "model_name", None)
        self.max_entries = max_entries
        self._cache: dict[tuple[str, tuple[str, ...]], list[float]] = {}

    def score(self, query: str, passages: Sequence[Passage | str]) -> list[float]:
        texts = tuple(p.text if isinstance(p, Passage) else p for p in passages)
        key = (query, texts)
        if key not in self._cache:
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
            self._cache[key] = list(self.scorer.score(query, passages))
        return list(self._cache[key])

    async def ascore(self, query: str, passages: Sequence[Passage | str]) -> list[float]:
        return self.score(query, passages)


@functools.lru_cache(maxsize=4)
def _shared_embedding_scorer(model: str | None, device: str | None, batch_size: int) -> Any:
    from ctx_core.scoring.embedding import EmbeddingScorer

    scorer = EmbeddingScorer(model, device=device, batch_size=batch_size, show_progress=False)
    return _MemoScorer(scorer)


def _embedding(
    model: str | None = None,
    batch_size: int = 32,
    device: str | None = None,
    with_title: bool = False,
) -> RerankMethod:
    scorer = _shared_embedding_scorer(model, device, batch_size)
    options = {"batch_size": batch_size, **({"device": device} if device else {})}
    method = ScorerMethod(scorer, name="embedding", with_title=with_title, options=options)
    method.scorer_class = "EmbeddingScorer"
    return method


def _scorer(scorer: str = "embedding", with_title: bool = False, **options: Any) -> RerankMethod:
    from ctx_core.scoring.registry import build_scorer

    built = build_scorer(scorer, **options)
    return ScorerMethod(built, name=scorer, with_title=with_title, options=options)


def _long_context_reorder(base: str = "none", **base_options: Any) -> RerankMethod:
    return LongContextReorder(build_method(base, **base_options))


def _top_k(k: int = 5, base: str = "none", **base_options: Any) -> RerankMethod:
    return TopK(build_method(base, **base_options), k=int(k))


# The baselines; ``udcg`` and ``incontext`` wrap core rerankers (ctx_core.eval.rerankers).
_METHODS: dict[str, str | Callable[..., Any]] = {
    "none": InputOrder,
    "embedding": _embedding,
    "scorer": _scorer,
    "long-context-reorder": _long_context_reorder,
    "top-k": _top_k,
    "random": RandomOrder,
    "udcg": "ctx_core.eval.rerankers:udcg_method",
    "incontext": "ctx_core.eval.rerankers:InContextMethod",
}
for _name, _target in _METHODS.items():
    _registry.register("method", _name, _target)


def register_method(name: str, factory: str | Callable[..., Any]) -> None:
    """Make a rerank method available by name (kind ``"method"`` of `ctx_core._registry`).

    Args:
        name: The name ``build_method`` and ``ctx eval rerank --method`` accept.
        factory: Called with the method's keyword options; or ``"module:attribute"``,
            imported only when the method is built. It may return any component with
            ``rerank(query, candidates)``; one without ``name`` and ``config()`` is
            wrapped in [`RerankerMethod`][ctx_core.eval.methods.RerankerMethod].

    Raises:
        ValueError: ``name`` is empty or holds whitespace.
        TypeError: ``factory`` is neither callable nor a ``"module:attribute"`` string.
    """
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise ValueError(f"method name must be a non-empty string without spaces, got {name!r}")
    if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
        raise TypeError("factory must be callable or a 'module:attribute' string")
    _registry.register("method", name, factory)


def method_names() -> list[str]:
    """Names [`build_method`][ctx_core.eval.methods.build_method] accepts."""
    return _registry.names("method")


def build_method(name: str, **options: Any) -> RerankMethod:
    """Build the method registered as ``name`` with keyword ``options``.

    ``top_k=N`` is accepted by every method: the result is wrapped in [`TopK`][ctx_core.eval.methods.TopK].

    Raises:
        ValueError: Unknown method name, or an option the method does not take (the
            message lists the options it does take).
        TypeError: The factory built something without ``rerank``.
    """
    factory = _registry.lookup("method", name)
    top_k = options.pop("top_k", None)
    accepted = _registry.accepted_options(factory)
    unknown = sorted(set(options) - set(accepted)) if accepted is not None else []
    if unknown:
        takes = ", ".join([*(accepted or []), "top_k"])
        raise ValueError(f"method {name!r} does not take option(s) {unknown}; it takes: {takes}")
    method = factory(**options)
    if not isinstance(method, RerankMethod):
        if not callable(getattr(method, "rerank", None)):
            raise TypeError(
                f"method {name!r} factory returned {type(method).__name__}, not a method"
            )
        method = RerankerMethod(method, name=name, options=options)
    if top_k is not None:
        method = TopK(method, k=top_k)
    return method
