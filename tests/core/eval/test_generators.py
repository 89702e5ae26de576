"""PI-LLM and multi-needle generators: deterministic with a seed, well formed, scored correctly."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from ctx_core.eval.datasets.paths import resolve_data_dir
from ctx_core.eval.generators import (
    generate_multi_needle,
    generate_pi_llm,
    score_multi_needle,
    score_pi_llm,
)
from ctx_core.eval.generators.multi_needle import load_haystack
from ctx_core.eval.generators.pi_llm import load_pi_llm_source, parse_pi_llm_answer
from ctx_core.tokens import TokenCounter

SOURCE = {
    "bird": [f"bird{i}" for i in range(30)],
    "fruit": [f"fruit{i}" for i in range(30)],
    "tool": [f"tool{i}" for i in range(30)],
    "Asian place": ["Oman", "Jeddah", "Bago", "Colombo", "St. Louis"],
}
THREE = {k: SOURCE[k] for k in ("bird", "fruit", "tool")}
FILLER = " ".join(f"Filler sentence number {i} about nothing at all." for i in range(600))


def _has_data() -> bool:
    try:
        root = resolve_data_dir()
    except FileNotFoundError:
        return False
    return (root / "pi-llm").is_dir() and (root / "needle-haystack").is_dir()


needs_data = pytest.mark.skipif(not _has_data(), reason="offline data folder not available")


def test_pi_llm_is_deterministic_with_a_seed():
    a = generate_pi_llm(3, 6, seed=7, source=THREE)
    b = generate_pi_llm(3, 6, seed=7, source=THREE)
    c = generate_pi_llm(3, 6, seed=8, source=THREE)
    assert a.context == b.context and a.answers == b.answers
    assert a.context != c.context


@pytest.mark.parametrize("sequential", [False, True])
def test_pi_llm_stream_structure(sequential):
    task = generate_pi_llm(3, 6, seed=1, source=THREE, sequential=sequential)
    assert Counter(k for k, _ in task.updates) == dict.fromkeys(task.keys, 6)
    for key in task.keys:
        values = [v for k, v in task.updates if k == key]
        assert len(set(values)) == 6 and task.answers[key] == values[-1]
        assert all(v in SOURCE[key] for v in values)
        assert task.previous_values(key) == values[:-1]
    order = [k for k, _ in task.updates]
    runs = [k for i, k in enumerate(order) if i == 0 or order[i - 1] != k]
    if sequential:
        assert runs == task.keys  # one block per key, in the instruction's order
    else:
        assert len(runs) > len(task.keys)  # interleaved
    stream = task.context.split("\n")[-1]
    assert stream == "; ".join(f"{k}: {v}" for k, v in task.updates) + ";"
    assert all(key in task.context.split("\n")[0] for key in task.keys)
    assert task.prompt(task.keys[0]).endswith(task.question(task.keys[0]))
    assert task.question().count(",") >= len(task.keys) - 1


def test_pi_llm_sizes_are_validated():
    with pytest.raises(ValueError, match="n_keys"):
        generate_pi_llm(0, 3, source=SOURCE)
    with pytest.raises(ValueError, match="exceeds the 4 categories"):
        generate_pi_llm(5, 3, source=SOURCE)
    with pytest.raises(ValueError, match="distinct words"):
        generate_pi_llm(4, 6, source=SOURCE)


def test_pi_llm_scoring():
    task = generate_pi_llm(2, 4, seed=3, source=THREE)
    k1, k2 = task.keys
    stale = task.previous_values(k2)[0]
    reply = (
        f"Sure!\n**The current value of {k1.upper()} is {task.answers[k1]}.**\n"
        f"The current value of {k2} is '{stale}'."
    )
    scored = score_pi_llm(task, reply)
    assert scored["accuracy"] == 0.5
    assert scored["per_key"][k1]["correct"] and not scored["per_key"][k1]["stale"]
    assert not scored["per_key"][k2]["correct"] and scored["per_key"][k2]["stale"]
    assert score_pi_llm(task, "I do not know.")["accuracy"] == 0.0
    # one key asked: a bare value counts
    assert score_pi_llm(task, task.answers[k2] + "\n", [k2])["accuracy"] == 1.0
    # the last statement for a key wins
    both = f"The current value of {k1} is x.\nThe current value of {k1} is {task.answers[k1]}."
    assert parse_pi_llm_answer(both, [k1]) == {k1: f"{task.answers[k1]}."}
    with pytest.raises(ValueError, match="not tracked"):
        score_pi_llm(task, "", ["nope"])


def test_pi_llm_values_with_periods_and_spaces():
    task = generate_pi_llm(1, 5, seed=0, source={"Asian place": SOURCE["Asian place"]})
    answer = task.answers["Asian place"]
    reply = f"The current value of asian place is {answer}."
    assert score_pi_llm(task, reply)["accuracy"] == 1.0


def test_multi_needle_is_deterministic_and_well_formed():
    counter = TokenCounter()
    a = generate_multi_needle(4, 800, seed=5, haystack=FILLER)
    b = generate_multi_needle(4, 800, seed=5, haystack=FILLER)
    c = generate_multi_needle(4, 800, seed=6, haystack=FILLER)
    assert a.context == b.context and a.chain == b.chain
    assert a.context != c.context
    assert len(a.chain) == 5 and len(set(a.chain)) == 5 and a.answer == a.chain[0]
    assert abs(a.context_tokens - 800) <= 10 and a.context_tokens == counter.count(a.context)
    # the needles are in the context, in the order of their depths
    assert [n.offset for n in a.needles] == sorted(n.offset for n in a.needles)
    assert all(a.context[n.offset :].startswith(n.text) for n in a.needles)
    assert [n.depth for n in a.needles] == [0.2, 0.4, 0.6, 0.8]
    # following the statements from the subject upwards reaches the eldest
    parent = {n.younger: n.elder for n in a.needles}
    person = a.subject
    while person in parent:
        person = parent[person]
    assert person == a.answer
    assert a.subject in a.question and a.answer not in a.question
    # each statement names both people with a role word
    for needle in a.needles:
        assert needle.elder in needle.text and needle.younger in needle.text
        assert re.search(r"\b(grand)?(father|mother)\b", needle.text)


def test_multi_needle_depths_and_validation():
    task = generate_multi_needle(2, 600, seed=1, depths=[0.9, 0.1], shuffle=False, haystack=FILLER)
    assert [n.depth for n in task.needles] == [0.1, 0.9]
    assert task.needles[0].offset < len(task.context) * 0.2
    with pytest.raises(ValueError, match="n_needles"):
        generate_multi_needle(6, 600, haystack=FILLER)
    with pytest.raises(ValueError, match="depths"):
        generate_multi_needle(2, 600, depths=[0.5], haystack=FILLER)
    with pytest.raises(ValueError, match="at least"):
        generate_multi_needle(5, 60, haystack=FILLER)


def test_multi_needle_scoring():
    task = generate_multi_needle(3, 500, seed=2, haystack=FILLER)
    first = task.answer.split()[0]
    assert score_multi_needle(task, task.answer)["correct"]
    assert score_multi_needle(task, f"{first}.")["correct"]
    assert score_multi_needle(task, f"The eldest relative of {task.subject} is {task.answer}.")[
        "correct"
    ]
    assert score_multi_needle(task, f"Reasoning: {task.chain[1]}... Answer: {task.answer}")[
        "correct"
    ]
    assert not score_multi_needle(task, task.chain[1])["correct"]
    assert not score_multi_needle(task, f"{task.answer} or {task.chain[2]}")["correct"]
    assert not score_multi_needle(task, "I cannot tell.")["correct"]


@needs_data
def test_real_sources_load_at_run_time():
    source = load_pi_llm_source()
    assert len(source) == 46 and all(len(v) == 400 for v in source.values())
    task = generate_pi_llm(46, 2, seed=0)
    assert len(task.keys) == 46
    essays = load_haystack()
    assert len(essays) == 49
    needle = generate_multi_needle(5, 2000, seed=0)
    assert abs(needle.context_tokens - 2000) <= 15
    assert all(name.split()[0] not in " ".join(essays) for name in needle.chain)


def test_data_dir_resolution(tmp_path, monkeypatch):
    assert resolve_data_dir(tmp_path) == tmp_path
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_data_dir(tmp_path / "missing")
    (tmp_path / "pi-llm").mkdir()
    with pytest.raises(FileNotFoundError, match="source dictionary not found"):
        load_pi_llm_source(tmp_path)
    (tmp_path / "needle-haystack" / "PaulGrahamEssays").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no essays"):
        load_haystack(tmp_path)
