"""Tables of the distraction-aware reranker's leave-one-data-set-out run (``udcg_lodo.py``).

Every number is read from ``benchmarks/results/udcg/lodo.json``; every number there is
out-of-domain: the calibrators were fitted without the data set the row reports.
``register_udcg_tables(register)`` adds the builders to the table registry of
``benchmarks/tables.py``:

- ``udcg-lodo-summary``: the shipped default on each held-out data set, against the
  scorer alone and against top-k at the same mean size;
- ``udcg-lodo-<dataset>``: every baseline and variant on one held-out data set;
- ``udcg-lodo-selection``: how the default was chosen (goals met across folds);
- ``udcg-lodo-curve``: the default rule's recall vs mean kept as its knob moves, beside
  MiniLM top-k at the same size, on each held-out data set;
- ``udcg-lodo-titles``: the title features on vs off under the default rule, paired;
- ``udcg-lodo-gates``: empty contexts by list-gate feature set.
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

#: Rule names of results written before ``rule_names`` was stored in the result file.
RULE_NAMES = {
    "sum": "expected sum",
    "sum-margin": "expected sum, best kept unless its probability is low",
    "mean": "expected mean UDCG",
}

#: Which held-out data sets carry passage titles (``metadata["title"]``).
HAS_TITLES = {"dl19": False, "hotpotqa": True, "cacm": True, "cranfield": True, "nq": True}


def _rule_name(result: dict[str, Any], rule: str) -> str:
    return str(result.get("rule_names", RULE_NAMES).get(rule, rule))


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
                _f(rule.get("empty_on_twin_without_relevant"), 2),
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
        "empty: next query's list, nothing relevant",
    ]
    note = (
        f"Default: `{chosen['variant']}` signals, rule *{_rule_name(result, chosen['rule'])}*. "
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
        result = _load(root)
        fold = result["folds"][dataset]
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
                        f"reranker: {name}, {_rule_name(result, rule_name)}",
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
                f"{row['variant']}, {_rule_name(result, row['rule'])}",
                f"{row['goals_met']}/{row['goals_total']}",
            ]
            + [f"{per_goal[g]}/5" for g in per_goal]
            + [_f(row["mean_udcg"])]
        )
    first = result["selection"]["ranking"][0]["goals"]
    goal_names = list(next(iter(first.values())))
    header = ["variant", "goals met"] + [g.replace("_", " ") for g in goal_names] + ["mean UDCG"]
    note = (
        "Goals per held-out data set (5 folds): order nDCG@10 not worse than MiniLM's (interval "
        "reaches 0), recall not worse than MiniLM top-k at the same mean size (interval reaches "
        "0), the curve not below top-k at any of its points (each interval reaches 0), fewer "
        "distractors at that size (mean difference < 0), a foreign list emptied >= 90% of the "
        "time, an own list emptied < 2% of the time. All leave-one-data-set-out."
    )
    return _table(header, rows) + "\n\n" + note


def curve_table(root: Path) -> str:
    """The default rule's curve on every held-out data set, beside MiniLM top-k."""
    result = _load(root)
    chosen = result["selection"]["chosen"]
    rows = []
    for dataset, fold in result["folds"].items():
        for point in fold["variants"][chosen["variant"]]["rules"][chosen["rule"]]["curve"]:
            knob = "min_share" if "min_share" in point else "threshold"
            rows.append(
                [
                    dataset,
                    f"{knob} {point[knob]:g}",
                    _f(point["kept"], 2),
                    f"{_f(point['recall'])} vs {_f(point['top_k_recall'])}: "
                    + _cell(point["recall_vs_top_k"]),
                    f"{_f(point['distractor_rate'])} vs {_f(point['top_k_distractor_rate'])}",
                ]
            )
    header = [
        "held-out data set",
        "knob",
        "kept (mean)",
        "recall vs MiniLM top-k, same size",
        "distractor rate vs top-k",
    ]
    note = (
        f"`{chosen['variant']}`, rule *{_rule_name(result, chosen['rule'])}*, as its knob moves "
        "(leave-one-data-set-out). Intervals: paired bootstrap, 95%."
    )
    return _table(header, rows) + "\n\n" + note


def titles_table(root: Path) -> str:
    """Title features on vs off, under the default rule, on every held-out data set."""
    result = _load(root)
    rule = result["selection"]["chosen"]["rule"]
    rows = []
    for dataset, fold in result["folds"].items():
        vs = fold["titles_vs_no_titles"][rule]
        titled = fold["variants"]["hybrid-titles"]["rules"][rule]
        plain = fold["variants"]["hybrid"]["rules"][rule]
        rows.append(
            [
                DATASET_NAMES.get(dataset, dataset),
                "yes" if HAS_TITLES.get(dataset) else "no",
                _cell(vs["recall"]),
                _cell(vs["distractor_rate"]),
                _cell(vs["udcg"]),
                f"{_f(titled['empty_on_foreign'], 2)} vs {_f(plain['empty_on_foreign'], 2)}",
            ]
        )
    header = [
        "held-out data set",
        "passages have titles",
        "recall: titles - none",
        "distractor rate: titles - none",
        "UDCG: titles - none",
        "empty on foreign: titles vs none",
    ]
    note = (
        f"Rule *{_rule_name(result, rule)}*; `hybrid-titles` against `hybrid` (the same "
        "signals with `title_key=None`), both fitted without the held-out data set; paired "
        "bootstrap 95% intervals of the difference over its queries."
    )
    return _table(header, rows) + "\n\n" + note


def gates_table(root: Path) -> str:
    """Empty contexts by list-gate feature set, on every held-out data set."""
    result = _load(root)
    folds = result["folds"]
    labels = list(next(iter(folds.values()))["gate_ablation"])
    rows = []
    for label in labels:
        cells = []
        met = 0
        for fold in folds.values():
            g = fold["gate_ablation"][label]
            met += (g["empty_on_foreign"] >= 0.9) + (g["empty_on_related"] < 0.02)
            cells.append(f"{_f(g['empty_on_foreign'], 2)} / {_f(g['empty_on_related'], 3)}")
        rows.append([label, *cells, f"{met}/{2 * len(folds)}"])
    header = ["gate features", *folds, "goals met"]
    note = (
        "Cells: share of foreign lists emptied / share of own lists emptied, on the held-out "
        "data set (leave-one-data-set-out: every gate fitted on the other four data sets' own "
        "lists against their foreign lists, threshold the smallest per-data-set 1% quantile "
        "of the own lists' gate probability). Goals: >= 0.90 and < 0.02. Columns of the "
        "shipped signals (`hybrid-titles`)."
    )
    return _table(header, rows) + "\n\n" + note


def register_udcg_tables(register: Callable[..., Any]) -> None:
    """Add the UDCG builders to a table registry's ``register(name, builder)``."""
    register("udcg-lodo-summary", summary)
    register("udcg-lodo-selection", selection)
    register("udcg-lodo-curve", curve_table)
    register("udcg-lodo-titles", titles_table)
    register("udcg-lodo-gates", gates_table)
    for dataset in DATASET_NAMES:
        register(f"udcg-lodo-{dataset}", per_dataset(dataset))
