"""Loaders for the evaluation data sets; each returns plain core types.

The built-in sets are read from the data folder found by [`resolve_data_dir`][ctx_core.eval.datasets.paths.resolve_data_dir]
(``--data-dir``, else ``$CTX_DATA_DIR``, else ``../shared/data`` next to the repository);
your own data in a standard format from any path (`load_data`: BEIR, TREC, SMART,
QA JSON Lines, LoCoMo). Nothing here downloads anything: the files are read where they are.
Problems in the data are counted in a `DataIssues`, never skipped silently.

| loader | data set | returns |
|---|---|---|
| [`load_dl19`][ctx_core.eval.datasets.trec_dl.load_dl19] | TREC DL 2019 passages, BM25 top-100 with graded qrels | ``list[RankingQuery]`` |
| [`load_hotpotqa`][ctx_core.eval.datasets.hotpotqa.load_hotpotqa] | HotpotQA dev250, distractor setting | ``list[QAExample]`` |
| [`load_cranfield`][ctx_core.eval.datasets.smart.load_cranfield], [`load_cacm`][ctx_core.eval.datasets.smart.load_cacm] | classic collections (SMART format) | ``IRCollection`` |
| [`load_locomo`][ctx_core.eval.datasets.locomo.load_locomo] | LoCoMo multi-session conversations | ``list[Conversation]`` |
| [`load_nq_oracle`][ctx_core.eval.datasets.lost_in_the_middle.load_nq_oracle] | NQ-open with the gold passage | ``list[QAExample]`` |
| [`load_kv_retrieval`][ctx_core.eval.datasets.lost_in_the_middle.load_kv_retrieval] | key-value retrieval, 75 pairs | ``list[dict]`` |

Loaders that take paths (the built-in sets above are presets over them):

| loader | format | returns |
|---|---|---|
| `load_data` | any of the below, detected | `LoadedData` |
| `load_beir` | ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv`` | ``IRCollection`` |
| `load_trec` | hits JSON or run file + corpus, TREC qrels, topics | ``list[RankingQuery]`` |
| [`load_smart`][ctx_core.eval.datasets.smart.load_smart] | SMART documents and queries, SMART or TREC qrels | ``IRCollection`` |
| `load_qa_jsonl` | questions, answers, paragraphs flagged supporting | ``list[QAExample]`` |
| [`load_locomo`][ctx_core.eval.datasets.locomo.load_locomo] (``path=``) | LoCoMo-format conversations | ``list[Conversation]`` |
"""

from ctx_core.eval.datasets.beir import load_beir
from ctx_core.eval.datasets.formats import LoadedData, load_data
from ctx_core.eval.datasets.hotpotqa import load_hotpotqa
from ctx_core.eval.datasets.issues import DataIssues
from ctx_core.eval.datasets.locomo import load_locomo
from ctx_core.eval.datasets.lost_in_the_middle import load_kv_retrieval, load_nq_oracle
from ctx_core.eval.datasets.paths import resolve_data_dir
from ctx_core.eval.datasets.qa import load_qa_jsonl
from ctx_core.eval.datasets.records import (
    Conversation,
    IRCollection,
    LoCoMoQA,
    QAExample,
    RankingQuery,
    Session,
    Turn,
)
from ctx_core.eval.datasets.smart import load_cacm, load_cranfield, load_smart
from ctx_core.eval.datasets.trec import load_trec
from ctx_core.eval.datasets.trec_dl import load_dl19

__all__ = [
    "Conversation",
    "DataIssues",
    "IRCollection",
    "LoCoMoQA",
    "LoadedData",
    "QAExample",
    "RankingQuery",
    "Session",
    "Turn",
    "load_beir",
    "load_cacm",
    "load_cranfield",
    "load_data",
    "load_dl19",
    "load_hotpotqa",
    "load_kv_retrieval",
    "load_locomo",
    "load_nq_oracle",
    "load_qa_jsonl",
    "load_smart",
    "load_trec",
    "resolve_data_dir",
]
