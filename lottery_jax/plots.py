"""The paper's figures from saved results alone (SPEC.md section 7).

This module owns every figure: each is drawn on a bare
`matplotlib.figure.Figure` (never pyplot, never `matplotlib.use`, so a
notebook's backend and open figures are left alone) and saved as PNG and PDF
with `files.atomic_write`. The numbers come from `results` and
`data.divergence`; nothing here computes them.

- Figure 1 (`plot_heatmap`): the Jensen-Shannon divergence between domains,
  from divergence.json.
- Figure 3 (`plot_tickets`): test accuracy against sparsity, one panel per
  domain: FULL-MODEL (round 0, a level line), TICKET-RESET, TICKET-RANDOM,
  and TICKET-REINIT, TICKET-REWIND and RANDOM-PRUNING when the rows have
  them.
- Figure 4 (`plot_transfer`): one panel per source->target pair:
  MASKS-RESET, MASKS-RANDOM and TICKET-TARGET (the target's own
  TICKET-RESET curve).
- Training curves (`plot_curves`): validation accuracy against epoch, one
  line per round, from the rounds' curves.jsonl (`curves`) or a study's
  curves.jsonl.gz (`first_domain_curves`).

Lines are the mean over seeds, bands +-1 standard deviation. Rounds are
evenly spaced along x and labelled with their sparsity, as in the paper
(so the sparsity ticks are not evenly spaced).
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from matplotlib import colormaps
from matplotlib import figure
from matplotlib import ticker
import numpy as np

from lottery_jax import curves as curves_lib
from lottery_jax import files
from lottery_jax import results as results_lib

Summary = List[Dict[str, Any]]

STYLES = {
    'full_model': dict(color='0.35', linestyle='--', label='FULL-MODEL'),
    'ticket_reset': dict(color='tab:blue', label='TICKET-RESET'),
    'ticket_random': dict(color='tab:orange', label='TICKET-RANDOM'),
    'masks_reset': dict(color='tab:green', label='MASKS-RESET'),
    'masks_random': dict(color='tab:red', label='MASKS-RANDOM'),
    'ticket_target': dict(color='tab:blue', linestyle=':',
                          label='TICKET-TARGET'),
    'ticket_reinit': dict(color='tab:purple', linestyle='-.', marker='s',
                          label='TICKET-REINIT'),
    'ticket_rewind': dict(color='tab:cyan', linestyle=(0, (5, 1)),
                          marker='^', label='TICKET-REWIND'),
    'random_pruning': dict(color='tab:olive', linestyle=':', marker='v',
                           label='RANDOM-PRUNING'),
}
# Figure 3's pruned curves; the last three only when the rows have them.
TICKET_CURVES = ('ticket_reset', 'ticket_random', 'ticket_reinit',
                 'ticket_rewind', 'random_pruning')


def curve(summary: Summary, experiment: str, source: str, target: str,
          strategy: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray,
                                  np.ndarray]:
  """(rounds, sparsity, mean, std) of test accuracy, sorted by round."""
  points = sorted(
      (s['round'], s['sparsity'], s['test_accuracy_mean'],
       s['test_accuracy_std']) for s in summary
      if (s['experiment'], s['source'], s['target'], s['strategy']) ==
      (experiment, source, target, strategy))
  if not points:
    return tuple(np.zeros(0) for _ in range(4))
  return tuple(np.array(column) for column in zip(*points))


def _band(ax, x, mean, std, style):
  ax.plot(x, mean, **{'marker': 'o', 'markersize': 2.5, 'linewidth': 1.3,
                      **style})
  ax.fill_between(x, mean - std, mean + std, color=style['color'],
                  alpha=0.18, linewidth=0)


def sparsity_labels(sparsity: Sequence[float]) -> List[str]:
  """Percent labels with as few significant digits (3 at least) as keep
  distinct sparsities apart: 99.958, 99.973 and 99.982% stay distinct."""
  percent = [100 * float(s) for s in sparsity]
  for digits in range(3, 10):
    labels = [f'{p:.{digits}g}' for p in percent]
    if len(set(labels)) == len(set(percent)):
      return labels
  return labels


def _sparsity_ticks(ax, rounds: np.ndarray, sparsity: np.ndarray):
  ax.set_xticks(rounds)
  labels = sparsity_labels(sparsity)
  ax.set_xticklabels(labels, rotation=60, fontsize=7)
  ax.set_xlabel('sparsity (%)', fontsize=8)


def _grid(n: int, columns: int, title: str):
  rows = math.ceil(n / columns)
  # A bare Figure, not pyplot: no global state, no GUI backend needed.
  fig = figure.Figure(figsize=(3.2 * columns, 2.8 * rows + 0.4))
  axes = fig.subplots(rows, columns, squeeze=False)
  for ax in axes.flat[n:]:
    ax.axis('off')
  fig.suptitle(title, fontsize=10)
  return fig, list(axes.flat)


def _save(fig, stem: str) -> List[str]:
  paths = []
  fig.tight_layout()
  for extension in ('.png', '.pdf'):
    path = stem + extension
    # A reader (a notebook, a report) never sees half a file.
    with files.atomic_write(path) as f:
      fig.savefig(f, dpi=150, format=extension[1:])
    paths.append(path)
  return paths


def _legend(axes):
  axes[0].legend(fontsize=6, frameon=False)


def plot_heatmap(jsd: np.ndarray, domains: Sequence[str],
                 stem: str) -> List[str]:
  """Figure 1 to ``stem.png`` and ``stem.pdf``; returns the paths.

  Args:
    jsd: float [n, n], the pairwise divergences (nats), as
      `divergence.domain_divergence` returns them.
    domains: the n domain names, in the order of `jsd`'s rows.
    stem: the output path without extension.
  """
  jsd = np.asarray(jsd)
  if jsd.shape != (len(domains), len(domains)):
    raise ValueError(f'a {jsd.shape} divergence matrix for '
                     f'{len(domains)} domains')
  fig = figure.Figure(figsize=(6.0, 4.6))
  ax = fig.subplots()
  image = ax.imshow(jsd, cmap='viridis')
  ax.set_xticks(range(len(domains)), labels=domains, rotation=30, ha='right')
  ax.set_yticks(range(len(domains)), labels=domains)
  # Dark text on the bright (large) cells, light text on the dark ones.
  threshold = jsd.max() / 2 if jsd.max() > 0 else 1
  for i in range(len(domains)):
    for j in range(len(domains)):
      ax.text(j, i, f'{jsd[i, j]:.3f}', ha='center', va='center', fontsize=8,
              color='black' if jsd[i, j] > threshold else 'white')
  ax.set_title('Jensen-Shannon divergence of subword unigrams', fontsize=10)
  fig.colorbar(image, ax=ax, label='JSD (nats)')
  return _save(fig, stem)


def plot_tickets(summary: Summary, stem: str,
                 domains: Optional[Sequence[str]] = None) -> List[str]:
  """Figure 3 to ``stem.png`` and ``stem.pdf``; returns the paths."""
  domains = domains or list(dict.fromkeys(
      s['source'] for s in summary if s['experiment'] == 'tickets'))
  if not domains:
    raise ValueError('no ticket results to plot')
  fig, axes = _grid(len(domains), min(len(domains), 3),
                    'Tickets: test accuracy (mean +- std over seeds)')
  for ax, domain in zip(axes, domains):
    rounds, sparsity = np.zeros(0), np.zeros(0)
    for strategy in TICKET_CURVES:
      r, sp, mean, std = curve(summary, 'tickets', domain, domain, strategy)
      if len(r):
        _band(ax, r, mean, std, STYLES[strategy])
        if len(r) > len(rounds):
          rounds, sparsity = r, sp
    r0, sp0, mean0, std0 = curve(summary, 'tickets', domain, domain,
                                 'full_model')
    if len(r0):
      span = np.concatenate([r0, rounds])
      x = np.array([span.min(), span.max()])
      _band(ax, x, np.repeat(mean0, 2), np.repeat(std0, 2),
            dict(STYLES['full_model'], marker=None))
      rounds, sparsity = np.concatenate([r0, rounds]), np.concatenate(
          [sp0, sparsity])
    _sparsity_ticks(ax, rounds, sparsity)
    ax.set_title(domain, fontsize=9)
    ax.set_ylabel('test accuracy', fontsize=8)
    ax.tick_params(axis='y', labelsize=7)
  _legend(axes)
  return _save(fig, stem)


def plot_transfer(summary: Summary, stem: str,
                  pairs: Optional[Sequence[Tuple[str, str]]] = None
                  ) -> List[str]:
  """Figure 4 to ``stem.png`` and ``stem.pdf``: one panel per pair."""
  pairs = pairs or list(dict.fromkeys(
      (s['source'], s['target']) for s in summary
      if s['experiment'] == 'transfer'))
  if not pairs:
    raise ValueError('no transfer results to plot')
  sources = list(dict.fromkeys(s for s, _ in pairs))
  columns = max(sum(1 for s, _ in pairs if s == src) for src in sources)
  fig, axes = _grid(len(pairs), columns,
                    'Transfer: test accuracy on the target (mean +- std '
                    'over seeds)')
  for ax, (source, target) in zip(axes, pairs):
    rounds, sparsity = np.zeros(0), np.zeros(0)
    for strategy in ('masks_reset', 'masks_random'):
      r, sp, mean, std = curve(summary, 'transfer', source, target, strategy)
      if len(r):
        _band(ax, r, mean, std, STYLES[strategy])
        rounds, sparsity = r, sp
    r, _, mean, std = curve(summary, 'tickets', target, target,
                            'ticket_reset')
    keep = np.isin(r, rounds)
    if keep.any():
      _band(ax, r[keep], mean[keep], std[keep], STYLES['ticket_target'])
    _sparsity_ticks(ax, rounds, sparsity)
    ax.set_title(f'{source} -> {target}', fontsize=9)
    ax.set_ylabel('test accuracy', fontsize=8)
    ax.tick_params(axis='y', labelsize=7)
  _legend(axes)
  return _save(fig, stem)


def plot_federated(rows: Sequence[Dict[str, Any]], stem: str) -> List[str]:
  """The federated runs (`federated_study`): test accuracy (mean +- std over
  seeds) against communication rounds and against cumulative megabytes,
  one row of panels per client partition."""
  partitions = list(dict.fromkeys(r['partition'] for r in rows))
  if not partitions:
    raise ValueError('no federated results to plot')
  fig, axes = _grid(2 * len(partitions), 2, 'Federated re-training of the '
                    'server\'s tickets: test accuracy (mean +- std over '
                    'seeds)')
  runs = list(dict.fromkeys((r['variant'], r['ticket_round']) for r in rows))
  ticket_rounds = sorted({t for _, t in runs if t})
  colours = colormaps['viridis'](np.linspace(0.0, 0.85, len(ticket_rounds)))
  for i, partition in enumerate(partitions):
    for variant, t in runs:
      mine = [r for r in rows if (r['partition'], r['variant'],
                                  r['ticket_round']) == (partition, variant, t)]
      by_round = sorted({r['round'] for r in mine})
      acc = np.array([[r['test_accuracy'] for r in mine if r['round'] == k]
                      for k in by_round])
      mb = np.array([np.mean([r['bytes_total'] for r in mine
                              if r['round'] == k]) for k in by_round]) / 1e6
      sparsity = mine[0]['sparsity']
      style = (dict(color='0.35', linestyle='--', label='dense FedAvg')
               if variant == 'dense' else dict(
                   color=colours[ticket_rounds.index(t)],
                   linestyle='-' if variant == 'ticket_reset' else ':',
                   label=f'{100 * sparsity:.1f}% '
                   + ('theta_0' if variant == 'ticket_reset' else 'fresh')))
      for ax, x in zip(axes[2 * i:2 * i + 2], (np.array(by_round), mb)):
        _band(ax, x, acc.mean(1), acc.std(1), dict(style, markersize=0))
    labels = ('communication round', 'megabytes sent (both ways)')
    for ax, xlabel in zip(axes[2 * i:2 * i + 2], labels):
      ax.set_title(f'{partition} clients', fontsize=9)
      ax.set_xlabel(xlabel, fontsize=8)
      ax.set_ylabel('test accuracy', fontsize=8)
      ax.tick_params(labelsize=7)
    axes[2 * i + 1].set_xscale('log')
  _legend(axes)
  return _save(fig, stem)


def plot_curves(curves_paths_or_rows: Sequence[Any], stem: str) -> List[str]:
  """Validation accuracy against epoch, one line per round, to ``stem.png``
  and ``stem.pdf``; returns the paths.

  Args:
    curves_paths_or_rows: paths of curves.jsonl files (`curves.CurveWriter`)
      or their rows, for one domain's rounds of one strategy. A line is the
      mean over the seeds that trained that epoch (seeds stopped early drop
      out), the band +-1 standard deviation.
    stem: the output path without extension.
  """
  rows = [row for item in curves_paths_or_rows for row in (
      curves_lib.read_curves(os.fspath(item))
      if isinstance(item, (str, os.PathLike)) else [item])]
  by_round = {}
  for row in rows:
    if 'epoch' in row and row['valid_accuracy'] is not None:
      by_round.setdefault(row.get('round'), {}).setdefault(
          row['epoch'], []).append(row['valid_accuracy'])
  if not by_round:
    raise ValueError('no epoch rows to plot')
  last = next(row for row in reversed(rows) if 'epoch' in row)
  fig = figure.Figure(figsize=(5.0, 3.4))
  ax = fig.subplots()
  for i, (round_, epochs) in enumerate(sorted(
      by_round.items(), key=lambda item: (item[0] is None, item[0]))):
    x = np.array(sorted(epochs))
    values = [np.array(epochs[e]) for e in x]
    mean = np.array([v.mean() for v in values])
    std = np.array([v.std() for v in values])
    # Rounds in order, dark to light; viridis' last yellow is too pale.
    color = colormaps['viridis'](0.85 * i / max(len(by_round) - 1, 1))
    label = 'FULL-MODEL (round 0)' if round_ == 0 else f'round {round_}'
    _band(ax, x, mean, std, dict(color=color, label=label))
  ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
  ax.set_xlabel('epoch', fontsize=8)
  ax.set_ylabel('validation accuracy', fontsize=8)
  ax.tick_params(labelsize=7)
  domain = (last.get('target') if last.get('source') == last.get('target')
            else f"{last.get('source')} -> {last.get('target')}")
  ax.set_title(f"{domain} {last.get('strategy')}: validation accuracy "
               '(mean +- std over seeds)', fontsize=9)
  ax.legend(fontsize=6, frameon=False)
  return _save(fig, stem)


def draw_all(results_dir: str) -> List[str]:
  """Every figure whose results exist in `results_dir` (results.jsonl,
  divergence.json, curves.jsonl.gz); returns the written paths."""
  written = []
  jsd_path = os.path.join(results_dir, 'divergence.json')
  if os.path.exists(jsd_path):
    jsd = files.read_json(jsd_path)
    written += plot_heatmap(np.asarray(jsd['jsd']), jsd['domains'],
                            os.path.join(results_dir, 'divergence'))
  rows = results_lib.read_rows(os.path.join(results_dir, 'results.jsonl'))
  summary = results_lib.summarize(rows)
  if any(s['experiment'] == 'tickets' for s in summary):
    written += plot_tickets(summary, os.path.join(results_dir, 'tickets'))
  if any(s['experiment'] == 'transfer' for s in summary):
    written += plot_transfer(summary, os.path.join(results_dir, 'transfer'))
  shown = first_domain_curves(results_dir)
  if shown:
    written += plot_curves(shown, os.path.join(results_dir, 'curves'))
  return written


def first_domain_curves(results_dir: str) -> List[Dict[str, Any]]:
  """The curve rows that curves.png shows: the FULL-MODEL and TICKET-RESET
  rounds of the first domain in `results_dir`'s curves.jsonl.gz (every
  training's curves; an older results directory's curves.jsonl holds
  those rounds only); [] without curves."""
  for name in (curves_lib.GATHERED, curves_lib.CURVES):
    path = os.path.join(results_dir, name)
    if os.path.exists(path) and os.path.getsize(path):
      rows = curves_lib.read_curves(path)
      break
  else:
    return []
  first = next((r for r in rows if r.get('experiment') == 'tickets'), None)
  return [r for r in rows if first is not None
          and r.get('experiment') == 'tickets'
          and r.get('target') == first.get('target')
          and r.get('strategy') in ('full_model', 'ticket_reset')]
