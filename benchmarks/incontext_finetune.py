"""Fine-tune SmolLM2-135M for in-context ranking and compare zero-shot vs fine-tuned ranking.

Training lists come from HotpotQA dev250 (10 paragraphs per question, the 2 supporting ones
are the positives) and TREC DL19 (BM25 top-100 with passage text; positives: qrels >= 2,
else >= 1), **split by query** with a fixed seed: evaluation queries are never trained on.
The objective is :func:`ctx_core.incontext.train.fine_tune` (next-token loss on the answer
id + 0.1 x contrastive loss on the scoring-layer scores, temperature 0.05), through the
engine's block-sparse forward.

Evaluation on the held-out queries, before and after fine-tuning, with the same
:class:`~ctx_core.incontext.InContextRanker` settings: HotpotQA supporting recall@2 (and
MRR of the first supporting paragraph), DL19 nDCG@10 reranking the BM25 top-100; both the
calibrated score (the ranker's default) and the raw attention score.

Run (from the repository root; data read from ``$CTX_DATA_DIR``, else ``../shared/data`` or ``../../shared/data``):

    PYTHONPATH=core:packages python benchmarks/incontext_finetune.py --device cuda \
        --steps 400 --out benchmarks/results/incontext_finetune_smollm2.json

A CPU run is the same command with ``--device cpu`` and smaller ``--steps``,
``--max-candidates``, ``--hotpot-eval`` and ``--dl19-eval``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "core"), str(ROOT / "packages")]

from ctx_core.incontext import InContextRanker  # noqa: E402
from ctx_core.incontext.train import TrainConfig, TrainingExample, fine_tune  # noqa: E402


def _default_data() -> Path:
    if os.environ.get("CTX_DATA_DIR"):
        return Path(os.environ["CTX_DATA_DIR"])
    for parent in ROOT.parents[:2]:  # ../shared/data beside a checkout or a worktree folder
        if (parent / "shared" / "data").is_dir():
            return parent / "shared" / "data"
    return ROOT.parent / "shared" / "data"


DEFAULT_DATA = _default_data()


# -- data -----------------------------------------------------------------------------------


def load_hotpotqa(data_dir: Path) -> list[dict[str, Any]]:
    out = []
    for line in (data_dir / "hotpotqa-dev250-distractor" / "dev250.jsonl").read_text().splitlines():
        record = json.loads(line)
        contexts = record["contexts"]
        out.append(
            {
                "qid": record["question_id"],
                "query": record["question_text"],
                "texts": [f"{c['title']}: {c['paragraph_text']}" for c in contexts],
                "grades": [1 if c["is_supporting"] else 0 for c in contexts],
            }
        )
    return out


def load_dl19(data_dir: Path) -> list[dict[str, Any]]:
    folder = data_dir / "trec-dl-passage"
    runs = json.loads((folder / "bm25_top100_dl19.json").read_text())
    qrels: dict[str, dict[str, int]] = {}
    for line in (folder / "qrels.dl19-passage.txt").read_text().splitlines():
        qid, _, docid, rel = line.split()
        qrels.setdefault(qid, {})[docid] = int(rel)
    out = []
    for run in runs:
        qid = str(run["hits"][0]["qid"])
        judged = qrels.get(qid, {})
        out.append(
            {
                "qid": qid,
                "query": run["query"],
                "texts": [h["content"] for h in run["hits"]],
                "ids": [str(h["docid"]) for h in run["hits"]],
                "grades": [judged.get(str(h["docid"]), 0) for h in run["hits"]],
                "qrels": judged,
            }
        )
    return out


def split(items: list[dict[str, Any]], n_train: int, seed: int) -> tuple[list[Any], list[Any]]:
    order = sorted(items, key=lambda x: x["qid"])
    random.Random(seed).shuffle(order)
    return order[:n_train], order[n_train:]


def training_examples(items: list[dict[str, Any]], min_grade: int) -> list[TrainingExample]:
    out = []
    for item in items:
        grades = item["grades"]
        positives = [i for i, g in enumerate(grades) if g >= min_grade]
        if not positives:
            positives = [i for i, g in enumerate(grades) if g >= 1]
        if positives:
            out.append(TrainingExample(item["query"], item["texts"], positives))
    return out


# -- metrics ------------------------------------------------------------------------------


def ndcg_at_k(ranked_ids: list[str], qrels: dict[str, int], k: int = 10) -> float:
    dcg = sum(qrels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked_ids[:k]))
    ideal = sorted(qrels.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def evaluate(
    ranker: InContextRanker, hotpot: list[dict[str, Any]], dl19: list[dict[str, Any]]
) -> dict[str, Any]:
    result: dict[str, Any] = {"hotpotqa": [], "dl19": []}
    t = time.perf_counter()
    for item in hotpot:
        d = ranker.explain(item["query"], item["texts"])
        row = {"qid": item["qid"]}
        for kind, scores in (("calibrated", d.scores), ("raw", d.raw)):
            order = sorted(range(len(scores)), key=lambda i: -scores[i])
            supporting = {i for i, g in enumerate(item["grades"]) if g}
            row[f"recall@2_{kind}"] = len(supporting & set(order[:2])) / len(supporting)
            first = min(order.index(i) for i in supporting)
            row[f"mrr_{kind}"] = 1 / (first + 1)
        result["hotpotqa"].append(row)
    for item in dl19:
        d = ranker.explain(item["query"], item["texts"])
        row = {"qid": item["qid"], "ndcg@10_bm25": ndcg_at_k(item["ids"], item["qrels"])}
        for kind, scores in (("calibrated", d.scores), ("raw", d.raw)):
            order = sorted(range(len(scores)), key=lambda i: -scores[i])
            row[f"ndcg@10_{kind}"] = ndcg_at_k([item["ids"][i] for i in order], item["qrels"])
        result["dl19"].append(row)
    summary: dict[str, float] = {}
    for name, rows in (("hotpotqa", result["hotpotqa"]), ("dl19", result["dl19"])):
        if rows:
            for key in rows[0]:
                if key != "qid":
                    summary[f"{name}/{key}"] = round(sum(r[key] for r in rows) / len(rows), 4)
    result["summary"] = summary
    result["seconds"] = round(time.perf_counter() - t, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="alias, hub id or local path")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--max-candidates", type=int, default=10)
    parser.add_argument("--max-block-tokens", type=int, default=128)
    parser.add_argument("--hotpot-train", type=int, default=150, help="questions to train on")
    parser.add_argument("--dl19-train", type=int, default=22, help="queries to train on")
    parser.add_argument("--hotpot-eval", type=int, default=100, help="held-out questions")
    parser.add_argument("--dl19-eval", type=int, default=21, help="held-out queries")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/incontext_finetune.json"))
    parser.add_argument("--save-model", default=None, help="save the fine-tuned model here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    t0 = time.perf_counter()

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ctx_core.models import resolve_llm

    path = resolve_llm(args.model) if not Path(args.model).is_dir() else args.model
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(args.device)
    model.eval()

    data_dir = Path(args.data_dir)
    hp_train, hp_eval = split(load_hotpotqa(data_dir), args.hotpot_train, args.seed)
    dl_train, dl_eval = split(load_dl19(data_dir), args.dl19_train, args.seed)
    hp_eval, dl_eval = hp_eval[: args.hotpot_eval], dl_eval[: args.dl19_eval]
    examples = training_examples(hp_train, 1) + training_examples(dl_train, 2)
    assert not {x["qid"] for x in hp_train + dl_train} & {x["qid"] for x in hp_eval + dl_eval}

    def ranker() -> InContextRanker:
        return InContextRanker(
            model, tokenizer=tokenizer, device=args.device, max_block_tokens=args.max_block_tokens
        )

    report: dict[str, Any] = {
        "benchmark": "incontext_finetune",
        "command": "python " + " ".join(sys.argv),
        "model": args.model,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        },
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "split": {
            "seed": args.seed,
            "hotpotqa_train": [x["qid"] for x in hp_train],
            "hotpotqa_eval": [x["qid"] for x in hp_eval],
            "dl19_train": [x["qid"] for x in dl_train],
            "dl19_eval": [x["qid"] for x in dl_eval],
        },
        "training_lists": len(examples),
    }
    try:
        import transformers

        report["versions"]["transformers"] = transformers.__version__
    except ImportError:
        pass
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        report["wall_s"] = round(time.perf_counter() - t0, 1)
        out.write_text(json.dumps(report, indent=1, default=str))

    zero = ranker()
    report["scoring_layer"] = zero.layers
    report["zero_shot"] = evaluate(zero, hp_eval, dl_eval)
    logging.info("zero-shot: %s", report["zero_shot"]["summary"])
    save()

    config = TrainConfig(
        steps=args.steps,
        lr=args.lr,
        max_candidates=args.max_candidates,
        max_block_tokens=args.max_block_tokens,
        seed=args.seed,
    )
    result = fine_tune(model, tokenizer, examples, config)
    model.eval()
    history = result.history
    window = max(1, len(history) // 10)
    report["training"] = {
        "config": result.config,
        "layer": result.layer,
        "seconds": round(result.seconds, 1),
        "steps": [
            {k: round(v, 4) if isinstance(v, float) else v for k, v in vars(r).items()}
            for r in history
        ],
        "curve": [
            {
                "steps": f"{i}-{min(i + window, len(history)) - 1}",
                "aux_loss": round(sum(r.aux_loss for r in history[i : i + window]) / window, 4),
                "lm_loss": round(sum(r.lm_loss for r in history[i : i + window]) / window, 4),
                "positive_rank": round(
                    sum(r.positive_rank for r in history[i : i + window]) / window, 3
                ),
            }
            for i in range(0, len(history), window)
        ],
    }
    for c in report["training"]["curve"]:
        logging.info("training %s", c)
    save()
    report["fine_tuned"] = evaluate(ranker(), hp_eval, dl_eval)
    logging.info("fine-tuned: %s", report["fine_tuned"]["summary"])
    report["delta"] = {
        k: round(report["fine_tuned"]["summary"][k] - v, 4)
        for k, v in report["zero_shot"]["summary"].items()
    }
    logging.info("delta: %s", report["delta"])
    if args.save_model:
        model.save_pretrained(args.save_model)
        tokenizer.save_pretrained(args.save_model)
    save()


if __name__ == "__main__":
    main()
