#!/usr/bin/env bash
# Structurization measurements (issue 7). Results go to benchmarks/results/structure/.
# CPU times on a shared 2-core machine: the heuristic runs take minutes to an hour; the
# runs with the SmolLM2 structurizer are subsampled (--limit, --pool-depth) because every
# structured text costs one LLM call of several hundred tokens.
set -euo pipefail

# Dense retrieval (all-MiniLM-L6-v2) over the whole collection, every judged query.
ctx eval structure --task retrieval --dataset cranfield --variants original,heuristic
ctx eval structure --task retrieval --dataset cacm --variants original,heuristic

# SmolLM2-135M reading HotpotQA dev250 (first 50 questions), ten paragraphs each.
ctx eval structure --task reader --variants original,heuristic --limit 50

# With the SmolLM2 structurizer: a pool per collection (first 5 judged queries, their
# relevant documents plus the top 5 MiniLM hits each), and the first 10 HotpotQA questions.
ctx eval structure --task retrieval --dataset cranfield --variants original,heuristic,llm --limit 5 --pool-depth 5 --batch-size 8
ctx eval structure --task retrieval --dataset cacm --variants original,heuristic,llm --limit 5 --pool-depth 5 --batch-size 8
ctx eval structure --task reader --variants original,heuristic,llm --limit 10 --batch-size 8
