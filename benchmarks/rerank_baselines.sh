#!/usr/bin/env bash
# Reruns the committed rerank baselines (results under benchmarks/results/rerank/).
# Run from the repository root with the package installed: pip install -e '.[local,eval]'.
# Methods of one command share the MiniLM scores (computed once per query).
set -euo pipefail

ctx eval rerank --dataset dl19 \
  --method none --method random --method embedding \
  --method long-context-reorder --method long-context-reorder:base=embedding \
  --method top-k:k=5 --method top-k:k=10 --method top-k:k=20 \
  --method embedding:top_k=5 --method embedding:top_k=10 --method embedding:top_k=20

ctx eval rerank --dataset hotpotqa --method none --method random

ctx eval rerank --dataset hotpotqa \
  --method embedding --method embedding:top_k=2 --method embedding:top_k=5 \
  --method long-context-reorder:base=embedding --method long-context-reorder \
  --method top-k:k=2 --method top-k:k=5

ctx eval rerank --dataset cacm --method none --method long-context-reorder --method top-k:k=10
ctx eval rerank --dataset cranfield --method none --method long-context-reorder --method top-k:k=10

# optional, slower: MiniLM with titles on HotpotQA, MiniLM on CACM
ctx eval rerank --dataset hotpotqa --method embedding:with_title=true
ctx eval rerank --dataset cacm --method embedding --method embedding:top_k=10
