"""Wall time of a cold ``ctx rerank`` of 5 passages, before and after, and where it goes.

Each repetition starts fresh Python processes (nothing loaded, the operating system's
file cache warm), alternating the variants so a busy machine slows them alike:

* ``before``: the ``ctx`` of another source tree (``--before-tree``, e.g. the commit
  before this work extracted with ``git archive``), default scorer;
* ``after``: this tree's ``ctx``, default scorer and backend;
* ``after-torch``: this tree with ``--backend torch``;

and, for ``after``, one more process that times its stages: interpreter start-up,
``import ctx_core.cli.main``, building the parser (the command's module only), loading the
scorer, and scoring.

Usage::

    git archive 9801f84 core packages | tar -x -C /tmp/before
    python benchmarks/cli_latency.py --before-tree /tmp/before --out benchmarks/results/cpu/cli_latency.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSAGES = [
    {"id": "a", "text": "Paris is the capital of France."},
    {"id": "b", "text": "Bananas are yellow."},
    {"id": "c", "text": "The Eiffel Tower is in Paris."},
    {"id": "d", "text": "Berlin is the capital of Germany."},
    {"id": "e", "text": "France is a country in Europe."},
]
STAGES = """
import json, sys, time
t0 = time.perf_counter()
import ctx_core.cli.main as main_module
t1 = time.perf_counter()
parser = main_module.build_parser("rerank")
args = parser.parse_args(sys.argv[1:])
t2 = time.perf_counter()
from ctx_core.rerank import Reranker
from ctx_core.scoring.registry import build_scorer
scorer = build_scorer("embedding")
t3 = time.perf_counter()
from ctx_core.cli.rerank import read_passages
kept = Reranker(scorer).rerank(args.query, read_passages(args.input))
t4 = time.perf_counter()
heavy = [m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules]
print(json.dumps({"import_s": t1 - t0, "parser_s": t2 - t1, "load_s": t3 - t2, "score_s": t4 - t3, "heavy_modules": heavy}))
"""


def run(tree: Path, args: list[str]) -> float:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree / "core"), str(tree / "packages")]),
    }
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ctx_core.cli.main", *args], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return wall


def latency_table(result: dict[str, object]) -> str:
    """The docs' table of a results file: wall time per variant and the stages of ``after``."""
    walls = result["wall_s"]
    stages = result["after_stages_median_s"]
    load = result["machine"]["loadavg_start"][0]  # type: ignore[index]
    lines = [
        f"| cold `ctx rerank`, 5 passages (2 cores, load {load:.0f}) | median wall s |",
        "|---|---|",
        f"| before (PyTorch, every command module imported) | {walls['before']['median']:.1f} |",  # type: ignore[index]
        f"| after, `--backend torch` | {walls['after-torch']['median']:.1f} |",  # type: ignore[index]
        f"| after, default (ONNX Runtime, no torch import) | {walls['after']['median']:.1f} |",  # type: ignore[index]
    ]
    names = {
        "python_start": "interpreter start",
        "import_s": "import `ctx_core.cli.main`",
        "parser_s": "parser (the command's module only)",
        "load_s": "load the scorer (ONNX session, tokenizer)",
        "score_s": "score 5 passages",
    }
    for key, label in names.items():
        lines.append(f"| after, stage: {label} | {stages[key]:.2f} |")  # type: ignore[index]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-tree", help="source tree of the 'before' ctx")
    parser.add_argument("--table", metavar="RESULTS", help="print the docs table of a results file")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/cpu/cli_latency.json")
    options = parser.parse_args()
    if options.table:
        print(latency_table(json.loads(Path(options.table).read_text(encoding="utf-8"))))
        return 0
    if not options.before_tree:
        parser.error("--before-tree is required")
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "p5.jsonl"
        source.write_text("".join(json.dumps(p) + "\n" for p in PASSAGES), encoding="utf-8")
        common = ["rerank", "-q", "capital of France", "-i", str(source), "--json"]
        variants = {
            "before": (Path(options.before_tree), common[:-1]),
            "after": (ROOT, common),
            "after-torch": (ROOT, [*common, "--backend", "torch"]),
        }
        # Warm the file cache and the ONNX export once (not timed).
        for tree, args in variants.values():
            run(tree, args)
        walls: dict[str, list[float]] = {name: [] for name in variants}
        stages: list[dict[str, object]] = []
        python_start: list[float] = []
        names = list(variants)
        for rep in range(options.reps):
            for name in names[rep % 3 :] + names[: rep % 3]:
                walls[name].append(run(*variants[name]))
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            python_start.append(time.perf_counter() - start)
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(ROOT / "core"), str(ROOT / "packages")]),
            }
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    STAGES,
                    "rerank",
                    "-q",
                    "capital of France",
                    "-i",
                    str(source),
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            stages.append(json.loads(done.stdout.strip().splitlines()[-1]))
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_start": load_start,
            "loadavg_end": os.getloadavg(),
            "interleaving": "variants alternate per repetition; loadavg shows how busy the cores were",
        },
        "wall_s": {name: {"median": statistics.median(w), "all": w} for name, w in walls.items()},
        "speedup_median": statistics.median(walls["before"]) / statistics.median(walls["after"]),
        "after_stages_median_s": {
            "python_start": statistics.median(python_start),
            **{
                key: statistics.median(float(s[key]) for s in stages)  # type: ignore[arg-type]
                for key in ("import_s", "parser_s", "load_s", "score_s")
            },
        },
        "after_heavy_modules": stages[-1]["heavy_modules"],
    }
    path = Path(options.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
