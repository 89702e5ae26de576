"""The faithfulness check every structurizer and renderer must pass."""

import re

from ctx_core.structure import Structure, render
from ctx_core.structure.render import FORMATS, render_parts
from ctx_core.structure.sentences import heading_text

WHITESPACE = re.compile(r"\s+")
# Markup a renderer may add besides headings: numbering, bullets, separators, the reading lead.
MARKUP = re.compile(r"^(?:This passage talks about |[\s\d.#*:])*$")


def assert_faithful(structure: Structure) -> None:
    """Every sentence exactly once in reading order, in every format; only headings added."""
    structure.validate()
    headings = set(structure.headings())
    texts = [WHITESPACE.sub(" ", s.text) for s in structure.sentences]
    for format in FORMATS:
        if format == "json":
            assert Structure.from_json(render(structure, "json")) == structure
            continue
        parts = render_parts(structure, format)
        text = render(structure, format)
        assert "".join(p.text for p in parts) == text
        content = [p for p in parts if p.kind in ("sentence", "title")]
        assert [p.index for p in content] == list(range(len(structure.sentences))), format
        for part in content:
            source = structure.sentences[part.index].text
            expected = heading_text(source) if part.kind == "title" else WHITESPACE.sub(" ", source)
            assert part.text == expected
        for part in parts:
            if part.kind == "heading":
                assert part.text in headings
            elif part.kind == "markup":
                assert MARKUP.match(part.text), (format, part.text)
        # Read back from the plain string: strip every sentence, title and heading in order;
        # what is left is markup only.
        rest = text
        for part in parts:
            if part.kind != "markup":
                position = rest.index(part.text)
                assert MARKUP.match(rest[:position]), (format, rest[:position])
                rest = rest[position + len(part.text) :]
        assert MARKUP.match(rest)
        for part in content:
            # A heading made from a sentence ("Choose seeds" from "1. Choose seeds.") may
            # repeat its words; every other long sentence occurs exactly once.
            named_after = any(h and h in part.text for h in headings)
            repeated = sum(part.text in t for t in texts) > 1
            if part.kind == "sentence" and len(part.text) > 20 and not (named_after or repeated):
                assert text.count(part.text) == 1, (format, part.text)
