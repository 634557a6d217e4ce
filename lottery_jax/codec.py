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

Leaves are taken in `jax.tree_util` order (dict keys sorted at every level:
conv3/bias, conv3/kernel, ..., embedding, hidden/bias, ...), the same on
both ends. A payload is a 10-byte header, `struct` '<4sBBI': the magic
b'LJXT', the format version (1), its kind (0: float32 values, 1: bfloat16
values, 255: masks) and its leaf count (a masks payload: the prunable
leaves; a values payload: every leaf); then its body, leaf after leaf:

  masks    ceil(n / 8) bytes for each prunable leaf of n weights: its
           flattened (C order) mask packed, bit i of byte j being weight
           8j + i, the last byte padded with zeros
  values   4 (float32) or 2 (bfloat16) little-endian bytes per value: a
           prunable leaf's values where its mask is True (C order), every
           value of an unmasked leaf

A payload of another kind or layout is refused, not misread.
"""

from __future__ import annotations

import os
import struct
import tempfile
import zipfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

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
_HEADER = struct.Struct('<4sBBI')  # magic, version, kind, leaves
_MASKS = 255  # The kind of a masks payload.
_KINDS = {_MASKS: 'masks', 0: 'float32 values', 1: 'bfloat16 values'}


class CodecError(ValueError):
  """A payload or ticket file that does not fit; one line naming it."""


def _named(tree: PyTree) -> List[Tuple[str, Any]]:
  """(name, leaf) in tree order, None leaves (of masks) included."""
  return [(masks_lib.path_name(path), leaf) for path, leaf in
          jax.tree_util.tree_flatten_with_path(tree,
                                               is_leaf=masks_lib.is_none)[0]]


def _same_names(what: str, names: Sequence[str], expected: Sequence[str]
                ) -> None:
  """Raises CodecError naming the first leaf where `names` differ."""
  for got, want in zip(names, expected):
    if got != want:
      raise CodecError(f'{what}: leaf {got!r} where {want!r} was expected')
  if len(names) != len(expected):
    extra = (names if len(names) > len(expected) else expected)[
        min(len(names), len(expected))]
    raise CodecError(f'{what}: {len(names)} leaves, expected '
                     f'{len(expected)} (first unmatched: {extra!r})')


def _leaves(params: PyTree, masks: Optional[PyTree]
            ) -> List[Tuple[str, np.ndarray, Optional[np.ndarray]]]:
  """(name, values, mask or None) of every params leaf, in tree order.

  Raises:
    CodecError: the masks do not have the params' leaves and shapes.
  """
  named = _named(params)
  flat_masks = [None] * len(named)
  if masks is not None:
    named_masks = _named(masks)
    _same_names('the masks', [n for n, _ in named_masks],
                [n for n, _ in named])
    flat_masks = [m for _, m in named_masks]
  out = []
  for (name, value), m in zip(named, flat_masks):
    value = np.asarray(value)
    if m is not None:
      m = np.asarray(m, bool)
      if m.shape != value.shape:
        raise CodecError(f'{name}: a mask of shape {m.shape} for weights of '
                         f'shape {value.shape}')
    out.append((name, value, m))
  return out


def _dtype(name: str) -> Tuple[int, np.dtype]:
  if name not in DTYPES:
    raise CodecError(f'dtype {name!r}: float32 or bfloat16')
  return DTYPES[name]


def _header(kind: int, leaves: int) -> bytes:
  return _HEADER.pack(MAGIC, VERSION, kind, leaves)


def _body(payload: bytes, kind: int, leaves: int) -> memoryview:
  """The payload after its header, which must be of `kind` and `leaves`."""
  if len(payload) < _HEADER.size:
    raise CodecError(f'a payload of {len(payload)} bytes has no header')
  magic, version, got, count = _HEADER.unpack_from(payload)
  if magic != MAGIC or version != VERSION:
    raise CodecError(f'not a lottery_jax payload (magic {magic!r}, version '
                     f'{version})')
  if got != kind or count != leaves:
    raise CodecError(f'a {_KINDS.get(got, f"kind {got}")} payload of {count} '
                     f'leaves, expected {_KINDS[kind]} of {leaves}')
  return memoryview(payload)[_HEADER.size:]


def _check_length(what: str, got: int, sizes: Sequence[Tuple[str, int]]
                  ) -> None:
  """Raises CodecError unless a body of `got` bytes holds leaves of these
  (name, bytes), naming the leaf inside which a short one ends."""
  need = sum(size for _, size in sizes)
  if got == need:
    return
  where = f'{got - need} bytes after the last leaf'
  end = 0
  for name, size in sizes:
    end += size
    if end > got:
      where = f'it ends inside {name!r} ({end - got} of its {size} missing)'
      break
  raise CodecError(f'a {what} payload of {got} bytes after the header, '
                   f'expected {need}: {where}')


def encode_masks(masks: PyTree) -> bytes:
  """The packed bits of every mask leaf (None leaves send nothing)."""
  leaves = [np.asarray(m, bool) for m in jax.tree.leaves(masks)]
  return _header(_MASKS, len(leaves)) + b''.join(
      np.packbits(m.ravel(), bitorder='little').tobytes() for m in leaves)


def decode_masks(payload: bytes, template: PyTree) -> PyTree:
  """The masks of `encode_masks`.

  Args:
    payload: bytes of `encode_masks`.
    template: a mask pytree of the same structure: its arrays' shapes are
      the masks' and its None leaves stay None. (A params pytree has no
      None leaves: every leaf would be taken as masked.)

  Returns:
    The masks: bool numpy arrays, None where the template has None.

  Raises:
    CodecError: the payload is no masks payload, or does not fit the
      template.
  """
  flat, treedef = jax.tree.flatten(template, is_leaf=masks_lib.is_none)
  named = [(name, np.shape(m)) for name, m in _named(template)
           if m is not None]
  body = _body(payload, _MASKS, len(named))
  _check_length('masks', len(body),
                [(name, -(-int(np.prod(s)) // 8)) for name, s in named])
  out, offset = [], 0
  for m in flat:
    if m is None:
      out.append(None)
      continue
    n = int(np.prod(np.shape(m)))
    bits = np.frombuffer(body, np.uint8, -(-n // 8), offset)
    out.append(np.unpackbits(bits, count=n, bitorder='little').astype(
        bool).reshape(np.shape(m)))
    offset += bits.size
  return jax.tree.unflatten(treedef, out)


def encode_values(params: PyTree, masks: Optional[PyTree] = None,
                  dtype: str = 'float32') -> bytes:
  """The values that travel: a prunable leaf's surviving values (C order),
  every value of an unmasked leaf; every value of every leaf when `masks`
  is None (the dense message).

  Raises:
    CodecError: an unknown dtype, or masks that do not fit the params.
  """
  kind, np_dtype = _dtype(dtype)
  leaves = _leaves(params, masks)
  chunks = [(value.ravel() if m is None else value[m]).astype(np_dtype)
            for _, value, m in leaves]
  return _header(kind, len(leaves)) + b''.join(c.tobytes() for c in chunks)


def decode_values(payload: bytes, masks: Optional[PyTree], template: PyTree,
                  dtype: str = 'float32') -> PyTree:
  """The params of `encode_values`.

  Args:
    payload: bytes of `encode_values(params, masks, dtype)`.
    masks: the masks it was encoded with (None: the dense message).
    template: a params pytree of the same structure and shapes.
    dtype: the dtype it was encoded with.

  Returns:
    The params as float32 numpy arrays, exact zeros where a mask is False.

  Raises:
    CodecError: the payload does not fit the template and masks.
  """
  kind, np_dtype = _dtype(dtype)
  leaves = _leaves(template, masks)
  body = _body(payload, kind, len(leaves))
  counts = [value.size if m is None else int(m.sum())
            for _, value, m in leaves]
  _check_length(f'{dtype} values', len(body),
                [(name, n * np_dtype.itemsize)
                 for (name, _, _), n in zip(leaves, counts)])
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

  Raises:
    CodecError: an unknown dtype, or masks that do not fit the params.
    files.WriteError: the file cannot be written.
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


def load_ticket(path: str, template: Optional[PyTree] = None
                ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
  """(masks, params) of a ticket file, as nested dicts of numpy arrays
  (params float32; None for a leaf that has no mask).

  Args:
    path: a file of `export_ticket`.
    template: optionally, a params or masks pytree the ticket must fit:
      the same leaf names, the same shapes where its leaf is an array, and
      no mask where its leaf is None.

  Raises:
    CodecError: the file is missing, not a ticket file, or does not fit
      the template; the message names the file.
  """
  try:
    with np.load(path, allow_pickle=False) as z:
      stored = {k: z[k] for k in z.files}
    masks, params = _rebuild(stored)
  except (OSError, EOFError, zipfile.BadZipFile, AttributeError, KeyError,
          IndexError, TypeError, ValueError) as e:
    raise CodecError(f'{path}: not a ticket file ({e})') from e
  if template is not None:
    try:
      _fits(template, masks, params)
    except CodecError as e:
      raise CodecError(f'{path}: does not fit the template: {e}') from e
  return masks, params


def _rebuild(stored: Dict[str, np.ndarray]
             ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
  """The masks and params of a ticket file's arrays."""
  if int(stored['version']) != VERSION:
    raise ValueError(f'format version {int(stored["version"])}')
  _, np_dtype = _dtype(str(stored['dtype']))
  values = stored['values'].view(np_dtype).astype(np.float32)
  masks, params = {}, {}
  bit_offset = value_offset = 0
  for name, row, prunable in zip(stored['names'], stored['shapes'],
                                 stored['prunable']):
    shape = tuple(int(d) for d in row if d >= 0)
    n = int(np.prod(shape))
    m = None
    if prunable:
      size = -(-n // 8)
      bits = stored['masks'][bit_offset:bit_offset + size]
      if bits.size != size:
        raise ValueError(f'{name}: {bits.size} mask bytes for {n} weights')
      m = np.unpackbits(bits, count=n, bitorder='little').astype(bool)
      bit_offset += size
    count = n if m is None else int(m.sum())
    kept = values[value_offset:value_offset + count]
    value_offset += count
    if kept.size != count:
      raise ValueError(f'{name}: {kept.size} values for {count} weights')
    full = kept if m is None else np.zeros(n, np.float32)
    if m is not None:
      full[m] = kept
    _put(masks, str(name), None if m is None else m.reshape(shape))
    _put(params, str(name), full.reshape(shape))
  if value_offset != len(values) or bit_offset != len(stored['masks']):
    raise ValueError('values or masks left over')
  return masks, params


def _fits(template: PyTree, masks: PyTree, params: PyTree) -> None:
  """Raises CodecError naming the first leaf where a loaded ticket and the
  template differ."""
  expected = _named(template)
  got = _named(masks)
  _same_names('the ticket', [n for n, _ in got], [n for n, _ in expected])
  for (name, want), (_, m), p in zip(expected, got, jax.tree.leaves(params)):
    if want is None and m is not None:
      raise CodecError(f'{name}: masked in the ticket, never pruned in the '
                       'template')
    if want is not None and np.shape(want) != p.shape:
      raise CodecError(f'{name}: shape {p.shape} in the ticket, '
                       f'{np.shape(want)} in the template')


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
