"""Tests of masked training: the optimiser wrapper and the steps."""

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


def test_warmup_rises_linearly_to_the_learning_rate():
  params = _params()
  masks = _half_pruned(params)
  grads = jax.tree.map(jnp.ones_like, params)
  steps = {}
  for warmup in (0, 4):
    tx = train.make_optimizer('sgd', learning_rate=0.1, l2=0.0, momentum=0.0,
                              warmup_steps=warmup)
    state = tx.init(params)
    sizes = []
    for _ in range(6):
      updates, state = tx.update(grads, state, params, masks=masks)
      sizes.append(float(-updates['hidden']['bias'][0]))
    steps[warmup] = sizes
  np.testing.assert_allclose(steps[0], [0.1] * 6, rtol=1e-6)
  np.testing.assert_allclose(steps[4], [0.0, 0.025, 0.05, 0.075, 0.1, 0.1],
                             rtol=1e-6, atol=1e-8)
