"""Tests of the text CNN."""

import math

import jax
from jax import test_util as jtu
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


def test_embedding_init_std_scales_the_embedding_alone():
  paper = _init(_model(vocab_size=400, embed_dim=50))
  small = _init(_model(vocab_size=400, embed_dim=50, embed_init_std=0.1))
  np.testing.assert_allclose(small['embedding'], 0.1 * paper['embedding'],
                             rtol=1e-5)
  for name in ('conv3', 'hidden', 'output'):
    np.testing.assert_array_equal(small[name]['kernel'],
                                  paper[name]['kernel'])


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


def _loss_and_grads(conv_impl, tokens, length, rng):
  model = _model(conv_impl=conv_impl, embed_dim=7, channels=5)
  params = _init(model)  # The same key: the same params for both impls.

  def loss(p):
    return jnp.sum(model.apply({'params': p}, tokens, length, train=True,
                               rngs={'dropout': rng}) ** 2)

  return jax.value_and_grad(loss)(params)


def test_xla_and_matmul_convolutions_agree_in_values_and_gradients():
  rng = np.random.default_rng(0)
  tokens = jnp.asarray(rng.integers(1, 30, (3, 11)), jnp.int32)
  length = jnp.array([11, 7, 2])
  tokens = jnp.where(jnp.arange(11)[None] < length[:, None], tokens, 0)
  key = jax.random.key(3)
  loss_m, grads_m = _loss_and_grads('matmul', tokens, length, key)
  loss_x, grads_x = _loss_and_grads('xla', tokens, length, key)
  np.testing.assert_allclose(loss_x, loss_m, rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4,
                                                       atol=1e-5),
               grads_x, grads_m)
  # The custom backward pass against finite differences in x and kernel.
  x = jnp.asarray(rng.normal(size=(2, 9, 3)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(4, 3, 2)), jnp.float32)
  jtu.check_grads(models.conv1d, (x, kernel), order=1,
                            modes=('rev',), atol=1e-2, rtol=1e-2)


def _matmul_conv(x, kernel):
  out_len = x.shape[1] - kernel.shape[0] + 1
  return sum(x[:, k:k + out_len] @ kernel[k] for k in range(kernel.shape[0]))


def test_xla_convolution_gradients_inside_a_scan():
  # Inside lax.scan (as in training) the custom backward pass gives the
  # matmul formulation's gradients, step after step.
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(2, 9, 3)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(3, 3, 2)), jnp.float32)

  def descend(conv):
    grad = jax.grad(lambda xk: jnp.sum(jnp.tanh(conv(*xk)) ** 2))

    def body(xk, _):
      g = grad(xk)
      return jax.tree.map(lambda a, b: a - 0.1 * b, xk, g), g

    return jax.lax.scan(body, (x, kernel), None, length=3)

  final_x, grads_x = descend(models.conv1d)
  final_m, grads_m = descend(_matmul_conv)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4,
                                                       atol=1e-5),
               (final_x, grads_x), (final_m, grads_m))


def test_unknown_convolution_impl_is_an_error():
  with pytest.raises(ValueError, match='fft'):
    _init(_model(conv_impl='fft'))


@pytest.mark.parametrize('rate', [0.285, 0.5])
def test_dropout_drops_at_the_rate_and_keeps_the_mean(rate):
  x = jnp.ones((200, 501))  # An odd size: the last word is used once.
  y = np.asarray(models.dropout(x, rate, jax.random.key(0)))
  dropped = (y == 0).mean()
  assert abs(dropped - rate) < 4 * math.sqrt(rate * (1 - rate) / y.size)
  kept = y[y != 0]
  np.testing.assert_allclose(kept, 1 / (1 - round(rate * 2 ** 16) / 2 ** 16),
                             rtol=1e-6)
  assert abs(y.mean() - 1) < 0.01
  other = np.asarray(models.dropout(x, rate, jax.random.key(1)))
  assert (other != y).any()
  np.testing.assert_array_equal(models.dropout(x, 0.0, jax.random.key(0)), x)
  with pytest.raises(ValueError, match='rate 1.0'):
    models.dropout(x, 1.0, jax.random.key(0))
