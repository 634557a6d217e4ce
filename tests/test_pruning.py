"""Tests of per-layer magnitude pruning (SPEC.md section 5)."""

import numpy as np
import pytest

from lottery_jax import masks as masks_lib
from lottery_jax import pruning


def test_hand_computed_3x4():
  w = np.array([[0.5, -0.1, 0.9, 0.3],
                [-0.7, 0.2, 0.05, -0.8],
                [0.6, -0.4, 1.0, 0.15]])
  mask = np.ones_like(w, bool)
  # round(0.25 * 12) = 3 smallest: 0.05, 0.1, 0.15.
  new = pruning.prune_leaf(w, mask, 0.25)
  expected = np.ones_like(mask)
  expected[1, 2] = expected[0, 1] = expected[2, 3] = False
  np.testing.assert_array_equal(new, expected)
  # Next round: round(0.25 * 9) = 2 of the survivors: 0.2, 0.3.
  newer = pruning.prune_leaf(w, new, 0.25)
  expected[1, 1] = expected[0, 3] = False
  np.testing.assert_array_equal(newer, expected)


def test_ties_broken_by_flat_index():
  w = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 1.0]])
  new = pruning.prune_leaf(w, np.ones_like(w, bool), 0.5)
  np.testing.assert_array_equal(new, [[False, False, False],
                                      [True, True, True]])


def test_all_equal_and_sign_ignored():
  w = -np.ones(10)
  new = pruning.prune_leaf(w, np.ones(10, bool), 0.35)  # round(3.5) = 4
  np.testing.assert_array_equal(new, [False] * 4 + [True] * 6)


def test_already_pruned_weights_stay_pruned_even_if_large():
  w = np.array([9.0, 0.1, 0.2, 0.3])
  mask = np.array([False, True, True, True])
  new = pruning.prune_leaf(w, mask, 0.34)  # round(1.02) = 1
  np.testing.assert_array_equal(new, [False, False, True, True])


def test_at_least_one_kept():
  assert pruning.prune_count(1, 0.9) == 0
  assert pruning.prune_count(2, 0.9) == 1
  new = pruning.prune_leaf(np.array([3.0, 1.0]), np.ones(2, bool), 0.99)
  np.testing.assert_array_equal(new, [True, False])


def test_round_half_up():
  assert pruning.prune_count(10, 0.35) == 4  # 3.5 -> 4, not 3 (or 5)
  assert pruning.prune_count(10, 0.25) == 3  # 2.5 -> 3
  assert pruning.prune_count(100, 0.35) == 35
  # In floats 0.35 * 90 = 31.4999... and 0.35 * 1390 = 486.4999...: exact
  # arithmetic rounds the true 31.5 and 486.5 up.
  assert pruning.prune_count(90, 0.35) == 32
  assert pruning.prune_count(1390, 0.35) == 487
  for n in range(1, 5000):
    assert pruning.prune_count(n, 0.35) == min((35 * n + 50) // 100, n - 1)


def test_exact_counts_over_20_rounds():
  rng = np.random.default_rng(0)
  params = {'embedding': rng.normal(size=(300, 41)),
            'conv': {'kernel': rng.normal(size=(3, 41, 13)),
                     'bias': rng.normal(size=13)},
            'out': {'kernel': rng.normal(size=(13, 2))}}
  masks = masks_lib.make_masks(params)
  masks = {'embedding': np.asarray(masks['embedding']),
           'conv': {'kernel': np.asarray(masks['conv']['kernel']),
                    'bias': None},
           'out': {'kernel': np.asarray(masks['out']['kernel'])}}
  alive = {k: v for k, v in masks_lib.count_alive(masks).items()}
  for r in range(1, 21):
    # Re-draw the "trained" weights each round, as after training.
    params = {'embedding': rng.normal(size=(300, 41)),
              'conv': {'kernel': rng.normal(size=(3, 41, 13)),
                       'bias': params['conv']['bias']},
              'out': {'kernel': rng.normal(size=(13, 2))}}
    new = pruning.prune_by_magnitude(params, masks, 0.35)
    for name in alive:
      n = alive[name]
      alive[name] = max(n - (35 * n + 50) // 100, 1)  # Integer arithmetic.
    assert masks_lib.count_alive(new) == alive
    # A subset of the previous mask.
    assert not (new['embedding'] & ~masks['embedding']).any()
    masks = new
    # Rounding errors of at most half a weight per round add up to less
    # than 1.5 weights: the count is 0.65^r of the layer, to the weight.
    assert abs(alive['embedding'] - 300 * 41 * 0.65 ** r) < 1.5
  assert masks['conv']['bias'] is None
  assert alive['out/kernel'] == 1  # 26 weights: at least one kept.


def test_fraction_checked():
  with pytest.raises(ValueError):
    pruning.prune_by_magnitude({'kernel': np.ones(3)},
                               {'kernel': np.ones(3, bool)}, 1.0)


def test_embedding_size_prune_is_exact():
  rng = np.random.default_rng(1)
  w = rng.normal(size=(8000, 417)).astype(np.float32)
  new = pruning.prune_leaf(w, np.ones(w.shape, bool), 0.35)
  assert new.sum() == 8000 * 417 - round(0.35 * 8000 * 417)
  # Every kept weight is at least as large as every pruned one.
  assert np.abs(w[new]).min() >= np.abs(w[~new]).max()
