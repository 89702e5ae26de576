"""Loaders for the evaluation data sets; each returns plain core types.

The data folder is found by :func:`resolve_data_dir` (``--data-dir``, else
``../shared/data`` next to the repository, else ``$CTX_DATA_DIR``). Nothing here
downloads anything: the files are read where they are.

| loader | data set | returns |
|---|---|---|
| :func:`load_dl19` | TREC DL 2019 passages, BM25 top-100 with graded qrels | ``list[RankingQuery]`` |
| :func:`load_hotpotqa` | HotpotQA dev250, distractor setting | ``list[QAExample]`` |
| :func:`load_cranfield`, :func:`load_cacm` | classic collections (SMART format) | ``IRCollection`` |
| :func:`load_locomo` | LoCoMo multi-session conversations | ``list[Conversation]`` |
| :func:`load_nq_oracle` | NQ-open with the gold passage | ``list[QAExample]`` |
| :func:`load_kv_retrieval` | key-value retrieval, 75 pairs | ``list[dict]`` |
"""

from ctx_core.eval.datasets.hotpotqa import load_hotpotqa
from ctx_core.eval.datasets.locomo import load_locomo
from ctx_core.eval.datasets.lost_in_the_middle import load_kv_retrieval, load_nq_oracle
from ctx_core.eval.datasets.paths import resolve_data_dir
from ctx_core.eval.datasets.records import (
    Conversation,
    IRCollection,
    LoCoMoQA,
    QAExample,
    RankingQuery,
    Session,
    Turn,
)
from ctx_core.eval.datasets.smart import load_cacm, load_cranfield
from ctx_core.eval.datasets.trec_dl import load_dl19

__all__ = [
    "Conversation",
    "IRCollection",
    "LoCoMoQA",
    "QAExample",
    "RankingQuery",
    "Session",
    "Turn",
    "load_cacm",
    "load_cranfield",
    "load_dl19",
    "load_hotpotqa",
    "load_kv_retrieval",
    "load_locomo",
    "load_nq_oracle",
    "resolve_data_dir",
]
