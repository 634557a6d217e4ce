"""Tests of mask pytrees."""

import jax
import jax.numpy as jnp
import numpy as np

from lottery_jax import masks


def _params():
  return {'embedding': jnp.arange(12.0).reshape(3, 4),
          'dense': {'kernel': jnp.ones((4, 2)), 'bias': jnp.ones(2)}}


def test_default_prunable_is_embedding_and_kernels():
  m = masks.make_masks(_params())
  assert m['dense']['bias'] is None
  assert m['embedding'].dtype == bool and m['embedding'].all()
  assert m['dense']['kernel'].shape == (4, 2)


def test_custom_prunable():
  m = masks.make_masks(_params(),
                       lambda path, leaf: masks.path_name(path) == 'dense/bias')
  assert m['embedding'] is None and m['dense']['kernel'] is None
  assert m['dense']['bias'].shape == (2,)


def test_apply_and_sparsity():
  params = _params()
  m = masks.make_masks(params)
  m['embedding'] = m['embedding'].at[0].set(False)  # 4 of 12 pruned
  m['dense']['kernel'] = m['dense']['kernel'].at[:, 1].set(False)  # 4 of 8
  applied = masks.apply_masks(params, m)
  np.testing.assert_array_equal(applied['embedding'][0], 0)
  np.testing.assert_array_equal(applied['embedding'][1:],
                                params['embedding'][1:])
  np.testing.assert_array_equal(applied['dense']['bias'], 1)
  s = masks.sparsity(m, params)
  assert s['embedding'] == 4 / 12
  assert s['dense/kernel'] == 0.5
  assert s['prunable'] == 8 / 20
  assert s['all'] == 8 / 22
  assert masks.count_alive(m) == {'embedding': 8, 'dense/kernel': 4}


def test_masks_survive_jit_and_vmap():
  params = _params()
  m = masks.make_masks(params)
  stacked = jax.tree.map(lambda x: jnp.stack([x, x]), params)
  stacked_m = jax.tree.map(lambda x: jnp.stack([x, ~x]), m)
  out = jax.jit(jax.vmap(masks.apply_masks))(stacked, stacked_m)
  np.testing.assert_array_equal(out['embedding'][1], 0)
  np.testing.assert_array_equal(out['dense']['bias'][1], 1)
