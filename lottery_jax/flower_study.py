"""One run of the federated experiment on Flower (`flwr run`, extra `flower`).

`experiments/flower_app` is a Flower App whose ServerApp and ClientApp call
these two functions with its run config's preset:

  `serve`       the ServerApp's work: one variant of `federated_study`
                (dense FedAvg, or a TICKET-RESET ticket from the server's
                theta_0 or a fresh init) for one seed and client partition,
                sent to Flower's nodes with `flower.TicketFedAvg` and scored
                on the target's test split after every round
  `client_job`  what a node needs to train (`flower.ClientJob`): every node
                derives the clients' split from the same data and data seed,
                so the nodes agree on it without talking, and trains its own
                part ('partition-id' of its node config)

The rows are `federated_study`'s (`federated_study.COLUMNS`) and hold the
same numbers as the in-library simulation of that seed; the bytes are those
Flower carried.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Dict, List

import jax
import jax.numpy as jnp
import numpy as np

from lottery_jax import batching
from lottery_jax import codec
from lottery_jax import config as config_lib
from lottery_jax import federated
from lottery_jax import federated_config
from lottery_jax import federated_study
from lottery_jax import flower
from lottery_jax import lottery
from lottery_jax import runs

PyTree = Any
Plan = federated_config.FederatedSettings


@dataclasses.dataclass(frozen=True)
class Job:
  """Which run: the client partition ('iid' or 'dirichlet'), the variant
  (`federated_study.VARIANTS`), the server's TICKET-RESET round (0 for
  dense) and the seed (one of the preset's)."""
  partition: str = 'iid'
  variant: str = 'ticket_reset'
  ticket_round: int = 1
  seed: int = 0


def check(settings: config_lib.Settings, job: Job) -> None:
  """Raises a FederatedError naming the run-config key of a bad value."""
  bad = (
      ('partition', job.partition not in federated_config.PARTITIONS,
       ' or '.join(federated_config.PARTITIONS)),
      ('variant', job.variant not in federated_study.VARIANTS,
       ', '.join(federated_study.VARIANTS)),
      ('ticket-round', (job.ticket_round == 0) != (job.variant == 'dense')
       or job.ticket_round < 0, '0 for dense, a TICKET-RESET round (1, 2, '
       '...) for a ticket'),
      ('seed', job.seed not in settings.lottery.seed_ids,
       f'one of the preset\'s seeds {list(settings.lottery.seed_ids)}'))
  for key, wrong, expected in bad:
    if wrong:
      value = getattr(job, key.replace('-', '_'))
      raise federated.FederatedError(
          f'run config {key}={value!r}: expected {expected}')


def _keys(settings: config_lib.Settings, plan: Plan, seed: int):
  """(every seed's root key, this seed's index, its client-key root, the
  domains' tags), as `federated_study.run` makes them."""
  seeds = list(settings.lottery.seed_ids)
  roots = lottery.seed_roots(seeds)
  tags = (lottery.domain_tag(plan.server), lottery.domain_tag(plan.target))
  keys = lottery.fold(roots, lottery.Stream.FEDERATED, *tags)
  i = seeds.index(seed)
  return roots, i, keys[i], tags


def client_job(settings: config_lib.Settings, plan: Plan, data_workdir: str,
               job: Job) -> flower.ClientJob:
  """A node's `flower.ClientJob` for `job` (its data: the clients' split of
  the target's training split under `job.partition`)."""
  check(settings, job)
  model, tx = federated_study.model_and_optimizer(settings, plan)
  roots, i, root, _ = _keys(settings, plan, job.seed)
  clients, _ = federated_study.clients(settings, data_workdir, plan,
                                       job.partition)
  params = lottery.init_params(model, roots[i:i + 1],
                               settings.fit.max_length)
  update = jax.jit(functools.partial(
      federated.client_update, model=model, tx=tx, epochs=plan.local_epochs,
      batch_size=settings.fit.batch_size))
  return flower.ClientJob(
      data=jax.tree.map(np.asarray, clients),
      masks_template=lottery.mask_template(model, settings.fit.max_length),
      params_template=jax.tree.map(np.asarray, lottery.seed_slice(params, 0)),
      update=update, root=root, dtype=plan.dtype)


def serve(grid, settings: config_lib.Settings, plan: Plan,
          data_workdir: str, workdir: str, job: Job) -> List[Dict[str, Any]]:
  """Runs `job` on the nodes of `grid` for ``plan.rounds`` rounds; returns
  a row per round (`federated_study.COLUMNS`).

  Raises:
    FederatedError: a bad job or plan, or the server's tickets are missing
      (it says how to find them).
  """
  check(settings, job)
  federated_study.check_domains(settings, plan)
  run_dir, theta_0 = federated_study.server_tickets(
      settings, data_workdir, workdir, plan,
      [job.ticket_round] if job.ticket_round else [])
  model, tx = federated_study.model_and_optimizer(settings, plan)
  roots, i, _, tags = _keys(settings, plan, job.seed)
  masks, params, sparsity = federated_study.variant_init(
      run_dir, theta_0, model, roots, settings, job.variant,
      job.ticket_round, tags)
  masks = None if masks is None else lottery.seed_slice(masks, i)
  params = jax.tree.map(np.asarray, lottery.seed_slice(params, i))
  program = federated.Program(
      model, tx, federated_study.round_settings(settings, plan))
  test = batching.bucketize(
      runs.load_splits(settings, data_workdir, plan.target)['test'])
  strategy = flower.TicketFedAvg(masks, params, plan.clients, plan.per_round,
                                 job.seed, plan.dtype)
  accuracy: Dict[int, float] = {}

  def evaluate(round_: int, arrays):
    if round_ > 0:
      now = codec.decode_values(arrays['values'].data, masks, params,
                                plan.dtype)
      stacked = jax.tree.map(lambda x: jnp.asarray(x)[None], now)
      accuracy[round_] = float(program.test(stacked, test)[0])
    return None

  strategy.start(grid=grid, initial_arrays=strategy.initial_arrays(params),
                 num_rounds=plan.rounds, evaluate_fn=evaluate)
  rows, total = [], 0
  for r, (down, up) in enumerate(zip(strategy.bytes_down, strategy.bytes_up),
                                 start=1):
    total += down + up
    rows.append(dict(
        server=plan.server, target=plan.target, partition=job.partition,
        variant=job.variant, ticket_round=job.ticket_round,
        sparsity=sparsity, seed=job.seed, round=r,
        test_accuracy=accuracy[r], bytes_down=down, bytes_up=up,
        bytes_total=total))
  return rows
