"""The context task (``ctx eval context``), end to end with a rule-following reader."""

from __future__ import annotations

import json
import re

import pytest

from ctx_core.cli.main import build_parser
from ctx_core.eval.results import write_results
from ctx_core.eval.tasks.context import (
    multi_needle_items,
    pi_llm_items,
    run_context_eval,
    run_item,
)
from ctx_core.llm import BaseLLM

SOURCE = {k: [f"{k}-{i}" for i in range(40)] for k in ("bird", "fruit", "tool", "dance")}
FILLER = " ".join(f"Filler sentence number {i} about nothing at all." for i in range(600))


class RuleReader(BaseLLM):
    """Answers PI-LLM questions by reading the last 'key: value;' it can see.

    As an agent (a stop string is offered and no tool result yet) it first searches.
    """

    def complete(self, prompt, **kwargs):
        question = next(m["content"] for m in reversed(prompt) if m["role"] == "user")
        key = re.search(r"current value of (.+?),", question).group(1)
        seen_results = any(m["role"] == "tool" for m in prompt)
        if kwargs.get("stop") and not seen_results:
            args = {"query": f"{key}:", "newest_first": True, "max_results": 1}
            call = {"name": "search_context", "arguments": args}
            return f"<tool_call>{json.dumps(call)}</tool_call>"
        text = "\n".join(m["content"] for m in prompt)
        values = re.findall(rf"{re.escape(key)}: ([^;\"]+);", text)
        return f"The current value of {key} is {values[-1]}." if values else "No idea."


def test_items_are_deterministic():
    sizes = [{"n_keys": 3, "n_updates": 5}]
    a = list(pi_llm_items(sizes, trials=2, seed=4, keys_per_task=2, source=SOURCE))
    b = list(pi_llm_items(sizes, trials=2, seed=4, keys_per_task=2, source=SOURCE))
    assert [(i.item_id, i.document, i.expected) for i in a] == [
        (i.item_id, i.document, i.expected) for i in b
    ]
    assert len(a) == 4 and len({i.item_id for i in a}) == 4
    needles = list(
        multi_needle_items([{"n_needles": 2, "context_tokens": 500}], trials=2, haystack=FILLER)
    )
    assert [i.size for i in needles] == ["n2-t500", "n2-t500"]
    assert needles[0].document != needles[1].document


def test_harness_scores_all_three_methods(tmp_path):
    sizes = [{"n_keys": 4, "n_updates": 40}]
    items = list(pi_llm_items(sizes, trials=1, keys_per_task=2, source=SOURCE, window_tokens=100))
    records = {
        m: [run_item(i, m, RuleReader()) for i in items] for m in ("plain", "scripted", "agent")
    }
    for method, rows in records.items():
        assert all(r["correct"] for r in rows), (method, [r["answer"] for r in rows])
        assert all(r["answer_visible"] for r in rows)
    plain, scripted, agent = records["plain"][0], records["scripted"][0], records["agent"][0]
    assert scripted["prompt_tokens"] < plain["prompt_tokens"] / 2
    assert scripted["tools_used"] == ["fragment_context", "fold_fragment", "search_context"]
    assert agent["tools_used"] == ["search_context"] and agent["llm_calls"] == 2
    assert plain["tool_calls"] == 0 and plain["document_tokens"] == scripted["document_tokens"]


def test_run_context_eval_and_results_file(tmp_path):
    results = run_context_eval(
        "pi-llm",
        RuleReader(),
        sizes=[{"n_keys": 2, "n_updates": 3}, {"n_keys": 3, "n_updates": 6}],
        trials=2,
        keys_per_task=1,
        batch_size=3,
        source=SOURCE,
        show_progress=False,
    )
    assert set(results["metrics"]) == {"k2-u3", "k3-u6"}
    for size in results["metrics"].values():
        assert set(size) == {"plain", "scripted", "agent"}
        assert all(m["accuracy"] == 1.0 and m["n"] == 2 for m in size.values())
    assert len(results["per_item"]) == 12
    path = write_results(results, tmp_path / "out.json", command="ctx eval context --task pi-llm")
    saved = json.loads(path.read_text())
    for field in (
        "metrics",
        "per_item",
        "config",
        "versions",
        "machine",
        "command",
        "wall_seconds",
    ):
        assert field in saved
    assert saved["config"]["sizes"][0] == {"n_keys": 2, "n_updates": 3}
    with pytest.raises(ValueError, match="methods"):
        run_context_eval("pi-llm", RuleReader(), sizes=[], methods=["magic"])
    with pytest.raises(ValueError, match="task"):
        run_context_eval("haystack", RuleReader(), sizes=[])


def test_cli_parses_the_eval_context_command():
    args = build_parser().parse_args(
        ["eval", "context", "--task", "multi-needle", "--needles", "2,5", "--context-tokens", "500"]
    )
    from ctx_core.cli.eval_context import _command, _sizes

    assert _sizes(args) == [
        {"n_needles": 2, "context_tokens": 500},
        {"n_needles": 5, "context_tokens": 500},
    ]
    command = _command(args)
    assert command.startswith("ctx eval context --task multi-needle")
    assert "--needles 2,5" in command and "--context-tokens 500" in command
    assert "parser" not in command and "func" not in command
    # the recorded command parses back to the same options
    again = build_parser().parse_args(command.split()[1:])
    assert _sizes(again) == _sizes(args) and again.trials == args.trials
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "context", "--task", "pi-llm", "--keys", "a,b"])
