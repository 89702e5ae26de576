"""The paired bootstrap behind every comparison in the results tables."""

from __future__ import annotations

import numpy as np
import pytest

from ctx_core.eval.bootstrap import (
    MIN_PAIRS,
    Interval,
    compare,
    format_interval,
    paired_bootstrap,
)
from ctx_core.eval.metrics import paired_bootstrap as paired_bootstrap_dict


def test_constant_gain_has_a_zero_width_interval_at_the_gain():
    mean_diff, low, high = paired_bootstrap([0.5, 0.7, 0.9], [0.4, 0.6, 0.8])
    assert mean_diff == pytest.approx(0.1)
    assert low == pytest.approx(0.1) and high == pytest.approx(0.1)


def test_cancelling_gains_straddle_zero_and_the_seed_fixes_the_interval():
    a, b = [1, 0] * 10, [0, 1] * 10
    first = paired_bootstrap(a, b, resamples=4000, seed=3)
    assert first.mean_diff == 0 and first.low < 0 < first.high
    assert first == paired_bootstrap(a, b, resamples=4000, seed=3)
    varied = [0.1 * i for i in range(20)]
    assert paired_bootstrap(varied, b, resamples=500, seed=3) != paired_bootstrap(
        varied, b, resamples=500, seed=4
    )


def test_interval_matches_a_direct_resampling_and_covers_a_known_shift():
    rng = np.random.default_rng(11)
    b = rng.normal(0.5, 0.2, 200)
    a = b + 0.05 + rng.normal(0, 0.05, 200)
    out = paired_bootstrap(a.tolist(), b.tolist(), resamples=5000, seed=1)
    # The normal approximation of the mean difference's 95% interval.
    diff = a - b
    half = 1.96 * diff.std(ddof=1) / np.sqrt(len(diff))
    assert out.low == pytest.approx(diff.mean() - half, abs=0.003)
    assert out.high == pytest.approx(diff.mean() + half, abs=0.003)
    assert out.low < 0.05 < out.high


def test_the_dict_form_in_metrics_gives_the_same_numbers():
    a, b = [0.1, 0.9, 0.4, 0.3, 0.8], [0.2, 0.5, 0.4, 0.1, 0.6]
    tup = paired_bootstrap(a, b, resamples=3000, seed=5)
    d = paired_bootstrap_dict(a, b, samples=3000, seed=5)
    assert (d["difference"], d["low"], d["high"]) == tuple(tup)


def test_compare_refuses_an_interval_below_the_threshold():
    few = compare([1.0] * (MIN_PAIRS - 1), [0.0] * (MIN_PAIRS - 1))
    assert few.interval is None and few.pairs == MIN_PAIRS - 1
    assert format_interval(few) == f"n too small ({MIN_PAIRS - 1} < {MIN_PAIRS})"
    enough = compare([1.0] * MIN_PAIRS, [0.0] * MIN_PAIRS, resamples=100, seed=2)
    assert enough.interval == Interval(1.0, 1.0, 1.0)
    assert (enough.resamples, enough.seed, enough.confidence) == (100, 2, 0.95)
    assert format_interval(enough, digits=2) == "+1.00 [+1.00, +1.00]"
    assert compare([1.0, 0.0], [0.0, 0.0], min_pairs=2).interval is not None


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: paired_bootstrap([1.0], [1.0, 2.0]), ValueError),
        (lambda: paired_bootstrap([], []), ValueError),
        (lambda: paired_bootstrap([1.0], [1.0], resamples=0), ValueError),
        (lambda: paired_bootstrap([1.0], [1.0], confidence=1.0), ValueError),
        (lambda: paired_bootstrap("ab", "cd"), TypeError),
        (lambda: compare([1.0], []), ValueError),
    ],
)
def test_bad_input_is_a_clear_error(call, error):
    with pytest.raises(error):
        call()
