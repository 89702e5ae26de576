"""Corpus-scale batch jobs on Ray Data.

Two ways in:

- the transforms ([`RerankTransform`][ctx_core.batch.transforms.RerankTransform], [`ScoreTransform`][ctx_core.batch.transforms.ScoreTransform],
  [`StructurizeTransform`][ctx_core.batch.structure.StructurizeTransform], [`ExtractMemoriesTransform`][ctx_core.batch.memory.ExtractMemoriesTransform]) are callable
  classes for ``ray.data.Dataset.map_batches``: compose them with Ray Data's own
  readers and writers (``read_json``/``read_parquet``, ``write_json``/``write_parquet``);
- [`run_batch`][ctx_core.batch.runner.run_batch] (and ``ctx batch``) runs a transform over files, shard by shard,
  and resumes a failed or killed run without redoing finished shards.

Ray is an optional dependency (``pip install 'ctx-rag[batch]'``); this package
imports without it, and only running a job needs it.

Examples:
    >>> from ctx_core.batch import transform_names
    >>> transform_names()
    ['extract_memories', 'rerank', 'score', 'structurize']
"""

from ctx_core.batch.documents import DocumentFields
from ctx_core.batch.memory import ExtractMemoriesTransform
from ctx_core.batch.runner import BatchResult, JobMismatchError, run_batch
from ctx_core.batch.shards import plan_shards, read_output
from ctx_core.batch.structure import StructurizeTransform
from ctx_core.batch.transforms import (
    BatchTransform,
    RerankTransform,
    ScoreTransform,
    transform_names,
)

__all__ = [
    "BatchResult",
    "BatchTransform",
    "DocumentFields",
    "ExtractMemoriesTransform",
    "JobMismatchError",
    "RerankTransform",
    "ScoreTransform",
    "StructurizeTransform",
    "plan_shards",
    "read_output",
    "run_batch",
    "transform_names",
]
