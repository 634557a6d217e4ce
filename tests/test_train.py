"""Tests of masked training: optimiser, steps, fit loop, seeds in a vmap."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lottery_jax import masks as masks_lib
from lottery_jax import models
from lottery_jax import pruning
from lottery_jax import train

MODEL = models.TextCNN(vocab_size=40, embed_dim=8, channels=6, hidden=5)
LENGTH = 12


def _data(n, seed):
  rng = np.random.default_rng(seed)
  length = rng.integers(1, LENGTH + 1, n).astype(np.int32)
  tokens = rng.integers(4, 40, (n, LENGTH)).astype(np.int32)
  tokens[np.arange(LENGTH)[None] >= length[:, None]] = 0
  label = (tokens == 7).any(1).astype(np.int32)
  return {'tokens': tokens, 'length': length, 'label': label}


def _params(key=0):
  return MODEL.init(jax.random.key(key), jnp.zeros((1, LENGTH), jnp.int32),
                    jnp.ones((1,), jnp.int32))['params']


def _half_pruned(params):
  masks = masks_lib.make_masks(params)
  return pruning.prune_by_magnitude(params, masks, 0.5)


def _batch(data):
  return dict({k: jnp.asarray(v) for k, v in data.items()},
              weight=jnp.ones(len(data['label'])))


@pytest.mark.parametrize('name', ['adam', 'sgd'])
def test_step_changes_every_unpruned_weight_and_no_pruned_one(name):
  params = _params()
  masks = _half_pruned(params)
  tx = train.make_optimizer(name, learning_rate=1e-2, l2=1e-3)
  state = train.TrainState.create(params, masks, tx)
  step = jax.jit(functools.partial(train.train_step, model=MODEL, tx=tx))
  batch = _batch(_data(64, 0))
  before = state.params
  for i in range(3):
    state, metrics = step(state, batch, jax.random.key(i))
  assert np.isfinite(metrics['loss'])
  for m, p0, p in zip(jax.tree.leaves(masks, is_leaf=masks_lib.is_none),
                      jax.tree.leaves(before), jax.tree.leaves(state.params)):
    p0, p = np.asarray(p0), np.asarray(p)
    if m is None:
      assert (p != p0).all()
      continue
    m = np.asarray(m)
    assert (p[~m] == 0).all(), 'a pruned weight moved'
    # Every kept weight moved, except embedding rows of absent tokens that
    # still change through L2 and Adam: all of them change here.
    assert (p[m] != p0[m]).mean() > 0.99


def test_masked_optimizer_needs_the_masks():
  params = _params()
  tx = train.make_optimizer()
  opt_state = tx.init(params)
  with pytest.raises(TypeError):
    tx.update(params, opt_state, params)


def test_coupled_l2_is_added_to_the_gradient():
  params = {'kernel': jnp.array([1.0, -2.0, 3.0])}
  grads = {'kernel': jnp.array([0.5, 0.5, -0.5])}
  masks = {'kernel': jnp.array([True, False, True])}
  tx = train.make_optimizer('adam', learning_rate=0.1, l2=0.01)
  updates, _ = tx.update(grads, tx.init(params), params, masks=masks)
  reference = optax.adam(0.1)
  coupled = {'kernel': grads['kernel'] + 0.01 * params['kernel']}
  expected, _ = reference.update(coupled, reference.init(params))
  np.testing.assert_allclose(updates['kernel'],
                             expected['kernel'] * np.array([1, 0, 1]),
                             rtol=1e-6)


def _fit(seeds, fit_config, masks_fn=None, on_epoch=None):
  tx = train.make_optimizer()
  keys = jax.vmap(jax.random.key)(jnp.asarray(seeds))

  params = jax.vmap(lambda k: MODEL.init(
      k, jnp.zeros((1, LENGTH), jnp.int32),
      jnp.ones((1,), jnp.int32))['params'])(keys)
  if masks_fn:  # Host-side pruning, one seed at a time.
    per_seed = [masks_fn(jax.tree.map(lambda x, i=i: x[i], params))
                for i in range(len(seeds))]
    masks = jax.tree.map(lambda *m: None if m[0] is None else np.stack(m),
                         *per_seed, is_leaf=masks_lib.is_none)
  else:
    masks = jax.vmap(masks_lib.make_masks)(params)
  states = jax.vmap(lambda p, m: train.TrainState.create(p, m, tx))(
      params, masks)
  seed_keys = train.SeedKeys(
      jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys),
      jax.vmap(lambda k: jax.random.fold_in(k, 2))(keys))
  result = train.fit_seeds(states, seed_keys, _data(150, 1), _data(60, 2),
                           _data(60, 3), model=MODEL, tx=tx,
                           fit_config=fit_config, on_epoch=on_epoch)
  return result, tx


def test_seed_in_vmap_equals_seed_alone():
  config = train.FitConfig(batch_size=16, epochs=3, patience=2)
  together, _ = _fit([3, 4, 5], config)
  for i, seed in enumerate([3, 4, 5]):
    alone, _ = _fit([seed], config)
    for a, b in zip(jax.tree.leaves(together.params),
                    jax.tree.leaves(alone.params)):
      np.testing.assert_allclose(a[i], b[0], rtol=1e-5, atol=1e-6)
    assert together.best_epoch[i] == alone.best_epoch[0]
    assert together.test_accuracy[i] == alone.test_accuracy[0]


def test_seeds_differ():
  result, _ = _fit([0, 1], train.FitConfig(batch_size=16, epochs=1))
  emb = result.params['embedding']
  assert not np.allclose(emb[0], emb[1])


def test_best_epoch_params_are_kept_and_nothing_recompiles():
  history = []
  config = train.FitConfig(batch_size=16, epochs=4, patience=0)
  result, tx = _fit([0, 1], config,
                    on_epoch=lambda e, m: history.append(m['valid_accuracy']))
  assert len(history) == 4 and (result.epochs_run == 4).all()
  history = np.stack(history)  # [epochs, seeds]
  np.testing.assert_array_equal(result.best_epoch, history.argmax(0))
  np.testing.assert_allclose(result.valid_accuracy, history.max(0))
  valid = {k: jnp.asarray(v) for k, v in _data(60, 2).items()}
  for i in range(2):
    params = jax.tree.map(lambda x: x[i], result.params)
    acc = train.evaluate(params, valid, model=MODEL, batch_size=256)
    assert float(acc) == pytest.approx(float(result.valid_accuracy[i]))
  epoch_fn, _ = train._compiled(MODEL, tx, config)
  assert epoch_fn._cache_size() == 1  # One compile for all four epochs.


def test_patience_stops_and_pruned_weights_stay_zero():
  config = train.FitConfig(batch_size=16, epochs=30, patience=1)
  result, _ = _fit([0], config, masks_fn=_half_pruned)
  assert result.epochs_run[0] < 30
  assert result.epochs_run[0] == int(result.best_epoch[0]) + 2
  params = jax.tree.map(lambda x: x[0], result.params)
  own = _half_pruned(_params(0))  # Seed 0's masks, from seed 0's init.
  for m, p in zip(jax.tree.leaves(own, is_leaf=masks_lib.is_none),
                  jax.tree.leaves(params)):
    if m is not None:
      assert (np.asarray(p)[~np.asarray(m)] == 0).all()


def test_buckets_seed_in_vmap_equals_seed_alone_and_compile_once():
  config = train.FitConfig(batch_size=16, epochs=3, patience=2,
                           buckets=(4, 8))
  together, tx = _fit([3, 4], config)
  alone, _ = _fit([4], config)
  for a, b in zip(jax.tree.leaves(together.params),
                  jax.tree.leaves(alone.params)):
    np.testing.assert_allclose(a[1], b[0], rtol=1e-5, atol=1e-6)
  assert together.best_epoch[1] == alone.best_epoch[0]
  step, end, _ = train._compiled_buckets(MODEL, tx, config)
  assert step._cache_size() == 3  # One step per bucket: 4, 8 and 12 tokens.
  assert end._cache_size() == 1


def test_bucket_schedule_visits_every_batch_once():
  schedule = train.bucket_schedule((33, 5, 16), 16, epoch=0)
  assert sorted(schedule.tolist()) == [0, 0, 0, 1, 2]
  np.testing.assert_array_equal(schedule,
                                train.bucket_schedule((33, 5, 16), 16, 0))
  orders = train.bucket_orders(jax.random.key(0), 0, (33, 5), 16)
  assert orders[0].shape == (3, 16) and orders[1].shape == (1, 16)
  assert sorted(np.asarray(orders[0]).ravel().tolist()) == [-1] * 15 + list(
      range(33))


@pytest.mark.parametrize('buckets', [(), (4, 8)])
def test_seed_chunks_equal_the_vmap(buckets):
  config = dict(batch_size=16, epochs=2, patience=1, buckets=buckets)
  vmapped, _ = _fit([0, 1, 2], train.FitConfig(**config))
  for chunk in (1, 2):
    mapped, _ = _fit([0, 1, 2], train.FitConfig(**config, seed_chunk=chunk))
    for a, b in zip(jax.tree.leaves(vmapped.params),
                    jax.tree.leaves(mapped.params)):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(vmapped.best_epoch, mapped.best_epoch)
