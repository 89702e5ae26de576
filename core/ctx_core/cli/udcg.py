"""``ctx udcg fit``: fit the distraction-aware reranker's calibrator on your own labelled queries."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ctx_core.cli._io import read_text, write_output
from ctx_core.embeddings import Embedder
from ctx_core.scoring.registry import build_scorer, scorer_names
from ctx_core.types import Passage
from ctx_core.udcg.fit import LabelledQuery, fit_calibrator
from ctx_core.udcg.list_gate import DEFAULT_GATE_FEATURES
from ctx_core.udcg.signals import HYBRID_FEATURES, HybridSignals, RelevanceSignals, ScorerSignals

#: Calibrator features for a single scorer: Platt scaling plus the gap to the list's best.
SCORER_FEATURES = ("score", "gap_to_best:score")

#: List-gate features for a single scorer: its best score in the list.
SCORER_GATE_FEATURES = ("max:score",)


def register(subparsers: Any) -> None:
    """Add the ``udcg`` command (``ctx udcg fit``)."""
    parser = subparsers.add_parser(
        "udcg", help="the distraction-aware reranker's calibrator", description=__doc__
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    fit = actions.add_parser(
        "fit",
        help="fit a calibrator on labelled queries",
        description=(
            "Fit the relevance calibrator of UtilityDistractionReranker on your labelled "
            "queries. --data is JSON lines, one query per line: "
            '{"query": "...", "passages": [{"id": "...", "text": "...", "label": 1}, ...]} '
            "(label: 0/1 or a graded label; an optional 'title' is kept as metadata). The "
            "calibrator is written as JSON; use it with "
            "UtilityDistractionReranker(calibrator='calibrator.json')."
        ),
    )
    fit.add_argument("--data", required=True, help="labelled queries (.jsonl), or - for stdin")
    fit.add_argument("--out", "-o", required=True, help="where to write the calibrator (.json)")
    fit.add_argument(
        "--scorer",
        choices=["hybrid", *scorer_names()],
        default="hybrid",
        help=(
            "relevance signals: the reranker's default HybridSignals (hybrid), or one scorer "
            "(e.g. cross-encoder with --model, cohere); use the same with the reranker"
        ),
    )
    fit.add_argument(
        "--model", default=None, help="model id or path of the embedder or scorer (default: MiniLM)"
    )
    fit.add_argument("--min-grade", type=int, default=1, help="smallest label that is relevant")
    fit.set_defaults(func=run)


def read_labelled(source: str) -> list[LabelledQuery]:
    """Labelled queries from JSON lines; an error names the file and line."""
    text, name = read_text(source, "--data")
    queries: list[LabelledQuery] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"--data {name} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: not valid JSON ({err.msg})") from err
        if not isinstance(record, dict) or not isinstance(record.get("query"), str):
            raise ValueError(f"{where}: expected an object with a 'query' string")
        items = record.get("passages")
        if not isinstance(items, list) or not items:
            raise ValueError(f"{where}: 'passages' must be a non-empty list")
        passages, labels = [], {}
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise ValueError(f"{where}: passages[{i}] needs a 'text' string")
            label = item.get("label")
            if isinstance(label, bool):
                label = int(label)
            if not isinstance(label, int):
                raise ValueError(f"{where}: passages[{i}] needs an integer 'label' (0/1 or graded)")
            passage_id = str(item.get("id", f"{number}-{i}"))
            metadata = {"title": item["title"]} if isinstance(item.get("title"), str) else {}
            passages.append(Passage(item["text"], id=passage_id, metadata=metadata))
            labels[passage_id] = label
        queries.append((record["query"], passages, labels))
    if len(queries) < 2:
        raise ValueError(f"--data {name}: needs at least 2 labelled queries, got {len(queries)}")
    return queries


def run(args: argparse.Namespace) -> int:
    """Fit, write the calibrator, print a summary."""
    if args.scorer == "cross-encoder" and args.model is None:
        raise ValueError("--scorer cross-encoder needs --model (a cross-encoder id or path)")
    labelled = read_labelled(args.data)
    signals: RelevanceSignals = (
        HybridSignals(Embedder(args.model))
        if args.scorer == "hybrid"
        else ScorerSignals(build_scorer(args.scorer, model=args.model))
    )
    calibrator = fit_calibrator(
        signals,
        labelled,
        features=HYBRID_FEATURES if args.scorer == "hybrid" else SCORER_FEATURES,
        list_gate=DEFAULT_GATE_FEATURES if args.scorer == "hybrid" else SCORER_GATE_FEATURES,
        min_grade=args.min_grade,
        info={"data": args.data, "scorer": args.scorer, "scorer_model": args.model},
    )
    write_output(args.out, json.dumps(calibrator.to_dict(), indent=2) + "\n")
    info = calibrator.info
    print(
        f"fitted on {info['queries']} queries ({info['positives']} relevant, "
        f"{info['negatives']} not, unrelated lists included); empty_below "
        f"{calibrator.empty_below:.3f}; list gate {calibrator.list_gate}; written to {args.out}",
        file=sys.stderr,
    )
    return 0
