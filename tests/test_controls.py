"""The controls TICKET-REINIT, TICKET-REWIND and RANDOM-PRUNING, and the
domains in every training's keys: each strategy's init and masks as
find_tickets trains them, on the smoke model and small synthetic data."""

import jax
import numpy as np
import pytest

from experiments.configs import smoke
from lottery_jax import batching
from lottery_jax import config as config_lib
from lottery_jax import fit as fit_lib
from lottery_jax import lottery
from lottery_jax import masks as masks_lib
from lottery_jax import runs
from lottery_jax import tickets

STRATEGIES = 'ticket_reset,ticket_random,ticket_reinit,ticket_rewind,' \
    'random_pruning'


@pytest.fixture(scope='module')
def controls(tiny_data_dir_shared, tmp_path_factory):
  """find_tickets on home with every ticket strategy; the init, masks and
  keys of every training, by (strategy, round)."""
  workdir = str(tmp_path_factory.mktemp('controls'))
  config = smoke.get_config()
  config.lottery.domains = 'home'
  config.lottery.strategies = STRATEGIES
  config.lottery.rewind_steps = 3
  settings = config_lib.settings(config)
  data_workdir = runs.prepare_data(settings.data, tiny_data_dir_shared,
                                   workdir)
  program = runs.fit_program(settings)
  tag_of = {s.tag: name for name, s in lottery.STRATEGIES.items()}
  seen = {}

  def fit(init, masks, keys, **kwargs):
    schedule = kwargs['schedule_seed']
    seen[tag_of[schedule // 1000], schedule % 1000] = (
        jax.tree.map(np.asarray, init), masks, keys)
    return program.fit(init, masks, keys, **kwargs)

  rows = tickets.find_tickets(settings, data_workdir, workdir, 'home',
                              program=program, fit=fit)
  return dict(seen=seen, rows=rows, settings=settings, program=program,
              data_workdir=data_workdir)


def _kept(masks):
  return np.asarray(masks['embedding'])


def test_every_strategy_trains_every_round(controls):
  trained = {(r['strategy'], r['round']) for r in controls['rows']}
  assert trained == {('full_model', 0)} | {
      (s, r) for s in STRATEGIES.split(',') for r in (1, 2)}


def test_reinit_takes_the_reset_masks_and_a_fresh_draw(controls):
  seen = controls['seen']
  theta_0 = seen['full_model', 0][0]
  for round_ in (1, 2):
    reset_init, reset_masks, _ = seen['ticket_reset', round_]
    init, masks, _ = seen['ticket_reinit', round_]
    for a, b in zip(jax.tree.leaves(masks), jax.tree.leaves(reset_masks)):
      np.testing.assert_array_equal(a, b)
    kept = _kept(masks)
    emb = init['embedding']
    assert not emb[~kept].any()
    np.testing.assert_array_equal(reset_init['embedding'][kept],
                                  theta_0['embedding'][kept])
    assert not np.isclose(emb[kept], theta_0['embedding'][kept]).all()
    random_init = seen['ticket_random', round_][0]['embedding']
    assert not np.array_equal(emb, random_init)  # Its own stream.


def test_rewind_starts_from_the_step_k_weights(controls):
  seen, settings = controls['seen'], controls['settings']
  theta_0, dense, _ = seen['full_model', 0]
  # Replayed apart from the run, with keys derived here.
  splits = runs.load_splits(settings, controls['data_workdir'], 'home')
  program = controls['program']
  roots = lottery.seed_roots(settings.lottery.seed_ids)
  keys = lottery.training_keys(roots, 'full_model', 0, 'home', 'home')
  replayed = program.train_steps(theta_0, dense, keys, splits['train'], 3)
  assert not np.allclose(np.asarray(replayed['embedding']),
                         theta_0['embedding'])
  for round_ in (1, 2):
    init, masks, _ = seen['ticket_rewind', round_]
    kept = _kept(masks)
    np.testing.assert_allclose(init['embedding'][kept],
                               np.asarray(replayed['embedding'])[kept],
                               rtol=1e-6, atol=1e-7)
  # Round 1 prunes round 0's trained weights, as TICKET-RESET's does.
  for a, b in zip(jax.tree.leaves(seen['ticket_rewind', 1][1]),
                  jax.tree.leaves(seen['ticket_reset', 1][1])):
    np.testing.assert_array_equal(a, b)


def test_train_steps_equal_the_first_epoch_of_fit(controls):
  settings, program = controls['settings'], controls['program']
  splits = runs.load_splits(settings, controls['data_workdir'], 'home')
  theta_0, dense, keys = controls['seen']['full_model', 0]
  steps = sum(batching.num_batches(
      batching.bucketize(splits['train']).sizes, settings.fit.batch_size))
  one_epoch = fit_lib.FitProgram(
      program.model, program.tx,
      config_lib.FitSettings(**{**vars(settings.fit), 'epochs': 1}))
  fitted = one_epoch.fit(theta_0, dense, keys, splits['train'],
                         splits['valid'], splits['test'], schedule_seed=0)
  replayed = program.train_steps(theta_0, dense, keys, splits['train'],
                                 steps, schedule_seed=0)
  for a, b in zip(jax.tree.leaves(fitted.params), jax.tree.leaves(replayed)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5,
                               atol=1e-6)
  same = program.train_steps(theta_0, dense, keys, splits['train'], 0)
  for a, b in zip(jax.tree.leaves(same), jax.tree.leaves(theta_0)):
    np.testing.assert_array_equal(np.asarray(a), b)


def test_random_pruning_keeps_the_reset_counts_per_layer(controls):
  seen = controls['seen']
  theta_0 = seen['full_model', 0][0]
  for round_ in (1, 2):
    reset = seen['ticket_reset', round_][1]
    init, masks, _ = seen['random_pruning', round_]
    pairs = zip(jax.tree.leaves(masks, is_leaf=masks_lib.is_none),
                jax.tree.leaves(reset, is_leaf=masks_lib.is_none))
    for drawn, like in pairs:
      if like is None:
        assert drawn is None
        continue
      drawn, like = np.asarray(drawn), np.asarray(like)
      per_seed = lambda m: m.reshape(m.shape[0], -1).sum(1)
      np.testing.assert_array_equal(per_seed(drawn), per_seed(like))
      assert not np.array_equal(drawn, like)
    kept = _kept(masks)
    np.testing.assert_array_equal(init['embedding'][kept],
                                  theta_0['embedding'][kept])
  assert not np.array_equal(_kept(seen['random_pruning', 1][1]),
                            _kept(seen['random_pruning', 2][1]))


def test_controls_need_ticket_reset():
  config = smoke.get_config()
  config.lottery.strategies = 'ticket_random,ticket_reinit'
  with pytest.raises(config_lib.ConfigError, match='add ticket_reset'):
    config_lib.settings(config)


def _bits(keys):
  return np.asarray(jax.random.key_data(keys)).tobytes()


def test_keys_of_two_pairs_differ():
  roots = lottery.seed_roots([0, 1])
  a = lottery.training_keys(roots, 'masks_random', 1, 'home', 'books')
  b = lottery.training_keys(roots, 'masks_random', 1, 'home', 'electronics')
  c = lottery.training_keys(roots, 'masks_random', 1, 'books', 'home')
  assert len({_bits(k.shuffle) for k in (a, b, c)}) == 3
  assert len({_bits(k.dropout) for k in (a, b, c)}) == 3
  model = lottery.build_model(config_lib.ModelSettings(
      embed_dim=4, channels=2, hidden=2), 30)
  theta_0 = lottery.theta0(model, roots, 8)
  draws = [lottery.round_init('masks_random', 1, roots, theta_0, model, 8,
                              'home', target)['embedding']
           for target in ('books', 'electronics')]
  assert not np.array_equal(np.asarray(draws[0]), np.asarray(draws[1]))
  # theta_0 is one per seed, whatever the pair.
  same = lottery.round_init('masks_reset', 1, roots, theta_0, model, 8,
                            'home', 'books')
  assert same is theta_0
