#!/usr/bin/env bash
# Reruns the committed document-memory measurements (results under benchmarks/results/memory/).
# Run from the repository root with the package installed: pip install -e '.[local,eval]'.
# On the shared 2-core CPU they were made on: LoCoMo about 3 h, CACM/Cranfield about 1-2 h
# each, the SmolLM2 subsample several hours (generation ran at well under 1 token/s there).
set -euo pipefail

# LoCoMo: all 7 conversations, each session a document; fixed-size chunks of 60 and 120
# words against heuristic memories with chunks of at most 150 and 60 words.
ctx eval memory --dataset locomo --fixed-words 60,120 --memory-words 150,60 \
  --output benchmarks/results/memory/locomo.json

# SmolLM2-135M extractor on the first 2 sessions of conversation 0 (2 candidate paths).
ctx eval memory --dataset locomo-llm --sessions 2 --paths 2 --max-tokens 256 --fixed-words 60,120

# Document retrieval on the classic IR sets.
ctx eval memory --dataset cacm --fixed-words 60
ctx eval memory --dataset cranfield --fixed-words 60
