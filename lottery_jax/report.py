"""The study's markdown report: the findings (`findings.py`), the
per-domain phase transition (`phase.py`) and seeds at chance
(`failures.py`), tables of Figures 1, 3 and 4, the linear baseline beside
FULL-MODEL, a training-budget ablation, and what the trainings cost
(`cost.py`), from a results directory alone (`make_report` lists its
files)."""

from __future__ import annotations

import collections
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from lottery_jax import cost
from lottery_jax import curves
from lottery_jax import failures
from lottery_jax import files
from lottery_jax import findings
from lottery_jax import phase
from lottery_jax import results as results_lib
from lottery_jax.findings import NAMES
from lottery_jax.findings import Results

TARGETS = (0.5, 0.9, 0.99)  # Table columns: the rounds near these.
# The tickets table's rows: RESET and RANDOM always, the controls of Frankle
# and Carbin when the rows have them.
TICKET_STRATEGIES = ('ticket_reset', 'ticket_random')
EXTRA_STRATEGIES = ('ticket_reinit', 'ticket_rewind', 'random_pruning')
TRANSFER_NOTE = (
    'MASKS-RESET starts from the source\'s theta_0, which is the target\'s '
    'theta_0 too (theta_0 is drawn per seed, the same in every domain), '
    'while the shuffling and dropout keys and MASKS-RANDOM\'s fresh draws '
    'fold in the source and target domains: the {n} pairs are distinct '
    'trainings, but not independent replicates: pairs from one source '
    'share its masks, and every pair shares theta_0.')


def near_round(res: Results, experiment: str, source: str, target: str,
               strategy: str, sparsity: float) -> Optional[int]:
  """The round nearest `sparsity` if it is near it, else None (cell '-').

  Near and nearest are measured as `findings.kept_ratio`: a round is near
  when it keeps between 1 / `findings.NEAR_FACTOR` and that many times what
  `sparsity` (the column's target, a fraction below 1) keeps (~50%: 0-75%,
  ~90%: 80-95%, ~99%: 98-99.5%). None also when the run has no rounds.
  """
  def ratio(r):
    return findings.kept_ratio(
        res.sparsity[(experiment, source, target, strategy, r)], sparsity)
  near = [r for r in res.rounds(experiment, source, target, strategy)
          if ratio(r) <= findings.NEAR_FACTOR]
  return min(near, key=ratio) if near else None


def tickets_table(res: Results) -> str:
  """Round 0 and the rounds near `TARGETS` (`near_round`), '-' if none:
  RESET and RANDOM, and each of `EXTRA_STRATEGIES` the domain has."""
  lines = ['| domain | strategy | round 0 | ' + ' | '.join(
      f'~{100 * t:g}% sparsity' for t in TARGETS) + ' |',
           '|---|---|---|' + '---|' * len(TARGETS)]
  for domain in res.domains:
    full = res.acc.get(res.ticket(domain, 'full_model', 0))
    for strategy in TICKET_STRATEGIES + tuple(
        s for s in EXTRA_STRATEGIES
        if res.rounds('tickets', domain, domain, s)):
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


def baseline_table(res: Results, baselines: Dict[str, Any]) -> str:
  """FULL-MODEL beside the linear baseline, one row per domain.

  Args:
    res: the results (FULL-MODEL is round 0).
    baselines: {domain: {'test_accuracy': float, 'C': float, ...}}, as
      baselines.json holds them (`lottery_jax.baselines`); entries without
      a test accuracy are skipped.

  Returns:
    The markdown table: FULL-MODEL mean +- std over the seeds, the linear
    test accuracy, and FULL-MODEL minus linear in points ('-' where a side
    is missing).
  """
  domains = list(dict.fromkeys(res.domains + [
      d for d, b in baselines.items()
      if isinstance(b, dict) and 'test_accuracy' in b]))
  lines = ['| domain | FULL-MODEL | linear (TF-IDF, logistic regression) | '
           'FULL-MODEL - linear (points) |', '|---|---|---|---|']
  for domain in domains:
    full = res.acc.get(res.ticket(domain, 'full_model', 0))
    linear = baselines.get(domain)
    linear = linear.get('test_accuracy') if isinstance(linear, dict) else None
    gap = ('-' if full is None or linear is None else
           f'{100 * (full.mean() - linear):+.1f}')
    lines.append(f'| {domain} | {findings.cell(full)} | '
                 + ('-' if linear is None else f'{linear:.3f}')
                 + f' | {gap} |')
  return '\n'.join(lines)


def ablation_runs(results_dir: str) -> Optional[Tuple[Dict[str, Any],
                                                      Optional[str]]]:
  """The runs of the training-budget ablation, if the directory has one.

  The format: ``ablation.json`` = {'labels': {'<run label>': '<path of a
  results.jsonl file, relative to results_dir>', ...}, 'domain': '<the
  domain>'} ('domain' optional: then the first domain of the first run),
  labels in the order to show; e.g. {'labels': {'4 epochs (old cpu
  preset)': 'ablation.jsonl', 'converged (cpu preset)': 'results.jsonl'},
  'domain': 'home'}. Each file holds ordinary result rows (`results.COLUMNS`;
  'tickets' rows whose source and target are the domain). Without
  ablation.json, an ``ablation.jsonl`` alone is compared with this study's
  results.jsonl under the labels 'ablation.jsonl' and 'results.jsonl'.

  Returns:
    ({label: rows}, domain or None), or None when there is no ablation.
  """
  spec_path = os.path.join(results_dir, 'ablation.json')
  if os.path.exists(spec_path):
    spec = files.read_json(spec_path)
    labels, domain = spec.get('labels', {}), spec.get('domain')
  elif os.path.exists(os.path.join(results_dir, 'ablation.jsonl')):
    labels = {name: name for name in ('ablation.jsonl', 'results.jsonl')}
    domain = None
  else:
    return None
  return {label: results_lib.read_rows(os.path.join(results_dir, path))
          for label, path in labels.items()}, domain


def _schedule(train: Dict[str, Any]) -> str:
  """'15 epochs', or the early stopping of study.json's train config."""
  if not train.get('patience'):
    return f'{train["epochs"]} epochs'
  least = (f' (at least {train["min_epochs"]} epochs)'
           if train.get('min_epochs') else '')
  return (f'at most {train["epochs"]} epochs, stopping {train["patience"]} '
          f'epochs after the best validation accuracy{least}')


def _config_lines(config: Dict[str, Any]) -> List[str]:
  """The settings paragraph of study.json's config."""
  m, t, lot = config['model'], config['train'], config['lottery']
  return [
      f'Model: embedding {m["embed_dim"]}, widths {tuple(m["widths"])} x '
      f'{m["channels"]} channels, hidden {m["hidden"]}, dropout '
      f'{m["dropout_rate"]}'
      + (f', embedding init N(0, {m["embed_init_std"]:g}^2)'
         if m.get('embed_init_std', 1.0) != 1.0 else '')
      + f'; {_schedule(t)}, batch '
      f'{t["batch_size"]}, {t["optimizer"]} lr {t["learning_rate"]}'
      + (f' after a {t["warmup_steps"]}-step warm-up'
         if t.get('warmup_steps') else '') + ', L2 '
      f'{t["l2"]}, reviews cut at {t["max_length"]} tokens; '
      f'{lot["rounds"]} rounds pruning {100 * lot["prune_fraction"]:g}% '
      f'a round; {lot["seeds"]} seeds. Accuracies are test accuracy, '
      'mean +- std (population) over the seeds.', '']


def _phase_section(res: Results, up_to: float) -> List[str]:
  """The per-domain phase transition (`phase.phase_table`)."""
  if not res.domains:
    return []
  return [
      '## Phase transition', '',
      'Decided per domain on its own rounds: the phase transition is the '
      'first round from which TICKET-RESET stays above the control in '
      'every later round (one-sided Welch t-test over the seeds, p < '
      f'{findings.ALPHA}), "none" when it never does. The spread column '
      'tests RESET\'s spread against RANDOM\'s (Brown-Forsythe, Levene '
      'centred on the median) in each round from that transition on (every '
      'pruned round when there is none). The gaps are mean RESET minus the '
      'control in points, two-sided Welch p, at the round nearest '
      f'{100 * up_to:g}%. The FULL-MODEL column gives the sparsity up to '
      'which RESET\'s mean is never more than '
      f'{100 * phase.WITHIN:g} point below FULL-MODEL\'s (above it is '
      'fine).', '', phase.phase_table(res, up_to), '',
      f'Seeds at chance (test accuracy at most {failures.CHANCE:g} on the '
      'balanced test split), summed over the domains: a mean over a few '
      'seeds hides these failures. The last column pools the rounds beyond '
      f'the one nearest {100 * up_to:g}% and tests whether a strategy fails '
      'more often than TICKET-RESET there (one-sided Fisher exact test).', '',
      failures.chance_table(res, up_to), '']


def _baseline_section(res: Results, results_dir: str) -> List[str]:
  path = os.path.join(results_dir, 'baselines.json')
  if not os.path.exists(path):
    return []
  return ['## FULL-MODEL against a linear baseline', '',
          'A TF-IDF logistic regression on the same splits '
          '(`lottery_jax.baselines`): what the data supports without a '
          'network.', '', baseline_table(res, files.read_json(path)), '']


def _ablation_section(results_dir: str, up_to: float) -> List[str]:
  found = ablation_runs(results_dir)
  if found is None:
    return []
  runs, domain = found
  return ['## Training budget (ablation)', '',
          'FULL-MODEL and RESET - RANDOM at moderate sparsity '
          f'({100 * phase.MODERATE[0]:g}-{100 * phase.MODERATE[1]:g}%) and '
          f'at the round nearest {100 * up_to:g}%, for each training budget '
          '(two-sided Welch p over the seeds).', '',
          phase.ablation_table(runs, domain, up_to), '']


def _federated_section(results_dir: str) -> List[str]:
  path = os.path.join(results_dir, 'federated.md')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    table = f.read().split('\n', 2)[-1].strip()  # Without its title.
  return ['## Federated re-training (paper section 7)', '',
          '![federated](federated.png)', '', table, '']


def _figure_sections(results_dir: str) -> List[str]:
  """Figure 1 and the training curves, when their files exist."""
  parts = []
  jsd_path = os.path.join(results_dir, 'divergence.json')
  if os.path.exists(jsd_path):
    parts += ['## Divergence (Figure 1)', '', '![divergence](divergence.png)',
              '', 'Jensen-Shannon divergence (nats) of the training splits\' '
              'unigram distributions.', '',
              divergence_table(files.read_json(jsd_path)), '']
  if os.path.exists(os.path.join(results_dir, 'curves.png')):
    every = os.path.exists(os.path.join(results_dir, curves.GATHERED))
    parts += ['## Training curves', '', '![curves](curves.png)', '',
              'Validation accuracy per epoch of the first domain\'s '
              'FULL-MODEL and TICKET-RESET rounds (mean +- std over the '
              'seeds): whether the trainings converged. '
              + (f'Every training\'s curves, tickets and transfer, every '
                 f'seed and epoch, are in {curves.GATHERED} '
                 '(`lottery_jax.curves.read_curves`); ' if every else '')
              + 'each round\'s directory keeps its curves.jsonl and '
              'TensorBoard event files under tb/.', '']
  return parts


def make_report(results_dir: str,
                up_to: float = findings.UP_TO_TARGET) -> str:
  """The markdown report of a results directory (see `lottery_jax.study`).

  Args:
    results_dir: holds results.jsonl, and optionally study.json,
      divergence.json, curves.png, baselines.json ({domain:
      {'test_accuracy', 'C', ...}}: the linear baseline beside FULL-MODEL)
      and ablation.json with the results files it names (or ablation.jsonl;
      see `ablation_runs`): the training-budget ablation.
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
  parts = ['# Lottery tickets under distributional shift: results', '']
  if record.get('config'):
    parts += _config_lines(record['config'])
  parts += ['## Findings', '', findings.finding_a(res, up_to), '',
            findings.finding_b(res, up_to), '']
  if res.pairs:
    parts += [findings.finding_c(res, up_to), '']
  parts += _phase_section(res, up_to)
  parts += ['## Tickets (Figure 3)', '', '![tickets](tickets.png)', '',
            tickets_table(res), '']
  parts += _baseline_section(res, results_dir)
  if res.pairs:
    parts += ['## Transfer (Figure 4)', '', '![transfer](transfer.png)', '',
              transfer_table(res), '',
              TRANSFER_NOTE.format(n=len(res.pairs)), '']
  parts += _ablation_section(results_dir, up_to)
  parts += _federated_section(results_dir)
  parts += _figure_sections(results_dir)
  if any(r.get('epochs_run') is not None for r in rows):
    limit = record.get('config', {}).get('train', {}).get('epochs')
    parts += ['## Convergence and cost', '',
              'Per experiment and strategy: the seeds whose best validation '
              'epoch came before their last (their plateau was seen), those '
              'that ran to the epoch limit, and the trainings\' seconds '
              '(worker time: summed over trainings that may have run in '
              'parallel).', '', cost.effort_table(rows, limit), '',
              'Per domain trained on: the trainings in it, their seconds '
              '(worker time) and the seconds per seed-epoch.', '',
              cost.domain_table(rows), '']
  if record.get('invocations'):
    parts += ['## Wall time', '', cost.stage_times(record), '']
  return '\n'.join(parts)
