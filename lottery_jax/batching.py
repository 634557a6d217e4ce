"""Batches: padding, length buckets, and the index schedule of an epoch.

A split is ``{'tokens' [n, len], 'length' [n], 'label' [n]}``. For training
it is cut into length buckets (`bucketize`; no boundaries is one bucket as
long as the data), and an epoch visits every example once:

1. without buckets, one permutation of all n examples per seed and epoch
   (`epoch_batches`), cut into consecutive batches; with buckets, one
   permutation per bucket;
2. the buckets' batches are interleaved in an order shared by the seeds
   (`epoch_steps`), so the seeds of a vmap run batches of the same shape
   together. With one bucket that order is simply batch 0, 1, 2, ...

Index -1 marks a padding row; `gather` gives it weight 0.
"""

from __future__ import annotations

from typing import Dict, List, NamedTuple, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

Batch = Dict[str, jax.Array]


def pad_batch(ids: np.ndarray, length: np.ndarray,
              max_length: int) -> np.ndarray:
  """Ragged ids [sum(length)] -> tokens int32 [n, max_length], 0-padded."""
  starts = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
  kept = np.minimum(length, max_length)
  tokens = np.zeros((len(length), max_length), np.int32)
  # Scatter every kept id to (row, position) in one vectorised step.
  rows = np.repeat(np.arange(len(length)), kept)
  cols = np.arange(int(kept.sum())) - np.repeat(
      np.concatenate([[0], np.cumsum(kept)[:-1]]).astype(np.int64), kept)
  tokens[rows, cols] = ids[np.repeat(starts, kept) + cols]
  return tokens


def length_buckets(lengths: np.ndarray, boundaries: Sequence[int]
                   ) -> List[tuple]:
  """Groups examples by length so that batches need less padding.

  Args:
    lengths: int [n], true lengths (already truncated).
    boundaries: ascending padded lengths, e.g. (64, 128, 256, 500); the last
      must be at least the longest length.

  Returns:
    [(padded_length, indices)] for every non-empty bucket: the examples whose
    length is at most padded_length and more than the previous boundary.
  """
  boundaries = sorted(boundaries)
  if lengths.size and lengths.max() > boundaries[-1]:
    raise ValueError(f'the longest example ({lengths.max()} tokens) exceeds '
                     f'the last bucket ({boundaries[-1]})')
  bucket = np.searchsorted(boundaries, lengths, side='left')
  return [(b, np.flatnonzero(bucket == i)) for i, b in enumerate(boundaries)
          if (bucket == i).any()]


class Bucketed(NamedTuple):
  """A split cut into length buckets, on the device.

  buckets: per bucket {'tokens' [n_b, len_b], 'length' [n_b], 'label'
    [n_b]}.
  bucket_of: int32 [n], the bucket of every example of the split.
  local: int32 [n], its row within that bucket.
  """
  buckets: Tuple[Batch, ...]
  bucket_of: jax.Array
  local: jax.Array

  @property
  def sizes(self) -> Tuple[int, ...]:
    return tuple(int(b['label'].shape[0]) for b in self.buckets)


def bucketize(split: Dict[str, np.ndarray],
              boundaries: Sequence[int] = ()) -> Bucketed:
  """A split as device arrays per length bucket, each cut to its length.

  The data's own length is always the last boundary, so () gives one bucket
  holding the split as it is.
  """
  length = split['tokens'].shape[1]
  boundaries = sorted({b for b in boundaries if b < length} | {length})
  groups = length_buckets(split['length'], boundaries)
  bucket_of = np.zeros(len(split['label']), np.int32)
  local = np.zeros(len(split['label']), np.int32)
  for b, (_, idx) in enumerate(groups):
    bucket_of[idx] = b
    local[idx] = np.arange(len(idx))
  buckets = tuple({'tokens': jnp.asarray(split['tokens'][idx, :size]),
                   'length': jnp.asarray(split['length'][idx]),
                   'label': jnp.asarray(split['label'][idx])}
                  for size, idx in groups)
  return Bucketed(buckets, jnp.asarray(bucket_of), jnp.asarray(local))


def batched_indices(order: jax.Array, batch_size: int) -> jax.Array:
  """[n] -> [num_batches, batch_size], the tail filled with -1."""
  n = order.shape[0]
  num_batches = -(-n // batch_size)
  pad = num_batches * batch_size - n
  return jnp.concatenate([order, -jnp.ones((pad,), order.dtype)]).reshape(
      num_batches, batch_size)


def gather(data: Batch, idx: jax.Array) -> Batch:
  """The rows `idx` of `data`, with 'weight' 0 where idx is -1."""
  safe = jnp.maximum(idx, 0)
  batch = {k: v[safe] for k, v in data.items()}
  batch['weight'] = (idx >= 0).astype(jnp.float32)
  return batch


def num_batches(sizes: Sequence[int], batch_size: int) -> List[int]:
  """Batches per bucket (the last one of each padded)."""
  return [-(-n // batch_size) for n in sizes]


def epoch_batches(shuffle_key: jax.Array, epoch: jax.Array, data: Bucketed,
                  batch_size: int, per_bucket: bool = False) -> jax.Array:
  """One seed's batches of an epoch, bucket after bucket.

  Args:
    shuffle_key: the seed's shuffling key.
    epoch: the epoch; every epoch draws a new order.
    data: the split.
    batch_size: examples per batch.
    per_bucket: draw each bucket's order with a key of its own (how
      trainings with length buckets have always been shuffled) instead of
      taking it from one permutation of the whole split (without buckets).

  Returns:
    int32 [sum of num_batches, batch_size]: rows within their bucket, -1
    for padding; bucket b's batches come after those of buckets < b.
  """
  key = jax.random.fold_in(shuffle_key, epoch)
  if per_bucket:
    orders = [jax.random.permutation(jax.random.fold_in(key, b), n)
              for b, n in enumerate(data.sizes)]
  else:
    order = jax.random.permutation(key, data.bucket_of.shape[0])
    if len(data.buckets) > 1:  # Group by bucket, keeping the drawn order.
      order = order[jnp.argsort(data.bucket_of[order], stable=True)]
    order = data.local[order]
    starts = np.cumsum((0,) + data.sizes)
    orders = [order[a:b] for a, b in zip(starts[:-1], starts[1:])]
  return jnp.concatenate([batched_indices(o, batch_size) for o in orders])


def bucket_schedule(sizes: Sequence[int], batch_size: int, epoch: int,
                    seed: int = 0) -> np.ndarray:
  """The order in which an epoch visits the buckets' batches: bucket ids.

  Shared by all seeds (the seeds differ in which reviews fill each batch);
  `seed` varies it between trainings.
  """
  ids = np.repeat(np.arange(len(sizes)), num_batches(sizes, batch_size))
  return np.random.default_rng([seed, epoch]).permutation(ids)


def epoch_steps(sizes: Sequence[int], batch_size: int, epoch: int,
                seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
  """The steps of an epoch as (bucket ids, rows of `epoch_batches`).

  Each bucket's batches are visited in order, interleaved with the other
  buckets' by `bucket_schedule`.
  """
  bucket = bucket_schedule(sizes, batch_size, epoch, seed)
  counts = num_batches(sizes, batch_size)
  first = np.concatenate([[0], np.cumsum(counts)[:-1]])
  rows = np.zeros(len(bucket), np.int32)
  for b, count in enumerate(counts):
    rows[bucket == b] = first[b] + np.arange(count)
  return bucket.astype(np.int32), rows
