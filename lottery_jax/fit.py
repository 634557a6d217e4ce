"""The fit loop: every seed trained to its best validation epoch in one program.

A `FitProgram` holds the compiled programs of one model, optimiser and
`config.FitSettings`: an epoch (train, validate, keep the best params) and
the final test evaluation, each mapped over the leading [seeds] axis. A run
builds one and fits every round with it, so nothing compiles again while
the data's shapes stay the same; `FitProgram.compiles` counts the compiles.

Everything below `FitProgram` is written for one seed (STYLE.md): the epoch
is one `lax.scan` over batches gathered from device-resident data, length
buckets are branches of a `lax.switch` inside it (no buckets is one bucket),
and the host reads one small metrics tree per epoch.
"""

from __future__ import annotations

import collections
import functools
from typing import Any, Callable, Dict, NamedTuple, Optional

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from lottery_jax import batching
from lottery_jax import config as config_lib
from lottery_jax import sharding
from lottery_jax import train as train_lib

PyTree = Any
Batch = batching.Batch


class SeedKeys(NamedTuple):
  """A seed's keys for shuffling and dropout (each [seeds] when mapped)."""
  shuffle: jax.Array
  dropout: jax.Array


class FitCarry(flax.struct.PyTreeNode):
  """The fit loop's state between epochs."""
  state: train_lib.TrainState
  best_params: PyTree
  best_accuracy: jax.Array
  best_epoch_index: jax.Array  # 0-based; -1 before the first epoch
  epochs: jax.Array  # epochs this seed trained
  active: jax.Array  # False once patience ran out: nothing changes after.


class FitResult(NamedTuple):
  """Per seed (leading axis [seeds] on every array)."""
  params: PyTree             # best-epoch params
  valid_accuracy: jax.Array
  test_accuracy: jax.Array
  best_epoch_index: jax.Array  # 0-based (result rows count from 1)
  epochs_run: jax.Array      # epochs each seed trained (early stopping)


# ---------------------------------------------------------------------------
# One seed.


def train_epoch(state: train_lib.TrainState, data: batching.Bucketed,
                keys: SeedKeys, epoch: jax.Array, bucket: jax.Array,
                rows: jax.Array, *, model, tx, batch_size: int,
                per_bucket: bool = False
                ) -> tuple[train_lib.TrainState, Dict[str, jax.Array]]:
  """One epoch: the steps (bucket[t], batch rows[t]) of `epoch_steps`.

  `per_bucket` as in `batching.epoch_batches`.

  Returns:
    The state and the epoch's mean 'loss' and 'accuracy'.
  """
  batches = batching.epoch_batches(keys.shuffle, epoch, data, batch_size,
                                   per_bucket)

  def on_bucket(bucket_data, state, idx, rng):
    return train_lib.train_step(state, batching.gather(bucket_data, idx), rng,
                                model=model, tx=tx)

  branches = [functools.partial(on_bucket, b) for b in data.buckets]

  def body(state, step):
    bucket, idx = step
    rng = jax.random.fold_in(keys.dropout, state.step)
    return jax.lax.switch(bucket, branches, state, idx, rng)

  state, metrics = jax.lax.scan(body, state, (bucket, batches[rows]))
  return state, {'loss': jnp.sum(metrics['loss'] * metrics['count']) /
                         jnp.sum(metrics['count']),
                 'accuracy': jnp.sum(metrics['correct']) /
                             jnp.sum(metrics['count'])}


def evaluate(params: PyTree, data: batching.Bucketed, *, model,
             batch_size: int) -> jax.Array:
  """Accuracy of `params` over every bucket of `data`."""
  total = jnp.zeros(2)
  for bucket in data.buckets:
    idx = batching.batched_indices(jnp.arange(bucket['label'].shape[0]),
                                   batch_size)

    def body(total, idx, bucket=bucket):
      m = train_lib.eval_step(params, batching.gather(bucket, idx),
                              model=model)
      return total + jnp.stack([m['correct'], m['count']]), None

    total, _ = jax.lax.scan(body, total, idx)
  return total[0] / total[1]


def fit_init(state: train_lib.TrainState) -> FitCarry:
  # A copy: the epoch function donates the carry, and one buffer may not be
  # donated twice.
  return FitCarry(state=state, best_params=jax.tree.map(jnp.copy,
                                                        state.params),
                  # Strong dtypes: a weakly typed carry would make the
                  # second epoch compile again.
                  best_accuracy=jnp.array(-1.0, jnp.float32),
                  best_epoch_index=jnp.array(-1, jnp.int32),
                  epochs=jnp.array(0, jnp.int32),
                  active=jnp.array(True))


def select_best(carry: FitCarry, state: train_lib.TrainState,
                accuracy: jax.Array, epoch: jax.Array,
                patience: int, min_epochs: int = 0) -> FitCarry:
  """Early stopping after an epoch that ended in `state` with `accuracy`.

  Keeps the best validation epoch's params. A seed stops once `patience`
  epochs passed without a better accuracy, but not before `min_epochs`
  epochs; a stopped seed keeps its carry unchanged, so that a seed
  trained inside a vmap ends exactly as it would alone.
  """
  improved = accuracy > carry.best_accuracy
  best = jnp.where(improved, epoch, carry.best_epoch_index)
  new = FitCarry(
      state=state,
      best_params=jax.tree.map(lambda a, b: jnp.where(improved, a, b),
                               state.params, carry.best_params),
      best_accuracy=jnp.where(improved, accuracy, carry.best_accuracy),
      best_epoch_index=best,
      epochs=carry.epochs + 1,
      active=((epoch - best) < patience) | (epoch + 1 < min_epochs))
  return jax.tree.map(lambda a, b: jnp.where(carry.active, a, b), new, carry)


def fit_epoch(carry: FitCarry, keys: SeedKeys, epoch: jax.Array,
              bucket: jax.Array, rows: jax.Array, train: batching.Bucketed,
              valid: batching.Bucketed, *, model, tx, batch_size: int,
              eval_batch_size: int, patience: int, min_epochs: int = 0,
              per_bucket: bool = False
              ) -> tuple[FitCarry, Dict[str, jax.Array]]:
  """Trains one epoch (one scan), evaluates, keeps the best params.

  A seed whose patience ran out skips the epoch (its metrics are NaN):
  a `lax.cond`, which costs nothing when seeds run one at a time
  (seed_chunk 1) and, under `vmap`, computes both branches and selects.
  """

  def run(carry):
    state, metrics = train_epoch(carry.state, train, keys, epoch, bucket,
                                 rows, model=model, tx=tx,
                                 batch_size=batch_size, per_bucket=per_bucket)
    accuracy = evaluate(state.params, valid, model=model,
                        batch_size=eval_batch_size)
    return (select_best(carry, state, accuracy, epoch, patience, min_epochs),
            dict(metrics, valid_accuracy=accuracy))

  def skip(carry):
    nan = jnp.array(jnp.nan, jnp.float32)
    return carry, {'loss': nan, 'accuracy': nan, 'valid_accuracy': nan}

  return jax.lax.cond(carry.active, run, skip, carry)


# ---------------------------------------------------------------------------
# Every seed.


def over_seeds(fn: Callable, in_axes, chunk: int = 0) -> Callable:
  """Maps `fn` over the leading seed axis of the arguments with axis 0.

  chunk 0 vmaps all seeds at once; chunk k >= 1 runs them k at a time with
  `jax.lax.map` (still one compiled program; on a CPU, where batched
  matmuls run slower than one after another, chunk 1 is the fastest).
  """
  if not chunk:
    return jax.vmap(fn, in_axes=in_axes)

  def mapped(*args):
    batched = tuple(a for a, axis in zip(args, in_axes) if axis == 0)

    def one(xs):
      it = iter(xs)
      return fn(*[next(it) if axis == 0 else a
                  for a, axis in zip(args, in_axes)])

    return jax.lax.map(one, batched, batch_size=chunk if chunk > 1 else None)

  return mapped


class FitProgram:
  """The compiled fit of one model, optimiser and `FitSettings`.

  Build one per run and call `fit` for every training: the programs compile
  once per shape of the data (per domain), not per round. `compiles` counts
  the compiles of each program ('epoch', 'test', 'steps').
  """

  def __init__(self, model, tx: optax.GradientTransformationExtraArgs,
               settings: config_lib.FitSettings):
    self.model, self.tx, self.settings = model, tx, settings
    self.compiles: Dict[str, int] = collections.Counter()
    patience = settings.patience or settings.epochs + 1
    chunk = settings.seed_chunk
    epoch_fn = over_seeds(functools.partial(
        fit_epoch, model=model, tx=tx, batch_size=settings.batch_size,
        eval_batch_size=settings.eval_batch_size, patience=patience,
        min_epochs=settings.min_epochs, per_bucket=bool(settings.buckets)),
                          (0, 0, None, None, None, None, None), chunk)
    test_fn = over_seeds(functools.partial(
        evaluate, model=model, batch_size=settings.eval_batch_size),
                         (0, None), chunk)
    steps_fn = over_seeds(lambda *args: train_epoch(
        *args, model=model, tx=tx, batch_size=settings.batch_size,
        per_bucket=bool(settings.buckets))[0],
                          (0, None, 0, None, None, None), chunk)
    self._epoch = jax.jit(self._counted('epoch', epoch_fn), donate_argnums=0)
    self._test = jax.jit(self._counted('test', test_fn))
    self._steps = jax.jit(self._counted('steps', steps_fn))

  def _counted(self, name: str, fn: Callable) -> Callable:
    def traced(*args):
      self.compiles[name] += 1  # Runs only while jax traces, i.e. compiles.
      return fn(*args)
    return traced

  def init(self, params: PyTree, masks: PyTree) -> train_lib.TrainState:
    """[seeds] train states from [seeds]-stacked params and masks.

    The params are copied: training donates the states' buffers, and the
    caller's arrays (theta_0 for the next strategy) must survive it.
    """
    params = jax.tree.map(jnp.array, params)
    return jax.vmap(lambda p, m: train_lib.TrainState.create(
        p, m, self.tx))(params, masks)

  def train_steps(self, params: PyTree, masks: PyTree, keys: SeedKeys,
                  train: Dict[str, np.ndarray], steps: int,
                  schedule_seed: int = 0) -> PyTree:
    """[seeds] params after the first `steps` training steps that `fit`
    with the same arguments takes: the same batches and dropout keys (for
    late rewinding)."""
    s = self.settings
    states = self.init(params, masks)
    train = batching.bucketize(train, s.buckets)
    epoch = 0
    while steps > 0:
      bucket, rows = batching.epoch_steps(train.sizes, s.batch_size, epoch,
                                          schedule_seed)
      n = min(steps, len(rows))
      states = self._steps(states, train, keys, jnp.asarray(epoch, jnp.int32),
                           bucket[:n], rows[:n])
      steps -= n
      epoch += 1
    return states.params

  def fit(self, params: PyTree, masks: PyTree, keys: SeedKeys,
          train: Dict[str, np.ndarray], valid: Dict[str, np.ndarray],
          test: Dict[str, np.ndarray],
          on_epoch: Optional[Callable[[int, Dict], None]] = None,
          schedule_seed: int = 0) -> FitResult:
    """Trains every seed (leading axis of params, masks and keys).

    With several devices and seed_chunk 0, the seeds are split over them
    (`sharding`).

    Args:
      params, masks: [seeds]-stacked initial params and their masks.
      keys: SeedKeys with a leading [seeds] axis.
      train, valid, test: {'tokens' [n, len], 'length' [n], 'label' [n]}.
      on_epoch: called with (epoch, host metrics) after every epoch; metrics
        hold [seeds] arrays 'loss', 'accuracy', 'valid_accuracy' and
        'active' (whether the seed was still training in that epoch).
      schedule_seed: varies the order of the buckets' batches between
        trainings (with several buckets).

    Returns:
      FitResult with a leading [seeds] axis: the best validation epoch's
      params, evaluated once on `test`.
    """
    s = self.settings
    states = self.init(params, masks)
    train, valid, test = (batching.bucketize(x, s.buckets)
                          for x in (train, valid, test))
    mesh = sharding.seed_mesh(keys.shuffle.shape[0]) if (
        s.shard_seeds and not s.seed_chunk) else None
    if mesh is not None:
      states, keys = sharding.shard_seeds((states, keys), mesh)
      train, valid, test = sharding.replicate((train, valid, test), mesh)
    carry = jax.vmap(fit_init)(states)
    for epoch in range(s.epochs):
      bucket, rows = batching.epoch_steps(train.sizes, s.batch_size, epoch,
                                          schedule_seed)
      was_active = np.asarray(carry.active)
      carry, metrics = self._epoch(carry, keys, jnp.asarray(epoch, jnp.int32),
                                   bucket, rows, train, valid)
      if on_epoch is not None:
        on_epoch(epoch, dict(jax.tree.map(np.asarray, metrics),
                             active=was_active))
      if not np.asarray(carry.active).any():
        break
    return FitResult(params=carry.best_params,
                     valid_accuracy=carry.best_accuracy,
                     test_accuracy=self._test(carry.best_params, test),
                     best_epoch_index=carry.best_epoch_index,
                     epochs_run=carry.epochs)

