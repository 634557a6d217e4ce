"""Masked training steps: the optimiser wrapper, the train state, the steps.

Everything here is written for one seed and undecorated (STYLE.md): the
caller jits and maps it over seeds (`fit.FitProgram` does both). A pruned
weight gets no gradient, no optimiser update and stays exactly zero.
"""

from __future__ import annotations

from typing import Any, Dict

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from lottery_jax import masks as masks_lib

PyTree = Any
Batch = Dict[str, jax.Array]


# ---------------------------------------------------------------------------
# The masked optimiser.


def freeze_pruned(inner: optax.GradientTransformation
                  ) -> optax.GradientTransformationExtraArgs:
  """Wraps an optimiser so that pruned weights get no gradient and no update.

  (Not `optax.masked`, which applies a transformation to a subset of the
  parameters and passes the others' updates through unchanged.)

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
                   l2: float = 1e-5, momentum: float = 0.9,
                   warmup_steps: int = 0
                   ) -> optax.GradientTransformationExtraArgs:
  """Coupled L2 (added to the gradient, PyTorch's weight_decay) + optimiser.

  Args:
    name: 'adam' (the paper's) or 'sgd' (with momentum).
    learning_rate: step size.
    l2: weight of the L2 term added to the gradient (not AdamW).
    momentum: for 'sgd'.
    warmup_steps: the step size rises linearly from 0 to `learning_rate`
      over this many steps, then stays (0: constant, the paper's).
  """
  if warmup_steps:
    learning_rate = optax.linear_schedule(0.0, learning_rate, warmup_steps)
  if name == 'adam':
    inner = optax.adam(learning_rate)
  elif name == 'sgd':
    inner = optax.sgd(learning_rate, momentum=momentum)
  else:
    raise ValueError(f'unknown optimizer {name!r} (adam, sgd)')
  return freeze_pruned(optax.chain(optax.add_decayed_weights(l2), inner))


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
    tx: a `freeze_pruned` optimiser.

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
