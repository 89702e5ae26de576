"""CohereScorer against a small HTTP server on 127.0.0.1 that answers like /v2/rerank."""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ctx_core.errors import RemoteServiceError, ScoreError
from ctx_core.scoring import CohereScorer


class FakeRerankServer:
    """Scores documents by word overlap, returns them sorted (like the real API), and can misbehave.

    Faults, one per request from ``script``: ``"500"``, ``"429"``, ``"400"`` (HTTP errors),
    ``"429-after:S"`` / ``"503-after:S"`` (Retry-After: S seconds), ``"503-date:S"``
    (Retry-After as an HTTP date S seconds ahead), ``"slow"`` (answers after 1 s),
    ``"slow:S"`` (after S seconds), ``"drop-one"`` (a result missing), ``"nan"`` / ``"inf"``
    (one score NaN / Infinity), ``"dup"`` (one index twice). Every request records when
    it arrived; ``max_in_flight`` counts concurrent requests (``delay`` holds each one).
    """

    def __init__(self) -> None:
        self.script: list[str] = []
        self.requests: list[dict] = []
        self.arrivals: list[float] = []
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer()
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _answer(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.arrivals.append(time.monotonic())
                    server.requests.append(
                        {"path": self.path, "auth": self.headers.get("Authorization"), **body}
                    )
                    mode = server.script.pop(0) if server.script else "ok"
                time.sleep(server.delay)
                if mode == "slow":
                    time.sleep(1.0)
                elif mode.startswith("slow:"):
                    time.sleep(float(mode.split(":")[1]))
                status, _, wait = mode.partition("-")
                if status in {"500", "503", "429", "400"}:
                    self.send_response(int(status))
                    self.send_header("Content-Type", "application/json")
                    if wait.startswith("after:"):
                        self.send_header("Retry-After", wait.split(":")[1])
                    elif wait.startswith("date:"):
                        when = time.time() + float(wait.split(":")[1])
                        self.send_header("Retry-After", email.utils.formatdate(when, usegmt=True))
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
                if mode in {"nan", "inf"}:
                    results[1]["relevance_score"] = math.nan if mode == "nan" else math.inf
                if mode == "dup":
                    results[1]["index"] = results[0]["index"]
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


# -- fault injection: Retry-After, deadline, bad scores, duplicate index, concurrency ------


@pytest.mark.parametrize("fault", ["429-after:1", "503-after:1", "503-date:2"])
def test_retry_after_is_honoured(server, fault):
    """The wait follows the server's Retry-After (seconds or an HTTP date), not the tiny backoff."""
    server.script = [fault, "ok"]
    assert len(make(server, max_retries=1, retry_backoff=0.01).score("sky", DOCS)) == 4
    assert len(server.requests) == 2
    waited = server.arrivals[1] - server.arrivals[0]
    # An HTTP date has one-second resolution: at least ~1 s either way.
    assert waited >= 0.9, waited


async def test_retry_after_is_honoured_async(server):
    server.script = ["429-after:1", "ok"]
    assert len(await make(server, max_retries=1).ascore("sky", DOCS)) == 4
    assert server.arrivals[1] - server.arrivals[0] >= 0.9


def test_retry_after_beyond_the_deadline_gives_up_at_once(server):
    server.script = ["429-after:30", "ok"]
    start = time.monotonic()
    with pytest.raises(RemoteServiceError, match="deadline") as info:
        make(server, max_retries=3, deadline=2.0).score("sky", DOCS)
    assert time.monotonic() - start < 2.0
    assert info.value.status_code == 429 and len(server.requests) == 1


@pytest.mark.parametrize("asynchronous", [False, True])
def test_deadline_bounds_the_whole_call_across_retries(server, asynchronous):
    """Each attempt times out at 0.5 s; 4 attempts would take > 2 s, the deadline stops at ~1.2 s."""
    server.script = ["slow:3"] * 4
    scorer = make(server, timeout=0.5, max_retries=3, retry_backoff=0.01, deadline=1.2)
    start = time.monotonic()
    with pytest.raises(RemoteServiceError, match=r"deadline of 1\.2s"):
        if asynchronous:
            asyncio.run(scorer.ascore("sky", DOCS))
        else:
            scorer.score("sky", DOCS)
    assert time.monotonic() - start < 1.9
    assert len(server.requests) <= 3


@pytest.mark.parametrize("fault", ["nan", "inf"])
def test_non_finite_score_from_the_api_is_an_error(server, fault):
    server.script = [fault, fault]
    with pytest.raises(ScoreError, match=r"(?i)cohere.*non-finite"):
        make(server).score("red apples", DOCS)
    with pytest.raises(ScoreError, match=r"(?i)cohere.*non-finite"):
        asyncio.run(make(server).ascore("red apples", DOCS))
    assert len(server.requests) == 2  # a bad answer is not retried


def test_duplicate_index_is_an_error(server):
    server.script = ["dup"]
    with pytest.raises(RemoteServiceError, match=r"index \d+ twice"):
        make(server).score("red apples", DOCS)


async def test_async_batches_respect_max_concurrency(server):
    server.delay = 0.2
    docs = [f"doc {i} red apples" for i in range(12)]
    scorer = make(server, batch_size=1, max_concurrency=3, timeout=5.0)
    scores = await scorer.ascore("red apples", docs)
    assert len(scores) == 12 and len(server.requests) == 12
    assert server.max_in_flight == 3
    assert scores == make(server, batch_size=4, timeout=5.0).score("red apples", docs)


def test_co_api_url_is_read_at_construction(server, monkeypatch):
    """The SDK reads $CO_API_URL once, at import; the scorer reads it whenever it is built."""
    monkeypatch.setenv("CO_API_URL", server.url)
    scorer = CohereScorer(api_key="test-key", timeout=0.5)
    assert len(scorer.score("sky", DOCS)) == 4 and len(server.requests) == 1
    assert scorer.config()["base_url"] is None  # the environment is not baked into the config


def test_config_has_the_new_options_and_never_the_key(server):
    from ctx_core._registry import from_config

    scorer = make(server, deadline=9.0, max_concurrency=2)
    config = scorer.config()
    assert config["deadline"] == 9.0 and config["max_concurrency"] == 2
    assert "test-key" not in json.dumps(config)
    rebuilt = from_config({**config, "api_key": "test-key"})
    assert rebuilt.config() == config


@pytest.mark.parametrize(
    ("argument", "value"),
    [("deadline", 0), ("deadline", math.nan), ("max_concurrency", 0), ("max_concurrency", True)],
)
def test_new_options_are_validated(server, argument, value):
    with pytest.raises((ValueError, TypeError), match=argument):
        make(server, **{argument: value})
