"""Leave-one-data-set-out evaluation of the distraction-aware reranker's defaults.

Reads the signal lists that ``udcg_signals.py`` caches (DL19, HotpotQA, CACM, Cranfield,
NQ-open; MiniLM cosines, the HybridSignals columns, labels, token counts) and, for every
held-out data set X, fits each calibrator variant on the other four data sets only (each
query's list, its twin - the next query's candidates, labelled by this query's judgements -
and a foreign list from another data set, all irrelevant) and evaluates on X:

- the scorer alone (MiniLM cosine): its full order's nDCG@10, and its top-k for k = 1..6;
- hybrid top-k (the HybridSignals calibrator's order, top-k, nothing dropped);
- every calibrator x drop rule variant of the reranker, with paired bootstrap intervals
  against the scorer's top-k at the same mean number of kept passages (recall, distractor
  rate) and against the scorer's own nDCG@10;
- the variant's curve: relevant recall vs mean kept as the keep threshold moves, with
  the matched top-k at each point;
- empty contexts: how often each variant returns nothing for a foreign list (candidates
  of a query of another data set), for a twin with nothing relevant in it, and for the
  query's own list.

Every number here is out-of-domain for its data set (leave-one-data-set-out); nothing is
fitted on the data set it is reported for. The default is then chosen across folds and
its calibrator refitted on all five data sets (``--write-default``).

Rerun::

    python benchmarks/udcg_signals.py     # once: signals into the cache (embeddings are the slow part)
    python benchmarks/udcg_lodo.py        # writes benchmarks/results/udcg/lodo.json
    python benchmarks/udcg_lodo.py --write-default   # also refits and saves the shipped calibrator
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from udcg_signals import DATASETS, lexical, signals_path

from ctx_core.eval.bootstrap import compare, format_interval
from ctx_core.eval.environment import environment
from ctx_core.eval.tasks.distraction import (
    SignalList,
    fit_calibrator_on,
    fit_list_gate_on,
    keep,
    list_metrics,
    matched_top_k,
    mean_metrics,
    top_k,
)
from ctx_core.udcg import DropRule, ListGate, LogisticCalibrator
from ctx_core.udcg.calibration import EMPTY_QUANTILE
from ctx_core.udcg.reranker import (
    DEFAULT_CALIBRATOR,
    DEFAULT_MIN_PROBABILITY,
    DEFAULT_MIN_SHARE,
    DEFAULT_OBJECTIVE,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "udcg" / "lodo.json"
SHIPPED = ROOT / "core" / "ctx_core" / "data" / "calibrators"
PLOT = ROOT / "docs" / "assets" / "udcg-lodo-curve.png"

#: Calibrator variants: features over the signal columns (``dense`` is the plain MiniLM
#: cosine of the passage text; ``dense_title`` the cosine of "title: text").
FEATURES: dict[str, tuple[str, ...]] = {
    "platt": ("dense",),
    "listwise": ("dense", "gap_to_best:dense"),
    "listwise-z": ("dense", "gap_to_best:dense", "zscore:dense"),
    "listwise-rank": ("dense", "gap_to_best:dense", "zscore:dense", "reciprocal_rank:dense"),
    # HybridSignals(title_key=None): dense, the feedback hop and in-list BM25, no titles.
    "hybrid": ("dense", "gap_to_best:dense", "feedback", "gap_to_best:feedback", "max_norm:bm25"),
    # The previous default's features (HybridSignals with titles).
    "hybrid-titles": (
        "dense_title",
        "gap_to_best:dense_title",
        "feedback_title",
        "gap_to_best:feedback_title",
        "max_norm:bm25_title",
        "title_in_query",
        "title_in_best",
    ),
}

#: List-gate features per calibrator variant (the variant's dense column and the query
#: coverage of the same text), and the column that marks the best passage.
GATES: dict[str, tuple[tuple[str, ...], str]] = {
    name: (("max:dense_title", "at_best:coverage_title"), "dense_title")
    if name == "hybrid-titles"
    else (("max:dense", "at_best:coverage"), "dense")
    for name in FEATURES
}

#: List-gate feature sets compared on the shipped signals (``hybrid-titles`` columns);
#: the default is ``GATES["hybrid-titles"]``.
GATE_ABLATION: dict[str, tuple[str, ...]] = {
    "best cosine": ("max:dense_title",),
    "query coverage of the best": ("at_best:coverage_title",),
    "best cosine + gap to median": ("max:dense_title", "median_gap:dense_title"),
    "best cosine + query coverage of the best": ("max:dense_title", "at_best:coverage_title"),
    "best cosine + gap to median + query coverage": (
        "max:dense_title",
        "median_gap:dense_title",
        "at_best:coverage_title",
    ),
}

#: Drop rules. ``sum`` keeps every passage with a positive expected gain (the context is
#: empty when none has one); ``sum-margin`` keeps the best passage unless its probability
#: is below a threshold fitted on the training folds (see :func:`empty_threshold`), the
#: previous default; ``sum-gate`` keeps the best unless the list gate (fitted on the
#: training folds) says the list is unrelated; ``recall-gate`` is objective
#: ``expected_recall`` (the best, and every passage whose share ``p / sum(p)`` of the
#: list's expected relevant passages is above ``MIN_SHARE``) with the list gate;
#: ``sum-share-gate`` needs both a positive gain and that share; ``mean`` maximizes the
#: expected mean UDCG.
RULES = (
    "sum",
    "sum-margin",
    "sum-gate",
    "recall-gate",
    "recall-p05-gate",
    "recall-p10-gate",
    "sum-share-gate",
    "mean",
)

#: Human-readable rule names (tables).
RULE_NAMES = {
    "sum": "expected sum",
    "sum-margin": "expected sum, best kept unless its probability is low",
    "sum-gate": "expected sum, best kept unless the list gate says unrelated",
    "recall-gate": "expected recall (share > 0.1), list gate",
    "recall-p05-gate": "expected recall (share > 0.1, p > 0.05), list gate",
    "recall-p10-gate": "expected recall (share > 0.1, p > 0.1), list gate",
    "sum-share-gate": "expected sum and share > 0.1, list gate",
    "mean": "expected mean UDCG",
}

#: ``min_share`` of the share rules (the reranker's default for ``expected_recall``).
MIN_SHARE = DEFAULT_MIN_SHARE

#: ``min_share`` values of the share rules' curves.
SHARE_CURVE = (0.5, 0.3, 0.2, 0.15, 0.1, 0.07, 0.05, 0.03, 0.02, 0.01, 0.005)

#: Top-k baselines.
KS = (1, 2, 3, 4, 5, 6)

#: Keep thresholds of the curve (relevance probability above which a passage is kept).
CURVE = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


class Lists(NamedTuple):
    """One data set's lists: each query's own, its twin and its foreign list."""

    own: list[SignalList]
    twin: list[SignalList]
    foreign: list[SignalList]


def load_lists(dataset: str) -> Lists:
    """The data set's lists from the signal cache (see ``udcg_signals.py``)."""
    path = signals_path(dataset)
    if not path.exists():
        raise SystemExit(f"no signals for {dataset}: run benchmarks/udcg_signals.py {dataset}")
    data = json.loads(path.read_text(encoding="utf-8"))
    lexical_columns = lexical(dataset)
    if len(lexical_columns) != len(data["queries"]):
        raise SystemExit(f"{dataset}: lexical cache does not match the signals; delete it")
    lists = Lists([], [], [])
    for r, lex in zip(data["queries"], lexical_columns, strict=True):
        r["signals"].update(lex["own"])
        r["twin"]["signals"].update(lex["twin"])
        r["foreign"]["signals"].update(lex["foreign"])
        own = SignalList(
            dataset,
            r["query_id"],
            tuple(r["ids"]),
            tuple(r["grades"]),
            r["qrels"],
            tuple(r["tokens"]),
            r["signals"],
            relevant_grade=data["relevant_grade"],
        )
        twin = r["twin"]
        lists.own.append(own)
        lists.twin.append(
            replace(
                own,
                ids=tuple(twin["ids"]),
                grades=tuple(twin["grades"]),
                tokens=tuple(twin["tokens"]),
                signals=twin["signals"],
            )
        )
        foreign = r["foreign"]
        lists.foreign.append(own.unrelated(foreign["signals"], foreign["ids"], foreign["tokens"]))
    return lists


def weight_for(threshold: float) -> float:
    """The irrelevant weight whose expected gain turns positive at ``threshold``."""
    return -threshold / (1.0 - threshold)


def empty_threshold(calibrator: LogisticCalibrator, training: dict[str, list[SignalList]]) -> float:
    """Smallest per-data-set 1% quantile of the best passage's probability on related lists."""
    quantiles = []
    for lists in training.values():
        tops = [max(calibrator.probabilities(s.signals)) for s in lists]
        quantiles.append(float(np.quantile(tops, EMPTY_QUANTILE)))
    return min(quantiles)


def rule_for(
    name: str, margin: float, threshold: float = 0.25, share: float = MIN_SHARE
) -> DropRule:
    """The drop rule; gate rules get the gate's decision from :func:`decider`."""
    weight = weight_for(threshold)
    if name == "sum":
        return DropRule(irrelevant_weight=weight)
    if name == "sum-margin":
        return DropRule(irrelevant_weight=weight, empty_below=margin)
    if name == "sum-gate":
        return DropRule(irrelevant_weight=weight)
    if name.startswith("recall-"):
        floor = {"recall-gate": 0.0, "recall-p05-gate": 0.05, "recall-p10-gate": 0.1}[name]
        return DropRule(
            irrelevant_weight=weight,
            objective="expected_recall",
            min_share=share,
            min_probability=floor,
        )
    if name == "sum-share-gate":
        return DropRule(irrelevant_weight=weight, min_share=share)
    if name == "mean":
        return DropRule(irrelevant_weight=weight, objective="expected_mean")
    raise ValueError(name)


def decider(
    name: str, rule: DropRule, calibrator: LogisticCalibrator, gate: ListGate
) -> Callable[[SignalList], list[int]]:
    """What a rule keeps of one list (the gate rules consult the list gate)."""
    uses_gate = name.endswith("-gate")
    return lambda s: keep(s, calibrator, rule, gate if uses_gate else None)


def interval(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Paired bootstrap of mean(a - b) over the lists where both are defined."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if not (math.isnan(x) or math.isnan(y))]
    result = compare([p[0] for p in pairs], [p[1] for p in pairs])
    cell = format_interval(result)
    if result.interval is None:
        return {"pairs": result.pairs, "text": cell}
    diff, low, high = result.interval
    return {"diff": diff, "low": low, "high": high, "pairs": result.pairs, "text": cell}


def column_of(rows: Sequence[dict[str, float]], name: str) -> list[float]:
    return [r[name] for r in rows]


def evaluate_variant(
    lists: Lists,
    decide: Callable[[SignalList], list[int]],
    scorer_full: list[dict[str, float]],
    ranked: list[SignalList],
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Metrics of one variant on one held-out data set, with its matched top-k comparisons.

    Returns the summary and the per-list rows (for paired comparisons between variants).
    """
    rows = [list_metrics(s, decide(s)) for s in lists.own]
    means = mean_metrics(rows)
    matched = matched_top_k(lists.own, "dense", means["kept"])
    matched_order = matched_top_k(ranked, "p", means["kept"])
    empty_twins = [s for s in lists.twin if not any(s.labels)]
    names = ("recall", "distractor_rate", "udcg", "ndcg@10")
    summary = {
        "metrics": means,
        "empty_on_foreign": float(np.mean([not decide(s) for s in lists.foreign])),
        "empty_on_twin_without_relevant": float(np.mean([not decide(s) for s in empty_twins]))
        if empty_twins
        else None,
        "twins_without_relevant": len(empty_twins),
        "empty_on_related": means["empty"],
        "empty_on_related_with_relevant": float(
            np.mean([r["empty"] for r, s in zip(rows, lists.own, strict=True) if any(s.labels)])
        ),
        "matched_top_k": mean_metrics(matched),
        "vs_matched_top_k": {n: interval(column_of(rows, n), column_of(matched, n)) for n in names},
        "matched_order_top_k": mean_metrics(matched_order),
        "vs_matched_order_top_k": {
            n: interval(column_of(rows, n), column_of(matched_order, n)) for n in names
        },
        "vs_scorer_ndcg@10": interval(
            column_of(rows, "ndcg@10"), column_of(scorer_full, "ndcg@10")
        ),
    }
    return summary, rows


def fold(held_out: str, data: dict[str, Lists]) -> dict[str, Any]:
    """Everything reported for one held-out data set."""
    lists = data[held_out]
    training = {d: v.own for d, v in data.items() if d != held_out}
    train_lists = [s for d, v in data.items() if d != held_out for s in v.own + v.twin + v.foreign]
    scorer_full = [list_metrics(s, top_k(s, "dense", len(s.ids))) for s in lists.own]
    out: dict[str, Any] = {
        "dataset": held_out,
        "lists": len(lists.own),
        "candidates_per_list": float(np.mean([len(s.ids) for s in lists.own])),
        "relevant_per_list": float(np.mean([sum(s.labels) for s in lists.own])),
        "trained_on": sorted(training),
        "scorer": {"metrics": mean_metrics(scorer_full)},
        "scorer_top_k": {
            str(k): mean_metrics([list_metrics(s, top_k(s, "dense", k)) for s in lists.own])
            for k in KS
        },
        "variants": {},
    }
    rows_of: dict[tuple[str, str], list[dict[str, float]]] = {}
    for name, features in FEATURES.items():
        calibrator = fit_calibrator_on(train_lists, features)
        margin = empty_threshold(calibrator, training)
        gate_features, best_column = GATES[name]
        gate = fit_list_gate_on(
            [s for d, v in data.items() if d != held_out for s in v.own + v.foreign],
            gate_features,
            best_column=best_column,
        )
        # The calibrator's own order (by probability), top-k, nothing dropped.
        ranked = [replace(s, signals={"p": calibrator.probabilities(s.signals)}) for s in lists.own]
        order_full = [list_metrics(s, top_k(s, "p", len(s.ids))) for s in ranked]
        variant: dict[str, Any] = {
            "features": list(features),
            "calibrator": calibrator.to_dict(),
            "empty_below": margin,
            "list_gate": gate.to_dict(),
            "order_ndcg@10": mean_metrics(order_full)["ndcg@10"],
            "order_vs_scorer_ndcg@10": interval(
                column_of(order_full, "ndcg@10"), column_of(scorer_full, "ndcg@10")
            ),
            "order_top_k": {
                str(k): mean_metrics([list_metrics(s, top_k(s, "p", k)) for s in ranked])
                for k in KS
            },
            "rules": {},
        }
        for rule_name in RULES:
            decide = decider(rule_name, rule_for(rule_name, margin), calibrator, gate)
            result, rows_of[name, rule_name] = evaluate_variant(lists, decide, scorer_full, ranked)
            if rule_name != "mean":
                result["curve"] = curve(lists.own, calibrator, margin, gate, rule_name)
            variant["rules"][rule_name] = result
        out["variants"][name] = variant
    # Which list features decide "unrelated": each gate fitted without the held-out set.
    gate_training = [s for d, v in data.items() if d != held_out for s in v.own + v.foreign]
    out["gate_ablation"] = {}
    for label, gate_features in GATE_ABLATION.items():
        gate = fit_list_gate_on(gate_training, gate_features, best_column="dense_title")
        twins = [s for s in lists.twin if not any(s.labels)]
        out["gate_ablation"][label] = {
            "features": list(gate_features),
            "empty_on_foreign": float(np.mean([gate.unrelated(s.signals) for s in lists.foreign])),
            "empty_on_related": float(np.mean([gate.unrelated(s.signals) for s in lists.own])),
            "empty_on_twin_without_relevant": float(
                np.mean([gate.unrelated(s.signals) for s in twins])
            )
            if twins
            else None,
        }
    # Titles on vs off, same rule, paired over the held-out lists.
    out["titles_vs_no_titles"] = {
        rule_name: {
            n: interval(
                column_of(rows_of["hybrid-titles", rule_name], n),
                column_of(rows_of["hybrid", rule_name], n),
            )
            for n in ("recall", "distractor_rate", "kept", "udcg", "ndcg@10")
        }
        for rule_name in RULES
    }
    return out


def curve(
    lists: list[SignalList],
    calibrator: LogisticCalibrator,
    margin: float,
    gate: ListGate,
    rule_name: str,
) -> list[dict[str, Any]]:
    """Recall and distractor rate vs mean kept as the rule's knob moves, with matched top-k.

    The knob is the probability threshold for the sum rules and ``min_share`` for the
    share rules (their probability threshold stays at its default).
    """
    points = []
    share_rule = rule_name.startswith("recall-") or rule_name == "sum-share-gate"
    for knob in SHARE_CURVE if share_rule else CURVE:
        rule = (
            rule_for(rule_name, margin, share=knob)
            if share_rule
            else rule_for(rule_name, margin, threshold=knob)
        )
        decide = decider(rule_name, rule, calibrator, gate)
        rows = [list_metrics(s, decide(s)) for s in lists]
        means = mean_metrics(rows)
        matched = matched_top_k(lists, "dense", means["kept"])
        points.append(
            {
                "min_share" if share_rule else "threshold": knob,
                "kept": means["kept"],
                "recall": means["recall"],
                "distractor_rate": means["distractor_rate"],
                "top_k_recall": mean_metrics(matched)["recall"],
                "top_k_distractor_rate": mean_metrics(matched)["distractor_rate"],
                "recall_vs_top_k": interval(
                    column_of(rows, "recall"), column_of(matched, "recall")
                ),
            }
        )
    return points


def goals(variant: dict[str, Any], rule: dict[str, Any]) -> dict[str, bool]:
    """The issue's goals on one fold, for one calibrator variant and rule."""
    vs = rule["vs_matched_top_k"]
    points = rule.get("curve") or []
    return {
        "order_not_worse": variant["order_vs_scorer_ndcg@10"].get("high", 0.0) >= 0.0,
        "recall_not_worse_at_size": vs["recall"].get("high", 0.0) >= 0.0,
        "curve_not_below_top_k": bool(points)
        and all(p["recall_vs_top_k"].get("high", 0.0) >= 0.0 for p in points),
        "fewer_distractors_at_size": vs["distractor_rate"].get("diff", 0.0) < 0.0,
        "empty_on_foreign_90": rule["empty_on_foreign"] >= 0.9,
        "empty_on_related_below_2": rule["empty_on_related"] < 0.02,
    }


def select(folds: dict[str, Any]) -> dict[str, Any]:
    """Rank every variant x rule by goals met across folds, then by mean UDCG over folds."""
    rows = []
    for name in FEATURES:
        for rule in RULES:
            met = {
                d: goals(f["variants"][name], f["variants"][name]["rules"][rule])
                for d, f in folds.items()
            }
            udcgs = [f["variants"][name]["rules"][rule]["metrics"]["udcg"] for f in folds.values()]
            rows.append(
                {
                    "variant": name,
                    "rule": rule,
                    "goals_met": sum(sum(g.values()) for g in met.values()),
                    "goals_total": sum(len(g) for g in met.values()),
                    "mean_udcg": float(np.mean(udcgs)),
                    "goals": met,
                }
            )
    rows.sort(key=lambda r: (-r["goals_met"], -r["mean_udcg"]))
    return {"ranking": rows, "chosen": {"variant": rows[0]["variant"], "rule": rows[0]["rule"]}}


#: Signal columns as ``HybridSignals()`` (titles on) names them; the cache keeps both kinds.
SHIPPED_COLUMNS = {
    "dense_title": "dense",
    "feedback_title": "feedback",
    "bm25_title": "bm25",
    "coverage_title": "coverage",
}


def shipped_feature(feature: str) -> str:
    """A cache feature name as the shipped signals name it (``gap_to_best:dense_title`` -> ``gap_to_best:dense``)."""
    transform, _, column = feature.rpartition(":")
    column = SHIPPED_COLUMNS.get(column, column)
    return f"{transform}:{column}" if transform else column


def write_default(
    data: dict[str, Lists], variant: str, rule: str, path: Path
) -> LogisticCalibrator:
    """Fit the chosen variant on all data sets and save it as the shipped default calibrator."""
    if variant not in ("hybrid", "hybrid-titles"):
        raise SystemExit(f"the shipped default reads HybridSignals; {variant!r} does not")
    objective = (
        "expected_recall"
        if rule.startswith("recall-")
        else {"mean": "expected_mean"}.get(rule, "expected_sum")
    )
    floor = {"recall-gate": 0.0, "recall-p05-gate": 0.05, "recall-p10-gate": 0.1}.get(rule, 0.0)
    if floor != DEFAULT_MIN_PROBABILITY:
        raise SystemExit(f"set DEFAULT_MIN_PROBABILITY = {floor} in ctx_core.udcg.reranker")
    if objective != DEFAULT_OBJECTIVE or rule in ("sum-share-gate", "sum"):
        raise SystemExit(
            f"rule {rule!r} is not what UtilityDistractionReranker() does by default "
            f"(objective {DEFAULT_OBJECTIVE!r}); change DEFAULT_OBJECTIVE in "
            "ctx_core.udcg.reranker first"
        )
    lists = [s for v in data.values() for s in v.own + v.twin + v.foreign]
    fitted = fit_calibrator_on(lists, FEATURES[variant])
    fitted.empty_below = empty_threshold(fitted, {d: v.own for d, v in data.items()})
    gate = None
    if rule.endswith("-gate"):
        gate_features, best_column = GATES[variant]
        fitted_gate = fit_list_gate_on(
            [s for v in data.values() for s in v.own + v.foreign],
            gate_features,
            best_column=best_column,
        )
        gate = ListGate(
            fitted_gate.weights,
            fitted_gate.bias,
            [shipped_feature(f) for f in fitted_gate.features],
            fitted_gate.threshold,
            SHIPPED_COLUMNS.get(best_column, best_column),
            fitted_gate.info,
        )
    calibrator = LogisticCalibrator(
        fitted.weights,
        fitted.bias,
        [shipped_feature(f) for f in fitted.features],
        fitted.info,
        fitted.empty_below,
        gate,
    )
    calibrator.info.update(
        {
            "signals": "HybridSignals()"
            if variant == "hybrid-titles"
            else "HybridSignals(title_key=None)",
            "model": "all-MiniLM-L6-v2",
            "chosen_by": "benchmarks/udcg_lodo.py (leave-one-data-set-out)",
            "empty_below": "smallest per-data-set 1% quantile of the best candidate's probability",
            "rule": rule,
            "objective": objective,
            "min_share": MIN_SHARE if objective == "expected_recall" else None,
            "min_probability": floor if objective == "expected_recall" else None,
            "list_gate": "smallest per-data-set 1% quantile of related lists' gate probability"
            if gate is not None
            else None,
        }
    )
    calibrator.save(path)
    return calibrator


def plot_curves(result: dict[str, Any], path: Path) -> None:
    """Recall vs mean kept: the default's threshold curve beside MiniLM top-k, per data set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    chosen = result["selection"]["chosen"]
    folds = result["folds"]
    fig, axes = plt.subplots(1, len(folds), figsize=(3.2 * len(folds), 3.2), squeeze=False)
    for ax, (dataset, fold) in zip(axes[0], folds.items(), strict=True):
        points = fold["variants"][chosen["variant"]]["rules"][chosen["rule"]]["curve"]
        ax.plot([p["kept"] for p in points], [p["recall"] for p in points], "o-", ms=3,
                label="reranker (knob sweep)")  # fmt: skip
        ax.plot([p["kept"] for p in points], [p["top_k_recall"] for p in points], "s--", ms=3,
                label="MiniLM top-k, same size")  # fmt: skip
        default = fold["variants"][chosen["variant"]]["rules"][chosen["rule"]]["metrics"]
        ax.plot([default["kept"]], [default["recall"]], "r*", ms=10, label="default")
        ax.set_title(f"{dataset} (held out)", fontsize=9)
        ax.set_xlabel("passages kept (mean, log scale)", fontsize=8)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks([1, 2, 5, 10, 20, 50])
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("relevant recall", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument(
        "--write-default",
        action="store_true",
        help=f"refit the chosen variant on every data set and save it as {DEFAULT_CALIBRATOR}",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = {d: load_lists(d) for d in args.datasets}
    folds = {d: fold(d, data) for d in args.datasets}
    result = {
        "kind": "udcg-lodo",
        "protocol": (
            "leave-one-data-set-out: every calibrator is fitted on the other data sets' lists "
            "(each with its twin and a foreign list) and evaluated on the held-out one"
        ),
        "scorer": "all-MiniLM-L6-v2 cosine (passage text)",
        "features": {k: list(v) for k, v in FEATURES.items()},
        "rules": list(RULES),
        "rule_names": RULE_NAMES,
        "min_share": MIN_SHARE,
        "list_gates": {k: {"features": list(v[0]), "best_column": v[1]} for k, v in GATES.items()},
        "gate_ablation": {k: list(v) for k, v in GATE_ABLATION.items()},
        "folds": folds,
        "selection": select(folds),
        "environment": environment(),
        "machine": platform.node(),
        "command": "python benchmarks/udcg_lodo.py " + " ".join(argv),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    chosen = result["selection"]["chosen"]
    print(f"chosen across folds: {chosen['variant']} + {chosen['rule']}")
    if args.write_default:
        calibrator = write_default(
            data, chosen["variant"], chosen["rule"], SHIPPED / f"{DEFAULT_CALIBRATOR}.json"
        )
        result["default_calibrator"] = {"name": DEFAULT_CALIBRATOR, **calibrator.to_dict()}
        print(f"saved {DEFAULT_CALIBRATOR}: {calibrator}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(result, indent=1, allow_nan=False, default=_nan_safe) + "\n", encoding="utf-8"
    )
    plot_curves(result, PLOT)
    print(f"wrote {args.out} and {PLOT} in {result['seconds']} s")
    return 0


def _nan_safe(value: Any) -> Any:
    raise TypeError(f"not JSON: {value!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
