"""Tests of the lottery core: the strategy table, key streams, one round."""

import jax
import numpy as np

from lottery_jax import config as config_lib
from lottery_jax import lottery
from lottery_jax import masks as masks_lib
from lottery_jax import models

MODEL = models.TextCNN(vocab_size=30, embed_dim=4, channels=3, hidden=2)
LENGTH = 8


def test_every_configurable_strategy_is_in_the_table():
  names = ((config_lib.FULL_MODEL,) + config_lib.TICKET_STRATEGIES
           + config_lib.TRANSFER_STRATEGIES)
  assert set(lottery.STRATEGIES) == set(names)
  tags = [s.tag for s in lottery.STRATEGIES.values()]
  assert len(set(tags)) == len(tags)  # Each its own key stream.
  assert {n for n, s in lottery.STRATEGIES.items() if s.fresh is None} == {
      'full_model', 'ticket_reset', 'masks_reset', 'ticket_rewind',
      'random_pruning'}
  assert [n for n, s in lottery.STRATEGIES.items() if s.rewind] == [
      'ticket_rewind']


def _data(keys):
  return np.asarray(jax.random.key_data(keys))


def test_key_streams_differ_and_a_seed_owns_its_numbers():
  roots = lottery.seed_roots([3, 4])
  keys = {(s, r): lottery.training_keys(roots, s, r)
          for s in ('ticket_reset', 'ticket_random') for r in (1, 2)}
  flat = [_data(k.shuffle).tobytes() for k in keys.values()] + [
      _data(k.dropout).tobytes() for k in keys.values()]
  assert len(set(flat)) == len(flat)
  alone = lottery.training_keys(lottery.seed_roots([4]), 'ticket_reset', 1)
  np.testing.assert_array_equal(_data(alone.shuffle)[0],
                                _data(keys[('ticket_reset', 1)].shuffle)[1])


def test_imp_round_starts_each_strategy_from_its_init():
  roots = lottery.seed_roots([0, 1])
  theta_0 = lottery.theta0(MODEL, roots, LENGTH)
  template = lottery.mask_template(MODEL, LENGTH)
  masks = lottery.prune_seeds(theta_0, lottery.dense_masks(template, 2), 0.5)
  seen = {}

  def fit(init, masks, keys, on_epoch=None, schedule_seed=0):
    return init, masks, keys, schedule_seed

  for strategy in ('ticket_reset', 'ticket_random'):
    for round_ in (1, 2):
      seen[strategy, round_] = lottery.imp_round(
          fit, strategy, round_, masks, roots=roots, theta_0=theta_0,
          model=MODEL, max_length=LENGTH)
  kept = np.asarray(masks['embedding'])
  for (strategy, round_), (init, _, _, schedule) in seen.items():
    emb = np.asarray(init['embedding'])
    assert not emb[~kept].any()  # Restricted to the masks.
    same = np.array_equal(emb[kept], theta_0['embedding'][kept])
    assert same == (strategy == 'ticket_reset')
    assert schedule == 1000 * lottery.STRATEGIES[strategy].tag + round_
  fresh1 = np.asarray(seen['ticket_random', 1][0]['embedding'])
  fresh2 = np.asarray(seen['ticket_random', 2][0]['embedding'])
  assert not np.array_equal(fresh1, fresh2)  # A new draw every round.
  assert masks_lib.sparsity(lottery.seed_slice(masks, 0))['prunable'] == (
      masks_lib.sparsity(lottery.seed_slice(masks, 1))['prunable'])
