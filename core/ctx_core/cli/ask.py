"""``ctx ask``: retrieve from a memory index built by ``ctx memorize`` (and optionally answer)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

from ctx_core.cli._io import json_line, print_passages_table, stdout_is_tty


def register(subparsers: Any) -> None:
    """Add the ``ask`` command."""
    parser = subparsers.add_parser(
        "ask",
        help="retrieve memory chunks for a question (and optionally answer it)",
        description=(
            "Search the three layers of a memory index (chunks with their headings, outlines, "
            "core contents) for QUESTION and print the best chunks with the layers that found "
            "them. With --answer, a local LLM answers from those chunks."
        ),
    )
    parser.add_argument("question", help="the question")
    parser.add_argument(
        "--memory", "-m", required=True, help="memory index file from `ctx memorize`"
    )
    parser.add_argument("-k", "--top-k", type=int, default=4, help="how many chunks (default 4)")
    from ctx_core.scoring.registry import scorer_names

    parser.add_argument(
        "--scorer",
        default=None,
        choices=scorer_names(),
        help="rerank the candidates with this scorer",
    )
    parser.add_argument(
        "--layers", default="chunk,outline,core", help="comma-separated layers to search"
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    parser.add_argument("--answer", action="store_true", help="answer with a local LLM")
    parser.add_argument("--llm", default=None, help="LLM for --answer (default: smollm2)")
    parser.set_defaults(func=run)


ANSWER_PROMPT = (
    "Answer the question using only the context.\n\nContext:\n{context}\n\n"
    "Question: {question}\nAnswer:"
)


def run(args: argparse.Namespace) -> int:
    """Execute ``ctx ask``."""
    from ctx_core.memory.index import MemoryIndex
    from ctx_core.progress import spinner
    from ctx_core.scoring.registry import build_scorer

    path = Path(args.memory)
    if not path.is_file():
        raise FileNotFoundError(f"--memory {args.memory!r}: no such file")
    layers = [layer.strip() for layer in args.layers.split(",") if layer.strip()]
    with spinner("searching the memory index"):
        index = MemoryIndex.load(path)
        scorer = build_scorer(args.scorer) if args.scorer else None
        hits = index.search(args.question, k=args.top_k, layers=layers, scorer=scorer)
    if args.json:
        for passage in hits:
            sys.stdout.write(json_line(passage.to_dict()))
    elif hits and stdout_is_tty():
        print_passages_table(hits, title=args.question, extra="memory_layers")
    else:
        if not hits:
            print("(the memory index is empty)")
        for rank, passage in enumerate(hits, start=1):
            layers_found = "+".join(passage.metadata.get("memory_layers", []))
            print(f"{rank}. [{passage.id}] score={passage.score:.3f} via {layers_found}")
            print(f"   heading: {passage.metadata.get('heading', '')}")
            snippet = textwrap.shorten(" ".join(passage.text.split()), 300, placeholder=" ...")
            print(textwrap.indent(textwrap.fill(snippet, 96), "   "))
    if args.answer:
        from ctx_core.llm import TransformersLLM

        context = "\n\n".join(f"[{p.metadata.get('heading', '')}]\n{p.text}" for p in hits)
        with spinner("answering with a local LLM"):
            llm = TransformersLLM(args.llm)
            reply = llm.complete(
                ANSWER_PROMPT.format(context=context, question=args.question), max_tokens=96
            )
        print(f"\nAnswer ({llm.model_name}): {reply}")
    return 0
