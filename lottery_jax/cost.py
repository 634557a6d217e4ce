"""What a study's trainings cost: convergence and worker seconds per
strategy (`effort_table`) and per domain trained on (`domain_table`), and
the wall time of each stage (`stage_times`), from the rows and study.json.

A training is one (experiment, source, target, strategy, round) with its
seeds; its rows carry its wall_time. Summed over trainings, these are
worker seconds: trainings that ran in parallel overlap in wall time.
"""

from __future__ import annotations

import collections
from typing import Any, Dict, List, Optional

import numpy as np

from lottery_jax.findings import NAMES


def stage_times(record: Dict[str, Any]) -> str:
  """The wall time of each stage, summed over the invocations of the
  command in study.json's `record`, with each invocation's note (what else
  ran beside it, say) when it has one."""
  totals = collections.defaultdict(float)
  for invocation in record.get('invocations', []):
    for stage, seconds in invocation['stages'].items():
      totals[stage] += seconds
  lines = ['| stage | wall time |', '|---|---|']
  for stage, seconds in totals.items():
    lines.append(f'| {stage} | {seconds / 60:.1f} min ({seconds:.0f} s) |')
  lines.append(f'| total | {sum(totals.values()) / 60:.1f} min |')
  invocations = record.get('invocations', [])
  notes = ''.join(f' Invocation {i} ({inv["started"]}): {inv["note"]}.'
                  for i, inv in enumerate(invocations, 1) if inv.get('note'))
  return '\n'.join(lines) + (
      f'\n\nSummed over {len(invocations)} invocations of the command: a '
      'stage that was interrupted and resumed counts each part.' + notes
      if len(invocations) > 1 else '')


def effort_table(rows: List[Dict[str, Any]],
                 max_epochs: Optional[int] = None) -> str:
  """Per experiment and strategy: how the trainings converged and what they
  cost.

  A training is one (experiment, source, target, strategy, round) with its
  seeds. Columns: trainings; seeds; the seeds' mean epochs run; the seeds
  whose best validation epoch came before their last (early stopping saw
  the plateau) and those that ran to `max_epochs`; the seconds of the
  trainings (the sum of each one's wall_time, so worker time: parallel
  workers overlap) with their share of all, and per seed-epoch. Rows from
  before epochs were counted are left out.
  """
  groups = collections.defaultdict(list)
  for row in rows:
    if row.get('epochs_run') is not None:
      groups[row['experiment'], row['strategy']].append(row)
  seconds = {}
  for key, members in groups.items():
    runs = {(r['source'], r['target'], r['round']): r['wall_time']
            for r in members}
    seconds[key] = sum(runs.values())
  total = sum(seconds.values()) or 1.0
  lines = ['| experiment | strategy | trainings | seeds | mean epochs | '
           'best before last | ran to the limit | seconds | share | '
           's per seed-epoch |', '|---|---|---:|---:|---:|---:|---:|---:|'
           '---:|---:|']
  for (experiment, strategy), members in groups.items():
    epochs = [r['epochs_run'] for r in members]
    n = len(members)
    before = sum(r['best_epoch'] < r['epochs_run'] for r in members)
    limit = ('-' if max_epochs is None else
             str(sum(e >= max_epochs for e in epochs)))
    runs = len({(r['source'], r['target'], r['round']) for r in members})
    lines.append(
        f'| {experiment} | {NAMES[strategy]} | {runs} | {n} | '
        f'{np.mean(epochs):.1f} | {before} ({100 * before / n:.0f}%) | '
        f'{limit} | {seconds[experiment, strategy]:.0f} | '
        f'{100 * seconds[experiment, strategy] / total:.0f}% | '
        f'{seconds[experiment, strategy] / sum(epochs):.2f} |')
  return '\n'.join(lines)


def domain_table(rows: List[Dict[str, Any]]) -> str:
  """Per domain trained on (the target): its tickets and transfer
  trainings, their seed-epochs and seconds (worker time, with its share of
  all), and the seconds per seed-epoch, which follow the size of the
  domain's training split and its reviews' lengths (a batch in the longer
  bucket costs more). A last row sums them. Rows from before epochs were
  counted are left out."""
  trainings = {}  # (experiment, source, target, strategy, round): seconds
  epochs = collections.Counter()
  for row in rows:
    if row.get('epochs_run') is None:
      continue
    key = (row['experiment'], row['source'], row['target'], row['strategy'],
           row['round'])
    trainings[key] = row['wall_time']
    epochs[key] += row['epochs_run']
  domains = list(dict.fromkeys(key[2] for key in trainings))
  total = sum(trainings.values()) or 1.0
  lines = ['| trained on | tickets trainings | transfer trainings | '
           'seed-epochs | seconds | share | s per seed-epoch |',
           '|---|---:|---:|---:|---:|---:|---:|']

  def line(name, keys):
    kinds = collections.Counter(key[0] for key in keys)
    seconds = sum(trainings[key] for key in keys)
    seed_epochs = sum(epochs[key] for key in keys)
    lines.append(f'| {name} | {kinds["tickets"]} | {kinds["transfer"]} | '
                 f'{seed_epochs} | {seconds:.0f} | '
                 f'{100 * seconds / total:.0f}% | '
                 f'{seconds / max(seed_epochs, 1):.2f} |')

  for domain in domains:
    line(domain, [key for key in trainings if key[2] == domain])
  line('all', list(trainings))
  return '\n'.join(lines)
