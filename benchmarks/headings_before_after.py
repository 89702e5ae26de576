"""Headings users see, before and after: statistical keywords vs embedding-ranked key phrases.

Runs the heuristic memory extractor over the demo book's chapters and the heuristic
structurizer over the structurization recipe's mixed text and the demo's retrieved chunks,
once with the former settings (``titles="keywords"``; ``naming="keywords"``,
``boundary_similarity=None``) and once with the defaults, in one process with one shared
MiniLM, and writes both lists of headings to
``benchmarks/results/structure/headings-before-after.json``.

    PYTHONPATH=core:packages python benchmarks/headings_before_after.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ctx_core.demo.book import DEMO_QUESTIONS, load_demo_chapters, load_demo_corpus
from ctx_core.embeddings import Embedder
from ctx_core.eval.results import provenance
from ctx_core.memory import HeuristicMemoryExtractor
from ctx_core.scoring import EmbeddingScorer
from ctx_core.structure import HeuristicStructurizer

RECIPE_TEXT = (
    "The Amazon rainforest covers much of the Amazon basin in South America. "
    "It spans parts of nine countries, with most of it in Brazil. "
    "Jazz originated in New Orleans in the late nineteenth century. "
    "It grew out of blues and ragtime played by African American musicians."
)
BEFORE_MEMORY = {"titles": "keywords"}
BEFORE_STRUCTURE = {"naming": "keywords", "boundary_similarity": None}


def _structure(structurizer: HeuristicStructurizer, text: str) -> dict:
    s = structurizer.structurize(text)
    return {"scope": s.scope, "aspects": [[a.name, list(a.sentences)] for a in s.aspects]}


def main(out: str = "benchmarks/results/structure/headings-before-after.json") -> None:
    started = time.perf_counter()
    embedder = Embedder()
    chapters = load_demo_chapters()
    corpus = load_demo_corpus()
    scorer = EmbeddingScorer(embedder)
    retrieved = []
    for question in DEMO_QUESTIONS:
        scores = scorer.score(question, corpus)
        best = max(range(len(corpus)), key=lambda i: scores[i])
        retrieved.append(corpus[best])
    results: dict = {"memory": {}, "structure": {}}
    for label, memory_options, structure_options in (
        ("before", BEFORE_MEMORY, BEFORE_STRUCTURE),
        ("after", {}, {}),
    ):
        extractor = HeuristicMemoryExtractor(embedder, **memory_options)
        results["memory"][label] = {
            f"chapter {c}": [e.title for e in extractor.extract(text, doc_id=c).outline]
            for c, text in chapters.items()
            if c in ("I", "II")
        }
        structurizer = HeuristicStructurizer(embedder, **structure_options)
        results["structure"][label] = {
            "recipe text": _structure(structurizer, RECIPE_TEXT),
            **{p.id: _structure(structurizer, p.text) for p in retrieved},
        }
    payload = {
        "kind": "headings",
        "before": {"memory": BEFORE_MEMORY, "structure": BEFORE_STRUCTURE},
        "after": "defaults",
        **results,
        "wall_time_s": round(time.perf_counter() - started, 1),
        **provenance(" ".join(["python", *sys.argv])),
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results, indent=1, ensure_ascii=False))


def memory_table(payload: dict, chapter: str = "chapter I", rows: int = 8) -> str:
    """The docs' before/after table of memory titles (first topic chunks of a chapter)."""
    before = payload["memory"]["before"][chapter][1 : rows + 1]
    after = payload["memory"]["after"][chapter][1 : rows + 1]
    lines = ['| before (`titles="keywords"`) | after (default) |', "|---|---|"]
    lines += [f"| {b} | {a} |" for b, a in zip(before, after, strict=True)]
    return "\n".join(lines)


def structure_table(payload: dict, text: str = "recipe text") -> str:
    """The docs' before/after table of a structure's scope and aspects."""
    lines = ["| | scope | aspects (sentences) |", "|---|---|---|"]
    for label in ("before", "after"):
        found = payload["structure"][label][text]
        aspects = "; ".join(f"{name} ({', '.join(map(str, s))})" for name, s in found["aspects"])
        lines.append(f"| {label} | {found['scope']} | {aspects} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main(*sys.argv[1:])
