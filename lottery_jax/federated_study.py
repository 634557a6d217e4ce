"""The federated experiment of a preset (paper section 7, SPEC.md section 8).

The server domain's TICKET-RESET tickets (found by `tickets.find_tickets`
with the same settings) are re-trained with FedAvg by clients holding the
target domain's training split (`federated`), against dense FedAvg from
theta_0, same seeds and client sampling:

  variant        init                         masks
  dense          the server's theta_0         none (every weight travels)
  ticket_reset   the server's theta_0         TICKET-RESET of a round
  ticket_fresh   a fresh draw                 the same masks

for each client partition (IID, and label-skewed with Dirichlet alpha).
Each (partition, variant, ticket round) is saved when it finishes, so a
run resumes where it stopped; `run` returns every row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import jax
import numpy as np

from lottery_jax import checkpoints
from lottery_jax import config as config_lib
from lottery_jax import federated
from lottery_jax import files
from lottery_jax import lottery
from lottery_jax import runs
from lottery_jax import train as train_lib

PyTree = Any
VARIANTS = ('dense', 'ticket_reset', 'ticket_fresh')
COLUMNS = ('server', 'target', 'partition', 'variant', 'ticket_round',
           'sparsity', 'seed', 'round', 'test_accuracy', 'bytes_down',
           'bytes_up', 'bytes_total')


@dataclasses.dataclass(frozen=True)
class Plan:
  """What the experiment runs (a preset's federated section)."""
  server: str = 'books'
  target: str = 'electronics'
  ticket_rounds: Tuple[int, ...] = (1, 2, 3, 4)
  partitions: Tuple[str, ...] = ('iid', 'dirichlet')
  alpha: float = 0.5  # Dirichlet concentration of the 'dirichlet' clients.
  learning_rate: float = 1e-3  # Clients' Adam (constant: rounds are short).
  fed: federated.Settings = federated.Settings()


def _server_tickets(settings: config_lib.Settings, data_workdir: str,
                    workdir: str, plan: Plan) -> Tuple[str, PyTree]:
  """The server's run directory and theta_0, or a FederatedError saying
  how to find its tickets."""
  run_dir = runs.tickets_dir(workdir, plan.server, settings,
                             runs.data_fingerprint(data_workdir,
                                                   [plan.server]))
  missing = [r for r in (0,) + tuple(plan.ticket_rounds)
             if checkpoints.finished_rows(runs.round_dir(
                 run_dir, 'full_model' if r == 0 else 'ticket_reset', r))
             is None]
  if missing:
    raise federated.FederatedError(
        f'{run_dir}: no finished TICKET-RESET round(s) {missing} of '
        f'{plan.server}; find them first: python -m experiments.find_tickets'
        f' --config=<the same preset> --config.lottery.domains={plan.server}'
        f' --config.lottery.rounds={max(plan.ticket_rounds)} '
        f'--workdir={workdir}')
  theta_0 = checkpoints.load_round(runs.round_dir(run_dir, 'full_model',
                                                  0))['theta0']
  return run_dir, theta_0


def _clients(settings, data_workdir: str, plan: Plan, partition: str):
  splits = runs.load_splits(settings, data_workdir, plan.target)
  alpha = None if partition == 'iid' else plan.alpha
  parts = federated.split_clients(splits['train']['label'],
                                  plan.fed.clients,
                                  settings.data.data_seed, alpha)
  return federated.stack_clients(splits['train'], parts), splits['test']


def plan_hash(settings: config_lib.Settings, plan: Plan,
              data: Dict[str, str]) -> str:
  """Names a federated run: the tickets' run and every plan setting."""
  text = json.dumps([runs.run_hash(settings, data), dataclasses.asdict(plan)],
                    sort_keys=True, default=list)
  return hashlib.sha256(text.encode()).hexdigest()[:10]


def run(settings: config_lib.Settings, plan: Plan, data_workdir: str,
        workdir: str, write=print) -> List[Dict[str, Any]]:
  """Every (partition, variant, ticket round) of `plan`, resumed from
  ``workdir/federated/<server>-to-<target>-<hash>/``; returns the rows
  (`COLUMNS`).

  Raises:
    FederatedError: the server's tickets are missing (the message says how
      to find them), or a client setting cannot run.
  """
  if plan.target == plan.server:
    raise federated.FederatedError(
        f'federated.target={plan.target}: the clients need another domain '
        'than the server\'s')
  run_dir, theta_0 = _server_tickets(settings, data_workdir, workdir, plan)
  data = runs.data_fingerprint(data_workdir, [plan.server, plan.target])
  out_dir = os.path.join(workdir, 'federated', f'{plan.server}-to-'
                         f'{plan.target}-{plan_hash(settings, plan, data)}')
  model = lottery.build_model(settings.model, settings.data.vocab_size)
  o = settings.optimizer
  tx = train_lib.make_optimizer(o.name, plan.learning_rate, o.l2)
  program = federated.Program(model, tx, plan.fed,
                              settings.fit.seed_chunk)
  seeds = settings.lottery.seed_ids
  roots = lottery.seed_roots(seeds)
  rows = []
  for partition in plan.partitions:
    clients, test = _clients(settings, data_workdir, plan, partition)
    for variant, r in [('dense', 0)] + [(v, r) for r in plan.ticket_rounds
                                        for v in VARIANTS[1:]]:
      path = os.path.join(out_dir, partition, f'{variant}_{r:03d}.jsonl')
      if not os.path.exists(path):
        masks, params, sparsity = _variant(run_dir, theta_0, model, roots,
                                           settings, variant, r)
        found = federated.simulate(
            program, params, masks, clients, test, seeds,
            lottery.fold(roots, lottery.Stream.FEDERATED,
                         lottery.domain_tag(plan.server),
                         lottery.domain_tag(plan.target)))
        _write(path, [dict(server=plan.server, target=plan.target,
                           partition=partition, variant=variant,
                           ticket_round=r, sparsity=sparsity, **row)
                      for row in found])
        write(f'federated {partition} {variant} round {r}: test '
              f'{_final(found):.4f} after {plan.fed.rounds} rounds')
      rows += _read(path)
  return rows


def _variant(run_dir, theta_0, model, roots, settings, variant: str,
             round_: int):
  """(masks or None, [seeds] initial params, sparsity) of a variant."""
  if variant == 'dense':
    return None, theta_0, 0.0
  stored = checkpoints.load_round(runs.round_dir(run_dir, 'ticket_reset',
                                                 round_))
  template = lottery.mask_template(model, settings.fit.max_length)
  masks = checkpoints.fill_none(template, stored['masks'])
  sparsity = float(checkpoints.finished_rows(runs.round_dir(
      run_dir, 'ticket_reset', round_))[0]['sparsity'])
  if variant == 'ticket_reset':
    return masks, theta_0, sparsity
  fresh = lottery.init_params(
      model, lottery.fold(roots, lottery.Stream.FEDERATED_FRESH, round_),
      settings.fit.max_length)
  return masks, jax.tree.map(np.asarray, fresh), sparsity


def _final(rows: Sequence[Dict[str, Any]]) -> float:
  last = max(r['round'] for r in rows)
  return float(np.mean([r['test_accuracy'] for r in rows
                        if r['round'] == last]))


def _write(path: str, rows: Sequence[Dict[str, Any]]) -> None:
  with files.atomic_write(path, 'w') as f:
    for row in rows:
      f.write(json.dumps({k: row[k] for k in COLUMNS}) + '\n')


def _read(path: str) -> List[Dict[str, Any]]:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
