"""Result rows: one per (experiment, source, target, strategy, seed, round).

Rows are plain dicts with the keys of `COLUMNS`, stored as JSON lines.
"""

from __future__ import annotations

import collections
import json
import os
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import numpy as np

from lottery_jax import files
from lottery_jax import fit as fit_lib
from lottery_jax import lottery
from lottery_jax import masks as masks_lib

COLUMNS = ('experiment', 'source', 'target', 'strategy', 'seed', 'round',
           'sparsity', 'sparsity_all', 'valid_accuracy', 'test_accuracy',
           'best_epoch', 'epochs_run', 'wall_time')
GROUP = ('experiment', 'source', 'target', 'strategy', 'round')


class RowError(files.CorruptFileError):
  """A result row without the keys of `COLUMNS`; the message names its file
  (or place) and the keys."""


def check_row(row: Any, where: str) -> None:
  """Raises RowError, naming `where`, unless `row` has every column.

  Keys beyond `COLUMNS` are allowed (`write_rows` drops them) and named in
  the error, as a file with other keys is most often one of another version.
  """
  if not isinstance(row, dict):
    raise RowError(f'{where}: not a result row (a JSON object with the keys '
                   f'{", ".join(COLUMNS)})')
  missing = [k for k in COLUMNS if k not in row]
  if missing:
    extra = sorted(set(row) - set(COLUMNS))
    raise RowError(f'{where}: a result row without {", ".join(missing)}'
                   + (f' (it has {", ".join(extra)} instead)' if extra else '')
                   + '; was it written by another version of lottery_jax?')


def write_rows(path: str, rows: Iterable[Dict[str, Any]]) -> None:
  """Writes rows as JSON lines, atomically; a row without every column is a
  RowError naming `path` (and nothing is written)."""
  with files.atomic_write(path, 'w') as f:
    for i, row in enumerate(rows, 1):
      check_row(row, f'{path}: row {i} to write')
      f.write(json.dumps({k: row[k] for k in COLUMNS}) + '\n')


def read_rows(path: str) -> List[Dict[str, Any]]:
  """The rows of a JSON-lines file; a bad line (not JSON, or else a row
  without every column) is an error naming it."""
  numbered = []
  with open(path) as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        numbered.append((number, json.loads(line)))
      except json.JSONDecodeError as e:
        raise files.CorruptFileError(
            f'{path}:{number}: not a JSON row ({e.msg})') from e
  for number, row in numbered:
    check_row(row, f'{path}:{number}')
  return [row for _, row in numbered]


def read_all(workdir: str) -> List[Dict[str, Any]]:
  """Every results.jsonl under a work directory's tickets/ and transfer/."""
  rows = []
  for kind in ('tickets', 'transfer'):
    root = os.path.join(workdir, kind)
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
      path = os.path.join(root, name, 'results.jsonl')
      if os.path.exists(path):
        rows.extend(read_rows(path))
  return rows


def summarize(rows: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
  """Mean and standard deviation over seeds per (experiment, source, target,
  strategy, round), in first-seen order. std is the population std (ddof 0)
  over the seeds present."""
  groups = collections.OrderedDict()
  for i, row in enumerate(rows, 1):
    check_row(row, f'result row {i}')
    groups.setdefault(tuple(row[k] for k in GROUP), []).append(row)
  out = []
  for key, members in groups.items():
    summary = dict(zip(GROUP, key))
    summary['seeds'] = len(members)
    summary['sparsity'] = members[0]['sparsity']
    summary['sparsity_all'] = members[0]['sparsity_all']
    for metric in ('valid_accuracy', 'test_accuracy', 'best_epoch'):
      values = np.array([m[metric] for m in members], float)
      summary[f'{metric}_mean'] = float(values.mean())
      summary[f'{metric}_std'] = float(values.std())
    summary['wall_time'] = float(members[0]['wall_time'])
    out.append(summary)
  return out


def format_summary(summary: Sequence[Dict[str, Any]]) -> str:
  """A plain-text table of `summarize`'s output."""
  header = (f'{"experiment":<9} {"source->target":<24} {"strategy":<14} '
            f'{"round":>5} {"sparsity":>9} {"test acc":>16} {"valid acc":>16}'
            f' {"time":>7}')
  lines = [header, '-' * len(header)]
  for s in summary:
    pair = (s['source'] if s['source'] == s['target'] else
            f'{s["source"]}->{s["target"]}')
    lines.append(
        f'{s["experiment"]:<9} {pair:<24} {s["strategy"]:<14} '
        f'{s["round"]:>5} {100 * s["sparsity"]:>8.2f}% '
        f'{s["test_accuracy_mean"]:>8.4f}+-{s["test_accuracy_std"]:.4f} '
        f'{s["valid_accuracy_mean"]:>8.4f}+-{s["valid_accuracy_std"]:.4f} '
        f'{s["wall_time"]:>6.1f}s')
  return '\n'.join(lines)


Key = Tuple[str, str, str, str, int]


class Results:
  """Per-seed test accuracies and sparsities of rows, indexed by (experiment,
  source, target, strategy, round): what the findings and tables read."""

  def __init__(self, rows: Sequence[Dict[str, Any]]):
    self.acc: Dict[Key, np.ndarray] = {}
    self.sparsity: Dict[Key, float] = {}
    grouped = collections.defaultdict(list)
    for row in rows:
      grouped[tuple(row[k] for k in GROUP)].append(row)
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


def make_rows(result: fit_lib.FitResult, masks, params, seeds: Sequence[int],
              *, experiment: str, source: str, target: str, strategy: str,
              round_: int, seconds: float) -> List[Dict[str, Any]]:
  """One result row per seed (see results.COLUMNS)."""
  per_seed = [masks_lib.sparsity(lottery.seed_slice(masks, i),
                                 lottery.seed_slice(params, i))
              for i in range(len(seeds))]
  spars = per_seed[0]
  if any(s['prunable'] != spars['prunable'] for s in per_seed):
    raise ValueError(f'{strategy} round {round_}: the seeds pruned different '
                     'numbers of weights: '
                     f'{[s["prunable"] for s in per_seed]}')
  return [{
      'experiment': experiment, 'source': source, 'target': target,
      'strategy': strategy, 'seed': int(seed), 'round': round_,
      'sparsity': round(spars['prunable'], 6),
      'sparsity_all': round(spars['all'], 6),
      'valid_accuracy': float(result.valid_accuracy[i]),
      'test_accuracy': float(result.test_accuracy[i]),
      'best_epoch': int(result.best_epoch_index[i]) + 1,  # 1-based
      'epochs_run': int(result.epochs_run[i]),
      'wall_time': round(seconds, 3),
  } for i, seed in enumerate(seeds)]
