"""Federated "sparsify and transfer": client splits, local updates, FedAvg
and the simulated rounds with their measured bytes, on a tiny model."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lottery_jax import codec
from lottery_jax import federated
from lottery_jax import masks as masks_lib
from lottery_jax import models
from lottery_jax import pruning
from lottery_jax import train

MODEL = models.TextCNN(vocab_size=40, embed_dim=8, channels=6, hidden=5)
LENGTH = 12
TX = train.make_optimizer('adam', learning_rate=1e-2)


def _data(n, seed=0):
  rng = np.random.default_rng(seed)
  length = rng.integers(1, LENGTH + 1, n).astype(np.int32)
  tokens = rng.integers(4, 40, (n, LENGTH)).astype(np.int32)
  tokens[np.arange(LENGTH)[None] >= length[:, None]] = 0
  label = (tokens == 7).any(1).astype(np.int32)
  return {'tokens': tokens, 'length': length, 'label': label}


def _params(key=0):
  return MODEL.init(jax.random.key(key), jnp.zeros((1, LENGTH), jnp.int32),
                    jnp.ones((1,), jnp.int32))['params']


def _pruned_masks(params, fraction=0.8):
  return pruning.prune_by_magnitude(params, masks_lib.make_masks(params),
                                    fraction)


def _stack(trees):
  return jax.tree.map(lambda *x: None if x[0] is None else jnp.stack(x),
                      *trees, is_leaf=masks_lib.is_none)


@pytest.mark.parametrize('alpha', [None, 0.3, 100.0])
def test_client_parts_are_disjoint_and_cover_the_split(alpha):
  labels = np.random.default_rng(0).integers(0, 2, 500)
  parts = federated.split_clients(labels, 7, seed=3, alpha=alpha)
  assert len(parts) == 7 and min(len(p) for p in parts) >= 1
  joined = np.concatenate(parts)
  assert len(joined) == 500 and set(joined) == set(range(500))
  again = federated.split_clients(labels, 7, seed=3, alpha=alpha)
  assert all((a == b).all() for a, b in zip(parts, again))  # Pure.


def test_iid_parts_are_equal_sized_and_alpha_skews_the_labels():
  labels = np.repeat([0, 1], 1000)
  iid = federated.split_clients(labels, 10, seed=0)
  assert {len(p) for p in iid} == {200}

  def skew(alpha):  # Mean |share of positives - 1/2| over the clients.
    parts = federated.split_clients(labels, 10, seed=0, alpha=alpha)
    return np.mean([abs(labels[p].mean() - 0.5) for p in parts])

  assert skew(0.1) > 0.3 > 0.05 > skew(1000.0)
  assert skew(0.1) > skew(1.0) > skew(1000.0)


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_clients=0), 'federated.clients=0'),
    (dict(num_clients=600), 'federated.clients=600'),
    (dict(num_clients=5, alpha=0.0), 'federated.alpha=0.0: must be > 0'),
    (dict(num_clients=5, alpha=-1.0), 'federated.alpha=-1.0'),
])
def test_bad_client_settings_are_one_clear_error(kwargs, match):
  with pytest.raises(federated.FederatedError, match=match):
    federated.split_clients(np.zeros(500, int), seed=0, **kwargs)


def test_sampling_more_clients_than_exist_is_an_error():
  with pytest.raises(federated.FederatedError,
                     match='federated.per_round=11: must be between 1 and '
                     'federated.clients=10'):
    federated.sample_clients(10, 11, seed=0, round_=1)
  a = federated.sample_clients(10, 4, seed=0, round_=1)
  assert len(set(a)) == 4 and (a == federated.sample_clients(10, 4, 0, 1)).all()
  assert any((federated.sample_clients(10, 4, 0, r) != a).any()
             for r in range(2, 6))


def test_client_batches_are_permutations_epoch_after_epoch():
  rows = np.asarray(federated.client_batches(
      jax.random.key(0), jnp.asarray(10), n_max=16, epochs=3, batch_size=4))
  assert rows.shape == (federated.max_local_steps(16, 3, 4), 4)  # 12 steps
  stream = rows.ravel()
  for e in range(3):
    assert sorted(stream[10 * e:10 * (e + 1)]) == list(range(10))
  assert (stream[30:] == -1).all()  # Beyond its 3 epochs: padding only.


def test_a_round_keeps_pruned_weights_zero_and_averages_by_examples():
  params = _params()
  masks = _pruned_masks(params)
  parts = federated.split_clients(_data(90)['label'], 3, seed=0, alpha=0.5)
  clients = federated.stack_clients(_data(90), parts)
  keys = jax.random.split(jax.random.key(1), 3)
  new, each = jax.jit(functools.partial(
      federated.fed_round, model=MODEL, tx=TX, epochs=2, batch_size=8))(
          params, masks, clients, keys)
  weights = np.array([len(p) for p in parts], np.float64)
  for m, p, c in zip(jax.tree.leaves(masks, is_leaf=masks_lib.is_none),
                     jax.tree.leaves(new), jax.tree.leaves(each)):
    expected = np.tensordot(weights / weights.sum(), np.asarray(c), axes=1)
    if m is not None:
      assert (np.asarray(p)[~np.asarray(m)] == 0).all()
      assert (np.asarray(c)[:, ~np.asarray(m)] == 0).all()
      expected = np.where(np.asarray(m), expected, 0.0)
    np.testing.assert_allclose(p, expected, rtol=1e-5, atol=1e-7)
  # Mapped one at a time in the same program (a CPU's choice): the same.
  one_by_one, _ = jax.jit(functools.partial(
      federated.fed_round, model=MODEL, tx=TX, epochs=2, batch_size=8,
      client_chunk=1))(params, masks, clients, keys)
  for a, b in zip(jax.tree.leaves(one_by_one), jax.tree.leaves(new)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # The clients trained: every client moved away from the global params.
  moved = [np.abs(np.asarray(c) - np.asarray(p0)[None]).max(axis=tuple(
      range(1, np.ndim(c)))) for c, p0 in zip(jax.tree.leaves(each),
                                              jax.tree.leaves(params))]
  assert (np.max(moved, axis=0) > 0).all()


def test_fedavg_of_identical_clients_returns_their_params():
  params = _params()
  masks = _pruned_masks(params)
  params = masks_lib.apply_masks(params, masks)
  same = _stack([params] * 4)
  out = federated.fedavg(same, jnp.array([3, 50, 7, 1]), masks)
  for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(params)):
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_a_small_client_padded_beside_a_large_one_trains_as_alone():
  # 4 rows, 2 local epochs of batch 8: one step. Stacked beside a client of
  # 12 rows, it runs 3 steps, and its 2 steps of padding change nothing.
  # (No dropout: its masks follow row positions, which padding reorders.)
  model = models.TextCNN(vocab_size=40, embed_dim=8, channels=6, hidden=5,
                         dropout_rate=0.0)
  params = _params()
  masks = masks_lib.make_masks(params)
  data = _data(16)
  small = federated.stack_clients(data, [np.arange(4), np.arange(4, 16)])
  alone = federated.stack_clients(data, [np.arange(4)])
  update = jax.jit(functools.partial(federated.client_update, model=model,
                                     tx=TX, epochs=2, batch_size=8))
  key = jax.random.key(5)
  padded = update(params, masks, jax.tree.map(lambda x: x[0], small), key)
  exact = update(params, masks, jax.tree.map(lambda x: x[0], alone), key)
  for a, b in zip(jax.tree.leaves(padded), jax.tree.leaves(exact)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_simulate_counts_the_encoded_bytes_and_keeps_sparsity():
  seeds = [0, 1]
  params = _stack([_params(s) for s in seeds])
  masks = _stack([_pruned_masks(_params(s), 0.9) for s in seeds])
  data = _data(120)
  clients = federated.stack_clients(
      data, federated.split_clients(data['label'], 4, seed=0))
  settings = federated.Settings(clients=4, per_round=2, rounds=3,
                                local_epochs=1, batch_size=8)
  program = federated.Program(MODEL, TX, settings, seed_chunk=1)
  roots = jax.random.split(jax.random.key(0), 2)
  rows = federated.simulate(program, params, masks, clients, _data(40, 1),
                            seeds, roots)
  dense = federated.simulate(program, params, None, clients, _data(40, 1),
                             seeds, roots)
  assert [(r['seed'], r['round']) for r in rows] == [
      (s, r) for r in (1, 2, 3) for s in seeds]
  one = jax.tree.map(lambda x: None if x is None else np.asarray(x[0]),
                     masks, is_leaf=masks_lib.is_none)
  p0 = jax.tree.map(lambda x: np.asarray(x[0]), params)
  values = len(codec.encode_values(p0, one))
  mask = len(codec.encode_masks(one))
  full = len(codec.encode_values(p0, None))
  seen = set()
  for r in (1, 2, 3):
    sampled = federated.sample_clients(4, 2, 0, r)
    new = len(set(sampled) - seen)
    seen |= set(sampled)
    row = rows[2 * (r - 1)]
    assert row['bytes_down'] == 2 * values + new * mask
    assert row['bytes_up'] == 2 * values
    assert dense[2 * (r - 1)]['bytes_down'] == 2 * full
  assert rows[-2]['bytes_total'] == sum(
      r['bytes_down'] + r['bytes_up'] for r in rows if r['seed'] == 0)
  assert 0.0 <= min(r['test_accuracy'] for r in rows) <= 1.0
