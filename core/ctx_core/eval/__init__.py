"""The evaluation harness: data loaders, metrics, rerank methods, tasks, results and reports.

The evaluation tasks (rerank, structure, memory, context) live in :mod:`ctx_core.eval.tasks`,
each an evaluator built from data and called with a component; every result file is
written by :func:`~ctx_core.eval.results.write_results`. The benchmark task generators
(PI-LLM, multi-needle) live in :mod:`ctx_core.eval.generators`.

Examples:
    >>> from ctx_core.eval import build_method, ndcg_at_k
    >>> ndcg_at_k(["a", "b"], {"b": 1}, k=10) < 1.0
    True
    >>> build_method("none").name
    'none'
"""

from ctx_core.eval.datasets import (
    Conversation,
    IRCollection,
    LoCoMoQA,
    QAExample,
    RankingQuery,
    Session,
    Turn,
    hotpotqa_as_ranking,
    load_cacm,
    load_cranfield,
    load_dl19,
    load_hotpotqa,
    load_kv_retrieval,
    load_locomo,
    load_nq_oracle,
    resolve_data_dir,
)
from ctx_core.eval.methods import RerankMethod, build_method, method_names, register_method
from ctx_core.eval.metrics import (
    distractor_rate,
    exact_match,
    kept_tokens,
    mrr_at_k,
    ndcg_at_k,
    paired_bootstrap,
    recall_at_k,
    supporting_recall,
    token_f1,
)
from ctx_core.eval.report import format_table, load_results, plot_results
from ctx_core.eval.rerank_datasets import (
    RerankDataset,
    register_rerank_dataset,
    rerank_dataset_names,
)
from ctx_core.eval.results import write_results
from ctx_core.eval.tasks.rerank import RerankEvaluator, run_rerank_eval

__all__ = [
    "Conversation",
    "IRCollection",
    "LoCoMoQA",
    "QAExample",
    "RankingQuery",
    "RerankDataset",
    "RerankEvaluator",
    "RerankMethod",
    "Session",
    "Turn",
    "build_method",
    "distractor_rate",
    "exact_match",
    "format_table",
    "hotpotqa_as_ranking",
    "kept_tokens",
    "load_cacm",
    "load_cranfield",
    "load_dl19",
    "load_hotpotqa",
    "load_kv_retrieval",
    "load_locomo",
    "load_nq_oracle",
    "load_results",
    "method_names",
    "mrr_at_k",
    "ndcg_at_k",
    "paired_bootstrap",
    "plot_results",
    "recall_at_k",
    "register_method",
    "register_rerank_dataset",
    "rerank_dataset_names",
    "resolve_data_dir",
    "run_rerank_eval",
    "supporting_recall",
    "token_f1",
    "write_results",
]
