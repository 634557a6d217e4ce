"""One federated communication round: the sampled clients vmapped in one
program, mapped one at a time in one program (client_chunk 1), and their
updates called one after another.

  python -m benchmarks.federated_round [--model=cpu] [--clients=5] \
      [--examples=190] [--length=256] [--local_epochs=1] [--conv=xla]

Each runs a round of one seed on random reviews, a 90% sparse ticket, the
library's masked step and Adam: `federated.fed_round` with client_chunk 0
(vmapped) and 1 (`lax.map`), and sequential: `federated.client_update`
compiled for one client and called once per client, then the same FedAvg.
All three give the same params (checked before timing).
"""

import functools

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from lottery_jax import federated
from lottery_jax import masks as masks_lib
from lottery_jax import models
from lottery_jax import pruning
from lottery_jax import train

_MODEL = flags.DEFINE_enum('model', 'cpu', ['paper', 'cpu'], 'Model size.')
_CLIENTS = flags.DEFINE_integer('clients', 5, 'Clients sampled per round.')
_EXAMPLES = flags.DEFINE_integer('examples', 190, 'Reviews per client (the '
                                 'cpu run: electronics\' 1,900 over 10).')
_LENGTH = flags.DEFINE_integer('length', 256, 'Tokens per review.')
_EPOCHS = flags.DEFINE_integer('local_epochs', 1, 'Local epochs.')
_BATCH = flags.DEFINE_integer('batch_size', 32, 'Batch size.')
_CONV = flags.DEFINE_string('conv', 'xla', 'Conv1D.impl.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed calls per median.')
_OUT = flags.DEFINE_string('out_dir', 'benchmark_results', 'JSON folder.')


def main(argv):
  del argv
  kw = common.PAPER if _MODEL.value == 'paper' else common.CPU
  model = models.TextCNN(**kw, conv_impl=_CONV.value)
  tx = train.make_optimizer()
  length, n = _LENGTH.value, _CLIENTS.value
  params = model.init(jax.random.key(0), jnp.zeros((1, length), jnp.int32),
                      jnp.ones((1,), jnp.int32))['params']
  masks = pruning.prune_by_magnitude(params, masks_lib.make_masks(params), 0.9)
  reviews = common.random_batch(n * _EXAMPLES.value, length,
                                vocab_size=kw['vocab_size'], full=False)
  reviews = {k: np.asarray(v) for k, v in reviews.items() if k != 'weight'}
  data = federated.stack_clients(
      reviews, np.split(np.arange(n * _EXAMPLES.value), n))
  keys = jax.random.split(jax.random.key(1), n)
  kwargs = dict(model=model, tx=tx, epochs=_EPOCHS.value,
                batch_size=_BATCH.value)
  vmapped = jax.jit(functools.partial(federated.fed_round, **kwargs))
  mapped = jax.jit(functools.partial(federated.fed_round, **kwargs,
                                     client_chunk=1))
  one = jax.jit(functools.partial(federated.client_update, **kwargs))
  average = jax.jit(federated.fedavg)

  def sequential():
    clients = [one(params, masks, jax.tree.map(lambda x, i=i: x[i], data),
                   keys[i]) for i in range(n)]
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *clients)
    return average(stacked, data['count'], masks)

  expected = jax.tree.leaves(sequential())
  for program in (vmapped, mapped):
    for a, b in zip(jax.tree.leaves(program(params, masks, data, keys)[0]),
                    expected):
      np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
  t_v, t_m, t_s = common.time_interleaved(
      [lambda: vmapped(params, masks, data, keys)[0],
       lambda: mapped(params, masks, data, keys)[0], sequential],
      _REPEATS.value)
  steps = federated.max_local_steps(_EXAMPLES.value, _EPOCHS.value,
                                    _BATCH.value)
  common.report(
      'federated_round', f'One round, {n} clients x {steps} local steps, '
      f'{_MODEL.value} model, {length} tokens, conv={_CONV.value}',
      ['clients', 'steps per client', 'vmapped s', 'client_chunk=1 s',
       'sequential s', 'vmapped speed-up', 'client_chunk=1 speed-up'],
      [[n, steps, t_v, t_m, t_s, t_s / t_v, t_s / t_m]],
      {'vmapped_s': t_v, 'client_chunk_1_s': t_m, 'sequential_s': t_s,
       'vmapped_speedup': t_s / t_v, 'client_chunk_1_speedup': t_s / t_m},
      _OUT.value)


if __name__ == '__main__':
  app.run(main)
