"""ContextTools: schemas, search modes, summaries, and errors that come back as results."""

from __future__ import annotations

import inspect
import json

import pytest

from ctx_core.context import TOOL_NAMES, ContextTools, FragmentState, WorkingContext
from ctx_core.llm import BaseLLM

DOC = "Intro. bird: kea; fruit: fig; BIRD: owl; bird: emu; fruit: lime. The end."


class FixedLLM(BaseLLM):
    """A real core LLM that always answers the same text (and records its prompts)."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.prompts: list = []

    def complete(self, prompt, **kwargs):
        self.prompts.append(prompt)
        return self.reply


class BrokenLLM(BaseLLM):
    def complete(self, prompt, **kwargs):
        raise RuntimeError("model server down")


def make(**kwargs) -> tuple[WorkingContext, ContextTools]:
    ctx = WorkingContext(
        [("user", DOC), ("assistant", "The bird is emu, I think."), ("user", "And the fruit?")]
    )
    return ctx, ContextTools(ctx, **kwargs)


def test_specs_are_json_schemas_matching_the_methods():
    specs = ContextTools.specs()
    assert [s.name for s in specs] == list(TOOL_NAMES)
    for spec in specs:
        schema = spec.json_schema()
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        json.dumps(spec.to_openai())  # serializable
        assert spec.to_openai()["function"]["parameters"] == schema
        assert len(spec.description) > 30
        method = getattr(ContextTools, spec.name)
        assert method.__doc__
        params = inspect.signature(method).parameters
        assert [p for p in params if p != "self"] == [p.name for p in spec.params]
        for p in spec.params:
            default = params[p.name].default
            if p.required:
                assert default is inspect.Parameter.empty
            else:
                assert default == p.default or (default is None and p.default is None)
    search = ContextTools.spec("search_context").json_schema()["properties"]
    assert search["max_results"]["maximum"] == 50
    assert search["mode"]["enum"] == ["exact", "regex", "semantic"]
    assert search["scope"]["enum"] == ["all", "user", "assistant"]


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("no_such_tool", {}, "unknown tool"),
        ("fold_fragment", {}, "missing required argument 'fragment_id'"),
        ("fold_fragment", {"fragment_id": "abc123", "force": True}, "unknown argument"),
        ("fold_fragment", {"fragment_id": "abc123"}, "no fragment 'abc123'"),
        ("restore_fragment", {"fragment_id": "all"}, "no fragments yet"),
        ("search_context", {"query": "x", "mode": "fuzzy"}, "mode must be one of"),
        ("search_context", {"query": "x", "max_results": 51}, "max_results must be <= 50"),
        ("search_context", {"query": "x", "max_results": "many"}, "max_results must be a integer"),
        ("search_context", {"query": "(unclosed", "mode": "regex"}, "invalid regular expression"),
        ("search_context", {"query": "   "}, "non-empty"),
        ("get_search_detail", {"hit_id": "h00000"}, "no search hit or fragment"),
        ("fragment_context", {}, "give both start_marker and end_marker"),
        (
            "fragment_context",
            {"start_marker": "a", "end_marker": "b", "window_tokens": 5},
            "not both",
        ),
        ("fragment_context", {"window_tokens": 5, "message": 9}, "out of range"),
        ("summarize_fragment", {"fragment_id": "abc123"}, "no LLM"),
        ("undo_last_operation", {}, "nothing to undo"),
    ],
)
def test_errors_are_readable_results_not_exceptions(name, arguments, message):
    _, tools = make()
    result = tools.call(name, arguments)
    assert result["ok"] is False
    assert message in result["error"], result["error"]
    assert result["error"].startswith(f"{name}: ")


def test_arguments_must_be_an_object():
    _, tools = make()
    result = tools.call("list_fragments", ["not", "an", "object"])  # type: ignore[arg-type]
    assert result["ok"] is False and "JSON object" in result["error"]


def test_a_failing_summarizer_is_a_result_too():
    ctx, tools = make(llm=BrokenLLM())
    fid = tools.fragment_context(start_marker="bird", end_marker="lime.")["fragments"][0]["id"]
    result = tools.summarize_fragment(fid)
    assert result["ok"] is False and "model server down" in result["error"]
    assert ctx.fragment(fid).state is FragmentState.SHOWN


def test_lenient_types_from_llms_are_coerced():
    _, tools = make()
    result = tools.call(
        "search_context", {"query": "bird:", "max_results": "2", "newest_first": "true"}
    )
    assert result["ok"] and result["count"] == 2
    assert result["hits"][0]["snippet"] == "bird: emu;"


def test_exact_search_is_case_insensitive_and_newest_first_goes_backwards():
    _, tools = make()
    forward = tools.search_context("bird:", max_results=50)
    assert [h["snippet"] for h in forward["hits"]] == ["bird: kea;", "BIRD: owl;", "bird: emu;"]
    backward = tools.search_context("bird", newest_first=True, max_results=50)
    assert backward["hits"][0]["message"] == 1  # the assistant message is newer
    assert [h["start"] for h in backward["hits"][1:]] == sorted(
        [h["start"] for h in backward["hits"][1:]], reverse=True
    )


def test_scope_and_regex():
    _, tools = make()
    assistant = tools.search_context("emu", scope="assistant")
    assert [h["role"] for h in assistant["hits"]] == ["assistant"]
    regex = tools.search_context(r"fruit: (\w+)", mode="regex")
    assert [h["snippet"] for h in regex["hits"]] == ["fruit: fig;", "fruit: lime."]


def test_search_finds_text_inside_folded_fragments_and_says_so():
    ctx, tools = make()
    tools.fragment_context(window_tokens=6, message=0)
    tools.fold_fragment("all")
    assert "emu" not in ctx.render().messages[0]["content"]
    hit = tools.search_context("bird: emu")["hits"][0]
    assert hit["fragment_state"] == "folded"
    assert ctx.fragment_at((0, hit["start"])).id == hit["fragment_id"]
    detail = tools.get_search_detail(hit["hit_id"], window=7)
    assert (detail["before"], detail["match"], detail["after"]) == (
        ": owl; ",
        "bird: emu",
        "; fruit",
    )
    frag_detail = tools.get_search_detail(hit["fragment_id"])
    assert frag_detail["text"] in DOC and frag_detail["state"] == "folded"


def test_hit_ids_are_stable_for_a_position():
    _, tools = make()
    a = tools.search_context("bird: emu")["hits"][0]["hit_id"]
    b = tools.search_context("emu", mode="regex", scope="user")["hits"][0]["hit_id"]
    c = tools.search_context("bird: emu")["hits"][0]["hit_id"]
    assert a == c and a != b and a.startswith("h") and len(a) == 6


def test_tool_traffic_is_not_searched():
    ctx, tools = make()
    ctx.append("assistant", '{"query": "bird:"}', metadata={"agent": "tool_call"})
    ctx.append("tool", '{"snippet": "bird: emu;"}', metadata={"agent": "tool_result"})
    hits = tools.search_context("bird:", newest_first=True, max_results=50)["hits"]
    assert {h["message"] for h in hits} == {0}


def test_semantic_search_ranks_by_meaning(embedder):
    ctx = WorkingContext(
        [
            (
                "user",
                "The quarterly budget was approved on Monday. My cat sleeps on the windowsill. "
                "The train to Lyon leaves at noon. Interest rates rose by half a percent.",
            )
        ]
    )
    tools = ContextTools(ctx, embedder=embedder)
    result = tools.search_context("Where does the pet rest?", mode="semantic", max_results=2)
    assert result["ok"] and result["count"] == 2
    assert result["hits"][0]["snippet"] == "My cat sleeps on the windowsill."
    assert result["hits"][0]["score"] >= result["hits"][1]["score"]


def test_summarize_fold_restore_and_undo_through_the_tools():
    llm = FixedLLM("Birds: emu last. Fruits: lime last.")
    ctx, tools = make(llm=llm)
    made = tools.fragment_context(start_marker="bird: kea", end_marker="lime.")
    fid = made["fragments"][0]["id"]
    summary = tools.summarize_fragment(fid, focus="the latest bird")
    assert summary["ok"] and summary["fragments"][0]["summary"] == llm.reply
    assert "the latest bird" in llm.prompts[0] and "bird: kea" in llm.prompts[0]
    assert llm.reply in ctx.render().messages[0]["content"]
    folded = tools.fold_fragment(fid)
    assert folded["context_tokens_after"] < folded["context_tokens_before"]
    assert tools.restore_fragment(fid)["ok"]
    assert ctx.render().messages == ctx.original()
    listing = tools.list_fragments()
    assert listing["fragments"][0]["id"] == fid and listing["fragments"][0]["state"] == "shown"
    undone = [tools.undo_last_operation()["kind"] for _ in range(4)]
    assert undone == ["restore", "fold", "summarize", "fragment"]
    assert ctx.fragments == []


def test_comma_separated_ids():
    ctx, tools = make()
    ids = [f["id"] for f in tools.fragment_context(window_tokens=5, message=0)["fragments"]]
    result = tools.fold_fragment(f"{ids[0]}, {ids[2]}")
    assert result["ok"] and result["fragment_ids"] == [ids[0], ids[2]]
    assert [f.state.value for f in ctx.fragments][:3] == ["folded", "shown", "folded"]
    again = tools.fold_fragment(f"{ids[0]},{ids[2]}")
    assert again["ok"] is False and "already folded" in again["error"]
