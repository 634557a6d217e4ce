"""What a study's trainings cost: convergence and worker seconds per
strategy (`effort_table`) and per domain trained on (`domain_table`), and
the wall time of each stage (`stage_times`), from the rows and study.json.

A training is one (experiment, source, target, strategy, round) with its
seeds (`trainings`); its rows carry its wall_time. Summed over trainings,
these are worker seconds: trainings that ran in parallel overlap in wall
time. Rows from before epochs were counted are left out.
"""

from __future__ import annotations

import collections
from typing import Any, Dict, List, Optional, Tuple

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


# A training's key: (experiment, source, target, strategy, round).
Training = Tuple[str, str, str, str, int]


def trainings(rows: List[Dict[str, Any]]
              ) -> Dict[Training, List[Dict[str, Any]]]:
  """The rows of each training, in the rows' order; rows from before
  epochs were counted are left out."""
  found = collections.defaultdict(list)
  for row in rows:
    if row.get('epochs_run') is not None:
      found[row['experiment'], row['source'], row['target'], row['strategy'],
            row['round']].append(row)
  return dict(found)


def _seconds(seeds: List[Dict[str, Any]]) -> float:
  return seeds[0]['wall_time']  # A training's, on each of its seeds' rows.


def effort_table(rows: List[Dict[str, Any]],
                 max_epochs: Optional[int] = None) -> str:
  """Per experiment and strategy: how the trainings converged and what they
  cost.

  Columns: trainings; seeds; the seeds' mean epochs run; the seeds whose
  best validation epoch came before their last (early stopping saw the
  plateau) and those that ran to `max_epochs`; the seconds of the
  trainings (worker time) with their share of all, and per seed-epoch.
  """
  groups = collections.defaultdict(list)
  for key, seeds in trainings(rows).items():
    groups[key[0], key[3]].append(seeds)
  seconds = {k: sum(map(_seconds, runs)) for k, runs in groups.items()}
  total = sum(seconds.values()) or 1.0
  lines = ['| experiment | strategy | trainings | seeds | mean epochs | '
           'best before last | ran to the limit | seconds | share | '
           's per seed-epoch |', '|---|---|---:|---:|---:|---:|---:|---:|'
           '---:|---:|']
  for (experiment, strategy), runs in groups.items():
    members = [r for seeds in runs for r in seeds]
    epochs = [r['epochs_run'] for r in members]
    n = len(members)
    before = sum(r['best_epoch'] < r['epochs_run'] for r in members)
    limit = ('-' if max_epochs is None else
             str(sum(e >= max_epochs for e in epochs)))
    spent = seconds[experiment, strategy]
    lines.append(
        f'| {experiment} | {NAMES[strategy]} | {len(runs)} | {n} | '
        f'{np.mean(epochs):.1f} | {before} ({100 * before / n:.0f}%) | '
        f'{limit} | {spent:.0f} | {100 * spent / total:.0f}% | '
        f'{spent / sum(epochs):.2f} |')
  return '\n'.join(lines)


def domain_table(rows: List[Dict[str, Any]]) -> str:
  """Per domain trained on (the target): its tickets and transfer
  trainings, their seed-epochs and seconds (worker time, with its share of
  all), and the seconds per seed-epoch, which follow the size of the
  domain's training split and its reviews' lengths (a batch in the longer
  bucket costs more). A last row sums them."""
  found = trainings(rows)
  total = sum(map(_seconds, found.values())) or 1.0
  lines = ['| trained on | tickets trainings | transfer trainings | '
           'seed-epochs | seconds | share | s per seed-epoch |',
           '|---|---:|---:|---:|---:|---:|---:|']

  def line(name, keys):
    kinds = collections.Counter(key[0] for key in keys)
    seconds = sum(_seconds(found[key]) for key in keys)
    seed_epochs = sum(r['epochs_run'] for key in keys for r in found[key])
    lines.append(f'| {name} | {kinds["tickets"]} | {kinds["transfer"]} | '
                 f'{seed_epochs} | {seconds:.0f} | '
                 f'{100 * seconds / total:.0f}% | '
                 f'{seconds / max(seed_epochs, 1):.2f} |')

  for domain in dict.fromkeys(key[2] for key in found):
    line(domain, [key for key in found if key[2] == domain])
  line('all', list(found))
  return '\n'.join(lines)
