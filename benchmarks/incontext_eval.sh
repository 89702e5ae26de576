#!/usr/bin/env bash
# Zero-shot in-context ranker evaluations committed under benchmarks/results/incontext/.
# Subsets (a shared 2-core CPU): the first 10 DL19 queries (BM25 top-100 each) and the first
# 25 HotpotQA dev250 questions (10 paragraphs each). One set of forward passes per model and
# data set serves all eight variants (two scoring layers x calibrated or not x length
# normalization or not). Run from the repository root.
set -euo pipefail
export PYTHONPATH=${PYTHONPATH:-core:packages} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
CTX=${CTX:-ctx}
for dataset in "dl19 10" "hotpotqa 25"; do
  set -- $dataset
  R=benchmarks/results/incontext/$1
  extra=()
  [ "$1" = hotpotqa ] && extra=(--set with_title=true)
  $CTX eval rerank --dataset "$1" --limit "$2" --method none --method embedding \
    --results-dir "$R" --no-plot --no-progress
  for spec in "smollm2 [7,18] 18 7" "gemma3-270m [5,11] 11 5"; do
    set -- $spec
    M=incontext:model=$1,dtype=bfloat16
    $CTX eval rerank --dataset "${dataset%% *}" --limit "${dataset##* }" --set "scoring_layer=$2" "${extra[@]}" \
      --method "$M,use_layers=[$3]" \
      --method "$M,use_layers=[$3],calibrate=false" \
      --method "$M,use_layers=[$3],length_normalization=length" \
      --method "$M,use_layers=[$3],calibrate=false,length_normalization=length" \
      --method "$M,use_layers=[$4]" \
      --method "$M,use_layers=[$4],calibrate=false" \
      --method "$M,use_layers=[$4],length_normalization=length" \
      --method "$M,use_layers=[$4],calibrate=false,length_normalization=length" \
      --results-dir "benchmarks/results/incontext/${dataset%% *}" --no-plot
  done
done
python benchmarks/incontext_cost.py --model smollm2 --limit 2 --json benchmarks/results/incontext/cost_dl19_smollm2.json
python benchmarks/incontext_cost.py --model gemma3-270m --limit 2 --json benchmarks/results/incontext/cost_dl19_gemma3-270m.json
