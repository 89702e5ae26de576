#!/usr/bin/env bash
# Structurization measurements (issue 7). Results go to benchmarks/results/structure/.
# CPU times on a shared 2-core machine under heavy load: the heuristic retrieval runs took
# 30-45 minutes each; one SmolLM2 reader batch of four HotpotQA questions (ten paragraphs,
# ~1,500 tokens each) took 8-21 minutes, so the reader run is limited to the first
# questions of dev250 (raise --limit on a free machine: the full set is --limit 250).
set -euo pipefail

# Dense retrieval (all-MiniLM-L6-v2) over the whole collection, every judged query.
ctx eval structure --task retrieval --dataset cranfield --variants original,heuristic
ctx eval structure --task retrieval --dataset cacm --variants original,heuristic

# SmolLM2-135M reading HotpotQA dev250 (first 4 questions), ten paragraphs each.
ctx eval structure --task reader --variants original,heuristic --limit 4
# The SmolLM2 structurizer on the same 4 questions (40 paragraphs, ~40 minutes here).
ctx eval structure --task reader --variants llm --limit 4 --batch-size 8

# With the SmolLM2 structurizer (not run for the committed results: every structured text
# costs one LLM generation of ~100-200 tokens, which did not finish on the loaded machine).
if [[ "${WITH_LLM:-0}" == "1" ]]; then
  ctx eval structure --task retrieval --dataset cranfield --variants original,heuristic,llm --limit 5 --pool-depth 5 --batch-size 8
  ctx eval structure --task retrieval --dataset cacm --variants original,heuristic,llm --limit 5 --pool-depth 5 --batch-size 8
  ctx eval structure --task reader --variants original,heuristic,llm --limit 10 --batch-size 8
fi
