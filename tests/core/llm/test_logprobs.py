"""Reading next-token log-probabilities from top-k lists (the shapes served models return)."""

from __future__ import annotations

import math

import pytest

from ctx_core.errors import MalformedResponseError, NotSupportedError
from ctx_core.llm.logprobs import logprobs_from_top, top_logprobs_of_first_token

LISTED = [("The", -1.0), ("Paris", -0.7), ("P", -3.0), ("NO", -4.5)]


def test_listed_tokens_are_exact_and_matched_by_longest_prefix():
    assert logprobs_from_top(LISTED, ["Paris is", "NO-RESPONSE", "The"]) == [-0.7, -4.5, -1.0]
    # "P" also starts "Paris": the longer listed token wins.
    assert logprobs_from_top(LISTED, ["Pa"]) == [-3.0]


def test_a_known_spelling_matches_exactly():
    assert logprobs_from_top(LISTED, ["NO-RESPONSE"], ["NO"]) == [-4.5]
    # The tokenizer says the first token is "N", which is not listed: a bound, not "NO".
    bound = logprobs_from_top(LISTED, ["NO-RESPONSE"], ["N"])[0]
    assert bound <= -4.5


def test_unlisted_tokens_get_the_smaller_of_the_two_bounds():
    left = 1 - sum(math.exp(lp) for _, lp in LISTED)
    assert logprobs_from_top(LISTED, ["London"]) == [pytest.approx(min(-4.5, math.log(left)))]
    # A list holding all the mass leaves nothing: the bound is a tiny probability.
    full = [("a", math.log(0.5)), ("b", math.log(0.5))]
    assert logprobs_from_top(full, ["c"])[0] < math.log(1e-11)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="listed"):
        logprobs_from_top([], ["a"])
    with pytest.raises(ValueError, match="spellings"):
        logprobs_from_top(LISTED, ["a", "b"], ["a"])


def test_openai_shapes_are_read_as_dicts_or_objects():
    class Entry:
        def __init__(self, token, logprob):
            self.token, self.logprob = token, logprob

    payload = {
        "content": [
            {
                "token": "Paris",
                "logprob": -0.7,
                "top_logprobs": [{"token": "Paris", "logprob": -0.7}],
            }
        ]
    }
    assert top_logprobs_of_first_token(payload, "test") == [("Paris", -0.7)]
    objects = [{"token": "x", "logprob": -1.0, "top_logprobs": [Entry("y", -0.2)]}]
    assert top_logprobs_of_first_token(objects, "test") == [("y", -0.2)]
    # No top list: the generated token itself is all there is.
    assert top_logprobs_of_first_token([{"token": "z", "logprob": -0.1}], "t") == [("z", -0.1)]


def test_missing_or_broken_logprobs_are_typed():
    for empty in (None, {}, {"content": None}, {"content": []}, []):
        with pytest.raises(NotSupportedError, match="no log-probabilities"):
            top_logprobs_of_first_token(empty, "the reply")
    with pytest.raises(MalformedResponseError, match="unreadable"):
        top_logprobs_of_first_token([{"token": "a", "logprob": "high"}], "the reply")
