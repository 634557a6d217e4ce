"""The study's markdown report: the findings (`findings.py`), tables of
Figures 1, 3 and 4, and wall times, from a results directory alone."""

from __future__ import annotations

import collections
import os
from typing import Any, Dict, Optional

import numpy as np

from lottery_jax import files
from lottery_jax import findings
from lottery_jax import results as results_lib
from lottery_jax.findings import NAMES
from lottery_jax.findings import Results

TARGETS = (0.5, 0.9, 0.99)  # Table columns: the rounds near these.
def near_round(res: Results, experiment: str, source: str, target: str,
               strategy: str, sparsity: float) -> Optional[int]:
  """The round nearest `sparsity` if it is near it, else None (cell '-').

  Near and nearest are measured as `findings.kept_ratio`: a round is near
  when it keeps between 1 / `findings.NEAR_FACTOR` and that many times what
  `sparsity` keeps (~50%: 0-75%, ~90%: 80-95%, ~99%: 98-99.5%).

  Args:
    res: the results.
    experiment, source, target, strategy: the run.
    sparsity: the column's target, a fraction below 1.

  Returns:
    The round, or None when no round is near (or the run has none).
  """
  def ratio(r):
    return findings.kept_ratio(
        res.sparsity[(experiment, source, target, strategy, r)], sparsity)
  near = [r for r in res.rounds(experiment, source, target, strategy)
          if ratio(r) <= findings.NEAR_FACTOR]
  return min(near, key=ratio) if near else None


def tickets_table(res: Results) -> str:
  """Round 0 and the rounds near `TARGETS` (`near_round`), '-' if none."""
  lines = ['| domain | strategy | round 0 | ' + ' | '.join(
      f'~{100 * t:g}% sparsity' for t in TARGETS) + ' |',
           '|---|---|---|' + '---|' * len(TARGETS)]
  for domain in res.domains:
    full = res.acc.get(res.ticket(domain, 'full_model', 0))
    for strategy in ('ticket_reset', 'ticket_random'):
      cells = []
      for target in TARGETS:
        r = near_round(res, 'tickets', domain, domain, strategy, target)
        if r is None:
          cells.append('-')
          continue
        key = res.ticket(domain, strategy, r)
        cells.append(f'{findings.cell(res.acc[key])} '
                     f'({100 * res.sparsity[key]:.1f}%)')
      lines.append(f'| {domain} | {NAMES[strategy]} | {findings.cell(full)} | '
                   + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def transfer_table(res: Results) -> str:
  """Each pair at the MASKS-RESET rounds near `TARGETS`, '-' if none."""
  strategies = ('masks_reset', 'masks_random', 'ticket_target')
  head = ' | '.join(f'{NAMES[s]} ~{100 * t:g}%' for t in TARGETS
                    for s in strategies)
  lines = [f'| source -> target | {head} |',
           '|---|' + '---|' * (len(TARGETS) * len(strategies))]
  means = collections.defaultdict(list)
  for source, target in res.pairs:
    cells = []
    for t in TARGETS:
      r = near_round(res, 'transfer', source, target, 'masks_reset', t)
      for s in strategies:
        key = (res.ticket(target, 'ticket_reset', r) if s == 'ticket_target'
               else ('transfer', source, target, s, r))
        values = res.acc.get(key)
        cell = findings.cell(values)
        if s == 'masks_reset' and values is not None:  # The round's sparsity.
          cell += f' ({100 * res.sparsity[key]:.1f}%)'
        cells.append(cell)
        if values is not None:
          means[(t, s)].append(values.mean())
    lines.append(f'| {source} -> {target} | ' + ' | '.join(cells) + ' |')
  lines.append('| mean over pairs | ' + ' | '.join(
      f'{np.mean(means[(t, s)]):.3f}' if means[(t, s)] else '-'
      for t in TARGETS for s in strategies) + ' |')
  return '\n'.join(lines)


def divergence_table(jsd: Dict[str, Any]) -> str:
  names = jsd['domains']
  lines = ['| | ' + ' | '.join(names) + ' |', '|---|' + '---|' * len(names)]
  for name, row in zip(names, jsd['jsd']):
    lines.append(f'| {name} | ' + ' | '.join(f'{v:.4f}' for v in row) + ' |')
  return '\n'.join(lines)


def stage_times(record: Dict[str, Any]) -> str:
  totals = collections.defaultdict(float)
  for invocation in record.get('invocations', []):
    for stage, seconds in invocation['stages'].items():
      totals[stage] += seconds
  lines = ['| stage | wall time |', '|---|---|']
  for stage, seconds in totals.items():
    lines.append(f'| {stage} | {seconds / 60:.1f} min ({seconds:.0f} s) |')
  lines.append(f'| total | {sum(totals.values()) / 60:.1f} min |')
  n = len(record.get('invocations', []))
  return '\n'.join(lines) + (
      f'\n\nSummed over {n} invocations of the command: a stage that was '
      'interrupted and resumed counts each part.' if n > 1 else '')


def make_report(results_dir: str,
                up_to: float = findings.UP_TO_TARGET) -> str:
  """The markdown report of a results directory (see `lottery_jax.study`).

  Args:
    results_dir: holds results.jsonl, and optionally study.json and
      divergence.json.
    up_to: the paper's "up to about 90% sparsity" as a fraction; the
      findings are judged up to the round nearest to it
      (`findings.sparsity_cut`).

  Returns:
    The report's markdown text.
  """
  rows = results_lib.read_rows(os.path.join(results_dir, 'results.jsonl'))
  res = Results(rows)
  record_path = os.path.join(results_dir, 'study.json')
  record = files.read_json(record_path) if os.path.exists(
      record_path) else {}
  config = record.get('config', {})
  parts = ['# Lottery tickets under distributional shift: results', '']
  if config:
    m, t, lot = config['model'], config['train'], config['lottery']
    parts += [
        f'Model: embedding {m["embed_dim"]}, widths {tuple(m["widths"])} x '
        f'{m["channels"]} channels, hidden {m["hidden"]}, dropout '
        f'{m["dropout_rate"]}; {t["epochs"]} epochs, batch '
        f'{t["batch_size"]}, {t["optimizer"]} lr {t["learning_rate"]}, L2 '
        f'{t["l2"]}, reviews cut at {t["max_length"]} tokens; '
        f'{lot["rounds"]} rounds pruning {100 * lot["prune_fraction"]:g}% '
        f'a round; {lot["seeds"]} seeds. Accuracies are test accuracy, '
        'mean +- std (population) over the seeds.', '']
  parts += ['## Findings', '', findings.finding_a(res, up_to), '',
            findings.finding_b(res, up_to), '']
  if res.pairs:
    parts += [findings.finding_c(res, up_to), '']
  parts += ['## Tickets (Figure 3)', '', '![tickets](tickets.png)', '',
            tickets_table(res), '']
  if res.pairs:
    parts += ['## Transfer (Figure 4)', '', '![transfer](transfer.png)', '',
              transfer_table(res), '']
  jsd_path = os.path.join(results_dir, 'divergence.json')
  if os.path.exists(jsd_path):
    parts += ['## Divergence (Figure 1)', '', '![divergence](divergence.png)',
              '', 'Jensen-Shannon divergence (nats) of the training splits\' '
              'unigram distributions.', '',
              divergence_table(files.read_json(jsd_path)), '']
  curves = os.path.join(results_dir, 'curves.jsonl')
  if os.path.exists(curves) and os.path.getsize(curves):
    parts += ['## Training curves', '', '![curves](curves.png)', '',
              'Validation accuracy per epoch of the first domain\'s rounds '
              '(mean +- std over the seeds): whether the trainings '
              'converged. Every round\'s curves are in its directory '
              '(curves.jsonl, and TensorBoard event files under tb/).', '']
  if record.get('invocations'):
    parts += ['## Wall time', '', stage_times(record), '']
  return '\n'.join(parts)
