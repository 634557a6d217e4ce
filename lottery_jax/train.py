"""Masked training: the optax transformation, train/eval steps, the fit loop.

Everything here is written for one seed and undecorated; `fit_seeds` jits
and vmaps it so that all seeds train in one compiled program, each with its
own init, dropout and shuffling keys (STYLE.md, "Randomness").

Data lives on the device for the whole fit: an epoch is one `lax.scan` over
batches gathered from the device arrays, and the host reads one small
metrics tree per epoch.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from lottery_jax import dataset
from lottery_jax import masks as masks_lib
from lottery_jax import sharding

PyTree = Any
Batch = Dict[str, jax.Array]


# ---------------------------------------------------------------------------
# The masked optimiser.


def masked(inner: optax.GradientTransformation
           ) -> optax.GradientTransformationExtraArgs:
  """Wraps an optimiser so that pruned weights get no gradient and no update.

  The update function takes the masks as a keyword argument,
  ``update(grads, state, params, masks=masks)``, so it cannot be called
  without them: the incoming gradients are masked before `inner` sees them
  (its moments of pruned weights stay zero) and the outgoing updates after.
  """

  def init_fn(params):
    return inner.init(params)

  def update_fn(updates, state, params=None, *, masks, **extra_args):
    del extra_args
    updates = masks_lib.apply_masks(updates, masks)
    updates, state = inner.update(updates, state, params)
    return masks_lib.apply_masks(updates, masks), state

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def make_optimizer(name: str = 'adam', learning_rate: float = 1e-3,
                   l2: float = 1e-5, momentum: float = 0.9
                   ) -> optax.GradientTransformationExtraArgs:
  """Coupled L2 (added to the gradient, PyTorch's weight_decay) + optimiser.

  Args:
    name: 'adam' (the paper's) or 'sgd' (with momentum).
    learning_rate: step size.
    l2: weight of the L2 term added to the gradient (not AdamW).
    momentum: for 'sgd'.
  """
  if name == 'adam':
    inner = optax.adam(learning_rate)
  elif name == 'sgd':
    inner = optax.sgd(learning_rate, momentum=momentum)
  else:
    raise ValueError(f'unknown optimizer {name!r} (adam, sgd)')
  return masked(optax.chain(optax.add_decayed_weights(l2), inner))


# ---------------------------------------------------------------------------
# State and steps.


class TrainState(flax.struct.PyTreeNode):
  """One seed's training state: one pytree for jit, vmap and checkpoints."""
  step: jax.Array
  params: PyTree
  opt_state: optax.OptState
  masks: PyTree

  @classmethod
  def create(cls, params, masks, tx) -> 'TrainState':
    params = masks_lib.apply_masks(params, masks)
    return cls(step=jnp.zeros((), jnp.int32), params=params,
               opt_state=tx.init(params), masks=masks)


def cross_entropy(logits: jax.Array, labels: jax.Array,
                  weight: jax.Array) -> jax.Array:
  """Weighted mean softmax cross-entropy; weight 0 marks padding rows."""
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  return jnp.sum(losses * weight) / jnp.maximum(jnp.sum(weight), 1.0)


def train_step(state: TrainState, batch: Batch, rng: jax.Array, *,
               model: nn.Module, tx: optax.GradientTransformationExtraArgs
               ) -> tuple[TrainState, Dict[str, jax.Array]]:
  """One masked step: grads masked before `tx`, params masked after.

  Args:
    state: the seed's state.
    batch: {'tokens': int32 [b, len], 'length': [b], 'label': [b],
      'weight': float32 [b]}.
    rng: dropout key for this step.
    model: the module.
    tx: a `masked` optimiser.

  Returns:
    The new state and {'loss', 'correct', 'count'} of the batch.
  """

  def loss_fn(params):
    logits = model.apply({'params': params}, batch['tokens'], batch['length'],
                         train=True, rngs={'dropout': rng})
    return cross_entropy(logits, batch['label'], batch['weight']), logits

  (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params,
                                 masks=state.masks)
  params = masks_lib.apply_masks(optax.apply_updates(state.params, updates),
                                 state.masks)
  correct = jnp.sum((jnp.argmax(logits, -1) == batch['label']) *
                    batch['weight'])
  new_state = state.replace(step=state.step + 1, params=params,
                            opt_state=opt_state)
  return new_state, {'loss': loss, 'correct': correct,
                     'count': jnp.sum(batch['weight'])}


def eval_step(params: PyTree, batch: Batch, *,
              model: nn.Module) -> Dict[str, jax.Array]:
  """Correct predictions and count of a batch (weight 0 rows ignored)."""
  logits = model.apply({'params': params}, batch['tokens'], batch['length'])
  correct = jnp.sum((jnp.argmax(logits, -1) == batch['label']) *
                    batch['weight'])
  return {'correct': correct, 'count': jnp.sum(batch['weight'])}


# ---------------------------------------------------------------------------
# Epochs as scans over device-resident data.


def _batched_indices(order: jax.Array, batch_size: int) -> jax.Array:
  """[n] -> [num_batches, batch_size], the tail filled with -1."""
  n = order.shape[0]
  num_batches = -(-n // batch_size)
  pad = num_batches * batch_size - n
  return jnp.concatenate([order, -jnp.ones((pad,), order.dtype)]).reshape(
      num_batches, batch_size)


def _gather(data: Batch, idx: jax.Array) -> Batch:
  safe = jnp.maximum(idx, 0)
  batch = {k: v[safe] for k, v in data.items()}
  batch['weight'] = (idx >= 0).astype(jnp.float32)
  return batch


def train_epoch(state: TrainState, data: Batch, shuffle_key: jax.Array,
                dropout_key: jax.Array, epoch: jax.Array, *, model, tx,
                batch_size: int) -> tuple[TrainState, Dict[str, jax.Array]]:
  """One epoch over `data` in an order drawn from (shuffle_key, epoch)."""
  n = data['label'].shape[0]
  order = jax.random.permutation(jax.random.fold_in(shuffle_key, epoch), n)

  def body(state, idx):
    rng = jax.random.fold_in(dropout_key, state.step)
    return train_step(state, _gather(data, idx), rng, model=model, tx=tx)

  state, metrics = jax.lax.scan(body, state,
                                _batched_indices(order, batch_size))
  return state, {'loss': jnp.sum(metrics['loss'] * metrics['count']) /
                         jnp.sum(metrics['count']),
                 'accuracy': jnp.sum(metrics['correct']) /
                             jnp.sum(metrics['count'])}


def evaluate(params: PyTree, data: Batch, *, model,
             batch_size: int) -> jax.Array:
  """Accuracy of `params` on `data`."""
  idx = _batched_indices(jnp.arange(data['label'].shape[0]), batch_size)

  def body(total, idx):
    m = eval_step(params, _gather(data, idx), model=model)
    return total + jnp.stack([m['correct'], m['count']]), None

  total, _ = jax.lax.scan(body, jnp.zeros(2), idx)
  return total[0] / total[1]


# ---------------------------------------------------------------------------
# Fit with early stopping, one seed; vmapped over seeds by `fit_seeds`.


class FitCarry(flax.struct.PyTreeNode):
  """The fit loop's state between epochs."""
  state: TrainState
  best_params: PyTree
  best_accuracy: jax.Array
  best_epoch: jax.Array
  epochs: jax.Array  # epochs this seed trained
  active: jax.Array  # False once patience ran out: nothing changes after.


class SeedKeys(NamedTuple):
  shuffle: jax.Array
  dropout: jax.Array


def fit_init(state: TrainState) -> FitCarry:
  # A copy: the epoch function donates the carry, and one buffer may not be
  # donated twice.
  return FitCarry(state=state, best_params=jax.tree.map(jnp.copy,
                                                        state.params),
                  # Strong dtypes: a weakly typed carry would make the
                  # second epoch compile again.
                  best_accuracy=jnp.array(-1.0, jnp.float32),
                  best_epoch=jnp.array(-1, jnp.int32),
                  epochs=jnp.array(0, jnp.int32),
                  active=jnp.array(True))


def select_best(carry: FitCarry, state: TrainState, accuracy: jax.Array,
                epoch: jax.Array, patience: int) -> FitCarry:
  """Early stopping after an epoch that ended in `state` with `accuracy`.

  Keeps the best validation epoch's params. A seed whose patience has run
  out keeps its carry unchanged, so that a seed trained inside a vmap ends
  exactly as it would alone.
  """
  improved = accuracy > carry.best_accuracy
  stalled = (epoch - jnp.where(improved, epoch, carry.best_epoch)) >= patience
  new = FitCarry(
      state=state,
      best_params=jax.tree.map(lambda a, b: jnp.where(improved, a, b),
                               state.params, carry.best_params),
      best_accuracy=jnp.where(improved, accuracy, carry.best_accuracy),
      best_epoch=jnp.where(improved, epoch, carry.best_epoch),
      epochs=carry.epochs + 1,
      active=~stalled)
  return jax.tree.map(lambda a, b: jnp.where(carry.active, a, b), new, carry)


def fit_epoch(carry: FitCarry, keys: SeedKeys, epoch: jax.Array,
              train: Batch, valid: Batch, *, model, tx, batch_size: int,
              eval_batch_size: int, patience: int
              ) -> tuple[FitCarry, Dict[str, jax.Array]]:
  """Trains one epoch (one scan), evaluates, keeps the best params."""
  state, metrics = train_epoch(carry.state, train, keys.shuffle, keys.dropout,
                               epoch, model=model, tx=tx,
                               batch_size=batch_size)
  accuracy = evaluate(state.params, valid, model=model,
                      batch_size=eval_batch_size)
  return (select_best(carry, state, accuracy, epoch, patience),
          dict(metrics, valid_accuracy=accuracy))


# ---------------------------------------------------------------------------
# Length buckets: batches padded to their bucket's length, not the longest.


def bucket_step(state: TrainState, data: Batch, idx: jax.Array,
                dropout_key: jax.Array, *, model, tx):
  """One train step on the rows `idx` (-1: padding) of a bucket's data."""
  rng = jax.random.fold_in(dropout_key, state.step)
  state, m = train_step(state, _gather(data, idx), rng, model=model, tx=tx)
  return state, jnp.stack([m['loss'] * m['count'], m['correct'], m['count']])


def bucket_orders(shuffle_key: jax.Array, epoch: jax.Array, sizes,
                  batch_size: int) -> List[jax.Array]:
  """One seed's batches of every bucket for an epoch: [batches, batch]."""
  key = jax.random.fold_in(shuffle_key, epoch)
  return [_batched_indices(jax.random.permutation(jax.random.fold_in(key, b),
                                                  n), batch_size)
          for b, n in enumerate(sizes)]


def bucket_schedule(sizes, batch_size: int, epoch: int,
                    seed: int = 0) -> np.ndarray:
  """The order in which an epoch visits the buckets' batches: bucket ids.

  Shared by all seeds (the seeds differ in which reviews fill each batch),
  so that the seeds of a vmap run batches of the same shape together;
  `seed` varies it between trainings.
  """
  counts = [-(-n // batch_size) for n in sizes]
  ids = np.repeat(np.arange(len(sizes)), counts)
  return np.random.default_rng([seed, epoch]).permutation(ids)


def evaluate_buckets(params: PyTree, buckets: List[Batch], *, model,
                     batch_size: int) -> jax.Array:
  """Accuracy of `params` over several buckets of data."""
  total = jnp.zeros(2)
  for data in buckets:
    idx = _batched_indices(jnp.arange(data['label'].shape[0]), batch_size)

    def body(total, idx, data=data):
      m = eval_step(params, _gather(data, idx), model=model)
      return total + jnp.stack([m['correct'], m['count']]), None

    total, _ = jax.lax.scan(body, total, idx)
  return total[0] / total[1]


def end_epoch(carry: FitCarry, state: TrainState, valid: List[Batch],
              epoch: jax.Array, *, model, eval_batch_size: int,
              patience: int) -> tuple[FitCarry, jax.Array]:
  accuracy = evaluate_buckets(state.params, valid, model=model,
                              batch_size=eval_batch_size)
  return select_best(carry, state, accuracy, epoch, patience), accuracy


@dataclasses.dataclass(frozen=True)
class FitConfig:
  batch_size: int = 32
  eval_batch_size: int = 256
  epochs: int = 15
  # Epochs without a better validation accuracy before a seed stops; 0 runs
  # every epoch (the best epoch's params are kept either way).
  patience: int = 0
  # Padded lengths of length buckets, ascending; () pads every batch to the
  # data's length and runs each epoch as one scan. With buckets, short
  # reviews are not padded to the longest (logits are padding invariant),
  # and an epoch is a loop of steps, one compiled step per bucket.
  buckets: Tuple[int, ...] = ()
  # Split the seed axis over the devices when there are several (see
  # lottery_jax/sharding.py); with seed_chunk 0 only.
  shard_seeds: bool = True
  # Seeds per batch of the seed map: 0 vmaps all seeds (accelerators); k
  # runs k at a time inside the same program (see `over_seeds`).
  seed_chunk: int = 0


class FitResult(NamedTuple):
  """Per seed (leading axis [seeds] on every array)."""
  params: PyTree          # best-epoch params
  valid_accuracy: jax.Array
  test_accuracy: jax.Array
  best_epoch: jax.Array   # 0-based
  epochs_run: jax.Array   # epochs each seed trained (early stopping)


def _device_batch(split: Dict[str, np.ndarray]) -> Batch:
  return {k: jnp.asarray(split[k]) for k in ('tokens', 'length', 'label')}


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


@functools.lru_cache(maxsize=16)
def _compiled(model, tx, fit_config: FitConfig):
  """The vmapped, jitted epoch and test functions for one setting."""
  patience = fit_config.patience or fit_config.epochs + 1
  epoch_fn = functools.partial(
      fit_epoch, model=model, tx=tx, batch_size=fit_config.batch_size,
      eval_batch_size=fit_config.eval_batch_size, patience=patience)
  chunk = fit_config.seed_chunk
  epoch_fn = jax.jit(over_seeds(epoch_fn, (0, 0, None, None, None), chunk),
                     donate_argnums=0)
  test_fn = jax.jit(over_seeds(functools.partial(
      evaluate, model=model, batch_size=fit_config.eval_batch_size),
                               (0, None), chunk))
  return epoch_fn, test_fn


@functools.lru_cache(maxsize=16)
def _compiled_buckets(model, tx, fit_config: FitConfig):
  """The vmapped, jitted functions of a bucketed fit for one setting."""
  patience = fit_config.patience or fit_config.epochs + 1
  chunk = fit_config.seed_chunk
  step = jax.jit(over_seeds(functools.partial(bucket_step, model=model, tx=tx),
                            (0, None, 0, 0), chunk), donate_argnums=0)
  end = jax.jit(over_seeds(functools.partial(
      end_epoch, model=model, eval_batch_size=fit_config.eval_batch_size,
      patience=patience), (0, 0, None, None), chunk))
  test = jax.jit(over_seeds(functools.partial(
      evaluate_buckets, model=model, batch_size=fit_config.eval_batch_size),
                            (0, None), chunk))
  return step, end, test


@functools.lru_cache(maxsize=64)
def _orders_fn(sizes: Tuple[int, ...], batch_size: int):
  return jax.jit(jax.vmap(functools.partial(
      bucket_orders, sizes=sizes, batch_size=batch_size), in_axes=(0, None)))


def _bucketize(split: Dict[str, np.ndarray], boundaries) -> List[Batch]:
  """A split as device arrays per length bucket, each cut to its length."""
  length = split['tokens'].shape[1]
  boundaries = sorted({b for b in boundaries if b < length} | {length})
  return [{'tokens': jnp.asarray(split['tokens'][idx, :size]),
           'length': jnp.asarray(split['length'][idx]),
           'label': jnp.asarray(split['label'][idx])}
          for size, idx in dataset.length_buckets(split['length'],
                                                  boundaries)]


def _fit_buckets(states, keys, train, valid, test, *, model, tx, fit_config,
                 on_epoch, mesh, schedule_seed):
  step, end, test_fn = _compiled_buckets(model, tx, fit_config)
  train, valid, test = (_bucketize(x, fit_config.buckets)
                        for x in (train, valid, test))
  if mesh is not None:
    train, valid, test = sharding.replicate((train, valid, test), mesh)
  sizes = tuple(int(b['label'].shape[0]) for b in train)
  orders = _orders_fn(sizes, fit_config.batch_size)
  carry = jax.vmap(fit_init)(states)
  for epoch in range(fit_config.epochs):
    order = orders(keys.shuffle, jnp.asarray(epoch, jnp.int32))
    position = [0] * len(sizes)
    # A copy, as the steps donate theirs: a seed that has stopped keeps the
    # state it had before the epoch.
    state = jax.tree.map(jnp.copy, carry.state)
    totals = []
    was_active = np.asarray(carry.active)
    for b in bucket_schedule(sizes, fit_config.batch_size, epoch,
                             schedule_seed):
      state, total = step(state, train[b], order[b][:, position[b]],
                          keys.dropout)
      position[b] += 1
      totals.append(total)
    carry, accuracy = end(carry, state, valid, jnp.asarray(epoch, jnp.int32))
    total = np.asarray(jnp.sum(jnp.stack(totals), axis=0))  # [seeds, 3]
    if on_epoch is not None:
      on_epoch(epoch, {'loss': total[:, 0] / total[:, 2],
                       'accuracy': total[:, 1] / total[:, 2],
                       'valid_accuracy': np.asarray(accuracy),
                       'active': was_active})
    if not np.asarray(carry.active).any():
      break
  return FitResult(params=carry.best_params,
                   valid_accuracy=carry.best_accuracy,
                   test_accuracy=test_fn(carry.best_params, test),
                   best_epoch=carry.best_epoch, epochs_run=carry.epochs)


def fit_seeds(states: TrainState, keys: SeedKeys, train: Dict[str, Any],
              valid: Dict[str, Any], test: Dict[str, Any], *, model,
              tx, fit_config: FitConfig,
              on_epoch: Optional[Callable[[int, Dict], None]] = None,
              schedule_seed: int = 0) -> FitResult:
  """Trains every seed (leading axis of `states` and `keys`) in one program.

  With several devices, the seeds are split over them (`sharding`).

  Args:
    states: TrainState with a leading [seeds] axis.
    keys: SeedKeys with a leading [seeds] axis.
    train, valid, test: {'tokens' [n, len], 'length' [n], 'label' [n]}.
    model: the module.
    tx: a `masked` optimiser.
    fit_config: batch sizes, epochs, patience.
    on_epoch: called with (epoch, host metrics) after every epoch; metrics
      hold [seeds] arrays 'loss', 'accuracy', 'valid_accuracy' and 'active'
      (whether the seed was still training in that epoch).
    schedule_seed: varies the bucket order between trainings (buckets only).

  Returns:
    FitResult with a leading [seeds] axis. The buffers of `states` are
    donated to the training: do not use them afterwards.
  """
  mesh = sharding.seed_mesh(keys.shuffle.shape[0]) if (
      fit_config.shard_seeds and not fit_config.seed_chunk) else None
  if mesh is not None:
    states, keys = sharding.shard_seeds((states, keys), mesh)
  if fit_config.buckets:
    return _fit_buckets(states, keys, train, valid, test, model=model, tx=tx,
                        fit_config=fit_config, on_epoch=on_epoch, mesh=mesh,
                        schedule_seed=schedule_seed)
  epoch_fn, test_fn = _compiled(model, tx, fit_config)
  train, valid, test = map(_device_batch, (train, valid, test))
  if mesh is not None:
    train, valid, test = sharding.replicate((train, valid, test), mesh)
  carry = jax.vmap(fit_init)(states)
  for epoch in range(fit_config.epochs):
    was_active = np.asarray(carry.active)
    carry, metrics = epoch_fn(carry, keys, jnp.asarray(epoch, jnp.int32),
                              train, valid)
    if on_epoch is not None:
      on_epoch(epoch, dict(jax.tree.map(np.asarray, metrics),
                           active=was_active))
    if not np.asarray(carry.active).any():
      break
  test_accuracy = test_fn(carry.best_params, test)
  return FitResult(params=carry.best_params,
                   valid_accuracy=carry.best_accuracy,
                   test_accuracy=test_accuracy, best_epoch=carry.best_epoch,
                   epochs_run=carry.epochs)
