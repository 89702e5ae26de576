"""``ctx incontext``: tools for the in-context ranker (``index-states``: cache document states)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["register", "run_index_states"]


def register(subparsers: Any) -> None:
    """Add the ``incontext`` command and its ``index-states`` subcommand."""
    parser = subparsers.add_parser(
        "incontext",
        help="in-context ranker tools (index-states: precompute document states)",
        description="Tools for the in-context ranker.",
    )
    sub = parser.add_subparsers(dest="incontext_command", required=True)
    index = sub.add_parser(
        "index-states",
        help="compute the documents' key/value states once, for cached ranking",
        description=(
            "Read documents (one JSON object per line with 'text' and 'id') and write their "
            "in-context states (query-free layout, ids as labels) to safetensors shards in "
            "--out, one shard per batch. Resumable: documents already in --out are skipped. "
            "Load the folder with DocumentStateCache().load(folder)."
        ),
    )
    index.add_argument("--input", "-i", required=True, help="documents file (.jsonl), or -")
    index.add_argument("--out", "-o", required=True, help="folder for the state shards")
    index.add_argument("--model", default=None, help="model id, path or alias (default smollm2)")
    index.add_argument("--device", default=None, help="cpu, cuda, ... (default: auto)")
    index.add_argument("--dtype", default=None, help="float32, bfloat16, ... (default by device)")
    index.add_argument("--scoring-layer", type=int, default=None, help="deepest scoring layer")
    index.add_argument("--max-block-tokens", type=int, default=160, help="document block limit")
    index.add_argument("--batch", type=int, default=256, help="documents per shard")
    index.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bar"
    )
    index.set_defaults(func=run_index_states)


def run_index_states(args: argparse.Namespace) -> int:
    """Execute ``ctx incontext index-states``."""
    from ctx_core.cli.rerank import read_passages
    from ctx_core.incontext import InContextRanker
    from ctx_core.incontext.states import DocumentStateCache, block_key
    from ctx_core.progress import progress

    if args.batch < 1:
        raise ValueError(f"--batch must be >= 1, got {args.batch}")
    documents = read_passages(args.input)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = DocumentStateCache(max_bytes=2**62)  # shards are written batch by batch
    ranker = InContextRanker(
        args.model,
        device=args.device,
        dtype=args.dtype,
        scoring_layer=args.scoring_layer,
        max_block_tokens=args.max_block_tokens,
        labels="id",
        query_in_instruction=False,
        cache=cache,
    )
    spec = ranker.state_spec()
    done: set[str] = set()
    shards = sorted(out.glob("states-*.safetensors"))
    for shard in shards:
        stored, keys = DocumentStateCache.read_spec(shard)
        if stored != spec:
            diff = ", ".join(stored.mismatch(spec))
            raise ValueError(
                f"--out {out} holds states of another configuration ({diff}); use a new folder"
            )
        done.update(keys)
    builder = ranker.builder
    todo = []
    for doc in documents:
        key = block_key(builder.candidate_ids(doc.id, doc.text).ids)
        if key not in done:
            todo.append(doc)
            done.add(key)
    written = 0
    next_shard = len(shards)
    batches = [todo[i : i + args.batch] for i in range(0, len(todo), args.batch)]
    for batch in progress(batches, desc="index-states", show=args.progress, unit="shard"):
        ranker.index(batch, show_progress=False)
        keys = [block_key(builder.candidate_ids(d.id, d.text).ids) for d in batch]
        cache.save(out / f"states-{next_shard:05d}.safetensors", keys=keys)
        for key in keys:  # keep memory flat: the shard is on disk
            cache.discard(key)
        next_shard += 1
        written += len(batch)
    summary = {
        "documents": len(documents),
        "encoded": written,
        "skipped": len(documents) - written,
        "shards": next_shard,
        "bytes_per_token": spec.bytes_per_token(),
        "out": str(out),
    }
    print(json.dumps(summary))
    return 0
