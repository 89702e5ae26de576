"""Prompts of the LLM structurizer (few-shot, sentence-referencing form).

The model sees the text as numbered sentences (``[1] ...``) and answers with YAML
that only names things and points at sentence ranges; it never copies or
rewrites the text. Two worked examples (written for this project) show the form:
one text with implicit topics and sub-aspects, one with an enumeration.

Examples:
    >>> from ctx_core.structure.prompts import structure_messages
    >>> messages = structure_messages(["Cats purr.", "Cats nap."])
    >>> messages[0]["role"], messages[-1]["content"].splitlines()[-1]
    ('system', '[2] Cats nap.')
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "EXAMPLE_SCOPES",
    "SYSTEM_PROMPT",
    "number_sentences",
    "scope_messages",
    "structure_messages",
]

_WHITESPACE = re.compile(r"\s+")

SYSTEM_PROMPT = """\
You organize texts. You get a text as numbered sentences and answer with YAML only:
- scope: a short noun phrase naming what the whole text is about.
- aspects: the main parts of the text, in order. Each has a short `name` and the \
`sentences` it covers, written as a range "first-last".
Rules: every sentence belongs to exactly one aspect; ranges follow the text order and \
neither overlap nor skip sentences; an aspect covers at least two sentences, except a \
one-sentence introduction or conclusion; numbered items and headings in the text usually \
start a new aspect. Add `subaspects` (same form, inside the parent's range) only when an \
aspect clearly has parts. Never copy sentences into the answer."""

_EXAMPLE_1 = [
    "A honeybee colony has three kinds of members.",
    "The queen is the only fertile female and lays up to two thousand eggs a day.",
    "Workers are sterile females that clean the hive, feed the young and gather nectar.",
    "Drones are males whose only task is to mate with a young queen.",
    "In late spring a strong colony often divides.",
    "The old queen leaves with about half of the workers in a swarm.",
    "Scouts search for a hollow tree or another cavity to serve as the new home.",
    "Meanwhile the bees left behind raise a new queen from a young larva.",
]
_ANSWER_1 = """\
scope: honeybee colonies
aspects:
  - name: members of a colony
    sentences: 1-4
  - name: how a colony divides
    sentences: 5-8
    subaspects:
      - name: the departing swarm
        sentences: 5-6
      - name: new home and new queen
        sentences: 7-8"""

_EXAMPLE_2 = [
    "Getting a bicycle ready for winter takes three steps.",
    "1. Clean the drivetrain.",
    "Road salt eats into the chain, so wash it with warm water and degreaser.",
    "2. Change the tyres.",
    "Wider tyres with studs grip better on ice.",
    "Lower the pressure a little for more contact with the road.",
    "3. Fit lights.",
    "Days are short, and many countries require a white front light and a red rear light.",
]
_ANSWER_2 = """\
scope: preparing a bicycle for winter
aspects:
  - name: introduction
    sentences: 1-1
  - name: cleaning the drivetrain
    sentences: 2-3
  - name: changing the tyres
    sentences: 4-6
  - name: fitting lights
    sentences: 7-8"""

#: Scopes of the worked examples: a reply with one of these copied the example.
EXAMPLE_SCOPES = ("honeybee colonies", "preparing a bicycle for winter")


def number_sentences(sentences: Sequence[str]) -> str:
    """``[1] first sentence`` lines (white space inside a sentence collapsed)."""
    return "\n".join(
        f"[{i}] {_WHITESPACE.sub(' ', s).strip()}" for i, s in enumerate(sentences, start=1)
    )


def _user(sentences: Sequence[str]) -> str:
    return f"Structure this text of {len(sentences)} sentences.\n\n{number_sentences(sentences)}"


def structure_messages(sentences: Sequence[str], *, examples: bool = True) -> list[dict[str, str]]:
    """Chat messages asking for the structure of ``sentences`` (with the worked examples)."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    if examples:
        messages += [
            {"role": "user", "content": _user(_EXAMPLE_1)},
            {"role": "assistant", "content": _ANSWER_1},
            {"role": "user", "content": _user(_EXAMPLE_2)},
            {"role": "assistant", "content": _ANSWER_2},
        ]
    messages.append({"role": "user", "content": _user(sentences)})
    return messages


def scope_messages(scopes: Sequence[str]) -> list[dict[str, str]]:
    """Messages asking for one scope that covers the scopes of consecutive parts of a text."""
    listed = "\n".join(f"- {s}" for s in scopes)
    return [
        {
            "role": "user",
            "content": (
                "These are the topics of consecutive parts of one text:\n"
                f"{listed}\n\n"
                "Name what the whole text is about in one short noun phrase of at most "
                "eight words. Answer with the phrase only."
            ),
        }
    ]
