"""Metric functions against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codec2vec.eval import (char_error_rate, ctc_greedy, equal_error_rate, phone_error_rate, unit_quality,
                            word_error_rate)


def test_error_rates_count_edits_over_reference_tokens():
    # "a x c" against "a b c d": one substitution, one deletion -> 2 / 4
    assert phone_error_rate([["a", "b", "c", "d"]], [["a", "x", "c"]]) == pytest.approx(0.5)
    # two utterances pooled: 1 insertion over 2 + 0 edits over 3 words -> 1 / 5
    assert word_error_rate(["the cat", "a red dog"], ["the cat sat", "a red dog"]) == pytest.approx(0.2)
    assert char_error_rate(["abcd"], ["abed"]) == pytest.approx(0.25)
    assert phone_error_rate([["a", "b"]], [[]]) == pytest.approx(1.0)  # nothing recognised: every phone deleted


def test_ctc_greedy_merges_repeats_then_drops_blanks():
    assert ctc_greedy([0, 1, 1, 0, 1, 2, 2, 0]) == [1, 1, 2]
    assert ctc_greedy([3, 3, 3], blank=3) == []
    assert ctc_greedy([]) == []


def test_equal_error_rate_on_known_score_sets():
    # perfectly separated: no threshold errs
    assert equal_error_rate(np.array([0.9, 0.8, 0.3, 0.2]), np.array([1, 1, 0, 0])) == pytest.approx(0.0)
    # targets 0.9 0.8 0.7 0.2, non-targets 0.75 0.3 0.1 0.05: accepting >= 0.7 rejects one target of four
    # and accepts one non-target of four -> both rates 0.25
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.75, 0.3, 0.1, 0.05])
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    assert equal_error_rate(scores, labels) == pytest.approx(0.25)
    # reversed scores: every threshold errs on half or more
    assert equal_error_rate(-np.array([0.9, 0.8, 0.3, 0.2]), np.array([1, 1, 0, 0])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="both target and non-target"):
        equal_error_rate(np.array([0.1, 0.2]), np.array([1, 1]))


def test_unit_quality_on_hand_made_alignments():
    phones = np.array(["a", "a", "b", "b"])
    same = unit_quality(phones, np.array([7, 7, 3, 3]))  # one unit per phone
    assert (same.phone_purity, same.cluster_purity, same.pnmi) == pytest.approx((1.0, 1.0, 1.0))
    one = unit_quality(phones, np.array([0, 0, 0, 0]))  # a single unit says nothing
    assert (one.phone_purity, one.cluster_purity, one.pnmi) == pytest.approx((0.5, 1.0, 0.0))
    crossed = unit_quality(phones, np.array([0, 1, 0, 1]))  # units independent of phones
    assert (crossed.phone_purity, crossed.cluster_purity, crossed.pnmi) == pytest.approx((0.5, 0.5, 0.0))
    # phones a a a b, units 0 0 1 1: p(a,0)=1/2, p(a,1)=1/4, p(b,1)=1/4
    mixed = unit_quality(np.array(["a", "a", "a", "b"]), np.array([0, 0, 1, 1]))
    h_phone = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    mutual = 0.5 * math.log(0.5 / (0.75 * 0.5)) + 0.25 * math.log(0.25 / (0.75 * 0.5)) \
        + 0.25 * math.log(0.25 / (0.25 * 0.5))
    assert mixed.phone_purity == pytest.approx(0.5 + 0.25)  # unit 0 -> a (1/2), unit 1 -> a or b (1/4)
    assert mixed.cluster_purity == pytest.approx(0.5 + 0.25)  # phone a -> unit 0 (1/2), phone b -> unit 1 (1/4)
    assert mixed.pnmi == pytest.approx(mutual / h_phone)
    with pytest.raises(ValueError, match="equal-length"):
        unit_quality(np.array([1, 2]), np.array([1]))


def test_weighted_layer_sum_starts_uniform_and_learns_which_layer():
    import torch

    from codec2vec.eval import WeightedLayerSum

    torch.manual_seed(0)
    hidden = [torch.randn(2, 5, 4) for _ in range(3)]
    featurizer = WeightedLayerSum(3)
    torch.testing.assert_close(featurizer(hidden), (hidden[0] + hidden[1] + hidden[2]) / 3)
    assert featurizer.layer_weights() == pytest.approx([1 / 3] * 3)
    # Asked to reproduce layer 2, gradient descent moves the weight onto it.
    optimizer = torch.optim.SGD(featurizer.parameters(), lr=1.0)
    for _ in range(200):
        loss = (featurizer(hidden) - hidden[2]).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    weights = featurizer.layer_weights()
    assert weights[2] > 0.9 and sum(weights) == pytest.approx(1.0)
    normed = WeightedLayerSum(3, layer_norm=True)(hidden)
    expected = sum(torch.nn.functional.layer_norm(h, (4,)) for h in hidden) / 3
    torch.testing.assert_close(normed, expected)
    with pytest.raises(ValueError, match="expected 3 hidden states"):
        featurizer(hidden[:2])


def test_edit_counts_per_utterance_pool_to_the_corpus_rate():
    from codec2vec.eval.metrics import edit_counts

    assert edit_counts(["a", "b", "c", "d"], ["a", "x", "c"]) == (2, 4)  # one substitution, one deletion
    assert edit_counts("abcd", "abed") == (1, 4) and edit_counts(["a"], []) == (1, 1)


def test_bootstrap_interval_of_an_accuracy_matches_the_normal_approximation():
    from codec2vec.eval.intervals import bootstrap_interval, correct_outcome

    # 300 of 400 right: p = 0.75, standard error sqrt(p (1 - p) / n) = 0.02165, 95 %: +- 0.0424
    outcome = correct_outcome([1] * 300 + [0] * 100)
    low, high = bootstrap_interval([[outcome]], resamples=4000)
    assert low == pytest.approx(0.75 - 0.0424, abs=0.006) and high == pytest.approx(0.75 + 0.0424, abs=0.006)
    assert bootstrap_interval([[correct_outcome([1] * 50)]]) == [1.0, 1.0]  # nothing varies: no width


def test_bootstrap_interval_of_an_error_rate_weights_utterances_by_length():
    from codec2vec.eval.intervals import bootstrap_interval, errors_outcome, metric_value

    # Every utterance has 1 error in 10 tokens: the rate is 0.1 in every resample.
    same = errors_outcome([1] * 30, [10] * 30)
    assert metric_value(same) == 0.1 and bootstrap_interval([[same]]) == pytest.approx([0.1, 0.1])
    # Two utterances: 0/1 tokens wrong and 9/9 wrong. Resamples: both short (0), both long (1) or one of
    # each (0.9), with probabilities 1/4, 1/4, 1/2: the 2.5th percentile is 0 and the 97.5th is 1.
    mixed = errors_outcome([0, 9], [1, 9])
    assert metric_value(mixed) == pytest.approx(0.9)
    assert bootstrap_interval([[mixed]], resamples=2000) == pytest.approx([0.0, 1.0])


def test_bootstrap_interval_averages_seeds_on_the_same_draw_and_folds():
    from codec2vec.eval.intervals import bootstrap_interval, correct_outcome

    right, wrong = correct_outcome([1] * 20), correct_outcome([0] * 20)
    assert bootstrap_interval([[right, wrong]]) == [0.5, 0.5]  # seed mean: exactly 0.5 in every resample
    assert bootstrap_interval([[right], [wrong]]) == [0.5, 0.5]  # fold mean, likewise
    with pytest.raises(ValueError, match="same test items"):
        bootstrap_interval([[right, correct_outcome([1] * 19)]])


def test_bootstrap_interval_of_an_eer_resamples_trials():
    from codec2vec.eval.intervals import bootstrap_interval, metric_value, trials_outcome

    rng = np.random.default_rng(0)
    labels = np.array([1] * 100 + [0] * 300)
    scores = labels + rng.normal(0, 0.6, 400)  # overlapping classes: an EER of a few tens of percent
    outcome = trials_outcome(scores, labels)
    eer = metric_value(outcome)
    low, high = bootstrap_interval([[outcome]], resamples=500)
    assert 0.1 < eer < 0.4 and low < eer < high and high - low < 0.2


def test_separated_intervals():
    from codec2vec.eval.intervals import separated

    assert separated([0.1, 0.2], [0.25, 0.3]) and separated([0.25, 0.3], [0.1, 0.2])
    assert not separated([0.1, 0.26], [0.25, 0.3]) and not separated(None, [0.1, 0.2])
