#!/usr/bin/env bash
# Reruns the document-memory measurements (results under benchmarks/results/memory/).
# Run from the repository root with the package installed: pip install -e '.[local,eval]'.
# Each result file's "command" field is the exact command that wrote it.
# CPU cost: the heuristic extractor and the three-layer index embed every line, chunk,
# outline and core content with all-MiniLM-L6-v2; SmolLM2 generates up to --max-tokens
# per candidate path and session. On a shared, heavily loaded 2-core machine one LoCoMo
# conversation took far longer than an hour of wall time, so runs there were limited.
set -euo pipefail

# LoCoMo: each session a document; fixed-size chunks of 60 and 120 words against
# heuristic memories with chunks of at most 150 and 60 words. Long runs save partial
# results after each conversation ("partial": true until the run ends).
ctx eval memory --dataset locomo --fixed-words 60,120 --memory-words 150,60 \
  --output benchmarks/results/memory/locomo.json

# SmolLM2-135M extractor on the first 2 sessions of conversation 0 (2 candidate paths),
# with its extraction time (wall and CPU) per 1,000 source tokens.
ctx eval memory --dataset locomo-llm --sessions 2 --paths 2 --max-tokens 256 --fixed-words 60,120
# The whole of conversation 0 (19 sessions): about 4 minutes on one H200 (the committed file
# locomo-llm-conv0-sessions19-paths2.json); about two hours at the loaded 2-core CPU rate above.
if [[ "${WITH_GPU:-0}" == "1" ]]; then
  ctx eval memory --dataset locomo-llm --sessions 19 --paths 2 --max-tokens 256 --fixed-words 60,120
fi

# Document retrieval on the classic IR sets; the word windows are the fixed-size baseline
# (the paragraph packer leaves single-paragraph abstracts whole). About a minute each on
# one H200; 12-17 minutes each on the loaded 2-core CPU, mostly the heuristic extraction.
ctx eval memory --dataset cacm --fixed-words 60 --window-words 60,150
ctx eval memory --dataset cranfield --fixed-words 60 --window-words 60,150
