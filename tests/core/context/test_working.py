"""WorkingContext: messages kept byte for byte, stable fragment ids, rendering, undo."""

from __future__ import annotations

import dataclasses
import re

import pytest

from ctx_core.context import ContextMessage, FragmentState, WorkingContext
from ctx_core.tokens import TokenCounter

DOC = (
    "Chapter one. The harbour was quiet at dawn.\n\n"
    "Chapter two. A ship called the Marigold arrived with tea and silk.\n\n"
    "Chapter three. The captain, Ada Quill, paid the pilot 40 shillings. Ünïcödé → ok.\n"
)


def make() -> WorkingContext:
    return WorkingContext(
        [
            ("system", "You are helpful."),
            {"role": "user", "content": DOC},
            ContextMessage("assistant", "Noted: the Marigold, tea and silk."),
            ("user", "What did the pilot get?"),
        ]
    )


def test_render_of_untouched_context_is_the_original():
    ctx = make()
    rendered = ctx.render()
    assert rendered.messages == ctx.original()
    assert rendered.tokens == rendered.original_tokens
    counter = TokenCounter()
    assert rendered.tokens == [counter.count(m["content"]) for m in ctx.original()]


def test_bad_messages_are_rejected():
    with pytest.raises(ValueError, match="role"):
        WorkingContext([("narrator", "x")])
    with pytest.raises(TypeError, match="messages\\[0\\]"):
        WorkingContext([42])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="text"):
        WorkingContext().append("user")


def test_ids_are_six_hex_chars_deterministic_and_stable():
    a, b = make(), make()
    fa = a.fragment_by_markers("Chapter two.", "silk.")
    fb = b.fragment_by_markers("Chapter two.", "silk.")
    assert re.fullmatch(r"[0-9a-f]{6}", fa.id) and fa.id == fb.id
    others = a.fragment_by_window(8)
    a.fold(fa.id)
    a.summarize(others[0].id, "Dawn at the harbour.")
    a.undo()
    assert a.fragment(fa.id).start == fb.start and a.fragment(fa.id).end == fb.end
    assert {f.id for f in a.fragments} == {fa.id, *(f.id for f in others)}


def test_overlapping_fragments_are_refused():
    ctx = make()
    ctx.fragment_by_markers("Chapter two.", "silk.")
    with pytest.raises(ValueError, match="overlaps"):
        ctx.add_fragment((1, 0), (1, DOC.index("Marigold")))
    with pytest.raises(ValueError, match="empty span"):
        ctx.add_fragment((1, 5), (1, 5))
    with pytest.raises(ValueError, match="out of range"):
        ctx.add_fragment((9, 0), (9, 1))


def test_markers_can_span_messages_and_folding_keeps_message_count():
    ctx = make()
    frag = ctx.fragment_by_markers("Chapter three.", "Noted:")
    assert frag.start[0] == 1 and frag.end[0] == 2
    ctx.fold(frag.id)
    rendered = ctx.render()
    assert [m["role"] for m in rendered.messages] == [m.role for m in ctx.messages]
    assert "[folded fragment" in rendered.messages[1]["content"]
    assert rendered.messages[2]["content"] == " the Marigold, tea and silk."
    assert ctx.fragment_text(frag.id) == DOC[DOC.index("Chapter three.") :] + "\n\nNoted:"


def test_marker_errors_name_the_problem():
    ctx = make()
    with pytest.raises(ValueError, match="not found"):
        ctx.fragment_by_markers("Chapter nine", "x")
    with pytest.raises(ValueError, match="no free span"):
        ctx.fragment_by_markers("Chapter one.", "no such end")
    with pytest.raises(ValueError, match="message 7 out of range"):
        ctx.fragment_by_markers("Chapter", "one", message=7)


def test_window_fragments_tile_the_free_text_and_respect_the_window():
    ctx = make()
    first = ctx.fragment_by_markers("Chapter two.", "silk.")
    window = ctx.fragment_by_window(6, message=1)
    text = DOC
    covered = sorted([first, *window], key=lambda f: f.start)
    joined = "".join(text[f.start[1] : f.end[1]] for f in covered)
    # only whitespace-only pieces are left out
    assert joined.replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")
    counter = ctx.counter
    for frag in window:
        piece = ctx.fragment_text(frag.id)
        assert counter.count(piece) <= 6 or len(piece.split()) == 1
    with pytest.raises(ValueError, match="window_tokens"):
        ctx.fragment_by_window(0)


def test_window_fragmentation_skips_system_and_tool_traffic_by_default():
    ctx = make()
    ctx.append("assistant", '<tool_call>{"name": "x"}</tool_call>', metadata={"agent": "tool_call"})
    frags = ctx.fragment_by_window(50)
    assert {f.start[0] for f in frags} == {1, 2, 3}


def test_every_operation_undoes_and_the_original_comes_back_byte_for_byte():
    ctx = make()
    original = ctx.original()
    frag = ctx.fragment_by_markers("Chapter two.", "silk.")
    window = ctx.fragment_by_window(10)
    ctx.summarize(frag.id, "A ship came.", focus="ships")
    ctx.fold(window[0].id)
    ctx.fold_all([f.id for f in window[1:3]])
    ctx.restore(window[0].id)
    ctx.restore_all([f.id for f in window[1:3]])
    ctx.remove_fragment(window[-1].id)
    kinds = [op.kind for op in ctx.history]
    assert kinds == [
        "fragment",
        "fragment",
        "summarize",
        "fold",
        "fold",
        "restore",
        "restore",
        "remove",
    ]
    states = []
    while ctx.history:
        states.append(ctx.undo().kind)
        assert ctx.original() == original
    assert states == kinds[::-1]
    assert ctx.fragments == []
    assert ctx.render().messages == original
    with pytest.raises(ValueError, match="nothing to undo"):
        ctx.undo()


def test_summary_is_kept_beside_the_original_and_after_restore():
    ctx = make()
    frag = ctx.fragment_by_markers("Chapter two.", "silk.")
    ctx.summarize(frag.id, "A ship came with goods.")
    content = ctx.render().messages[1]["content"]
    assert f"[summary of fragment {frag.id}" in content and "A ship came with goods." in content
    assert "Marigold" not in content
    ctx.restore(frag.id)
    assert ctx.render().messages == ctx.original()
    assert ctx.fragment(frag.id).summary == "A ship came with goods."
    assert ctx.fragment(frag.id).state is FragmentState.SHOWN
    with pytest.raises(ValueError, match="non-empty"):
        ctx.summarize(frag.id, "  ")


def test_fold_twice_and_restore_shown_are_errors():
    ctx = make()
    frag = ctx.fragment_by_markers("Chapter two.", "silk.")
    with pytest.raises(ValueError, match="already shown"):
        ctx.restore(frag.id)
    ctx.fold(frag.id)
    with pytest.raises(ValueError, match="already folded"):
        ctx.fold(frag.id)
    with pytest.raises(KeyError, match="no fragment 'zzzzzz'"):
        ctx.fold("zzzzzz")


def test_folding_shrinks_tokens_and_adjacent_folds_share_one_marker():
    long_text = " ".join(f"Sentence number {i} says nothing much." for i in range(200))
    ctx = WorkingContext([("user", long_text), ("user", "Question?")])
    frags = ctx.fragment_by_window(50, message=0)
    ctx.fold_all()
    rendered = ctx.render()
    assert rendered.messages[0]["content"].count("[") == 1
    assert f"{len(frags)} folded fragments" in rendered.messages[0]["content"]
    assert rendered.total_tokens < rendered.original_total_tokens / 10
    assert rendered.tokens[0] == ctx.counter.count(rendered.messages[0]["content"])


def test_show_ids_wraps_shown_fragments():
    ctx = make()
    frag = ctx.fragment_by_markers("Chapter two.", "silk.")
    content = ctx.render(show_ids=True).messages[1]["content"]
    assert (
        f"[fragment {frag.id}]Chapter two." in content and f"silk.[/fragment {frag.id}]" in content
    )


def test_append_is_the_only_change_to_messages():
    ctx = make()
    frag = ctx.fragment_by_markers("Chapter two.", "silk.")
    index = ctx.append("assistant", "More.")
    assert index == 4 and len(ctx) == 5
    assert ctx.fragment(frag.id).start == (1, DOC.index("Chapter two."))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.messages[0].text = "changed"  # type: ignore[misc]
