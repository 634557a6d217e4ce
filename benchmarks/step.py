"""The masked train step: its cost against the unmasked step, and its
arithmetic throughput against a large f32 matmul measured in the same run.

  python -m benchmarks.step [--lengths=128,500] [--convs=xla,matmul]
  python -m benchmarks.step --model=cpu --lengths=128,256

The paper-size model (SPEC.md section 3) or the `cpu` preset's (embedding,
channels and hidden 32), Adam with coupled L2, one seed, for each
formulation of the convolutions (`models.Conv1D`). Steps run as
training runs them: several in one `lax.scan`.
"""

import functools

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import optax

from benchmarks import common
from lottery_jax import models
from lottery_jax import train

_LENGTHS = flags.DEFINE_list('lengths', ['128', '500'], 'Token lengths.')
_BATCH = flags.DEFINE_integer('batch_size', 32, 'Batch size.')
_REPEATS = flags.DEFINE_integer('repeats', 11, 'Timed calls per median.')
_CONVS = flags.DEFINE_list('convs', ['xla', 'matmul'], 'Conv1D.impl values.')
_STEPS = flags.DEFINE_integer('steps', 3, 'Steps per timed scan.')
_MATMUL = flags.DEFINE_integer('matmul_size', 4096, 'Square matmul side.')
_MODEL = flags.DEFINE_enum('model', 'paper', ['paper', 'cpu'], 'Model size.')
_OUT = flags.DEFINE_string('out_dir', 'benchmark_results', 'JSON folder.')


def unmasked_step(params, opt_state, batch, rng, *, model, tx):
  """The same step with no masks: the baseline of the masking overhead."""

  def loss_fn(p):
    logits = model.apply({'params': p}, batch['tokens'], batch['length'],
                         train=True, rngs={'dropout': rng})
    return train.cross_entropy(logits, batch['label'], batch['weight'])

  loss, grads = jax.value_and_grad(loss_fn)(params)
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, loss


def unmasked_state_step(carry, batch, rng, *, model, tx):
  """`unmasked_step` on a (params, opt_state) carry."""
  params, opt_state, _ = unmasked_step(*carry, batch, rng, model=model, tx=tx)
  return (params, opt_state), {}


def matmul_rate(n: int, repeats: int) -> float:
  """FLOP/s of an n x n f32 matmul."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
  f = jax.jit(lambda a, b: a @ b)
  return 2 * n ** 3 / common.time_fn(lambda: f(a, b), repeats)


def main(argv):
  del argv
  model_kw = common.PAPER if _MODEL.value == 'paper' else common.CPU
  tx = train.make_optimizer()
  plain_tx = optax.chain(optax.add_decayed_weights(1e-5), optax.adam(1e-3))
  peak = matmul_rate(_MATMUL.value, _REPEATS.value)
  rows, extra = [], {'matmul_gflops': peak / 1e9}
  for conv in _CONVS.value:
    model = models.TextCNN(**model_kw, conv_impl=conv)
    for length in map(int, _LENGTHS.value):
      batches = common.stacked_batches(_STEPS.value, _BATCH.value, length)
      state = common.half_pruned_state(model, tx, length)
      params = jax.tree.map(jnp.copy, state.params)
      steps = _STEPS.value
      masked = common.in_scan(functools.partial(train.train_step, model=model,
                                         tx=tx), steps)
      plain = common.in_scan(functools.partial(unmasked_state_step, model=model,
                                        tx=plain_tx), steps)
      rng = jax.random.key(0)
      plain_state = (params, plain_tx.init(params))
      t_masked, t_plain = (t / steps for t in common.time_interleaved(
          [lambda: masked(state, batches, rng),
           lambda: plain(plain_state, batches, rng)], _REPEATS.value))
      flops = common.conv_dense_flops(_BATCH.value, length, model_kw)
      rate = flops / t_masked
      rows.append([conv, length, 1e3 * t_masked, 1e3 * t_plain,
                   t_masked / t_plain, _BATCH.value / t_masked, rate / 1e9,
                   rate / peak])
      key = f'{conv}_{length}'
      extra[f'masked_ms_{key}'] = 1e3 * t_masked
      extra[f'unmasked_ms_{key}'] = 1e3 * t_plain
      extra[f'masked_over_unmasked_{key}'] = t_masked / t_plain
      extra[f'fraction_of_matmul_{key}'] = rate / peak
  name = 'step' if _MODEL.value == 'paper' else f'step_{_MODEL.value}'
  common.report(
      name, f'Masked train step, {_MODEL.value} model, batch {_BATCH.value} '
      f'(matmul {_MATMUL.value}^2: {peak / 1e9:.0f} GFLOP/s)',
      ['conv', 'tokens', 'masked ms', 'unmasked ms', 'masked/unmasked',
       'examples/s', 'GFLOP/s', 'of matmul'], rows, extra, _OUT.value)


if __name__ == '__main__':
  app.run(main)
