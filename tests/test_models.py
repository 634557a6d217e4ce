"""Tests of the text CNN."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lottery_jax import models


def _model(**kw):
  defaults = dict(vocab_size=30, embed_dim=6, channels=4, hidden=5)
  defaults.update(kw)
  return models.TextCNN(**defaults)


def _init(model, length=12):
  return model.init(jax.random.key(0), jnp.zeros((1, length), jnp.int32),
                    jnp.ones((1,), jnp.int32))['params']


def test_paper_shapes():
  params = jax.eval_shape(lambda: _init(models.TextCNN(), 20))
  shapes = jax.tree.map(lambda p: p.shape, params)
  assert shapes == {
      'embedding': (8000, 417),
      'conv3': {'kernel': (3, 417, 127), 'bias': (127,)},
      'conv4': {'kernel': (4, 417, 127), 'bias': (127,)},
      'conv5': {'kernel': (5, 417, 127), 'bias': (127,)},
      'hidden': {'kernel': (381, 117), 'bias': (117,)},
      'output': {'kernel': (117, 2), 'bias': (2,)},
  }


def test_initialisers_follow_the_paper():
  model = _model(vocab_size=400, embed_dim=50, channels=60, hidden=70)
  params = _init(model)
  emb = np.asarray(params['embedding'])
  assert abs(emb.std() - 1.0) < 0.05 and abs(emb.mean()) < 0.05
  for name, fan_in in (('conv3', 3 * 50), ('conv5', 5 * 50),
                       ('hidden', 180), ('output', 70)):
    bound = 1 / math.sqrt(fan_in)  # sqrt(6 / ((1 + 5) fan_in))
    kernel = np.abs(np.asarray(params[name]['kernel']))
    bias = np.abs(np.asarray(params[name]['bias']))
    assert kernel.max() <= bound and kernel.max() > 0.9 * bound
    assert bias.max() <= bound


def test_logits_do_not_depend_on_padding():
  model = _model()
  params = _init(model)
  rng = np.random.default_rng(0)
  for length in (1, 2, 4, 5, 9):
    tokens = rng.integers(1, 30, length)
    logits = []
    for padded in (max(length, 1), 10, 37):
      row = np.zeros((1, padded), np.int32)
      row[0, :length] = tokens
      logits.append(model.apply({'params': params}, jnp.asarray(row),
                                jnp.array([length])))
    for other in logits[1:]:
      np.testing.assert_allclose(other, logits[0], rtol=1e-6, atol=1e-6)


def test_pad_row_of_the_embedding_is_unused():
  model = _model()
  params = _init(model)
  tokens = jnp.array([[5, 6, 7, 0, 0, 0]])
  changed = jax.tree.map(lambda x: x, params)
  changed['embedding'] = params['embedding'].at[0].set(100.0)
  a = model.apply({'params': params}, tokens, jnp.array([3]))
  b = model.apply({'params': changed}, tokens, jnp.array([3]))
  np.testing.assert_array_equal(a, b)
  grads = jax.grad(lambda p: model.apply({'params': p}, tokens,
                                         jnp.array([3])).sum())(params)
  assert not np.asarray(grads['embedding'][0]).any()


def test_dropout_only_in_training():
  model = _model(dropout_rate=0.5)
  params = _init(model)
  tokens = jnp.array([[3, 4, 5, 6, 7, 8]])
  length = jnp.array([6])
  eval_a = model.apply({'params': params}, tokens, length)
  eval_b = model.apply({'params': params}, tokens, length)
  np.testing.assert_array_equal(eval_a, eval_b)
  train_a = model.apply({'params': params}, tokens, length, train=True,
                        rngs={'dropout': jax.random.key(1)})
  assert not np.allclose(train_a, eval_a)


def test_windows_in_padding_are_excluded():
  # With a huge embedding on a token beyond the length, nothing changes.
  model = _model()
  params = _init(model)
  a = model.apply({'params': params}, jnp.array([[4, 5, 0, 0, 0, 0]]),
                  jnp.array([2]))
  b = model.apply({'params': params}, jnp.array([[4, 5, 0, 0, 0, 0, 0, 0]]),
                  jnp.array([2]))
  np.testing.assert_allclose(a, b, rtol=1e-6)
  with pytest.raises(AssertionError):
    c = model.apply({'params': params}, jnp.array([[4, 9, 0, 0, 0, 0]]),
                    jnp.array([2]))
    np.testing.assert_allclose(a, c, rtol=1e-6)
