"""p(NO-RESPONSE) from a served model against the same weights run locally by transformers.

The packaged SmolLM2 GGUF (Q4_1) is served by llama-cpp-python's OpenAI-compatible server
on 127.0.0.1 and, in the same run, loaded by ``TransformersLLM`` (which dequantizes the
same GGUF weights to float32). For 100 HotpotQA (question, paragraph) pairs (the 10
paragraphs of the first 10 dev250 questions) ``AbstentionUtility`` computes
p(NO-RESPONSE) through each path:

* ``local``: ``TransformersLLM`` on the CPU (the reference);
* ``served-exact``: ``OpenAICompatibleLLM`` with the model's chat template (prompts scored
  on ``/v1/completions`` with ``echo``);
* ``served-topk-K``: ``OpenAICompatibleLLM`` without a template (``top_logprobs=K`` on
  ``/v1/chat/completions``; a token outside the top K gets an upper bound).

Reported: Spearman and Pearson (of log p) against ``local``, the largest absolute
difference of log p, and the wall time per pair of each path (one request at a time for
the served paths, ``batch_size=8`` for the local one; both on the same 2 CPU cores).

Rerun::

    python benchmarks/served_agreement.py

Results: ``benchmarks/results/served/agreement.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from scipy.stats import pearsonr, spearmanr

from ctx_core.eval.datasets import load_hotpotqa
from ctx_core.eval.environment import environment
from ctx_core.llm import OpenAICompatibleLLM, TransformersLLM
from ctx_core.models import _PACKAGED, resolve_llm
from ctx_core.udcg import AbstentionUtility

RESULTS = Path(__file__).resolve().parent / "results" / "served"


def start_server(threads: int) -> tuple[subprocess.Popen[bytes], str]:
    """llama-cpp-python's server on a free port, serving the packaged SmolLM2 GGUF."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(_PACKAGED["smollm2"].locate()), "--model_alias", "smollm2",
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
        "--n_threads", str(threads), "--n_threads_batch", str(threads),
        "--logits_all", "True", "--verbose", "False",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(900):
        if process.poll() is not None:
            raise RuntimeError("the llama server exited while starting")
        try:
            if httpx.get(f"{url}/models", timeout=1.0).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the llama server did not start in 180 s")


def timed(
    utility: AbstentionUtility, pairs: list[tuple[str, list[str]]]
) -> tuple[list[float], float]:
    """p(NO-RESPONSE) of every pair, question by question, and the seconds it took."""
    started = time.perf_counter()
    values = [
        p for question, texts in pairs for p in utility.no_response_probabilities(question, texts)
    ]
    return values, time.perf_counter() - started


def compare(reference: list[float], other: list[float]) -> dict[str, float]:
    ref, oth = np.log(reference), np.log(other)
    return {
        "spearman": float(spearmanr(reference, other).statistic),
        "pearson_log": float(pearsonr(ref, oth).statistic),
        "max_abs_log_diff": float(np.max(np.abs(ref - oth))),
        "median_abs_log_diff": float(np.median(np.abs(ref - oth))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--topk", type=int, nargs="*", default=[20, 1000])
    parser.add_argument("--out", type=Path, default=RESULTS / "agreement.json")
    parser.add_argument(
        "--no-exact", action="store_true", help="skip the exact (chat template) served path"
    )
    parser.add_argument(
        "--local-from",
        type=Path,
        help="reuse the local reference values (and timing) of this earlier result file "
        "instead of running TransformersLLM again (same --questions)",
    )
    args = parser.parse_args()

    examples = load_hotpotqa(limit=args.questions)
    pairs = [(ex.question, [p.text for p in ex.passages]) for ex in examples]
    count = sum(len(texts) for _, texts in pairs)

    local_llm = TransformersLLM("smollm2", device="cpu", batch_size=8)
    template = local_llm.tokenizer.chat_template
    if args.local_from is not None:
        earlier = json.loads(args.local_from.read_text(encoding="utf-8"))
        if earlier["pairs"] != count:
            raise SystemExit(f"{args.local_from} holds {earlier['pairs']} pairs, not {count}")
        local = earlier["values"]["local"]
        local_s = earlier["results"]["local"]["ms_per_pair"] * count / 1000
    else:
        local, local_s = timed(AbstentionUtility(local_llm, cache_size=0), pairs)

    process, url = start_server(args.threads)
    try:
        paths: dict[str, tuple[list[float], float]] = {}
        exact = OpenAICompatibleLLM(
            "smollm2", base_url=url, chat_template=template, max_concurrency=1
        )
        if not args.no_exact:
            paths["served-exact"] = timed(AbstentionUtility(exact, cache_size=0), pairs)
        for k in args.topk:
            topk = OpenAICompatibleLLM("smollm2", base_url=url, top_logprobs=k, max_concurrency=1)
            paths[f"served-topk-{k}"] = timed(AbstentionUtility(topk, cache_size=0), pairs)
    finally:
        process.terminate()
        process.wait()

    rows: dict[str, Any] = {
        "local": {"ms_per_pair": 1000 * local_s / count, "mean_p": float(np.mean(local))}
    }
    for name, (values, seconds) in paths.items():
        rows[name] = {
            "ms_per_pair": 1000 * seconds / count,
            "mean_p": float(np.mean(values)),
            **compare(local, values),
        }
    report = {
        "what": "p(NO-RESPONSE) of AbstentionUtility: served SmolLM2 GGUF (llama-cpp-python) vs TransformersLLM on the same GGUF weights",
        "pairs": count,
        "data": f"HotpotQA dev250, first {args.questions} questions x their 10 paragraphs",
        "command": " ".join(["python", *sys.argv]),
        "local_from": str(args.local_from) if args.local_from else None,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(),
        "server": {
            "package": "llama-cpp-python",
            "threads": args.threads,
            "model": "SmolLM2-135M-Instruct.Q4_1.gguf",
        },
        "reference_model": resolve_llm("smollm2"),
        "results": rows,
        "values": {"local": local, **{name: values for name, (values, _) in paths.items()}},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print("| path | Spearman vs local | Pearson (log p) | max abs log diff | ms / pair | mean p |")
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row.get('spearman', 1.0):.4f} | {row.get('pearson_log', 1.0):.4f} | "
            f"{row.get('max_abs_log_diff', 0.0):.3f} | {row['ms_per_pair']:.1f} | {row['mean_p']:.2e} |"
        )
    if any(not math.isfinite(row.get("spearman", 1.0)) for row in rows.values()):
        raise SystemExit("Spearman is not finite")


if __name__ == "__main__":
    main()
