"""Tables of the distraction-aware reranker's leave-one-data-set-out run (``udcg_lodo.py``).

Every number is read from ``benchmarks/results/udcg/lodo.json``; every number there is
out-of-domain: the calibrators were fitted without the data set the row reports.
``register_udcg_tables(register)`` adds the builders to the table registry of
``benchmarks/tables.py``:

- ``udcg-lodo-summary``: the shipped default on each held-out data set, against the
  scorer alone and against top-k at the same mean size;
- ``udcg-lodo-<dataset>``: every baseline and variant on one held-out data set;
- ``udcg-lodo-selection``: how the default was chosen (goals met across folds).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULT = "benchmarks/results/udcg/lodo.json"

DATASET_NAMES = {
    "dl19": "DL19 (BM25 top-100, relevant = grade >= 2)",
    "hotpotqa": "HotpotQA dev250 (10 paragraphs, 2 supporting)",
    "cacm": "CACM (BM25 top-100)",
    "cranfield": "Cranfield (BM25 top-100)",
    "nq": "NQ-open, 300 questions (BM25 top-20 over the 2,600 gold passages, relevant = own gold)",
}

RULE_NAMES = {
    "sum": "expected sum",
    "sum-margin": "expected sum, best kept unless unrelated",
    "mean": "expected mean UDCG",
}


def _f(value: Any, digits: int = 3) -> str:
    return "-" if not isinstance(value, (int, float)) else f"{value:.{digits}f}"


def _cell(comparison: dict[str, Any]) -> str:
    return str(comparison["text"])


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _load(root: Path) -> dict[str, Any]:
    import json

    path = Path(root) / RESULT
    if not path.is_file():
        raise FileNotFoundError(f"result file {RESULT} not found under {root}")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def summary(root: Path) -> str:
    """The chosen default on every held-out data set."""
    result = _load(root)
    chosen = result["selection"]["chosen"]
    rows = []
    for dataset, fold in result["folds"].items():
        variant = fold["variants"][chosen["variant"]]
        rule = variant["rules"][chosen["rule"]]
        m = rule["metrics"]
        vs = rule["vs_matched_top_k"]
        rows.append(
            [
                DATASET_NAMES.get(dataset, dataset),
                str(fold["lists"]),
                f"{_f(variant['order_ndcg@10'])} vs {_f(fold['scorer']['metrics']['ndcg@10'])}: "
                + _cell(variant["order_vs_scorer_ndcg@10"]),
                _f(m["kept"], 2),
                f"{_f(m['recall'])} vs {_f(rule['matched_top_k']['recall'])}: {_cell(vs['recall'])}",
                f"{_f(m['distractor_rate'])} vs {_f(rule['matched_top_k']['distractor_rate'])}: "
                + _cell(vs["distractor_rate"]),
                f"{_f(m['udcg'])} vs {_f(rule['matched_top_k']['udcg'])}: {_cell(vs['udcg'])}",
                _f(rule["empty_on_foreign"], 2),
                _f(rule["empty_on_related"], 3),
            ]
        )
    header = [
        "held-out data set",
        "queries",
        "order nDCG@10 vs MiniLM's",
        "kept",
        "recall vs MiniLM top-k at the same size",
        "distractor rate vs top-k",
        "UDCG vs top-k",
        "empty: foreign list",
        "empty: own list",
    ]
    note = (
        f"Default: `{chosen['variant']}` signals, rule *{RULE_NAMES[chosen['rule']]}*. "
        "All numbers leave-one-data-set-out (calibrator fitted on the other four data sets). "
        "Cells `a vs b: d [lo, hi]`: the reranker, the baseline, and the paired bootstrap "
        "95% interval of the mean difference over queries (10,000 resamples, seed 0). "
        "Top-k at the same size: top-floor(m) and top-ceil(m) mixed so the mean size equals the "
        "reranker's m. UDCG: reader utility 1, an empty context scores 0 (the reference's convention)."
    )
    return _table(header, rows) + "\n\n" + note


def per_dataset(dataset: str) -> Callable[[Path], str]:
    """Every baseline and variant on one held-out data set."""

    def build(root: Path) -> str:
        fold = _load(root)["folds"][dataset]
        rows = []
        scorer = fold["scorer"]["metrics"]
        rows.append(
            ["MiniLM, all candidates", _f(scorer["recall"]), _f(scorer["distractor_rate"]),
             _f(scorer["kept"], 1), _f(scorer["ndcg@10"]), _f(scorer["udcg"]), "", ""]
        )  # fmt: skip
        for k, m in fold["scorer_top_k"].items():
            rows.append(
                [f"MiniLM top-{k}", _f(m["recall"]), _f(m["distractor_rate"]), k,
                 _f(m["ndcg@10"]), _f(m["udcg"]), "", ""]
            )  # fmt: skip
        hybrid = fold["variants"]["hybrid"]
        for k, m in hybrid["order_top_k"].items():
            rows.append(
                [f"hybrid top-{k} (no dropping)", _f(m["recall"]), _f(m["distractor_rate"]), k,
                 _f(m["ndcg@10"]), _f(m["udcg"]), "", ""]
            )  # fmt: skip
        for name, variant in fold["variants"].items():
            for rule_name, rule in variant["rules"].items():
                m = rule["metrics"]
                rows.append(
                    [
                        f"reranker: {name}, {RULE_NAMES[rule_name]}",
                        _f(m["recall"]),
                        _f(m["distractor_rate"]),
                        _f(m["kept"], 2),
                        _f(m["ndcg@10"]),
                        _f(m["udcg"]),
                        _cell(rule["vs_matched_top_k"]["recall"]),
                        _cell(rule["vs_matched_order_top_k"]["recall"]),
                    ]
                )
        header = [
            "method",
            "recall",
            "distractor rate",
            "kept",
            "nDCG@10 (kept)",
            "UDCG",
            "recall vs MiniLM top-k, same size",
            "recall vs own order's top-k, same size",
        ]
        note = (
            f"{DATASET_NAMES.get(dataset, dataset)}; {fold['lists']} queries; calibrators fitted "
            f"on {', '.join(fold['trained_on'])} only. nDCG@10 (kept): over the passages a "
            "method keeps, in its order. Intervals: paired bootstrap, 95%."
        )
        return _table(header, rows) + "\n\n" + note

    return build


def selection(root: Path) -> str:
    """Goals met across the five folds, for every variant and rule."""
    result = _load(root)
    rows = []
    for row in result["selection"]["ranking"]:
        per_goal: dict[str, int] = {}
        for goals in row["goals"].values():
            for goal, met in goals.items():
                per_goal[goal] = per_goal.get(goal, 0) + int(met)
        rows.append(
            [
                f"{row['variant']}, {RULE_NAMES[row['rule']]}",
                f"{row['goals_met']}/{row['goals_total']}",
            ]
            + [f"{per_goal[g]}/5" for g in per_goal]
            + [_f(row["mean_udcg"])]
        )
    first = result["selection"]["ranking"][0]["goals"]
    goal_names = list(next(iter(first.values())))
    header = ["variant", "goals met"] + [g.replace("_", " ") for g in goal_names] + ["mean UDCG"]
    return _table(header, rows)


def register_udcg_tables(register: Callable[..., Any]) -> None:
    """Add the UDCG builders to a table registry's ``register(name, builder)``."""
    register("udcg-lodo-summary", summary)
    register("udcg-lodo-selection", selection)
    for dataset in DATASET_NAMES:
        register(f"udcg-lodo-{dataset}", per_dataset(dataset))
