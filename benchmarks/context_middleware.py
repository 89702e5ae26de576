"""Tokens a LangChain agent's model reads per call, with and without ActiveContextMiddleware.

The same generated items as ``ctx eval context`` (multi-needle kinship chains in essays,
PI-LLM key-value streams), each asked of a real ``create_agent`` agent in three ways,
side by side in one run:

* ``plain``: no tools, no middleware; the model reads the whole document and answers.
* ``scripted``: no middleware; the item's scripted policy (the same searches as the
  context benchmark, then a restore of the fragments that hold the hits) calls the
  context tools on a copy of the document, then the reader answers. The model reads
  the whole document at every call, plus the tool traffic.
* ``middleware``: the same script and reader, with ``ActiveContextMiddleware``: the
  document is folded to the budget before each model call, the search finds the
  needles while folded, and the restore shows their fragments again, byte for byte.

The deciding model is ``ScriptedPolicyChatModel`` (the core ``ScriptedPolicy``); the
reader that writes the answer is the packaged SmolLM2 by default. Per item the file
records the tokens of every model call (``cl100k_base`` over the message texts the
model was given, read through langchain's ``on_chat_model_start`` callback), whether
the answer was in what the model read at its last call (all needles, for multi-needle),
and the reader's answer and score.

Run (CPU; about 10 minutes on 2 cores for the defaults)::

    python benchmarks/context_middleware.py --task multi-needle
    python benchmarks/context_middleware.py --task pi-llm

Results: ``benchmarks/results/context/middleware-<task>-<reader>.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage, HumanMessage

from ctx_core.context import ContextBudget, ScriptedPolicy, WorkingContext
from ctx_core.eval.results import current_command, write_results
from ctx_core.eval.tasks.context import EvalItem, multi_needle_items, pi_llm_items
from ctx_core.llm import TransformersLLM
from ctx_core.progress import progress
from ctx_core.tokens import default_counter
from langchain_ctx import ActiveContextMiddleware, ContextToolkit, ScriptedPolicyChatModel

RESULTS = Path(__file__).resolve().parent / "results" / "context"
METHODS = ("plain", "scripted", "middleware")

logger = logging.getLogger("context_middleware")


class ReadRecorder(BaseCallbackHandler):
    """The messages of every call of the agent's chat model (langchain's callback hook)."""

    def __init__(self) -> None:
        self.calls: list[list[BaseMessage]] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.calls.append(list(messages[0]))


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def build_items(args: argparse.Namespace) -> list[EvalItem]:
    if args.task == "multi-needle":
        sizes = [
            {"n_needles": n, "context_tokens": t}
            for n in _ints(args.needles)
            for t in _ints(args.context_tokens)
        ]
        return list(multi_needle_items(sizes, trials=args.trials, seed=args.seed))
    sizes = [{"n_keys": k, "n_updates": u} for k in _ints(args.keys) for u in _ints(args.updates)]
    return list(
        pi_llm_items(sizes, trials=args.trials, seed=args.seed, keys_per_task=args.keys_per_task)
    )


def run_one(
    item: EvalItem, method: str, reader: Any, budget: ContextBudget, restore: bool
) -> dict[str, Any]:
    """Ask one item one way; the record for the results file."""
    counter = default_counter()
    script = replace(item.policy, window_tokens=None, restore_hits=restore)
    if method == "plain":
        script = ScriptedPolicy(window_tokens=None)
    model = ScriptedPolicyChatModel(
        policy=script, reader=reader, answer_max_tokens=item.answer_max_tokens
    )
    middleware = None
    if method == "middleware":
        middleware = ActiveContextMiddleware(budget=budget)
        agent = create_agent(model, middleware=[middleware])
    elif method == "scripted":
        tools = ContextToolkit(context=WorkingContext([("user", item.document)])).get_tools()
        agent = create_agent(model, tools)
    else:
        agent = create_agent(model)
    recorder = ReadRecorder()
    started = time.perf_counter()
    out = agent.invoke(
        {"messages": [HumanMessage(item.document), HumanMessage(item.question)]},
        config={"callbacks": [recorder]},
    )
    seconds = time.perf_counter() - started
    answer = out["messages"][-1].text
    per_call = [sum(counter.count(m.text) for m in call) for call in recorder.calls]
    last_read = "\n".join(m.text for m in recorder.calls[-1])
    record: dict[str, Any] = {
        "item_id": item.item_id,
        "task": item.task,
        "size": item.size,
        "method": method,
        "expected": item.expected,
        "answer": answer,
        **item.score(answer),
        "answer_visible": item.expected.casefold() in last_read.casefold(),
        "model_calls": len(per_call),
        "tokens_per_call": per_call,
        "mean_tokens_per_call": round(sum(per_call) / len(per_call), 1),
        "last_call_tokens": per_call[-1],
        "total_tokens": sum(per_call),
        "document_tokens": counter.count(item.document),
        "tool_calls": [
            call["name"] for m in out["messages"] for call in getattr(m, "tool_calls", [])
        ],
        "seconds": round(seconds, 2),
    }
    if item.task == "multi-needle":
        record["needles_visible"] = all(
            needle in last_read for needle in item.info.get("needle_texts", [])
        )
    if middleware is not None:
        record["middleware_reads"] = [
            {"context": r.context_tokens, "original": r.original_tokens, "folded": r.folded}
            for r in middleware.reads
        ]
        # the restored fragments are the document's own characters, byte for byte
        record["restored_exact"] = all(
            middleware.context.fragment_text(f.id) == item.document[f.start[1] : f.end[1]]
            for f in middleware.context.fragments
            if f.state.value == "shown" and f.start[0] == 0
        )
    return record


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    metrics: dict[str, Any] = {}
    for size in dict.fromkeys(r["size"] for r in records):
        by_method: dict[str, Any] = {}
        for method in METHODS:
            rows = [r for r in records if r["size"] == size and r["method"] == method]
            if not rows:
                continue
            entry = {
                "n": len(rows),
                "accuracy": mean([float(r["correct"]) for r in rows]),
                "answer_visible": mean([float(r["answer_visible"]) for r in rows]),
                "mean_model_calls": mean([r["model_calls"] for r in rows]),
                "mean_tokens_per_call": mean([r["mean_tokens_per_call"] for r in rows]),
                "mean_last_call_tokens": mean([r["last_call_tokens"] for r in rows]),
                "mean_total_tokens": mean([r["total_tokens"] for r in rows]),
                "mean_document_tokens": mean([r["document_tokens"] for r in rows]),
                "mean_seconds": mean([r["seconds"] for r in rows]),
            }
            if "needles_visible" in rows[0]:
                entry["needles_visible"] = mean([float(r["needles_visible"]) for r in rows])
            if "restored_exact" in rows[0]:
                entry["restored_exact"] = mean([float(r["restored_exact"]) for r in rows])
            by_method[method] = entry
        for method in ("scripted", "middleware"):
            if method in by_method and "plain" in by_method:
                base = by_method["plain"]["mean_tokens_per_call"]
                by_method[method]["tokens_per_call_vs_plain"] = round(
                    by_method[method]["mean_tokens_per_call"] / base, 4
                )
        if "scripted" in by_method and "middleware" in by_method:
            by_method["middleware"]["tokens_per_call_vs_scripted"] = round(
                by_method["middleware"]["mean_tokens_per_call"]
                / by_method["scripted"]["mean_tokens_per_call"],
                4,
            )
        metrics[size] = by_method
    return metrics


def markdown_table(paths: list[Path]) -> str:
    """A Markdown table of result files: per size, tokens per call and accuracy per method."""
    lines = [
        "| task, size | plain tokens/call | scripted tokens/call | middleware tokens/call "
        "(vs plain) | middleware last call | visible (plain / scripted / middleware) "
        "| accuracy (plain / scripted / middleware) |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in paths:
        results = json.loads(Path(path).read_text(encoding="utf-8"))
        for size, by in results["metrics"].items():
            p, s, m = by["plain"], by["scripted"], by["middleware"]
            key = "needles_visible" if "needles_visible" in m else "answer_visible"
            visible = " / ".join(f"{x[key]:.2f}" for x in (p, s, m))
            accuracy = " / ".join(f"{x['accuracy']:.2f}" for x in (p, s, m))
            lines.append(
                f"| {results['task']}, {size} (n={m['n']}) | {p['mean_tokens_per_call']:,.0f} "
                f"| {s['mean_tokens_per_call']:,.0f} | {m['mean_tokens_per_call']:,.0f} "
                f"({m['tokens_per_call_vs_plain']:.2f}x) | {m['mean_last_call_tokens']:,.0f} "
                f"| {visible} | {accuracy} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=("multi-needle", "pi-llm"), default="multi-needle")
    parser.add_argument("--needles", default="3", help="multi-needle: needles per chain")
    parser.add_argument("--context-tokens", default="2000,4000", help="multi-needle: lengths")
    parser.add_argument("--keys", default="4", help="PI-LLM: tracked keys")
    parser.add_argument("--updates", default="40,80", help="PI-LLM: updates per key")
    parser.add_argument("--keys-per-task", type=int, default=2, help="PI-LLM: keys asked")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-tokens", type=int, default=500, help="middleware budget")
    parser.add_argument("--window-tokens", type=int, default=200, help="fragment size")
    parser.add_argument("--no-restore", action="store_true", help="search only, no restore")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--reader", default="smollm2", help="model id or path of the reader")
    parser.add_argument("--limit", type=int, default=None, help="at most this many items")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument(
        "--table", type=Path, nargs="+", help="print a Markdown table of these result files"
    )
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table(args.table))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"--methods: unknown {unknown}; choose from {list(METHODS)}")
    items = build_items(args)[: args.limit]
    if args.task == "multi-needle":
        # the needle sentences, to check that every one was in what the model read
        from ctx_core.eval.generators.multi_needle import generate_multi_needle

        for item in items:
            task = generate_multi_needle(
                item.info["n_needles"],
                item.info["context_tokens"],
                depths=item.info["depths"],
                seed=item.info["seed"],
            )
            item.info["needle_texts"] = [n.text for n in task.needles]
    budget = ContextBudget(max_tokens=args.max_tokens, window_tokens=args.window_tokens)
    reader = TransformersLLM(args.reader)
    started = time.perf_counter()
    records = []
    for item in progress(items, desc=args.task, unit="item"):
        for method in methods:
            record = run_one(item, method, reader, budget, restore=not args.no_restore)
            logger.info(
                "%s %s: %d calls, %s tokens/call, answer %r (%s)",
                item.item_id,
                method,
                record["model_calls"],
                record["mean_tokens_per_call"],
                record["answer"][:40],
                "correct" if record["correct"] else "wrong",
            )
            records.append(record)
    results = {
        "benchmark": "context-middleware",
        "task": args.task,
        "metrics": summarize(records),
        "config": {
            "methods": methods,
            "reader": args.reader,
            "budget": {"max_tokens": args.max_tokens, "window_tokens": args.window_tokens},
            "restore_hits": not args.no_restore,
            "trials": args.trials,
            "seed": args.seed,
            "token_counts": "cl100k_base over the message texts each model call was given "
            "(tool-call arguments and tool schemas not counted)",
            "decider": "ScriptedPolicyChatModel (the item's core ScriptedPolicy)",
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
        "per_item": records,
    }
    reader_name = Path(args.reader).name
    output = args.output or RESULTS / f"middleware-{args.task}-{reader_name}.json"
    path = write_results(results, output, command=current_command())
    print(path)
    for size, by_method in results["metrics"].items():
        for method, entry in by_method.items():
            print(
                f"{size:>12} {method:>10}: tokens/call {entry['mean_tokens_per_call']:>8} "
                f"last call {entry['mean_last_call_tokens']:>8} accuracy {entry['accuracy']} "
                f"answer visible {entry['answer_visible']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
