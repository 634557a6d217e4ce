"""The bytes a ticket travels as: federated messages and ticket files.

Paper section 7: once a client has a ticket's mask, only the surviving
weights need to travel. One codec makes every payload, so that the bytes a
study reports are `len()` of real messages:

  `encode_masks`   the mask once, as packed bits (np.packbits, little bit
                   order) of every prunable leaf
  `encode_values`  the surviving values of the prunable leaves and every
                   value of the others (float32, or bfloat16 to halve them);
                   with no masks, every value: the dense FedAvg message
  `export_ticket`  a ticket file: packed masks and surviving values in a
                   compressed `.npz` that `np.load` reads without pickle
  `load_ticket`    its masks and params back, exactly

Leaves are taken in `jax.tree_util` order (dict keys sorted), the same on
both ends; a payload starts with a header (magic, version, dtype, leaf
count), so a message of another layout is refused, not misread.
"""

from __future__ import annotations

import os
import struct
import tempfile
from typing import Any, Dict, List, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from lottery_jax import files
from lottery_jax import masks as masks_lib

PyTree = Any
MAGIC = b'LJXT'
VERSION = 1
DTYPES = {'float32': (0, np.dtype(np.float32)),
          'bfloat16': (1, np.dtype(jnp.bfloat16))}
_HEADER = struct.Struct('<4sBBI')  # magic, version, dtype code, leaves
_MASKS = 255  # The dtype code of a masks payload.


class CodecError(ValueError):
  """A payload or ticket file that does not fit; one line naming it."""


def _leaves(params: PyTree, masks: Optional[PyTree]
            ) -> List[Tuple[str, np.ndarray, Optional[np.ndarray]]]:
  """(name, values, mask or None) of every params leaf, in tree order."""
  named = jax.tree_util.tree_flatten_with_path(params)[0]
  if masks is None:
    flat_masks = [None] * len(named)
  else:
    flat_masks = jax.tree.leaves(masks, is_leaf=masks_lib.is_none)
    if len(flat_masks) != len(named):
      raise CodecError(f'the masks have {len(flat_masks)} leaves, the params '
                       f'{len(named)}')
  return [(masks_lib.path_name(path), np.asarray(value),
           None if m is None else np.asarray(m, bool))
          for (path, value), m in zip(named, flat_masks)]


def _dtype(name: str) -> Tuple[int, np.dtype]:
  if name not in DTYPES:
    raise CodecError(f'dtype {name!r}: float32 or bfloat16')
  return DTYPES[name]


def _header(code: int, leaves: int) -> bytes:
  return _HEADER.pack(MAGIC, VERSION, code, leaves)


def _read_header(payload: bytes, code: int, leaves: int) -> memoryview:
  if len(payload) < _HEADER.size:
    raise CodecError(f'a payload of {len(payload)} bytes has no header')
  magic, version, got, count = _HEADER.unpack_from(payload)
  if magic != MAGIC or version != VERSION:
    raise CodecError(f'not a lottery_jax payload (magic {magic!r}, version '
                     f'{version})')
  if got != code or count != leaves:
    raise CodecError(f'payload of kind {got} with {count} leaves, expected '
                     f'kind {code} with {leaves}')
  return memoryview(payload)[_HEADER.size:]


def encode_masks(masks: PyTree) -> bytes:
  """The packed bits of every mask leaf (None leaves send nothing)."""
  leaves = [np.asarray(m, bool) for m in jax.tree.leaves(masks)]
  return _header(_MASKS, len(leaves)) + b''.join(
      np.packbits(m.ravel(), bitorder='little').tobytes() for m in leaves)


def decode_masks(payload: bytes, template: PyTree) -> PyTree:
  """The masks of `encode_masks`; `template` is a mask pytree of the same
  structure and shapes (None where a leaf is never pruned).

  Raises:
    CodecError: the payload does not fit the template.
  """
  flat, treedef = jax.tree.flatten(template, is_leaf=masks_lib.is_none)
  shaped = [m for m in flat if m is not None]
  body = _read_header(payload, _MASKS, len(shaped))
  need = sum(-(-int(np.prod(np.shape(m))) // 8) for m in shaped)
  if len(body) != need:
    raise CodecError(f'a masks payload of {len(body)} bytes, expected {need}')
  out, offset = [], 0
  for m in flat:
    if m is None:
      out.append(None)
      continue
    n = int(np.prod(np.shape(m)))
    size = -(-n // 8)
    bits = np.frombuffer(body, np.uint8, size, offset)
    out.append(np.unpackbits(bits, count=n, bitorder='little').astype(
        bool).reshape(np.shape(m)))
    offset += size
  return jax.tree.unflatten(treedef, out)


def encode_values(params: PyTree, masks: Optional[PyTree] = None,
                  dtype: str = 'float32') -> bytes:
  """The values that travel: a prunable leaf's surviving values (C order),
  every value of an unmasked leaf; every value of every leaf when `masks`
  is None (the dense message)."""
  code, np_dtype = _dtype(dtype)
  leaves = _leaves(params, masks)
  chunks = [(value.ravel() if m is None else value[m]).astype(np_dtype)
            for _, value, m in leaves]
  return _header(code, len(leaves)) + b''.join(c.tobytes() for c in chunks)


def decode_values(payload: bytes, masks: Optional[PyTree], template: PyTree,
                  dtype: str = 'float32') -> PyTree:
  """The params of `encode_values` as float32 numpy arrays shaped like
  `template`'s leaves, exact zeros where a mask is False.

  Raises:
    CodecError: the payload does not fit the template and masks.
  """
  code, np_dtype = _dtype(dtype)
  leaves = _leaves(template, masks)
  body = _read_header(payload, code, len(leaves))
  counts = [value.size if m is None else int(m.sum())
            for _, value, m in leaves]
  need = sum(counts) * np_dtype.itemsize
  if len(body) != need:
    raise CodecError(f'a values payload of {len(body)} bytes, expected {need}'
                     f' ({sum(counts)} values of {dtype})')
  out, offset = [], 0
  for (_, value, m), n in zip(leaves, counts):
    chunk = np.frombuffer(body, np_dtype, n, offset).astype(np.float32)
    offset += n * np_dtype.itemsize
    if m is None:
      out.append(chunk.reshape(value.shape))
    else:
      full = np.zeros(value.shape, np.float32)
      full[m] = chunk
      out.append(full)
  return jax.tree.unflatten(jax.tree.structure(template), out)


def message_bytes(params: PyTree, masks: PyTree,
                  dtype: str = 'float32') -> Dict[str, int]:
  """Bytes of the mask, the sparse values and the dense values message."""
  return {'mask': len(encode_masks(masks)),
          'values': len(encode_values(params, masks, dtype)),
          'dense': len(encode_values(params, None, dtype))}


# ---------------------------------------------------------------------------
# Ticket files.


def export_ticket(path: str, masks: PyTree, params: PyTree,
                  dtype: str = 'float32') -> int:
  """Writes a ticket (its masks and surviving values) to `path` (.npz);
  returns the file's size in bytes.

  Seven plain arrays in a compressed .npz (the sparse packed bits
  compress; float values barely do), which `np.load(path,
  allow_pickle=False)` reads: 'version', 'dtype', 'names' and 'shapes' of
  the leaves (tree order; shapes padded with -1), 'prunable' (whether a
  leaf has a mask), 'masks' (the prunable leaves' packed bits, one after
  another, each a whole number of bytes) and 'values' (each leaf's
  surviving values, or all of an unmasked leaf's, one after another;
  bfloat16 stored as its uint16 bits).
  """
  _, np_dtype = _dtype(dtype)
  leaves = _leaves(params, masks)
  ndim = max([value.ndim for _, value, _ in leaves] + [1])
  shapes = np.full((len(leaves), ndim), -1, np.int64)
  for i, (_, value, _) in enumerate(leaves):
    shapes[i, :value.ndim] = value.shape
  values = np.concatenate(
      [(value.ravel() if m is None else value[m]).astype(np_dtype)
       for _, value, m in leaves])
  packed = [np.packbits(m.ravel(), bitorder='little')
            for _, _, m in leaves if m is not None]
  arrays = {
      'version': np.array(VERSION), 'dtype': np.array(dtype),
      'names': np.array([name for name, _, _ in leaves]),
      'shapes': shapes,
      'prunable': np.array([m is not None for _, _, m in leaves]),
      'masks': np.concatenate(packed) if packed else np.zeros(0, np.uint8),
      'values': values.view(np.uint16) if np_dtype.itemsize == 2 else values}
  with files.atomic_write(path, 'wb') as f:
    np.savez_compressed(f, **arrays)
  return os.path.getsize(path)


def load_ticket(path: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
  """(masks, params) of a ticket file, as nested dicts of numpy arrays
  (params float32; None for a leaf that has no mask).

  Raises:
    CodecError: the file is missing or not a ticket file.
  """
  try:
    with np.load(path, allow_pickle=False) as z:
      stored = {k: z[k] for k in z.files}
    _, np_dtype = _dtype(str(stored['dtype']))
    values = stored['values'].view(np_dtype).astype(np.float32)
    masks, params = {}, {}
    bit_offset = value_offset = 0
    for name, row, prunable in zip(stored['names'], stored['shapes'],
                                   stored['prunable']):
      shape = tuple(int(d) for d in row if d >= 0)
      n = int(np.prod(shape))
      if prunable:
        size = -(-n // 8)
        m = np.unpackbits(stored['masks'][bit_offset:bit_offset + size],
                          count=n, bitorder='little').astype(bool)
        bit_offset += size
        full = np.zeros(n, np.float32)
        full[m] = values[value_offset:value_offset + int(m.sum())]
        value_offset += int(m.sum())
        m = m.reshape(shape)
      else:
        m, full = None, values[value_offset:value_offset + n]
        value_offset += n
      if full.size != n:
        raise ValueError(f'{name}: {full.size} values for {n} weights')
      _put(masks, str(name), m)
      _put(params, str(name), full.reshape(shape))
    if value_offset != len(values) or bit_offset != len(stored['masks']):
      raise ValueError('values or masks left over')
  except (OSError, KeyError, ValueError, CodecError) as e:
    raise CodecError(f'{path}: not a ticket file ({e})') from e
  return masks, params


def _put(tree: Dict[str, Any], name: str, value) -> None:
  *parents, leaf = name.split('/')
  for key in parents:
    tree = tree.setdefault(key, {})
  tree[leaf] = value


def dense_bytes(params: PyTree) -> int:
  """The size of `params` saved densely the same way (float32, compressed
  .npz): the reference a ticket file's size is compared with."""
  arrays = {masks_lib.path_name(path): np.asarray(v, np.float32)
            for path, v in jax.tree_util.tree_flatten_with_path(params)[0]}
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, 'dense.npz')
    np.savez_compressed(path, **arrays)
    return os.path.getsize(path)
