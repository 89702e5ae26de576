"""A catastrophic regex from the agent ends as a tool error within a time limit, never a hang.

Each case runs in a real subprocess with a hard wall-clock limit, so a search that
hangs fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LIMIT_S = 30.0

# (pattern, text): backtracking blows up on each with Python's ``re``.
HANGS = [
    ("(a+)+$", "a" * 30 + "!"),
    ("(a|aa)+$", "a" * 40 + "!"),
]


def _run(script: str) -> list:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'core'}{os.pathsep}{ROOT / 'packages'}"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=LIMIT_S,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_catastrophic_regex_is_a_tool_result_within_the_limit():
    """Core tools and both adapters' tools, every pattern in one subprocess (imports load once)."""
    script = f"""
        import json, time
        from ctx_core.context import ContextTools, WorkingContext
        from langchain_ctx.context_tools import ContextToolkit
        from llamaindex_ctx.context_tools import ContextToolSpec

        def core(ctx, args):
            return ContextTools(ctx).call("search_context", args)

        def langchain(ctx, args):
            tools = {{t.name: t for t in ContextToolkit(context=ctx).get_tools()}}
            return json.loads(tools["search_context"].invoke(args))

        def llamaindex(ctx, args):
            tools = {{t.metadata.name: t for t in ContextToolSpec(ctx).to_tool_list()}}
            out = str(tools["search_context"].call(**args))
            return json.loads(out) if out.startswith("{{") else {{"ok": False, "error": out}}

        cases = []
        for front in (core, langchain, llamaindex):
            for pattern, text in {HANGS!r}:
                ctx = WorkingContext([("user", text), ("user", "bird: kea")])
                start = time.monotonic()
                result = front(ctx, {{"query": pattern, "mode": "regex"}})
                cases.append([front.__name__, pattern, result, time.monotonic() - start])
        print(json.dumps(cases))
    """
    cases = _run(script)
    assert len(cases) == 3 * len(HANGS)
    for front, pattern, result, seconds in cases:
        # Either answered (the engine needed no backtracking) or a tool error naming the
        # time limit or the refused construct: never a hang, never an exception.
        if result["ok"] is False:
            assert "regular expression" in result["error"], (front, pattern, result)
        assert seconds < 5, (front, pattern, seconds)


def test_timeout_is_reported_and_the_agent_can_go_on():
    """The search gives up after ``regex_timeout`` seconds and says so; the next call works."""
    from ctx_core.context import ContextTools, WorkingContext
    from ctx_core.context import search as search_module

    if search_module._regex is None:
        pytest.skip("the 'regex' package is not installed (syntax is restricted instead)")
    ctx = WorkingContext([("user", "a" * 40 + "!"), ("user", "bird: kea")])
    tools = ContextTools(ctx)
    result = tools.call("search_context", {"query": "(a|aa)+$", "mode": "regex"})
    assert result["ok"] is False
    assert "took longer than" in result["error"], result["error"]
    again = tools.call("search_context", {"query": r"bird: \w+", "mode": "regex"})
    assert again["ok"] is True and again["count"] == 1


def test_without_the_regex_package_risky_syntax_is_refused(monkeypatch):
    """Fallback on Python's ``re``: nested repetition, repeated alternation and backreferences are refused."""
    from ctx_core.context import WorkingContext
    from ctx_core.context import search as search_module

    monkeypatch.setattr(search_module, "_regex", None)
    ctx = WorkingContext([("user", "a" * 40 + "! bird: kea; bird: emu")])
    for pattern in ["(a+)+$", "(a|aa)+$", "(a*)*b", r"(a)\1", "(?:a{2,})+"]:
        with pytest.raises(ValueError, match="regular expression"):
            search_module.search_context(ctx, pattern, mode="regex")
    hits = search_module.search_context(ctx, r"bird: (\w+)", mode="regex")
    assert len(hits) == 2
    assert len(search_module.search_context(ctx, r"a{3}|kea", mode="regex")) > 1
