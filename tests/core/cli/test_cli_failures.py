"""The ``ctx`` command fails with one line on stderr, never a traceback (issue 22, item 6).

Every test runs the real command in a subprocess, as a user would: exit status 2 for
a failure (130 for Ctrl-C), one line naming the file (and the line, for decode
errors), and no partial output file left behind.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "core"), str(ROOT / "packages")])
    env.pop("PYTHONWARNINGS", None)
    return env


def ctx(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``ctx ARGS`` in a subprocess and return its completed process."""
    return subprocess.run(
        [sys.executable, "-m", "ctx_core.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
    )


def assert_one_line_failure(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 2, no traceback, exactly one line on stderr holding every fragment."""
    err = result.stderr
    assert "Traceback" not in err, err
    assert result.returncode == 2, (result.returncode, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture
def passages(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    rows = [
        {"id": "p", "text": "Paris is the capital of France."},
        {"id": "b", "text": "Bananas are yellow."},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_output_is_a_directory(tmp_path: Path, passages: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    result = ctx(
        "rerank", "-q", "capital", "-i", str(passages), "--scorer", "bm25", "-o", str(folder)
    )
    assert_one_line_failure(result, str(folder))
    assert list(folder.iterdir()) == []


def test_output_path_cannot_be_written(tmp_path: Path, passages: Path) -> None:
    # A path under a regular file cannot be created, whoever runs the test (root included).
    target = passages / "out.jsonl"
    result = ctx(
        "rerank", "-q", "capital", "-i", str(passages), "--scorer", "bm25", "-o", str(target)
    )
    assert_one_line_failure(result, str(target))


def test_structurize_output_is_a_directory(tmp_path: Path) -> None:
    text = tmp_path / "doc.txt"
    text.write_text("# Title\n\nOne sentence here. Another one there.\n", encoding="utf-8")
    result = ctx("structurize", str(text), "-o", str(tmp_path))
    assert_one_line_failure(result, str(tmp_path))


def test_malformed_jsonl_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n\n{broken\n', encoding="utf-8")
    result = ctx("rerank", "-q", "x", "-i", str(path), "--scorer", "bm25")
    assert_one_line_failure(result, str(path), "line 3")


def test_undecodable_input_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    result = ctx("rerank", "-q", "x", "-i", str(path), "--scorer", "bm25")
    assert_one_line_failure(result, str(path), "line 2")


def test_structurize_undecodable_file_names_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"First line.\nCaf\xe9 au lait.\n")
    result = ctx("structurize", str(path))
    assert_one_line_failure(result, str(path), "line 2")


def test_memory_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    result = ctx("ask", "what?", "--memory", str(path))
    assert_one_line_failure(result, str(path))


def test_failed_run_leaves_previous_output_untouched(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{broken\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n", encoding="utf-8")
    result = ctx("rerank", "-q", "x", "-i", str(bad), "--scorer", "bm25", "-o", str(out))
    assert_one_line_failure(result, str(bad))
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "out.jsonl"]


def test_nan_is_never_written_as_bare_nan(tmp_path: Path) -> None:
    # Python's json reads NaN/Infinity; strict JSON readers do not. The CLI writes null.
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"id": "a", "text": "Paris is in France.", "score": NaN, "metadata": {"x": NaN, "y": Infinity}}\n'
        '{"id": "b", "text": "Bananas.", "metadata": {"z": [1.5, -Infinity]}}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    result = ctx("rerank", "-q", "Paris", "-i", str(path), "--scorer", "bm25", "-o", str(out))
    assert result.returncode == 0, result.stderr

    def strict(constant: str) -> None:
        raise AssertionError(f"bare {constant} in the output")

    rows = [json.loads(line, parse_constant=strict) for line in out.read_text().splitlines()]
    by_id = {row["id"]: row for row in rows}
    assert by_id["a"]["metadata"]["x"] is None and by_id["a"]["metadata"]["y"] is None
    assert by_id["b"]["metadata"]["z"] == [1.5, None]
    assert all(isinstance(r["score"], float) and math.isfinite(r["score"]) for r in rows)


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _wait_until_idle(pid: int, limit: float = 60) -> None:
    """Wait until process ``pid`` stops using CPU (done importing, waiting on its input)."""
    time.sleep(2)
    if not Path(f"/proc/{pid}/stat").exists():
        time.sleep(6)  # no /proc: a generous fixed wait
        return
    deadline = time.monotonic() + limit
    last = _cpu_ticks(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _cpu_ticks(pid)
        if now == last:
            return
        last = now


def test_sigint_exits_130_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    # ``ctx rerank -i -`` waits on its standard input: a running command to interrupt.
    process = subprocess.Popen(
        [sys.executable, "-m", "ctx_core.cli.main", "rerank", "-q", "x", "-i", "-", "-o", str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        # Ctrl-C as a terminal delivers it: a run started in the background of a
        # non-interactive shell (a CI script's `cmd &`) ignores SIGINT, and children
        # inherit that, so Python would never raise KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdin is not None
        process.stdin.write('{"text": "one passage"}\n')
        process.stdin.flush()
        _wait_until_idle(process.pid)  # past the imports, blocked in the read
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in err, err
    assert process.returncode == 130, (process.returncode, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0], err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_batch_bad_input_fails_before_workers_start(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        '{"query": "q", "candidates": ["a", "b"]}\n{"query": "q", "candidates": [\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    started = time.monotonic()
    result = ctx(
        "batch", "rerank", "-i", str(rows), "-o", str(out), "--scorer", "bm25", "--local-cpus", "1"
    )
    elapsed = time.monotonic() - started
    assert_one_line_failure(result, str(rows), "line 2")
    # Validation happens before Ray starts: no worker, no output folder.
    assert not out.exists()
    assert elapsed < 30, elapsed
