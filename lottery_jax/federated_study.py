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
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import jax
import numpy as np

from lottery_jax import checkpoints
from lottery_jax import config as config_lib
from lottery_jax import federated
from lottery_jax import federated_config
from lottery_jax import files
from lottery_jax import findings
from lottery_jax import lottery
from lottery_jax import progress as progress_lib
from lottery_jax import runs
from lottery_jax import train as train_lib

PyTree = Any
_welch = findings._welch  # pylint: disable=protected-access
VARIANTS = ('dense', 'ticket_reset', 'ticket_fresh')
COLUMNS = ('server', 'target', 'partition', 'variant', 'ticket_round',
           'sparsity', 'seed', 'round', 'test_accuracy', 'bytes_down',
           'bytes_up', 'bytes_total')


Plan = federated_config.FederatedSettings


def round_settings(settings: config_lib.Settings,
                   plan: Plan) -> federated.Settings:
  """The rounds' settings: the plan's, with the preset's batch sizes."""
  return federated.Settings(
      clients=plan.clients, per_round=plan.per_round, rounds=plan.rounds,
      local_epochs=plan.local_epochs, batch_size=settings.fit.batch_size,
      eval_batch_size=settings.fit.eval_batch_size, dtype=plan.dtype,
      client_chunk=plan.client_chunk)


def model_and_optimizer(settings: config_lib.Settings, plan: Plan):
  """The preset's model and the clients' optimiser (its constant rate)."""
  model = lottery.build_model(settings.model, settings.data.vocab_size)
  return model, train_lib.make_optimizer(
      settings.optimizer.name, plan.learning_rate, settings.optimizer.l2)


def server_tickets(settings: config_lib.Settings, data_workdir: str,
                   workdir: str, plan: Plan,
                   rounds: Optional[Sequence[int]] = None
                   ) -> Tuple[str, PyTree]:
  """The server's run directory and theta_0, or a FederatedError saying
  how to find its TICKET-RESET `rounds` (default: the plan's) if any is
  missing."""
  rounds = plan.ticket_rounds if rounds is None else tuple(rounds)
  run_dir = runs.tickets_dir(workdir, plan.server, settings,
                             runs.data_fingerprint(data_workdir,
                                                   [plan.server]))
  missing = [r for r in (0,) + tuple(rounds)
             if checkpoints.finished_rows(runs.round_dir(
                 run_dir, 'full_model' if r == 0 else 'ticket_reset', r))
             is None]
  if missing:
    raise federated.FederatedError(
        f'{run_dir}: no finished TICKET-RESET round(s) {missing} of '
        f'{plan.server}; find them first: python -m experiments.find_tickets'
        f' --config=<the same preset> --config.lottery.domains={plan.server}'
        f' --config.lottery.rounds={max((1,) + tuple(rounds))} '
        f'--workdir={workdir}')
  theta_0 = checkpoints.load_round(runs.round_dir(run_dir, 'full_model',
                                                  0))['theta0']
  return run_dir, theta_0


def clients(settings: config_lib.Settings, data_workdir: str, plan: Plan,
            partition: str):
  """(every client's rows, `federated.stack_clients`; the target's test
  split) of a partition: a pure function of the data and the data seed."""
  splits = runs.load_splits(settings, data_workdir, plan.target)
  alpha = None if partition == 'iid' else plan.alpha
  parts = federated.split_clients(splits['train']['label'], plan.clients,
                                  settings.data.data_seed, alpha)
  return federated.stack_clients(splits['train'], parts), splits['test']


def plan_hash(settings: config_lib.Settings, plan: Plan,
              data: Dict[str, str]) -> str:
  """Names a federated run: the tickets' run and every setting of the
  rounds (not `in_study`, nor which partitions or ticket rounds: adding
  some continues the same run)."""
  relevant = dataclasses.asdict(dataclasses.replace(
      plan, in_study=False, partitions=(), ticket_rounds=()))
  text = json.dumps([runs.run_hash(settings, data), relevant,
                     dataclasses.asdict(round_settings(settings, plan))],
                    sort_keys=True, default=list)
  return hashlib.sha256(text.encode()).hexdigest()[:10]


# Long: one loop over the runs, each resumed or trained, on one display.
def run(settings: config_lib.Settings, plan: Plan, data_workdir: str,
        workdir: str, progress: Optional[progress_lib.Progress] = None
        ) -> List[Dict[str, Any]]:
  """Every (partition, variant, ticket round) of `plan`, resumed from
  ``workdir/federated/<server>-to-<target>-<hash>/``, shown on `progress`
  (default: a new display counting communication rounds); returns the
  rows (`COLUMNS`).

  Raises:
    FederatedError: the server's tickets are missing (it says how to find
      them), or a client setting cannot run.
  """
  check_domains(settings, plan)
  run_dir, theta_0 = server_tickets(settings, data_workdir, workdir, plan)
  data = runs.data_fingerprint(data_workdir, [plan.server, plan.target])
  out_dir = os.path.join(workdir, 'federated', f'{plan.server}-to-'
                         f'{plan.target}-{plan_hash(settings, plan, data)}')
  model, tx = model_and_optimizer(settings, plan)
  fed = round_settings(settings, plan)
  program = federated.Program(model, tx, fed, settings.fit.seed_chunk)
  seeds = settings.lottery.seed_ids
  roots = lottery.seed_roots(seeds)
  plan_runs = [(p, v, r) for p in plan.partitions
               for v, r in [('dense', 0)] + [(v, r) for r in plan.ticket_rounds
                                             for v in VARIANTS[1:]]]
  own = progress is None
  progress = progress or progress_lib.Progress(len(plan_runs), fed.rounds,
                                               unit='rounds')
  tags = (lottery.domain_tag(plan.server), lottery.domain_tag(plan.target))
  keys = lottery.fold(roots, lottery.Stream.FEDERATED, *tags)
  rows, loaded = [], {}
  try:
    for partition, variant, r in plan_runs:
      path = os.path.join(out_dir, partition, f'{variant}_{r:03d}.jsonl')
      what = f'federated {partition} {variant} ticket round {r}'
      seconds = None
      if not os.path.exists(path):
        if partition not in loaded:  # One partition's data at a time.
          loaded = {partition: clients(settings, data_workdir, plan,
                                       partition)}
        masks, params, sparsity = variant_init(
            run_dir, theta_0, model, roots, settings, variant, r, tags)
        progress.start(what, len(seeds))
        start = time.time()
        found = _shown(program, progress, params, masks, *loaded[partition],
                       seeds, keys)
        _write(path, [dict(server=plan.server, target=plan.target,
                           partition=partition, variant=variant,
                           ticket_round=r, sparsity=sparsity, **row)
                      for row in found])
        seconds = time.time() - start
      done = _read(path)
      rows += done
      last = max(row['round'] for row in done)
      progress.finish(what, [row for row in done if row['round'] == last],
                      seconds)
  finally:
    if own:
      progress.close()
  return rows


def check_domains(settings: config_lib.Settings, plan: Plan) -> None:
  """Raises a FederatedError naming the flag of a server or target domain
  the data lacks, or of clients in the server's own domain."""
  for flag in ('server', 'target'):
    if getattr(plan, flag) not in settings.data.domains:
      raise federated.FederatedError(
          f'--config.federated.{flag}={getattr(plan, flag)!r}: not one of '
          f'the data domains ({", ".join(settings.data.domains)})')
  if plan.target == plan.server:
    raise federated.FederatedError(
        f'--config.federated.target={plan.target}: the clients need another '
        'domain than the server\'s')


def _shown(program, progress, params, masks, clients, test, seeds, keys):
  """`federated.simulate`, every round on `progress` (a round that
  compiled the program is left out of its ETA)."""
  compiles = [program.compiles]

  def on_round(round_, unused_rows, unused_params):
    progress.epoch(round_ - 1, program.compiles > compiles[0])
    compiles[0] = program.compiles

  return federated.simulate(program, params, masks, clients, test, seeds,
                            keys, on_round=on_round)


def variant_init(run_dir, theta_0, model, roots, settings, variant: str,
                 round_: int, tags: Sequence[int]):
  """([seeds] masks or None, [seeds] initial params, sparsity) of a
  variant, from the server's run directory and theta_0 (`server_tickets`);
  `tags` are the server's and target's `lottery.domain_tag`."""
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
      model, lottery.fold(roots, lottery.Stream.FEDERATED_FRESH, *tags,
                          round_), settings.fit.max_length)
  return masks, jax.tree.map(np.asarray, fresh), sparsity


def _write(path: str, rows: Sequence[Dict[str, Any]]) -> None:
  with files.atomic_write(path, 'w') as f:
    for row in rows:
      f.write(json.dumps({k: row[k] for k in COLUMNS}) + '\n')


def _read(path: str) -> List[Dict[str, Any]]:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------------------
# Outputs.


def _runs(rows, partition):
  """{(variant, ticket_round): {round: [rows of the seeds]}}."""
  found: Dict[Tuple[str, int], Dict[int, List[Dict[str, Any]]]] = {}
  for r in rows:
    if r['partition'] == partition:
      found.setdefault((r['variant'], r['ticket_round']), {}).setdefault(
          r['round'], []).append(r)
  return found


def _mean(rows, key) -> float:
  return float(np.mean([r[key] for r in rows]))


def _sent(rows) -> float:
  return float(np.mean([r['bytes_down'] + r['bytes_up'] for r in rows]))


def table(rows: Sequence[Dict[str, Any]], margin: float = 0.02) -> str:
  """Markdown, a line per partition and run: the final test accuracy (mean
  +- std over seeds); the first round whose mean reaches dense FedAvg's
  final mean minus `margin`, and the megabytes sent by then (both ways,
  mean over seeds); the bytes of round 1 (mask included) and of the last
  round over dense FedAvg's; for a fresh init, its final mean minus the
  same ticket's from theta_0 (two-sided Welch p)."""
  lines = ['| clients | run | sparsity | final test acc | round to dense - '
           f'{100 * margin:g} pts | MB by then | bytes round 1 / dense | '
           'bytes last round / dense | fresh - theta_0 (p) |',
           '|---|---|---:|---|---:|---:|---:|---:|---|']
  for partition in dict.fromkeys(r['partition'] for r in rows):
    found = _runs(rows, partition)
    dense = found[('dense', 0)]
    last = max(dense)
    goal = _mean(dense[last], 'test_accuracy') - margin
    for (variant, t), by_round in found.items():
      final = np.array([r['test_accuracy'] for r in by_round[last]])
      reach = next((k for k in sorted(by_round)
                    if _mean(by_round[k], 'test_accuracy') >= goal), None)
      mb = ('-' if reach is None else
            f'{_mean(by_round[reach], "bytes_total") / 1e6:.2f}')
      first, end = (_sent(by_round[k]) / _sent(dense[k]) for k in (1, last))
      init = '-'
      if variant == 'ticket_fresh':
        other = np.array([r['test_accuracy']
                          for r in found[('ticket_reset', t)][last]])
        p = _welch(final, other, 'two-sided')
        init = f'{100 * (final.mean() - other.mean()):+.1f} pts ({p:.3f})'
      sparsity = 100 * by_round[last][0]['sparsity']
      lines.append(
          f'| {partition} | {variant} | {sparsity:.1f}% | {final.mean():.3f}'
          f' +- {final.std():.3f} | {"-" if reach is None else reach} | '
          f'{mb} | {first:.3f} | {end:.3f} | {init} |')
  return '\n'.join(lines)


def write_outputs(results_dir: str,
                  rows: Sequence[Dict[str, Any]]) -> List[str]:
  """federated.jsonl, the figure (`plots.plot_federated`) and federated.md
  (`table`) under `results_dir`; returns their paths."""
  from lottery_jax import plots  # pylint: disable=g-import-not-at-top
  path = os.path.join(results_dir, 'federated.jsonl')
  _write(path, rows)
  written = [path] + plots.plot_federated(
      rows, os.path.join(results_dir, 'federated'))
  first = rows[0]
  text = (f'# Federated re-training: {first["server"]} tickets, '
          f'{first["target"]} clients\n\n' + table(rows) + '\n')
  md = os.path.join(results_dir, 'federated.md')
  with files.atomic_write(md, 'w') as f:
    f.write(text)
  return written + [md]
