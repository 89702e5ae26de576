"""CohereScorer against a small HTTP server on 127.0.0.1 that answers like /v2/rerank."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ctx_core.errors import RemoteServiceError
from ctx_core.scoring import CohereScorer


class FakeRerankServer:
    """Scores documents by word overlap, returns them sorted (like the real API), and can misbehave."""

    def __init__(self) -> None:
        self.script: list[str] = []  # per request: "ok", "500", "429", "400", "slow", "drop-one"
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), **body}
                )
                mode = server.script.pop(0) if server.script else "ok"
                if mode == "slow":
                    time.sleep(1.0)
                if mode in {"500", "429", "400"}:
                    self.send_response(int(mode))
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(json.dumps({"message": f"error {mode}"}).encode())
                    return
                words = set(body["query"].lower().split())
                results = [
                    {
                        "index": i,
                        "relevance_score": len(words & set(d.lower().split())) / (1 + len(words)),
                    }
                    for i, d in enumerate(body["documents"])
                ]
                results.sort(key=lambda r: -r["relevance_score"])
                if mode == "drop-one":
                    results = results[:-1]
                payload = {"id": "x", "results": results, "meta": {"api_version": {"version": "2"}}}
                data = json.dumps(payload).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeRerankServer()
    yield s
    s.close()


def make(server, **kwargs):
    options = {"api_key": "test-key", "base_url": server.url, "timeout": 0.5, "retry_backoff": 0.01}
    return CohereScorer(**{**options, **kwargs})


DOCS = ["apples are red", "the sky is blue", "red apples and green apples", "nothing here"]


def test_scores_come_back_in_input_order(server):
    scores = make(server).score("red apples", DOCS)
    assert scores == pytest.approx([2 / 3, 0.0, 2 / 3, 0.0])
    [request] = server.requests
    assert request["path"] == "/v2/rerank" and request["auth"] == "Bearer test-key"
    assert request["documents"] == DOCS and request["query"] == "red apples"


def test_long_lists_are_split_into_requests(server):
    scores = make(server, batch_size=3).score("red apples", DOCS)
    assert len(server.requests) == 2
    assert scores == pytest.approx([2 / 3, 0.0, 2 / 3, 0.0])


def test_server_errors_are_retried_then_succeed(server):
    server.script = ["500", "429", "ok"]
    assert make(server, max_retries=3).score("sky", DOCS)[1] > 0
    assert len(server.requests) == 3


def test_client_errors_are_not_retried(server):
    server.script = ["400"]
    with pytest.raises(RemoteServiceError, match="HTTP 400") as info:
        make(server).score("sky", DOCS)
    assert info.value.status_code == 400 and info.value.attempts == 1
    assert len(server.requests) == 1


def test_persistent_failure_reports_attempts(server):
    server.script = ["500"] * 5
    with pytest.raises(RemoteServiceError, match="after 3 attempt") as info:
        make(server, max_retries=2).score("sky", DOCS)
    assert info.value.__cause__ is not None


def test_timeouts_are_retried_and_then_reported(server):
    server.script = ["slow", "ok"]
    assert len(make(server, max_retries=1).score("sky", DOCS)) == 4
    server.script = ["slow", "slow"]
    with pytest.raises(RemoteServiceError, match="timed out"):
        make(server, max_retries=1).score("sky", DOCS)


def test_incomplete_answer_is_an_error(server):
    server.script = ["drop-one"]
    with pytest.raises(RemoteServiceError, match="no score for 1 of 4"):
        make(server).score("sky", DOCS)


async def test_async_path(server):
    server.script = ["500"]
    scores = await make(server, batch_size=2).ascore("red apples", DOCS)
    assert scores == pytest.approx([2 / 3, 0.0, 2 / 3, 0.0])


def test_configuration_errors_name_the_argument(server, monkeypatch):
    monkeypatch.delenv("CO_API_KEY", raising=False)
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    with pytest.raises(ValueError, match="api_key"):
        CohereScorer(base_url=server.url)
    with pytest.raises(ValueError, match="timeout"):
        make(server, timeout=0)
    with pytest.raises(ValueError, match="batch_size"):
        make(server, batch_size=5000)
    assert make(server).score("q", []) == []
    assert server.requests == []
