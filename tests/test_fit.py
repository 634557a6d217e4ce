"""Tests of the fit loop: seeds in one program, early stopping, buckets,
seed chunks, and compiling once."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lottery_jax import batching
from lottery_jax import fit
from lottery_jax import masks as masks_lib
from lottery_jax import train
from lottery_jax.config import FitSettings
# The model, data and pruning of the step tests (tests/ is on sys.path).
from test_train import _data, _half_pruned, _params, LENGTH, MODEL

def _fit(seeds, settings, masks_fn=None, on_epoch=None, program=None):
  program = program or fit.FitProgram(MODEL, train.make_optimizer(),
                                      settings)
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
  seed_keys = fit.SeedKeys(
      jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys),
      jax.vmap(lambda k: jax.random.fold_in(k, 2))(keys))
  result = program.fit(params, masks, seed_keys, _data(150, 1), _data(60, 2),
                       _data(60, 3), on_epoch=on_epoch)
  return result, program


def test_seed_in_vmap_equals_seed_alone():
  config = FitSettings(batch_size=16, epochs=3, patience=2)
  together, _ = _fit([3, 4, 5], config)
  for i, seed in enumerate([3, 4, 5]):
    alone, _ = _fit([seed], config)
    for a, b in zip(jax.tree.leaves(together.params),
                    jax.tree.leaves(alone.params)):
      np.testing.assert_allclose(a[i], b[0], rtol=1e-5, atol=1e-6)
    assert together.best_epoch_index[i] == alone.best_epoch_index[0]
    assert together.test_accuracy[i] == alone.test_accuracy[0]


def test_seeds_differ():
  result, _ = _fit([0, 1], FitSettings(batch_size=16, epochs=1))
  emb = result.params['embedding']
  assert not np.allclose(emb[0], emb[1])


def test_best_epoch_params_are_kept_and_nothing_recompiles():
  history = []
  config = FitSettings(batch_size=16, epochs=4, patience=0)
  result, program = _fit(
      [0, 1], config,
      on_epoch=lambda e, m: history.append(m['valid_accuracy']))
  assert len(history) == 4 and (result.epochs_run == 4).all()
  history = np.stack(history)  # [epochs, seeds]
  np.testing.assert_array_equal(result.best_epoch_index, history.argmax(0))
  np.testing.assert_allclose(result.valid_accuracy, history.max(0))
  valid = batching.bucketize(_data(60, 2))
  for i in range(2):
    params = jax.tree.map(lambda x: x[i], result.params)
    acc = fit.evaluate(params, valid, model=MODEL, batch_size=256)
    assert float(acc) == pytest.approx(float(result.valid_accuracy[i]))
  # One compile for all four epochs, and none for a second training.
  assert program.compiles == {'epoch': 1, 'test': 1}
  _fit([2, 3], config, program=program)
  assert program.compiles == {'epoch': 1, 'test': 1}


def test_patience_stops_and_pruned_weights_stay_zero():
  config = FitSettings(batch_size=16, epochs=30, patience=1)
  result, _ = _fit([0], config, masks_fn=_half_pruned)
  assert result.epochs_run[0] < 30
  assert result.epochs_run[0] == int(result.best_epoch_index[0]) + 2
  params = jax.tree.map(lambda x: x[0], result.params)
  # The best epoch's params are kept, and test accuracy is theirs.
  for split, accuracy in ((_data(60, 2), result.valid_accuracy),
                          (_data(60, 3), result.test_accuracy)):
    measured = fit.evaluate(params, batching.bucketize(split), model=MODEL,
                            batch_size=256)
    assert float(measured) == pytest.approx(float(accuracy[0]))
  own = _half_pruned(_params(0))  # Seed 0's masks, from seed 0's init.
  for m, p in zip(jax.tree.leaves(own, is_leaf=masks_lib.is_none),
                  jax.tree.leaves(params)):
    if m is not None:
      assert (np.asarray(p)[~np.asarray(m)] == 0).all()


def test_min_epochs_keeps_every_seed_training_before_patience_counts():
  config = FitSettings(batch_size=16, epochs=30, patience=1)
  early, _ = _fit([0, 1], config)
  assert (early.epochs_run < 8).any()
  result, _ = _fit([0, 1], FitSettings(batch_size=16, epochs=30, patience=1,
                                       min_epochs=8))
  assert (result.epochs_run >= 8).all()
  # Past min_epochs, patience stops a seed as before.
  assert (result.epochs_run <= np.maximum(
      8, np.asarray(result.best_epoch_index) + 2)).all()


def test_buckets_seed_in_vmap_equals_seed_alone_and_compile_once():
  config = FitSettings(batch_size=16, epochs=3, patience=2,
                           buckets=(4, 8))
  together, program = _fit([3, 4], config)
  alone, _ = _fit([4], config)
  for a, b in zip(jax.tree.leaves(together.params),
                  jax.tree.leaves(alone.params)):
    np.testing.assert_allclose(a[1], b[0], rtol=1e-5, atol=1e-6)
  assert together.best_epoch_index[1] == alone.best_epoch_index[0]
  # One program for all three buckets (4, 8 and 12 tokens) and epochs.
  assert program.compiles == {'epoch': 1, 'test': 1}


@pytest.mark.parametrize('buckets', [(), (4, 8)])
def test_seed_chunks_equal_the_vmap(buckets):
  config = dict(batch_size=16, epochs=2, patience=1, buckets=buckets)
  vmapped, _ = _fit([0, 1, 2], FitSettings(**config))
  for chunk in (1, 2):
    mapped, _ = _fit([0, 1, 2], FitSettings(**config, seed_chunk=chunk))
    for a, b in zip(jax.tree.leaves(vmapped.params),
                    jax.tree.leaves(mapped.params)):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(vmapped.best_epoch_index,
                                  mapped.best_epoch_index)
