"""The utility reader shared across threads gives the sequential answers (issue 22, item 2)."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from ctx_core.llm import TransformersLLM
from ctx_core.udcg import AbstentionUtility

QUESTIONS = [f"Who wrote book number {i}?" for i in range(4)]
PASSAGES = [f"Book {i} was written by author {i % 3} in the year {1900 + i}." for i in range(12)]


@pytest.fixture(scope="module")
def reader(tiny_llama_dir):
    return TransformersLLM(str(tiny_llama_dir), device="cpu", batch_size=4)


def test_threads_sharing_a_utility_get_the_sequential_utilities(reader):
    # A cache smaller than the passages of one call: entries are evicted while other
    # threads read them, the pattern that raised KeyError before the cache was locked.
    sequential = AbstentionUtility(reader, cache_size=3)
    calls = [(QUESTIONS[i % 4], PASSAGES[i % 4 : i % 4 + 8]) for i in range(32)]
    expected = [sequential.utilities(q, ps) for q, ps in calls]

    shared = AbstentionUtility(reader, cache_size=3)
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda call: shared.utilities(*call), calls))

    assert len(got) == len(expected) == 32
    for row, want in zip(got, expected, strict=True):
        assert row == pytest.approx(want, abs=1e-5)
