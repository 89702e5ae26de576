"""Shared fixtures: real packaged models, loaded once per test session."""

from __future__ import annotations

import os

import pytest

# Tests never reach a model hub: everything loads from packages or from files the tests write.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def embedder():
    from ctx_core.embeddings import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def embedding_scorer(embedder):
    from ctx_core.scoring import EmbeddingScorer

    return EmbeddingScorer(embedder)


@pytest.fixture(scope="session")
def smollm2():
    from ctx_core.llm import TransformersLLM

    return TransformersLLM("smollm2", batch_size=4)


class RecordingScorer:
    """A real scorer (word overlap) that records how often it is called."""

    name = "overlap"

    def __init__(self) -> None:
        self.calls = 0

    def score(self, query, passages):
        from ctx_core.types import ensure_passages

        self.calls += 1
        words = set(query.lower().split())
        return [
            float(len(words & set(p.text.lower().rstrip(".").split())))
            for p in ensure_passages(passages)
        ]

    async def ascore(self, query, passages):
        return self.score(query, passages)


@pytest.fixture
def overlap_scorer():
    return RecordingScorer()


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    """A randomly initialized 2-layer Llama with SmolLM2's tokenizer and chat template, saved to disk."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from ctx_core.models import resolve_llm

    tokenizer = AutoTokenizer.from_pretrained(resolve_llm("smollm2"))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        initializer_range=0.3,  # larger weights: outputs that differ visibly between inputs
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    path = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# -- a real OpenAI-compatible server (llama-cpp-python) ----------------------------------


class LlamaServer:
    """llama-cpp-python's OpenAI-compatible server on 127.0.0.1, serving the packaged SmolLM2 GGUF.

    Started as a subprocess (``python -m llama_cpp.server``); ``logits_all=False`` gives a
    server that cannot return log-probabilities.
    """

    def __init__(self, log_dir, *, logits_all: bool = True, alias: str = "smollm2") -> None:
        self.log_path = (
            log_dir / f"llama-server-{alias}-{'logits' if logits_all else 'nologits'}.log"
        )
        self.logits_all = logits_all
        self.alias = alias
        self.process = None
        self.port = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 180.0) -> LlamaServer:
        import socket
        import subprocess
        import sys
        import time

        import httpx

        from ctx_core.models import _PACKAGED

        try:
            import llama_cpp.server.app  # noqa: F401
        except ImportError:  # built by `make server` (it compiles llama.cpp)
            pytest.skip("llama-cpp-python[server] is not installed: run `make server`")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        gguf = _PACKAGED["smollm2"].locate()
        command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(gguf), "--model_alias", self.alias,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", "2048", "--n_threads", "2", "--n_threads_batch", "2",
            "--logits_all", str(self.logits_all), "--verbose", "False",
        ]  # fmt: skip
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - kept open while the server runs
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    # The first completion allocates the server's buffers (seconds on a
                    # busy machine): pay for it here, not in the first test.
                    httpx.post(
                        f"{self.base_url}/chat/completions",
                        json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1},
                        timeout=timeout,
                    )
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llama server did not start in {timeout}s: {self.log_path}")

    def stop(self) -> None:
        import subprocess

        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log", None) is not None:
            self._log.close()


@pytest.fixture(scope="session")
def start_llama_server(tmp_path_factory):
    """Starts another llama server (``logits_all=...``); the caller stops it."""

    def start(**options) -> LlamaServer:
        return LlamaServer(tmp_path_factory.mktemp("llama-server"), **options).start()

    return start


@pytest.fixture(scope="session")
def llama_server(start_llama_server):
    """One llama-cpp-python server (log-probabilities on) for the whole session."""
    server = start_llama_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def smollm2_chat_template():
    """The packaged SmolLM2's chat template, as its tokenizer has it (the GGUF holds the same)."""
    from transformers import AutoTokenizer

    from ctx_core.models import resolve_llm

    return AutoTokenizer.from_pretrained(resolve_llm("smollm2")).chat_template


class FaultProxy:
    """A local HTTP proxy in front of a real server that injects faults the server cannot make.

    ``script`` holds one fault per request, consumed in order (then requests pass through):
    ``"500"``/``"503"``/``"429"``/``"400"`` answer that status, ``"-after:S"`` adds
    ``Retry-After: S``; ``"slow:S"`` waits S seconds, then forwards; ``"garbage"`` answers
    200 with a body that is not JSON; ``"404-model"`` answers like OpenAI for an unknown
    model; ``"no-logprobs"`` forwards and strips ``logprobs`` from the answer; ``"401-echo"``
    answers 401 echoing the Authorization header it got; ``"close"`` drops the connection.
    ``max_in_flight`` counts concurrent requests; ``delay`` holds each forwarded request.
    """

    def __init__(self, upstream: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        import httpx

        self.upstream = upstream.rstrip("/")
        self.script: list[str] = []
        self.arrivals: list[float] = []
        self.paths: list[str] = []
        self.auth: list[str | None] = []
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        lock = threading.Lock()
        proxy = self
        client = httpx.Client(timeout=120.0)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body: bytes, headers=()):
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method):
                import json
                import time

                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with lock:
                    proxy.arrivals.append(time.monotonic())
                    proxy.paths.append(self.path)
                    proxy.auth.append(self.headers.get("Authorization"))
                    mode = proxy.script.pop(0) if proxy.script else "ok"
                    proxy.in_flight += 1
                    proxy.max_in_flight = max(proxy.max_in_flight, proxy.in_flight)
                try:
                    status, _, extra = mode.partition("-")
                    if status.isdigit() and mode != "404-model" and mode != "401-echo":
                        headers = [("Content-Type", "application/json")]
                        if extra.startswith("after:"):
                            headers.append(("Retry-After", extra.split(":")[1]))
                        self._send(
                            int(status), json.dumps({"error": {"message": mode}}).encode(), headers
                        )
                        return
                    if mode == "404-model":
                        error = {
                            "error": {
                                "message": "The model `x` does not exist",
                                "code": "model_not_found",
                            }
                        }
                        self._send(
                            404, json.dumps(error).encode(), [("Content-Type", "application/json")]
                        )
                        return
                    if mode == "401-echo":
                        message = f"bad key: {self.headers.get('Authorization')}"
                        self._send(401, json.dumps({"error": {"message": message}}).encode())
                        return
                    if mode == "garbage":
                        self._send(
                            200, b"<html>upstream error</html>", [("Content-Type", "text/html")]
                        )
                        return
                    if mode == "close":
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    if mode.startswith("slow:"):
                        time.sleep(float(mode.split(":")[1]))
                    time.sleep(proxy.delay)
                    target = proxy.upstream + self.path
                    answer = client.request(
                        method, target, content=body, headers={"Content-Type": "application/json"}
                    )
                    content = answer.content
                    if mode == "no-logprobs":
                        data = answer.json()
                        for choice in data.get("choices", []):
                            choice["logprobs"] = None
                        content = json.dumps(data).encode()
                    self._send(answer.status_code, content, [("Content-Type", "application/json")])
                finally:
                    with lock:
                        proxy.in_flight -= 1

            def do_POST(self):
                self._handle("POST")

            def do_GET(self):
                self._handle("GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self._client = client

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()


@pytest.fixture
def fault_proxy(llama_server):
    """A fault-injecting proxy in front of the session's llama server (the upstream root)."""
    proxy = FaultProxy(llama_server.base_url[: -len("/v1")])
    yield proxy
    proxy.close()
