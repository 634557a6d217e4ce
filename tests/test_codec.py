"""The codec: masks and values round trip exactly, byte counts are the
payloads' lengths, and ticket files load without pickle."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lottery_jax import codec
from lottery_jax import masks as masks_lib
from lottery_jax import models

HEADER = 10  # Magic (4), version (1), kind (1), leaf count (4).


def _params(vocab=40, embed=8, seed=0):
  """A tiny TextCNN's params tree, filled with normal draws (its shapes
  from eval_shape: no compilation)."""
  model = models.TextCNN(vocab_size=vocab, embed_dim=embed, channels=6,
                         hidden=5)
  shapes = jax.eval_shape(lambda: model.init(
      jax.random.key(0), jnp.zeros((1, 12), jnp.int32),
      jnp.ones((1,), jnp.int32))['params'])
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda s: rng.standard_normal(s.shape).astype(np.float32), shapes)


def _random_masks(params, keep, seed=0):
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda m: None if m is None else rng.random(m.shape) < keep,
      masks_lib.make_masks(params), is_leaf=masks_lib.is_none)


def _flat(masks):
  return jax.tree.leaves(masks, is_leaf=masks_lib.is_none)


def _expected_values_bytes(params, masks, width):
  """Header plus `width` bytes per kept weight and per unmasked weight."""
  return HEADER + width * sum(p.size if m is None else int(m.sum())
                              for p, m in zip(jax.tree.leaves(params),
                                              _flat(masks)))


def test_the_header_is_ten_bytes():
  assert codec._HEADER.size == HEADER  # pylint: disable=protected-access
  assert codec.encode_masks({'b': None})[:4] == b'LJXT'


def test_masks_round_trip_exactly_with_all_and_none_kept():
  params = _params()
  masks = _random_masks(params, 0.3)
  masks['conv3']['kernel'][:] = False
  masks['hidden']['kernel'][:] = True
  payload = codec.encode_masks(masks)
  back = codec.decode_masks(payload, masks)
  assert jax.tree.structure(back, is_leaf=masks_lib.is_none) == (
      jax.tree.structure(masks, is_leaf=masks_lib.is_none))
  for a, b in zip(_flat(masks), _flat(back)):
    assert (a is None and b is None) or (
        b.dtype == bool and np.array_equal(a, b))
  packed = sum(-(-m.size // 8) for m in _flat(masks) if m is not None)
  assert len(payload) == HEADER + packed


def test_mask_bits_are_little_endian_in_c_order():
  masks = {'b': None, 'k': np.array([[1, 0, 0], [0, 0, 0], [0, 0, 0]], bool)}
  payload = codec.encode_masks(masks)
  assert payload[HEADER:] == bytes([0b1, 0])  # 9 bits: two bytes.
  masks['k'] = np.eye(3, dtype=bool)  # Weights 0, 4 and 8.
  assert codec.encode_masks(masks)[HEADER:] == bytes([0b10001, 1])


@pytest.mark.parametrize('dtype, width', [('float32', 4), ('bfloat16', 2)])
def test_values_round_trip_and_count_the_surviving_values(dtype, width):
  params = _params()
  masks = _random_masks(params, 0.25)
  masks['conv4']['kernel'][:] = False
  payload = codec.encode_values(params, masks, dtype)
  assert len(payload) == _expected_values_bytes(params, masks, width)
  back = codec.decode_values(payload, masks, params, dtype)
  for p, b, m in zip(jax.tree.leaves(params), jax.tree.leaves(back),
                     _flat(masks)):
    expected = p if dtype == 'float32' else np.asarray(
        p.astype(jnp.bfloat16), np.float32)
    assert b.dtype == np.float32
    if m is not None:
      assert (b[~m] == 0).all()
      expected = np.where(m, expected, 0)
    np.testing.assert_array_equal(b, expected)


def test_bfloat16_halves_the_values():
  params = _params()
  masks = _random_masks(params, 0.5)
  full = codec.encode_values(params, masks, 'float32')
  half = codec.encode_values(params, masks, 'bfloat16')
  assert 2 * (len(half) - HEADER) == len(full) - HEADER


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
  # carries the mask is 0.091 + 0.031 of dense, one without it 0.091 (at
  # exactly 10% kept, 0.131: over an eighth).
  masks = _random_masks(params, 0.45 ** 3)
  sizes = codec.message_bytes(params, masks)
  prunable = [m for m in _flat(masks) if m is not None]
  assert sizes == {
      'mask': HEADER + sum(-(-m.size // 8) for m in prunable),
      'values': _expected_values_bytes(params, masks, 4),
      'dense': HEADER + 4 * sum(p.size for p in jax.tree.leaves(params))}
  assert sizes['mask'] + sizes['values'] <= sizes['dense'] / 8
  assert sizes['values'] <= sizes['dense'] / 10
  path = str(tmp_path / 'ticket.npz')
  size = codec.export_ticket(path, masks, params)
  assert size == (tmp_path / 'ticket.npz').stat().st_size
  assert size <= codec.dense_bytes(params) / 8
  with np.load(path, allow_pickle=False) as z:  # No pickle needed.
    assert z['values'].size == (sizes['values'] - HEADER) // 4
    assert list(z['names'])[:2] == ['conv3/bias', 'conv3/kernel']
  got_masks, got_params = codec.load_ticket(path, template=masks)
  for a, b in zip(_flat(masks), _flat(got_masks)):
    assert (a is None and b is None) or np.array_equal(a, b)
  for p, b, m in zip(jax.tree.leaves(params), jax.tree.leaves(got_params),
                     _flat(masks)):
    np.testing.assert_array_equal(b, p if m is None else np.where(m, p, 0))


def test_a_bfloat16_ticket_loads_as_the_rounded_values(tmp_path):
  params = _params()
  masks = _random_masks(params, 0.3)
  path = str(tmp_path / 'ticket.npz')
  codec.export_ticket(path, masks, params, 'bfloat16')
  _, got = codec.load_ticket(path, template=params)
  expected = codec.decode_values(codec.encode_values(
      params, masks, 'bfloat16'), masks, params, 'bfloat16')
  for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
    np.testing.assert_array_equal(a, b)


def test_payloads_that_do_not_fit_are_refused():
  params = _params()
  masks = _random_masks(params, 0.5)
  values = codec.encode_values(params, masks)
  with pytest.raises(codec.CodecError, match='not a lottery_jax payload'):
    codec.decode_values(b'XXXX' + values[4:], masks, params)
  with pytest.raises(codec.CodecError,
                     match="expected .* ends inside 'output/kernel'"):
    codec.decode_values(values[:-4], masks, params)
  with pytest.raises(codec.CodecError, match='4 bytes after the last leaf'):
    codec.decode_values(values + b'\0' * 4, masks, params)
  with pytest.raises(codec.CodecError,
                     match='a float32 values payload .* expected masks'):
    codec.decode_masks(values, masks)
  with pytest.raises(codec.CodecError, match="ends inside 'output/kernel'"):
    codec.decode_masks(codec.encode_masks(masks)[:-1], masks)
  with pytest.raises(codec.CodecError, match='bfloat8'):
    codec.encode_values(params, masks, 'bfloat8')


def test_a_template_that_does_not_fit_is_named():
  params = _params()
  masks = _random_masks(params, 0.5)
  values = codec.encode_values(params, masks)
  other = _random_masks(params, 0.9, seed=1)  # Other kept counts.
  with pytest.raises(codec.CodecError, match='values payload of .* inside'):
    codec.decode_values(values, other, params)
  bigger = _random_masks(_params(vocab=41), 0.5)
  with pytest.raises(codec.CodecError,
                     match=r'embedding: a mask of shape \(41, 8\) for '
                     r'weights of shape \(40, 8\)'):
    codec.decode_values(values, bigger, params)
  # The body has no per-leaf sizes: a payload is refused where it runs out.
  with pytest.raises(codec.CodecError,
                     match="126 bytes .* expected 127: it ends inside "
                     "'output/kernel'"):
    codec.decode_masks(codec.encode_masks(masks), bigger)
  del masks['hidden']
  with pytest.raises(codec.CodecError,
                     match="leaf 'output/bias' where 'hidden/bias'"):
    codec.encode_values(params, masks)


def test_a_missing_corrupt_or_foreign_ticket_file_is_named(tmp_path):
  with pytest.raises(codec.CodecError, match='nothing.npz: not a ticket'):
    codec.load_ticket(str(tmp_path / 'nothing.npz'))
  foreign = tmp_path / 'foreign.npz'
  np.savez(foreign, x=np.zeros(3))
  with pytest.raises(codec.CodecError, match='foreign.npz: not a ticket'):
    codec.load_ticket(str(foreign))
  params = _params()
  masks = _random_masks(params, 0.5)
  path = tmp_path / 'ticket.npz'
  codec.export_ticket(str(path), masks, params)
  cut = tmp_path / 'cut.npz'
  cut.write_bytes(path.read_bytes()[:-100])
  with pytest.raises(codec.CodecError, match='cut.npz: not a ticket'):
    codec.load_ticket(str(cut))
  with pytest.raises(codec.CodecError,
                     match=r'ticket.npz: does not fit the template: '
                     r'embedding: shape \(40, 8\) in the ticket, \(41, 8\)'):
    codec.load_ticket(str(path), template=_params(vocab=41))
