"""Prompts of the LLM memory extractor and of its evaluator.

Extraction prompts are templates with one ``{document}`` field; they ask for the reply
format [`parse_memory_reply`][ctx_core.memory.anchors.parse_memory_reply] reads. Several prompts (and
temperatures) give the candidate memories the extractor chooses among.

Examples:
    >>> from ctx_core.memory.prompts import EXTRACTION_PROMPTS, extraction_messages
    >>> sorted(EXTRACTION_PROMPTS)
    ['direct', 'expert']
    >>> extraction_messages("direct", "Some text.")[1]["content"].endswith("</document>")
    True
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "BOUNDARY_NO",
    "BOUNDARY_YES",
    "EXTRACTION_PROMPTS",
    "SYSTEM_PROMPT",
    "boundary_prompt",
    "completeness_prompt",
    "extraction_messages",
]

SYSTEM_PROMPT = "You read documents carefully and write faithful, well-structured memories of them."

_FORMAT = """Reply in exactly this format and write nothing else:
<outline>
heading of part 1
heading of part 2
</outline>
<scenario>
<chunk>first words of part 1 ... last words of part 1</chunk>
key information of part 1
</scenario>
<scenario>
<chunk>first words of part 2 ... last words of part 2</chunk>
key information of part 2
</scenario>"""

EXTRACTION_PROMPTS: dict[str, str] = {
    "direct": (
        "Build a memory of the document below.\n"
        "1. Outline: split the document into parts, one part per topic, in document order, "
        "and write one short heading per part.\n"
        "2. Scenarios: for each part, write where it is in the document - its first few words "
        'and its last few words, copied exactly from the document and separated by " ... " - '
        "and then one or two sentences with the key information of that part.\n"
        "The parts follow each other and together cover the whole document. Avoid very short "
        "parts: start a new part only where the topic changes.\n\n"
        + _FORMAT
        + "\n\n<document>\n{document}\n</document>"
    ),
    "expert": (
        "You are a domain expert preparing notes so that questions about this document can "
        "be answered later. First think about what the document is for and where its "
        "subject changes. Then write an outline of its parts (one short heading each, in "
        "order) and, for each part, a scenario: the part's first words and last words copied "
        'exactly from the document, separated by " ... ", followed by the facts a reader '
        "would need from that part. Cover the whole document, in order.\n\n"
        + _FORMAT
        + "\n\n<document>\n{document}\n</document>"
    ),
}


def extraction_messages(
    name: str, document: str, prompts: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    """Chat messages asking for the memory of ``document`` with prompt ``name``."""
    table = EXTRACTION_PROMPTS if prompts is None else prompts
    if name not in table:
        raise ValueError(f"unknown extraction prompt {name!r}; known: {', '.join(sorted(table))}")
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": table[name].replace("{document}", document)},
    ]


#: First tokens counted as "yes" / "no" in the boundary question.
BOUNDARY_YES = ("Yes", "yes", "YES")
BOUNDARY_NO = ("No", "no", "NO")


def boundary_prompt(before: str, after: str) -> list[dict[str, str]]:
    """Ask whether two adjacent chunks are about different topics (answer yes or no)."""
    return [
        {
            "role": "user",
            "content": (
                f"Passage A:\n{before}\n\nPassage B:\n{after}\n\n"
                "Do passage A and passage B talk about different topics? Answer yes or no."
            ),
        }
    ]


def completeness_prompt(core_content: str) -> list[dict[str, str]]:
    """Ask for the chunk a core content describes (the chunk is scored as the reply)."""
    return [
        {
            "role": "user",
            "content": (
                f"Key information of a passage:\n{core_content}\n\n"
                "Write out the full passage this key information comes from."
            ),
        }
    ]
