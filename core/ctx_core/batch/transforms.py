"""Capabilities as Ray Data transforms: callable classes for ``Dataset.map_batches``.

Each transform is built once per worker (so its model loads once per worker) and
then called on batches of rows. The per-row work is exactly the single-process API
(``Reranker.rerank``, ``Scorer.score``, ...), so a batch job gives the same results
as a loop over the same rows in one process.

A transform works on plain records too ([`BatchTransform.process`][ctx_core.batch.transforms.BatchTransform.process]), which is
what the restartable job runner ([`ctx_core.batch.run_batch`][ctx_core.batch.runner.run_batch]) and the tests use.

Examples:
    >>> from ctx_core.batch import RerankTransform
    >>> rerank = RerankTransform(top_n=1)
    >>> [row] = rerank.process([{"query": "Where is Paris?",
    ...     "candidates": ["Bananas are yellow.", "Paris is in France."]}])
    >>> [p["text"] for p in row["ranked"]]
    ['Paris is in France.']
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from ctx_core import _registry
from ctx_core.rerank import Reranker
from ctx_core.scoring.base import Scorer
from ctx_core.types import Passage, validate_query

__all__ = [
    "BatchTransform",
    "RerankTransform",
    "ScoreTransform",
    "records_from_batch",
    "resolve_transform",
    "transform_names",
]


def transform_names() -> list[str]:
    """Names [`resolve_transform`][ctx_core.batch.transforms.resolve_transform] accepts (kind ``"transform"`` of the registry)."""
    return _registry.names("transform")


def resolve_transform(name: str) -> type[BatchTransform]:
    """The transform class registered as ``name`` (the name the CLI and the job manifest use).

    Raises:
        ValueError: ``name`` is not a registered transform.
    """
    cls = _registry.lookup("transform", name)
    if not (isinstance(cls, type) and issubclass(cls, BatchTransform)):
        raise TypeError(f"transform {name!r} is not a BatchTransform: {cls!r}")
    return cls


def records_from_batch(batch: Any) -> list[dict[str, Any]]:
    """Rows of a Ray Data batch as a list of dicts.

    Accepts the three batch formats of ``map_batches``: a ``pyarrow.Table``, a
    ``pandas.DataFrame`` or a dict of columns (NumPy arrays or lists).

    Raises:
        TypeError: ``batch`` is none of these.
        ValueError: the columns of a dict batch differ in length.
    """
    if hasattr(batch, "to_pylist"):  # pyarrow.Table
        return [dict(row) for row in batch.to_pylist()]
    if hasattr(batch, "to_dict") and hasattr(batch, "columns"):  # pandas.DataFrame
        return [_plain(dict(row)) for row in batch.to_dict("records")]
    if isinstance(batch, Mapping):
        columns = {str(k): list(v) for k, v in batch.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"batch columns differ in length: {sorted(lengths)}")
        count = lengths.pop() if lengths else 0
        return [_plain({k: v[i] for k, v in columns.items()}) for i in range(count)]
    raise TypeError(
        f"batch must be a pyarrow.Table, pandas.DataFrame or dict of columns, got {type(batch).__name__}"
    )


def _plain(value: Any) -> Any:
    """NumPy values (as pandas and NumPy batches hold them) turned into plain Python."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy array or scalar
        return _plain(value.tolist())
    return value


class BatchTransform(ABC):
    """Base class: a capability applied row by row, usable with ``map_batches``.

    Subclasses implement [`process_record`][ctx_core.batch.transforms.BatchTransform.process_record] (one input row -> one output row)
    and may override [`process`][ctx_core.batch.transforms.BatchTransform.process] to batch several rows into one model call.
    Input rows are never changed: each output row is a new dict holding the input
    row's fields plus the transform's output field.

    Constructor arguments must be plain data (strings, numbers, dicts): Ray ships
    them to every worker, and the job runner records them in the job manifest.
    """

    #: Name used in logs, the CLI and the job manifest.
    name: ClassVar[str] = "transform"

    def __call__(self, batch: Any) -> Any:
        """Process one Ray Data batch; returns a ``pyarrow.Table`` of the output rows."""
        import pyarrow as pa

        return pa.Table.from_pylist(self.process(records_from_batch(batch)))

    def process(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Process plain records (one output record per input record, same order)."""
        return [self.process_record(record) for record in records]

    @abstractmethod
    def process_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Process one record."""

    def config(self) -> dict[str, Any]:
        """The constructor arguments, as recorded in a job manifest."""
        return dict(getattr(self, "_config", {}))


def _field(record: Mapping[str, Any], name: str) -> Any:
    if not isinstance(record, Mapping):
        raise TypeError(f"each row must be a mapping, got {type(record).__name__}")
    if name not in record:
        raise ValueError(f"row has no {name!r} field: fields are {sorted(record)}")
    return record[name]


def _candidates(record: Mapping[str, Any], name: str) -> list[Passage]:
    value = _field(record, name)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(
            f"row field {name!r} must be a list of passages, got {type(value).__name__}"
        )
    passages = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            passages.append(Passage(item))
        elif isinstance(item, Mapping):
            try:
                passages.append(Passage.from_dict(item))
            except (TypeError, ValueError) as err:
                raise type(err)(f"row field {name!r}[{i}]: {err}") from err
        else:
            raise TypeError(
                f"row field {name!r}[{i}] must be a passage object or a string, got {type(item).__name__}"
            )
    return passages


ScorerSpec = str | Callable[[], Scorer]


def _build_scorer(scorer: ScorerSpec, options: Mapping[str, Any] | None) -> Scorer:
    if isinstance(scorer, str):
        from ctx_core.scoring.registry import build_scorer

        return build_scorer(scorer, **dict(options or {}))
    if callable(scorer):
        if options:
            raise ValueError("scorer_options are only for a scorer given by name")
        built = scorer()
        if not isinstance(built, Scorer):
            raise TypeError(f"scorer factory returned {type(built).__name__}, not a Scorer")
        return built
    raise TypeError(
        f"scorer must be a registered scorer name or a factory, got {type(scorer).__name__}"
    )


def _spec_name(scorer: ScorerSpec) -> str:
    if isinstance(scorer, str):
        return scorer
    return f"{getattr(scorer, '__module__', '?')}:{getattr(scorer, '__qualname__', repr(scorer))}"


class ScoreTransform(BatchTransform):
    """Score every candidate of each (query, candidates) row.

    Output field (default ``"scores"``): one float per candidate, in the candidates'
    order, exactly what ``scorer.score(query, candidates)`` returns.

    Args:
        scorer: A registered scorer name (``"embedding"``, ``"cross-encoder"``,
            ``"cohere"``, ...) or a zero-argument factory returning a
            [`Scorer`][ctx_core.scoring.base.Scorer]; built once per worker.
        scorer_options: Keyword arguments for a scorer given by name (e.g. ``model``, ``device``).
        query_field: Row field holding the query.
        candidates_field: Row field holding the candidates: passage objects
            (``text`` and optional ``id``, ``metadata``, ``score``) or strings.
        output_field: Row field the scores are written to.
    """

    name = "score"

    def __init__(
        self,
        scorer: ScorerSpec = "embedding",
        scorer_options: Mapping[str, Any] | None = None,
        *,
        query_field: str = "query",
        candidates_field: str = "candidates",
        output_field: str = "scores",
    ) -> None:
        self._config = {
            "scorer": _spec_name(scorer),
            "scorer_options": dict(scorer_options or {}),
            "query_field": query_field,
            "candidates_field": candidates_field,
            "output_field": output_field,
        }
        self.scorer = _build_scorer(scorer, scorer_options)
        self.query_field = query_field
        self.candidates_field = candidates_field
        self.output_field = output_field

    def process_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Scores of one row's candidates."""
        query = validate_query(_field(record, self.query_field), self.query_field)
        passages = _candidates(record, self.candidates_field)
        scores = self.scorer.score(query, passages) if passages else []
        return {**record, self.output_field: [float(s) for s in scores]}


class RerankTransform(BatchTransform):
    """Rerank the candidates of each (query, candidates) row with [`Reranker`][ctx_core.rerank.Reranker].

    Output field (default ``"ranked"``): the kept passages, best first, as passage
    objects (``id``, ``text``, ``metadata``, ``score``) exactly as
    ``Reranker(scorer, top_n, score_threshold).rerank(query, candidates)`` returns them.

    Args:
        scorer: A registered scorer name or a zero-argument factory returning a scorer.
        scorer_options: Keyword arguments for a scorer given by name.
        top_n: Keep at most this many passages per row (``None``: all).
        score_threshold: Drop passages scoring below this value.
        query_field: Row field holding the query.
        candidates_field: Row field holding the candidates.
        output_field: Row field the ranked passages are written to.
    """

    name = "rerank"

    def __init__(
        self,
        scorer: ScorerSpec = "embedding",
        scorer_options: Mapping[str, Any] | None = None,
        *,
        top_n: int | None = None,
        score_threshold: float | None = None,
        query_field: str = "query",
        candidates_field: str = "candidates",
        output_field: str = "ranked",
    ) -> None:
        self._config = {
            "scorer": _spec_name(scorer),
            "scorer_options": dict(scorer_options or {}),
            "top_n": top_n,
            "score_threshold": score_threshold,
            "query_field": query_field,
            "candidates_field": candidates_field,
            "output_field": output_field,
        }
        self.reranker = Reranker(
            _build_scorer(scorer, scorer_options), top_n=top_n, score_threshold=score_threshold
        )
        self.query_field = query_field
        self.candidates_field = candidates_field
        self.output_field = output_field

    def process_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The reranked candidates of one row."""
        query = validate_query(_field(record, self.query_field), self.query_field)
        kept = self.reranker.rerank(query, _candidates(record, self.candidates_field))
        return {**record, self.output_field: [p.to_dict() for p in kept]}
