"""Tests of batching: padding, length buckets and the epoch schedule."""

import jax
import numpy as np
import pytest

from lottery_jax import batching


def test_pad_batch_truncates():
  ids = np.arange(1, 8, dtype=np.int32)
  tokens = batching.pad_batch(ids, np.array([3, 0, 4]), max_length=2)
  np.testing.assert_array_equal(tokens, [[1, 2], [0, 0], [4, 5]])


def test_length_buckets():
  lengths = np.array([1, 64, 65, 500, 128, 3, 200])
  buckets = batching.length_buckets(lengths, [256, 64, 128, 500])
  assert [(b, idx.tolist()) for b, idx in buckets] == [
      (64, [0, 1, 5]), (128, [2, 4]), (256, [6]), (500, [3])]
  assert batching.length_buckets(np.array([3, 4]), [64, 500])[0][0] == 64
  with pytest.raises(ValueError, match='exceeds'):
    batching.length_buckets(np.array([600]), [64, 500])


def _split(lengths, width=12):
  lengths = np.asarray(lengths, np.int32)
  tokens = np.zeros((len(lengths), width), np.int32)
  for i, n in enumerate(lengths):
    tokens[i, :n] = np.arange(1, n + 1) + 100 * i
  return {'tokens': tokens, 'length': lengths,
          'label': np.arange(len(lengths), dtype=np.int32) % 2}


def test_bucketize_cuts_each_bucket_to_its_length():
  split = _split([3, 10, 4, 12, 1])
  data = batching.bucketize(split, (4, 8))
  assert data.sizes == (3, 2)  # <= 4 tokens; 9..12 tokens (8 is empty).
  assert [b['tokens'].shape[1] for b in data.buckets] == [4, 12]
  for i in range(5):  # Every example is where bucket_of and local say.
    bucket = data.buckets[int(data.bucket_of[i])]
    row = int(data.local[i])
    n = split['length'][i]
    np.testing.assert_array_equal(bucket['tokens'][row, :n],
                                  split['tokens'][i, :n])
  one = batching.bucketize(split)  # No boundaries: one bucket, as it is.
  assert one.sizes == (5,)
  np.testing.assert_array_equal(one.buckets[0]['tokens'], split['tokens'])


def test_one_bucket_batches_are_slices_of_one_permutation():
  data = batching.bucketize(_split([2] * 33))
  key = jax.random.key(0)
  batches = np.asarray(batching.epoch_batches(key, 3, data, 16))
  order = np.asarray(jax.random.permutation(jax.random.fold_in(key, 3), 33))
  np.testing.assert_array_equal(batches.ravel()[:33], order)
  assert (batches.ravel()[33:] == -1).all() and batches.shape == (3, 16)
  bucket, rows = batching.epoch_steps(data.sizes, 16, epoch=3, seed=5)
  np.testing.assert_array_equal(bucket, [0, 0, 0])
  np.testing.assert_array_equal(rows, [0, 1, 2])


def test_bucket_schedule_visits_every_batch_once():
  schedule = batching.bucket_schedule((33, 5, 16), 16, epoch=0)
  assert sorted(schedule.tolist()) == [0, 0, 0, 1, 2]
  np.testing.assert_array_equal(schedule,
                                batching.bucket_schedule((33, 5, 16), 16, 0))
  data = batching.bucketize(_split([2] * 33 + [9] * 5), (4,))
  batches = np.asarray(batching.epoch_batches(jax.random.key(0), 0, data, 16))
  assert batches.shape == (3 + 1, 16)
  assert sorted(batches[:3].ravel().tolist()) == [-1] * 15 + list(range(33))
  assert sorted(batches[3].ravel().tolist()) == [-1] * 11 + list(range(5))
  bucket, rows = batching.epoch_steps(data.sizes, 16, epoch=1, seed=2)
  assert sorted(rows.tolist()) == [0, 1, 2, 3]
  assert (bucket[rows == 3] == 1).all() and (bucket[rows < 3] == 0).all()
  # Each bucket's batches in order.
  assert rows[bucket == 0].tolist() == [0, 1, 2]


def test_with_buckets_each_bucket_draws_its_own_order():
  data = batching.bucketize(_split([2] * 20 + [9] * 7), (4,))
  key = jax.random.key(3)
  batches = np.asarray(batching.epoch_batches(key, 2, data, 8,
                                              per_bucket=True))
  epoch_key = jax.random.fold_in(key, 2)
  for b, rows in ((0, batches[:3]), (1, batches[3:])):
    order = np.asarray(jax.random.permutation(jax.random.fold_in(epoch_key,
                                                                 b),
                                              data.sizes[b]))
    np.testing.assert_array_equal(rows.ravel()[:data.sizes[b]], order)
