"""Evaluation tasks, in the shape of sentence-transformers' evaluators.

Each task is an evaluator built from data (and options) and *called with the component*
it measures, ``evaluator(component) -> dict``; it names one ``primary_metric`` and
reports the base order (first stage, original texts, plain reading, fixed-size chunks)
beside the component's. The features never import these modules.

| module | evaluator | called with | primary metric |
|---|---|---|---|
| [`rerank`][ctx_core.eval.tasks.rerank] | [`RerankEvaluator`][ctx_core.eval.tasks.rerank.RerankEvaluator] | anything with ``rerank(query, candidates)`` | the data set's first headline metric |
| `ctx_core.eval.tasks.reader` | `ctx_core.eval.tasks.reader.ReaderUDCGEvaluator` | anything with ``rerank(query, candidates)``; a reader LLM gives utilities and answers | ``udcg`` |
| [`structure`][ctx_core.eval.tasks.structure] | [`RetrievalEvaluator`][ctx_core.eval.tasks.structure.RetrievalEvaluator], [`ReaderEvaluator`][ctx_core.eval.tasks.structure.ReaderEvaluator] | ``{variant: structurizer}`` | ``ndcg@10``, ``f1`` |
| [`memory`][ctx_core.eval.tasks.memory] | [`LoCoMoEvaluator`][ctx_core.eval.tasks.memory.LoCoMoEvaluator], [`IREvaluator`][ctx_core.eval.tasks.memory.IREvaluator] | memory methods (and their fixed-size baselines) | ``recall@200w``, ``ndcg@10`` |
| [`context`][ctx_core.eval.tasks.context] | [`ContextEvaluator`][ctx_core.eval.tasks.context.ContextEvaluator] | the LLM that reads | ``accuracy`` |

Results go to files through [`ctx_core.eval.results.write_results`][ctx_core.eval.results.write_results].
"""
