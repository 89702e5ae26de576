"""The evaluation harness: data loaders, metrics, rerank methods, tasks, results and reports.

The evaluation tasks (rerank, structure, memory, context) live in [`ctx_core.eval.tasks`][ctx_core.eval.tasks],
each an evaluator built from data and called with a component; every result file is
written by [`write_results`][ctx_core.eval.results.write_results]. The benchmark task generators
(PI-LLM, multi-needle) live in `ctx_core.eval.generators`.

Examples:
    >>> from ctx_core.eval import build_method, ndcg_at_k
    >>> ndcg_at_k(["a", "b"], {"b": 1}, k=10) < 1.0
    True
    >>> build_method("none").name
    'none'
"""

from ctx_core.eval.methods import RerankMethod, build_method, method_names, register_method
from ctx_core.eval.metrics import mrr_at_k, ndcg_at_k, paired_bootstrap, recall_at_k
from ctx_core.eval.results import write_results
from ctx_core.eval.tasks.rerank import RerankEvaluator, run_rerank_eval

__all__ = [
    "RerankEvaluator",
    "RerankMethod",
    "build_method",
    "method_names",
    "mrr_at_k",
    "ndcg_at_k",
    "paired_bootstrap",
    "recall_at_k",
    "register_method",
    "run_rerank_eval",
    "write_results",
]
