"""The agent loop and the benchmark CLI with the real packaged SmolLM2 (slow)."""

from __future__ import annotations

import json

import pytest

from ctx_core.cli.main import main
from ctx_core.context import ActiveContextAgent, WorkingContext

pytestmark = pytest.mark.slow


def test_agent_turn_with_smollm2_terminates_and_is_recorded(smollm2):
    ctx = WorkingContext([("user", "price: 3; colour: red; price: 5; colour: blue; price: 8.")])
    agent = ActiveContextAgent(smollm2, ctx, max_tool_calls=3, max_tokens=48)
    turn = agent.run("What is the latest price?")
    assert turn.llm_calls == len(turn.tool_calls) + 1 or turn.hit_cap
    assert len(turn.tool_calls) <= 3
    assert ctx.messages[-1].role == "assistant" and ctx.messages[-1].text == turn.answer
    assert turn.final_prompt_tokens > 0


def test_eval_context_cli_writes_results(tmp_path):
    out = tmp_path / "pi.json"
    code = main(
        [
            "eval",
            "context",
            "--task",
            "pi-llm",
            "--keys",
            "2",
            "--updates",
            "3",
            "--trials",
            "1",
            "--keys-per-task",
            "1",
            "--methods",
            "plain,scripted",
            "--quiet",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    results = json.loads(out.read_text())
    assert set(results["metrics"]["k2-u3"]) == {"plain", "scripted"}
    assert len(results["per_item"]) == 2
    assert results["command"].startswith("ctx ")
