"""The codec: masks and values round trip exactly, byte counts are the
payloads' lengths, and ticket files load without pickle."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lottery_jax import codec
from lottery_jax import masks as masks_lib
from lottery_jax import models

HEADER = codec._HEADER.size  # pylint: disable=protected-access


def _params(vocab=40, embed=8):
  model = models.TextCNN(vocab_size=vocab, embed_dim=embed, channels=6,
                         hidden=5)
  return jax.tree.map(np.asarray, model.init(
      jax.random.key(0), jnp.zeros((1, 12), jnp.int32),
      jnp.ones((1,), jnp.int32))['params'])


def _random_masks(params, keep, seed=0):
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda m: None if m is None else rng.random(m.shape) < keep,
      masks_lib.make_masks(params), is_leaf=masks_lib.is_none)


def _mask_leaves(masks):
  return [m for m in jax.tree.leaves(masks, is_leaf=masks_lib.is_none)
          if m is not None]


def test_masks_round_trip_exactly_with_all_and_none_kept():
  params = _params()
  masks = _random_masks(params, 0.3)
  masks['conv3']['kernel'][:] = False
  masks['hidden']['kernel'][:] = True
  payload = codec.encode_masks(masks)
  back = codec.decode_masks(payload, masks)
  for a, b in zip(jax.tree.leaves(masks, is_leaf=masks_lib.is_none),
                  jax.tree.leaves(back, is_leaf=masks_lib.is_none)):
    assert (a is None and b is None) or (a == b).all()
  packed = sum(-(-m.size // 8) for m in _mask_leaves(masks))
  assert len(payload) == HEADER + packed


@pytest.mark.parametrize('dtype, width', [('float32', 4), ('bfloat16', 2)])
def test_values_round_trip_and_count_the_surviving_values(dtype, width):
  params = _params()
  masks = _random_masks(params, 0.25)
  payload = codec.encode_values(params, masks, dtype)
  kept = sum(int(m.sum()) for m in _mask_leaves(masks))
  unmasked = sum(p.size for p, m in zip(
      jax.tree.leaves(params),
      jax.tree.leaves(masks, is_leaf=masks_lib.is_none)) if m is None)
  assert len(payload) == HEADER + width * (kept + unmasked)
  back = codec.decode_values(payload, masks, params, dtype)
  for p, b, m in zip(jax.tree.leaves(params), jax.tree.leaves(back),
                     jax.tree.leaves(masks, is_leaf=masks_lib.is_none)):
    expected = p if dtype == 'float32' else np.asarray(
        p.astype(jnp.bfloat16), np.float32)
    if m is not None:
      assert (b[~m] == 0).all()
      expected = np.where(m, expected, 0)
    np.testing.assert_array_equal(b, expected)


def test_dense_message_holds_every_value():
  params = _params()
  payload = codec.encode_values(params)
  assert len(payload) == HEADER + 4 * sum(p.size for p in
                                          jax.tree.leaves(params))
  for a, b in zip(jax.tree.leaves(params),
                  jax.tree.leaves(codec.decode_values(payload, None,
                                                      params))):
    np.testing.assert_array_equal(a, b)


def test_a_ticket_at_90_percent_is_under_an_eighth_of_dense(tmp_path):
  params = _params(vocab=8000, embed=32)  # The cpu preset's embedding.
  # The cpu preset's round 3: 0.45 ** 3 of each prunable leaf kept (90.9%
  # sparse). The bitmap costs 1/32 of the dense floats, so a round that
  # carries the mask is 0.091 + 0.031 of dense, one without it 0.091.
  masks = _random_masks(params, 0.45 ** 3)
  sizes = codec.message_bytes(params, masks)
  assert sizes['mask'] + sizes['values'] <= sizes['dense'] / 8
  assert sizes['values'] <= sizes['dense'] / 10
  path = str(tmp_path / 'ticket.npz')
  size = codec.export_ticket(path, masks, params)
  assert size <= codec.dense_bytes(params) / 8
  with np.load(path, allow_pickle=False) as z:  # No pickle needed.
    assert z['values'].size == sum(int(m.sum()) for m in _mask_leaves(
        masks)) + sum(p.size for p, m in zip(
            jax.tree.leaves(params),
            jax.tree.leaves(masks, is_leaf=masks_lib.is_none)) if m is None)
  got_masks, got_params = codec.load_ticket(path)
  for a, b in zip(jax.tree.leaves(masks, is_leaf=masks_lib.is_none),
                  jax.tree.leaves(got_masks, is_leaf=masks_lib.is_none)):
    assert (a is None and b is None) or (a == b).all()
  for p, b, m in zip(jax.tree.leaves(params), jax.tree.leaves(got_params),
                     jax.tree.leaves(masks, is_leaf=masks_lib.is_none)):
    np.testing.assert_array_equal(b, p if m is None else np.where(m, p, 0))


def test_payloads_that_do_not_fit_are_refused():
  params = _params()
  masks = _random_masks(params, 0.5)
  values = codec.encode_values(params, masks)
  with pytest.raises(codec.CodecError, match='not a lottery_jax payload'):
    codec.decode_values(b'XXXX' + values[4:], masks, params)
  with pytest.raises(codec.CodecError, match='expected'):
    codec.decode_values(values[:-4], masks, params)
  with pytest.raises(codec.CodecError, match='kind 0 with'):
    codec.decode_masks(values, masks)  # A values payload is no mask.
  other = _random_masks(params, 0.9, seed=1)
  with pytest.raises(codec.CodecError, match='values payload of'):
    codec.decode_values(values, other, params)
  with pytest.raises(codec.CodecError, match='bfloat8'):
    codec.encode_values(params, masks, 'bfloat8')


def test_a_missing_or_foreign_ticket_file_is_named(tmp_path):
  with pytest.raises(codec.CodecError, match='nothing.npz: not a ticket'):
    codec.load_ticket(str(tmp_path / 'nothing.npz'))
  foreign = tmp_path / 'foreign.npz'
  np.savez(foreign, x=np.zeros(3))
  with pytest.raises(codec.CodecError, match='foreign.npz: not a ticket'):
    codec.load_ticket(str(foreign))
