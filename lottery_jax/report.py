"""The study's markdown report: tables, wall times, and the paper's findings
checked with the seeds' spread (paper sections 5.2, 5.3; SPEC.md).

Each finding gets a verdict computed from the saved rows alone, never tuned:

(a) TICKET-RESET matches or beats FULL-MODEL up to about 90% sparsity: in
    no round up to `UP_TO` is RESET significantly below FULL-MODEL (one-sided
    Welch t-test over the seeds, p < `ALPHA`).
(b) TICKET-RESET and TICKET-RANDOM are close until very high sparsity, then
    part (the phase transition): reproduced in a domain where no round up
    to `UP_TO` shows a significant gap (two-sided Welch t-test, p <
    `ALPHA`) and some round beyond it shows RESET significantly above
    RANDOM; the parting sparsity reported is the lowest round from which
    RESET stays significantly above RANDOM to the last round. Plus whether
    RESET is steadier (smaller std) beyond `UP_TO`.
(c) Transferred masks (MASKS-RESET) stay within `FEW_POINTS` of
    TICKET-TARGET in every round up to `UP_TO`.
"""

from __future__ import annotations

import collections
import math
import os
import warnings
from typing import Any, Dict, List, NamedTuple, Sequence, Tuple

import numpy as np
from scipy import stats

from lottery_jax import files
from lottery_jax import results as results_lib

ALPHA = 0.05
UP_TO = 0.91  # "Up to about 90% sparsity": 90.9% is the cpu preset's round.
FEW_POINTS = 0.05  # The paper reports a 3-5 point drop after transfer.
TARGETS = (0.5, 0.9, 0.99)
NAMES = {'full_model': 'FULL-MODEL', 'ticket_reset': 'TICKET-RESET',
         'ticket_random': 'TICKET-RANDOM', 'masks_reset': 'MASKS-RESET',
         'masks_random': 'MASKS-RANDOM', 'ticket_target': 'TICKET-TARGET'}

Key = Tuple[str, str, str, str, int]


class Results:
  """Per-seed test accuracies and sparsities indexed by run and round."""

  def __init__(self, rows: Sequence[Dict[str, Any]]):
    self.acc: Dict[Key, np.ndarray] = {}
    self.sparsity: Dict[Key, float] = {}
    grouped = collections.defaultdict(list)
    for row in rows:
      grouped[tuple(row[k] for k in results_lib.GROUP)].append(row)
    for key, members in grouped.items():
      members.sort(key=lambda r: r['seed'])
      self.acc[key] = np.array([r['test_accuracy'] for r in members])
      self.sparsity[key] = members[0]['sparsity']
    self.domains = list(dict.fromkeys(k[1] for k in grouped
                                      if k[0] == 'tickets'))
    self.pairs = list(dict.fromkeys((k[1], k[2]) for k in grouped
                                    if k[0] == 'transfer'))

  def ticket(self, domain, strategy, round_):
    return ('tickets', domain, domain, strategy, round_)

  def rounds(self, experiment, source, target, strategy) -> List[int]:
    return sorted(k[4] for k in self.acc
                  if k[:4] == (experiment, source, target, strategy))

  def nearest(self, experiment, source, target, strategy, sparsity):
    """The round whose sparsity is closest to `sparsity`, or None."""
    rounds = self.rounds(experiment, source, target, strategy)
    if not rounds:
      return None
    return min(rounds, key=lambda r: abs(self.sparsity[
        (experiment, source, target, strategy, r)] - sparsity))


def _cell(values) -> str:
  if values is None:
    return '-'
  return f'{values.mean():.3f} +- {values.std():.3f}'


def _welch(a: np.ndarray, b: np.ndarray, alternative: str) -> float:
  """p-value of Welch's t-test of a against b.

  Fewer than two seeds on either side: 1 (untestable). Both sides constant
  (e.g. every seed at chance): 0 if the constants differ in the direction
  tested, else 1, the limit of the test as the spread goes to zero.
  """
  if len(a) < 2 or len(b) < 2:
    return 1.0
  if np.ptp(a) == 0 and np.ptp(b) == 0:
    differ = {'greater': a[0] > b[0], 'less': a[0] < b[0],
              'two-sided': a[0] != b[0]}[alternative]
    return 0.0 if differ else 1.0
  with warnings.catch_warnings():  # Nearly equal samples: p is still fine.
    warnings.simplefilter('ignore', RuntimeWarning)
    p = stats.ttest_ind(a, b, equal_var=False,
                        alternative=alternative).pvalue
  return 1.0 if math.isnan(p) else float(p)


def _verdict(hits: int, total: int) -> str:
  if total and hits == total:
    return 'REPRODUCED'
  if hits:
    return f'PARTLY REPRODUCED ({hits} of {total})'
  return 'NOT REPRODUCED'


# ---------------------------------------------------------------------------
# Tables.


def tickets_table(res: Results) -> str:
  lines = ['| domain | strategy | round 0 | ' + ' | '.join(
      f'~{100 * t:g}% sparsity' for t in TARGETS) + ' |',
           '|---|---|---|' + '---|' * len(TARGETS)]
  for domain in res.domains:
    full = res.acc.get(res.ticket(domain, 'full_model', 0))
    for strategy in ('ticket_reset', 'ticket_random'):
      cells = []
      for target in TARGETS:
        r = res.nearest('tickets', domain, domain, strategy, target)
        if r is None:
          cells.append('-')
          continue
        key = res.ticket(domain, strategy, r)
        cells.append(f'{_cell(res.acc[key])} ({100 * res.sparsity[key]:.1f}%)')
      lines.append(f'| {domain} | {NAMES[strategy]} | {_cell(full)} | '
                   + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def transfer_table(res: Results) -> str:
  strategies = ('masks_reset', 'masks_random', 'ticket_target')
  head = ' | '.join(f'{NAMES[s]} ~{100 * t:g}%' for t in TARGETS
                    for s in strategies)
  lines = [f'| source -> target | {head} |',
           '|---|' + '---|' * (len(TARGETS) * len(strategies))]
  means = collections.defaultdict(list)
  for source, target in res.pairs:
    cells = []
    for t in TARGETS:
      r = res.nearest('transfer', source, target, 'masks_reset', t)
      for s in strategies:
        key = (res.ticket(target, 'ticket_reset', r) if s == 'ticket_target'
               else ('transfer', source, target, s, r))
        values = res.acc.get(key)
        cell = _cell(values)
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


# ---------------------------------------------------------------------------
# Findings.


def finding_a(res: Results) -> str:
  lines, hits = [], 0
  for domain in res.domains:
    full = res.acc.get(res.ticket(domain, 'full_model', 0))
    if full is None:
      continue
    worst = None
    below = []
    for r in res.rounds('tickets', domain, domain, 'ticket_reset'):
      key = res.ticket(domain, 'ticket_reset', r)
      if res.sparsity[key] > UP_TO:
        continue
      diff = res.acc[key].mean() - full.mean()
      if worst is None or diff < worst[1]:
        worst = (r, diff, res.sparsity[key])
      if _welch(res.acc[key], full, 'less') < ALPHA:
        below.append(f'{100 * res.sparsity[key]:.1f}%')
    if worst is None:
      continue
    hits += not below
    lines.append(
        f'- {domain}: FULL-MODEL {_cell(full)}; smallest RESET - FULL '
        f'{100 * worst[1]:+.1f} points (at {100 * worst[2]:.1f}%); '
        + ('never significantly below.' if not below else
           'significantly below at ' + ', '.join(below) + '.'))
  return (f'**(a) TICKET-RESET matches or beats FULL-MODEL up to ~90% '
          f'sparsity: {_verdict(hits, len(lines))}.** ' +
          f'Rounds up to {100 * UP_TO:.0f}% sparsity; one-sided Welch '
          f't-test over the seeds, p < {ALPHA}.\n\n' + '\n'.join(lines))


class Comparison(NamedTuple):
  """TICKET-RESET against TICKET-RANDOM in one round, over the seeds."""
  sparsity: float
  diff: float       # mean RESET - mean RANDOM
  p: float          # two-sided Welch
  std_reset: float
  std_random: float


def reset_vs_random(res: Results, domain: str) -> List[Comparison]:
  """One `Comparison` per round that has both strategies."""
  out = []
  for r in res.rounds('tickets', domain, domain, 'ticket_reset'):
    if res.ticket(domain, 'ticket_random', r) not in res.acc:
      continue
    a = res.acc[res.ticket(domain, 'ticket_reset', r)]
    b = res.acc[res.ticket(domain, 'ticket_random', r)]
    out.append(Comparison(res.sparsity[res.ticket(domain, 'ticket_reset', r)],
                          a.mean() - b.mean(), _welch(a, b, 'two-sided'),
                          a.std(), b.std()))
  return out


def _apart(diff: float, p: float) -> bool:
  return p < ALPHA and diff > 0


def finding_b(res: Results) -> str:
  lines, hits, steadier, total = [], 0, 0, 0
  for domain in res.domains:
    rounds = reset_vs_random(res, domain)
    if not rounds:
      continue
    total += 1
    early = [c for c in rounds if c.sparsity <= UP_TO]
    late = [c for c in rounds if c.sparsity > UP_TO]
    close_early = not any(c.p < ALPHA for c in early)
    part_late = any(_apart(c.diff, c.p) for c in late)
    hits += close_early and part_late
    parting = None  # Lowest sparsity from which RESET stays above RANDOM.
    for c in reversed(rounds):
      if not _apart(c.diff, c.p):
        break
      parting = c.sparsity
    std_reset = std_random = float('nan')
    if late:
      std_reset = np.mean([c.std_reset for c in late])
      std_random = np.mean([c.std_random for c in late])
      steadier += std_reset < std_random
    significant = [f'{100 * c.sparsity:.1f}%' for c in early if c.p < ALPHA]
    lines.append(
        f'- {domain}: up to {100 * UP_TO:.0f}% '
        + ('close (no significant gap)' if close_early else
           'already apart at ' + ', '.join(significant))
        + '; beyond it RESET significantly above RANDOM '
        + ('in some round' if part_late else 'in no round')
        + ('; RESET stays significantly above from '
           f'{100 * parting:.1f}% on' if parting is not None else '')
        + f'. Mean std beyond {100 * UP_TO:.0f}%: RESET {std_reset:.3f}, '
        f'RANDOM {std_random:.3f}. RESET - RANDOM in points per round: '
        + '; '.join(f'{100 * c.sparsity:.1f}%: {100 * c.diff:+.1f} '
                    f'(p={c.p:.3f})' for c in rounds) + '.')
  return (f'**(b) RESET and RANDOM close until very high sparsity, then '
          f'part (phase transition): {_verdict(hits, total)}.** Reproduced '
          f'in a domain where no round up to {100 * UP_TO:.0f}% shows a '
          f'significant gap (two-sided Welch t-test over the seeds, p < '
          f'{ALPHA}) and RESET is significantly above RANDOM in some round '
          f'beyond. RESET steadier (smaller std) beyond {100 * UP_TO:.0f}% '
          f'in {steadier} of {total} domains.\n\n' + '\n'.join(lines))


def finding_c(res: Results) -> str:
  lines = []
  summary = {}
  for strategy in ('masks_reset', 'masks_random'):
    gaps = []
    for source, target in res.pairs:
      worst = None
      for r in res.rounds('transfer', source, target, strategy):
        key = ('transfer', source, target, strategy, r)
        ref = res.acc.get(res.ticket(target, 'ticket_reset', r))
        if res.sparsity[key] > UP_TO or ref is None:
          continue
        gap = ref.mean() - res.acc[key].mean()
        if worst is None or gap > worst[0]:
          worst = (gap, res.sparsity[key])
      if worst is not None:
        gaps.append((worst[0], source, target))
    summary[strategy] = gaps
  reset = summary['masks_reset']
  within = sum(g <= FEW_POINTS for g, _, _ in reset)
  for strategy, gaps in summary.items():
    if not gaps:
      continue
    worst = max(gaps)
    mean = np.mean([g for g, _, _ in gaps])
    lines.append(
        f'- {NAMES[strategy]}: largest shortfall below TICKET-TARGET up to '
        f'{100 * UP_TO:.0f}%, per pair: mean {100 * mean:.1f} points, '
        f'worst {100 * worst[0]:.1f} ({worst[1]} -> {worst[2]}); '
        f'within {100 * FEW_POINTS:.0f} points in '
        f'{sum(g <= FEW_POINTS for g, _, _ in gaps)} of {len(gaps)} pairs.')
  return (f'**(c) Transferred masks stay within a few points of '
          f'TICKET-TARGET up to ~90%: {_verdict(within, len(reset))}.** '
          f'(MASKS-RESET within {100 * FEW_POINTS:.0f} points of the '
          'target\'s own TICKET-RESET in every round up to '
          f'{100 * UP_TO:.0f}%, by pair).\n\n' + '\n'.join(lines))


def make_report(results_dir: str) -> str:
  """The markdown report of a results directory (see `lottery_jax.study`)."""
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
  parts += ['## Findings', '', finding_a(res), '', finding_b(res), '']
  if res.pairs:
    parts += [finding_c(res), '']
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
  if record.get('invocations'):
    parts += ['## Wall time', '', stage_times(record), '']
  return '\n'.join(parts)
