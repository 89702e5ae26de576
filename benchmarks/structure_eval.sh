#!/usr/bin/env bash
# Structurization measurements (issue 7). Results go to benchmarks/results/structure/.
#
# With the SmolLM2 structurizer every structurized text costs one LLM generation (YAML of
# ~60-400 tokens), so the full runs need a GPU: on one H200 with --batch-size 128 the three
# commands below took 230 s (reader), 182 s (Cranfield) and 121 s (CACM); the committed files
# are in benchmarks/results/structure/h200/. On a CPU, leave out `llm` from --variants (the
# heuristic structurizer needs no LLM) or use --limit / --pool-depth for a subset.
set -euo pipefail
BATCH="${BATCH:-128}"
OUT="${OUT:-benchmarks/results/structure/h200}"

# SmolLM2-135M reading HotpotQA dev250 (ten paragraphs per question): original paragraphs vs
# the reading form of the heuristic and the SmolLM2 structurizer.
ctx eval structure --task reader --variants original,heuristic,llm --limit 250 \
  --batch-size "$BATCH" --output "$OUT/reader-hotpotqa.json"

# Dense retrieval (all-MiniLM-L6-v2) over the whole collection, every judged query.
for dataset in cranfield cacm; do
  ctx eval structure --task retrieval --dataset "$dataset" --variants original,heuristic,llm \
    --batch-size "$BATCH" --output "$OUT/retrieval-$dataset.json"
done
