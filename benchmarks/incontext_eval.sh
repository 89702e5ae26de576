#!/usr/bin/env bash
# Zero-shot in-context ranker evaluations committed under benchmarks/results/incontext/.
# Subsets, because the runs were made on a shared 2-core CPU: DL19 (BM25 top-100 each) with
# the first 10 queries, HotpotQA dev250 with the first 25 questions (10 paragraphs each); BM25 order (none) and MiniLM (embedding) on the
# same subsets. One set of forward passes per model and data set serves all eight variants
# (two scoring layers x calibrated or not x length normalization or not).
# Run from the repository root.
set -euo pipefail
set -f  # no globbing: the method specs contain brackets
export PYTHONPATH=${PYTHONPATH:-core:packages} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
CTX=${CTX:-ctx}

variants() {  # model, layers list, first layer, second layer
  local M=incontext:model=$1,dtype=bfloat16
  echo --set "scoring_layer=$2" \
    --method "$M,use_layers=[$3]" \
    --method "$M,use_layers=[$3],calibrate=false" \
    --method "$M,use_layers=[$3],length_normalization=length" \
    --method "$M,use_layers=[$3],calibrate=false,length_normalization=length" \
    --method "$M,use_layers=[$4]" \
    --method "$M,use_layers=[$4],calibrate=false" \
    --method "$M,use_layers=[$4],length_normalization=length" \
    --method "$M,use_layers=[$4],calibrate=false,length_normalization=length"
}

D=benchmarks/results/incontext/dl19
H=benchmarks/results/incontext/hotpotqa
$CTX eval rerank --dataset dl19 --limit 10 --method none --method embedding --results-dir $D --no-plot
# shellcheck disable=SC2046
$CTX eval rerank --dataset dl19 --limit 10 $(variants smollm2 '[7,18]' 18 7) --results-dir $D --no-plot
# shellcheck disable=SC2046
$CTX eval rerank --dataset dl19 --limit 10 $(variants gemma3-270m '[5,11]' 11 5) --results-dir $D --no-plot

$CTX eval rerank --dataset hotpotqa --limit 25 --method none --method embedding --results-dir $H --no-plot
for spec in "smollm2 [7,18] 18 7" "gemma3-270m [5,11] 11 5"; do
  # shellcheck disable=SC2046,SC2086
  $CTX eval rerank --dataset hotpotqa --limit 25 --set with_title=true $(variants $spec) \
    --results-dir $H --no-plot
done

# Several passes vs one: SmolLM2 in 4 passes of at most 34 candidates (first 3 DL19 queries).
$CTX eval rerank --dataset dl19 --limit 3 --set max_pass_candidates=34 \
  --method incontext:model=smollm2,dtype=bfloat16 \
  --method incontext:model=smollm2,dtype=bfloat16,calibrate=false \
  --results-dir benchmarks/results/incontext/multipass --no-plot

# Query block right after the longest candidate (query_offset=1 -> instruction + 160)
# instead of 8192: Gemma-3's local layers then see the candidates.
for model in "gemma3-270m [5,11] 11 5" "smollm2 [7,18] 18 7"; do
  set -- $model
  M=incontext:model=$1,dtype=bfloat16,query_offset=1
  $CTX eval rerank --dataset hotpotqa --limit 10 --set "scoring_layer=$2" --set with_title=true \
    --method "$M,use_layers=[$3]" --method "$M,use_layers=[$3],calibrate=false" \
    --method "$M,use_layers=[$4]" --method "$M,use_layers=[$4],calibrate=false" \
    --results-dir $H --no-plot
done

# The same on the first 4 DL19 queries (SmolLM2).
M=incontext:model=smollm2,dtype=bfloat16,query_offset=1
$CTX eval rerank --dataset dl19 --limit 4 --set "scoring_layer=[7,18]" \
  --method "$M,use_layers=[18]" --method "$M,use_layers=[18],calibrate=false" \
  --method "$M,use_layers=[7]" --method "$M,use_layers=[7],calibrate=false" \
  --results-dir $D --no-plot

# CPU seconds per query: block-sparse vs ordinary causal attention on the same tokens.
for model in smollm2 gemma3-270m; do
  python benchmarks/incontext_cost.py --model $model --limit 1 \
    --json benchmarks/results/incontext/cost_dl19_$model.json
done
