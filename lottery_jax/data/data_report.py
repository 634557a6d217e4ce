"""The data report of `dataset.prepare`: its fields and its plain-text table.

This module owns what ``data_report.json`` holds (`build_report`), the
length percentiles of each encoded split (`length_percentiles`, stored in the
manifest and the report) and the table that `experiments.prepare_data`
prints (`format_report`). It reads nothing from disk.
"""

from __future__ import annotations

import os
from typing import Any, Dict

import numpy as np

from lottery_jax.data import domains as domains_lib


def length_percentiles(lengths: np.ndarray) -> Dict[str, int]:
  """50th/90th/99th percentile (and max) of untruncated encoded lengths.

  Args:
    lengths: int [n], ids per review before truncation.

  Returns:
    {'p50', 'p90', 'p99', 'max'}, or {} for an empty split.
  """
  if len(lengths) == 0:
    return {}
  p50, p90, p99 = np.percentile(lengths, [50, 90, 99])
  return {'p50': int(p50), 'p90': int(p90), 'p99': int(p99),
          'max': int(lengths.max())}


def build_report(data_dir: str, settings, vocab_size: int,
                 domains: Dict[str, Any], timings: Dict[str, float]
                 ) -> Dict[str, Any]:
  """The data report of `prepare`; `format_report` prints it.

  Args:
    data_dir: the review files' root.
    settings: the data settings (`config.DataSettings`).
    vocab_size: pieces in the trained vocabulary.
    domains: {domain: its read report, with 'splits' {split: stats}}.
    timings: {stage: seconds}.
  """
  return {
      'data_dir': os.path.abspath(data_dir),
      'vocab': {'path': 'spm.model', 'size': vocab_size,
                'model_type': settings.model_type,
                'character_coverage': settings.character_coverage,
                'lowercase': settings.lowercase},
      'max_length': settings.max_length,
      'data_seed': settings.data_seed,
      'config': settings.record(),
      'domains': domains,
      'seconds': {k: round(v, 3) for k, v in timings.items()},
  }


def format_report(report: Dict[str, Any]) -> str:
  """A plain-text table of a data report, one row per domain."""
  header = (f'{"domain":<12} {"read":>6} {"dups":>5} {"3-star":>6} '
            f'{"skipped":>7} {"train":>6} {"valid":>6} {"test":>6} '
            f'{"len p50/p90/p99":>16}')
  lines = [header, '-' * len(header)]
  for name, d in report['domains'].items():
    splits = d['splits']
    p = splits['train']['length_percentiles']
    lines.append(
        f'{name:<12} {d["records_read"]:>6} {d["duplicates_removed"]:>5} '
        f'{d["neutral_dropped"]:>6} {sum(d["skipped"].values()):>7} '
        + ' '.join(f'{splits[s]["examples"]:>6}' for s in domains_lib.SPLITS)
        + f' {p["p50"]:>6}/{p["p90"]}/{p["p99"]}')
  seconds = ', '.join(f'{k} {v:.1f}s' for k, v in report['seconds'].items())
  lines.append(f'vocabulary: {report["vocab"]["size"]} pieces; {seconds}')
  return '\n'.join(lines)
