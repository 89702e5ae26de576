"""The ``ctx demo`` section for active context management (no LLM: the scripted policy).

A long conversation (the demo book shared chapter by chapter) is cut into
fragments, folded, searched and partly restored with the context tools; at the
end every operation is undone and the original is checked byte for byte.
"""

from __future__ import annotations

import textwrap

from ctx_core.context.policy import ScriptedPolicy
from ctx_core.context.tools import ContextTools
from ctx_core.context.working import WorkingContext
from ctx_core.demo.section import DemoContext

__all__ = ["context_section", "demo_conversation"]


def demo_conversation(ctx: DemoContext) -> WorkingContext:
    """The demo book as a conversation: one user message per chapter, each acknowledged."""
    chapters: dict[str, list[str]] = {}
    for passage in ctx.corpus:
        chapters.setdefault(str(passage.metadata["chapter"]), []).append(passage.text)
    conversation = WorkingContext([("system", "You are a careful reading assistant.")])
    for chapter, texts in chapters.items():
        conversation.append("user", f"Chapter {chapter} of the book:\n\n" + "\n\n".join(texts))
        conversation.append("assistant", f"I have read chapter {chapter}.")
    return conversation


def context_section(ctx: DemoContext) -> None:
    """Fold a long conversation, search it, restore what matters, undo everything."""
    ctx.heading("Active context: fold, search and restore a long conversation (scripted policy)")
    conversation = demo_conversation(ctx)
    tools = ContextTools(conversation)
    before = conversation.render()
    ctx.line(
        f"Conversation: {len(conversation)} messages, {before.total_tokens} tokens (cl100k_base)."
    )
    question = ctx.questions[0]
    policy = ScriptedPolicy.search_terms(
        ["Ferrars"], max_results=3, window=90, window_tokens=400, record=False
    )
    records = policy.run(tools)
    made, folded, found = records[0].result, records[1].result, records[2].result
    ctx.line(
        f"fragment_context(window_tokens=400) -> {made['count']} fragments; "
        f"fold_fragment('all') -> {folded['context_tokens_after']} tokens."
    )
    ctx.line(f"\nQ: {question}\nsearch_context('Ferrars') -> {found['count']} hits:")
    for hit in found["hits"]:
        snippet = textwrap.shorten(hit["snippet"], ctx.width - 30, placeholder=" ...")
        ctx.line(
            f"  [{hit['hit_id']}] fragment {hit['fragment_id']} ({hit['fragment_state']}): {snippet}"
        )
    first = found["hits"][0]["fragment_id"]
    restored = tools.restore_fragment(first)
    ctx.line(
        f"\nrestore_fragment('{first}') -> the LLM would now read "
        f"{restored['context_tokens_after']} tokens instead of {before.total_tokens}."
    )
    regex = tools.search_context(r"\bpoison\w*", mode="regex", max_results=5)
    ctx.line(f"search_context(r'\\bpoison\\w*', mode='regex') -> {regex['count']} hits")
    operations = len(conversation.history)
    while conversation.history:
        conversation.undo()
    exact = conversation.render().messages == conversation.original()
    ctx.line(f"Undid {operations} operations; original recovered byte for byte: {exact}")
