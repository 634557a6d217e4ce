"""Flower runs the same federated rounds as the in-library simulation: same
global params, and the bytes it carried are the codec's."""

import functools

from flwr.serverapp import ServerApp
from flwr.simulation import run_simulation
import jax
import jax.numpy as jnp
import numpy as np

from lottery_jax import federated
from lottery_jax import flower
from lottery_jax import masks as masks_lib
from lottery_jax import models
from lottery_jax import pruning
from lottery_jax import train

MODEL = models.TextCNN(vocab_size=40, embed_dim=8, channels=6, hidden=5)
LENGTH = 12
TX = train.make_optimizer('adam', learning_rate=1e-2)
CLIENTS, PER_ROUND, ROUNDS = 3, 2, 2


def _data(n, seed=0):
  rng = np.random.default_rng(seed)
  length = rng.integers(1, LENGTH + 1, n).astype(np.int32)
  tokens = rng.integers(4, 40, (n, LENGTH)).astype(np.int32)
  tokens[np.arange(LENGTH)[None] >= length[:, None]] = 0
  label = (tokens == 7).any(1).astype(np.int32)
  return {'tokens': tokens, 'length': length, 'label': label}


def test_flower_rounds_equal_the_simulation_and_carry_the_codec_bytes():
  params = jax.tree.map(np.asarray, MODEL.init(
      jax.random.key(0), jnp.zeros((1, LENGTH), jnp.int32),
      jnp.ones((1,), jnp.int32))['params'])
  masks = pruning.prune_by_magnitude(params, masks_lib.make_masks(params),
                                     0.8)
  data = _data(60)
  clients = federated.stack_clients(
      data, federated.split_clients(data['label'], CLIENTS, seed=0))
  settings = federated.Settings(clients=CLIENTS, per_round=PER_ROUND,
                                rounds=ROUNDS, local_epochs=1, batch_size=8)
  root = jax.random.key(3)
  # The in-library simulation, one seed.
  program = federated.Program(MODEL, TX, settings)
  stack = lambda t: jax.tree.map(  # noqa: E731
      lambda x: None if x is None else jnp.asarray(x)[None], t,
      is_leaf=masks_lib.is_none)
  final = []
  rows = federated.simulate(
      program, stack(params), stack(masks), clients, _data(30, 1), [0],
      root[None], on_round=lambda r, rows, p: final.append(p))
  # The same rounds on Flower's simulation engine.
  update = jax.jit(functools.partial(
      federated.client_update, model=MODEL, tx=TX,
      epochs=settings.local_epochs, batch_size=settings.batch_size))
  job = flower.ClientJob(jax.tree.map(np.asarray, clients), masks, params,
                         update, root)
  client = flower.client_app(lambda context: job)
  strategy = flower.TicketFedAvg(masks, params, CLIENTS, PER_ROUND, seed=0)
  server = ServerApp()

  @server.main()
  def main(grid, context):
    del context
    strategy.start(grid=grid, initial_arrays=strategy.initial_arrays(params),
                   num_rounds=ROUNDS)

  run_simulation(server, client, num_supernodes=CLIENTS,
                 backend_config={'client_resources': {'num_cpus': 1}})
  assert len(jax.tree.leaves(strategy.params)) == len(jax.tree.leaves(params))
  for a, b in zip(jax.tree.leaves(strategy.params),
                  jax.tree.leaves(final[-1])):
    np.testing.assert_allclose(a, np.asarray(b)[0], rtol=1e-5, atol=1e-6)
  assert strategy.bytes_down == [r['bytes_down'] for r in rows]
  assert strategy.bytes_up == [r['bytes_up'] for r in rows]
