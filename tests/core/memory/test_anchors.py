"""Parsing LLM memory replies and recovering chunks by their anchors."""

import itertools
import random

import pytest

from ctx_core.memory.anchors import ParsedScenario, find_anchor, parse_memory_reply, recover_spans

SOURCE = (
    "The village of King's Abbot lies in a quiet valley. Its people love gossip, and the doctor's "
    "sister hears every rumour first.\n\n"
    "Mrs. Ferrars died on the night of the sixteenth of September. The doctor was called at eight "
    "o'clock the next morning, but she had been dead for hours.\n\n"
    "At dinner in Fernly Park, Roger Ackroyd seemed nervous. After dinner he received a letter and "
    "asked the doctor to leave him alone to read it."
)


def tiles(spans, start, end):
    return (
        spans[0].start == start
        and spans[-1].end == end
        and all(a.end == b.start and a.start < a.end for a, b in itertools.pairwise(spans))
    )


def test_parse_reads_outline_scenarios_and_core_contents():
    reply = """<outline>
1. The village
- Death of Mrs. Ferrars
## Dinner at Fernly
</outline>

<scenario>
<chunk>The village of King's Abbot [MASK] hears every rumour first.</chunk>
A gossiping village.
</scenario>
<scenario><chunk>Mrs. Ferrars died … dead for hours.</chunk>Mrs. Ferrars died in the night.</scenario>
<scenario>
<chunk>At dinner in Fernly Park ... to read it.</chunk>
Ackroyd gets a letter.
"""
    parsed = parse_memory_reply(reply)
    assert parsed.outline == ["The village", "Death of Mrs. Ferrars", "Dinner at Fernly"]
    assert parsed.scenarios == [
        ParsedScenario(
            "The village of King's Abbot", "hears every rumour first.", "A gossiping village."
        ),
        ParsedScenario("Mrs. Ferrars died", "dead for hours.", "Mrs. Ferrars died in the night."),
        ParsedScenario("At dinner in Fernly Park", "to read it.", "Ackroyd gets a letter."),
    ]


def test_parse_a_reply_with_no_anchors_gives_no_scenarios():
    for reply in ["", "I cannot help with that.", "<outline>\nA\nB\n</outline>", "BREAKFAST " * 50]:
        assert parse_memory_reply(reply).scenarios == []
    assert parse_memory_reply("<outline>\nA\nB\n</outline>").outline == ["A", "B"]


def test_parse_a_copied_chunk_keeps_its_first_and_last_words():
    copied = "word " * 100
    [scenario] = parse_memory_reply(f"<chunk>{copied.strip()}</chunk>core").scenarios
    assert scenario.head == copied[:60] and scenario.tail == copied.strip()[-60:]
    [short] = parse_memory_reply("<chunk>Mrs. Ferrars died</chunk>core").scenarios
    assert (short.head, short.tail) == ("Mrs. Ferrars died", "")


def test_parse_rejects_non_strings():
    with pytest.raises(TypeError, match="reply must be a str"):
        parse_memory_reply(None)


def test_find_anchor_exact_then_whitespace_then_fuzzy():
    exact = find_anchor(SOURCE, "Mrs. Ferrars died")
    assert exact.kind == "exact" and SOURCE[exact.start : exact.end] == "Mrs. Ferrars died"
    spaced = find_anchor(SOURCE, "rumour   first.\nMrs.  Ferrars")
    assert (
        spaced.kind == "exact"
        and SOURCE[spaced.start : spaced.end] == "rumour first.\n\nMrs. Ferrars"
    )
    fuzzy = find_anchor(SOURCE, "Mrs Ferars dyed on the nite of the")
    assert fuzzy.kind == "fuzzy" and SOURCE[fuzzy.start :].startswith("Mrs. Ferrars died")
    assert find_anchor(SOURCE, "completely unrelated words about submarines") is None
    assert find_anchor(SOURCE, "the") is None  # too short to be trusted
    assert find_anchor(SOURCE, "Mrs. Ferrars died", lo=200) is None  # searched after lo only


def test_recover_exact_anchors():
    scenarios = [
        ParsedScenario("The village of King's Abbot", "every rumour first.", "village"),
        ParsedScenario("Mrs. Ferrars died", "dead for hours.", "death"),
        ParsedScenario("At dinner in Fernly Park", "to read it.", "dinner"),
    ]
    spans = recover_spans(SOURCE, scenarios)
    assert [(s.scenario, s.recovery) for s in spans] == [(0, "exact"), (1, "exact"), (2, "exact")]
    assert SOURCE[spans[1].start :].startswith("Mrs. Ferrars died")
    assert SOURCE[spans[0].start : spans[0].end].endswith("first.\n\n")  # whitespace goes before
    assert tiles(spans, 0, len(SOURCE))


def test_recover_fuzzy_then_tail_fallback_then_merge():
    scenarios = [
        ParsedScenario("The vilage of Kings Abbot lies", "every rumour first.", "village"),
        ParsedScenario("(head the LLM made up)", "dead for hours.", "death"),
        ParsedScenario("nothing to find here at all", "nor here either, sorry", "lost"),
        ParsedScenario("At dinner in Fernly Park", "to read it.", "dinner"),
    ]
    spans = recover_spans(SOURCE, scenarios)
    assert [(s.scenario, s.recovery, s.merged) for s in spans] == [
        (0, "fuzzy", ()),
        (1, "tail", (2,)),
        (3, "exact", ()),
    ]
    assert SOURCE[spans[1].start :].startswith("Mrs. Ferrars died")
    assert tiles(spans, 0, len(SOURCE))


def test_uncovered_text_becomes_its_own_span():
    scenarios = [ParsedScenario("Mrs. Ferrars died", "dead for hours.", "death")]
    spans = recover_spans(SOURCE, scenarios)
    assert [(s.scenario, s.recovery) for s in spans] == [
        (None, "uncovered"),
        (0, "exact"),
        (None, "uncovered"),
    ]
    assert SOURCE[spans[1].start : spans[1].end].strip().endswith("dead for hours.")
    assert tiles(spans, 0, len(SOURCE))


def test_short_leftovers_join_their_neighbours():
    scenarios = [ParsedScenario("Its people love gossip", "to read it.", "all")]
    [span] = recover_spans(SOURCE, scenarios, min_gap_words=15)
    assert (span.start, span.end, span.recovery) == (0, len(SOURCE), "exact")


def test_no_anchors_at_all_leaves_one_uncovered_span():
    for scenarios in ([], [ParsedScenario("zzz qqq xxx yyy www", "", "junk")]):
        [span] = recover_spans(SOURCE, scenarios)
        assert (span.start, span.end, span.scenario, span.recovery) == (
            0,
            len(SOURCE),
            None,
            "uncovered",
        )


def test_unconfirmed_last_end_is_reported():
    spans = recover_spans(SOURCE, [ParsedScenario("The village of King's Abbot", "", "x")])
    assert spans[-1].end_confirmed is False
    spans = recover_spans(
        SOURCE, [ParsedScenario("The village of King's Abbot", "to read it.", "x")]
    )
    assert spans[-1].end_confirmed is True


def test_recover_inside_a_window():
    start, end = 120, 260
    spans = recover_spans(
        SOURCE, [ParsedScenario("Mrs. Ferrars died", "", "x")], start=start, end=end
    )
    assert tiles(spans, start, end)
    with pytest.raises(ValueError, match="start/end"):
        recover_spans(SOURCE, [], start=10, end=5)


@pytest.mark.parametrize("seed", range(40))
def test_any_reply_still_tiles_the_source(seed):
    """Random anchors (true, garbled, out of order, invented): the spans always tile."""
    rng = random.Random(seed)
    words = SOURCE.split(" ")
    scenarios = []
    for _ in range(rng.randint(0, 7)):
        i = rng.randrange(len(words))
        head = " ".join(words[i : i + rng.randint(1, 6)])
        j = rng.randrange(len(words))
        tail = " ".join(words[j : j + rng.randint(0, 5)])
        if rng.random() < 0.3:
            head = "".join(rng.choice("abcdefgh ") for _ in range(rng.randint(0, 30)))
        if rng.random() < 0.3:
            head = head.replace("e", "a")
        scenarios.append(ParsedScenario(head, tail, "core"))
    start = rng.choice([0, 0, 37])
    spans = recover_spans(SOURCE, scenarios, start=start, min_gap_words=rng.choice([0, 5, 15]))
    assert tiles(spans, start, len(SOURCE))
    placed = [s.scenario for s in spans if s.scenario is not None]
    assert placed == sorted(placed)  # scenarios keep their order


def test_lines_copied_from_the_format_example_are_dropped():
    reply = """<outline>
heading of part 1
heading of part 2
Real heading
</outline>
<scenario>
<chunk>first words of part 1 ... last words of part 1</chunk>
key information of part 1
</scenario>
<scenario><chunk>Mrs. Ferrars died ... last words of part 2</chunk>Real core.</scenario>"""
    parsed = parse_memory_reply(reply)
    assert parsed.outline == ["Real heading"]
    assert parsed.scenarios == [ParsedScenario("Mrs. Ferrars died", "", "Real core.")]
