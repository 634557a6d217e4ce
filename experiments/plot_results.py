"""Redraws the tables, figures and report of a results directory from its
saved results alone (results.jsonl, divergence.json, baselines.json,
curves.jsonl.gz, study.json).

  python -m experiments.plot_results --results_dir=docs/results [--up_to=0.9]

Writes summary.csv, divergence/tickets/transfer/curves .png and .pdf, and
report.md beside them.
"""

import os

from absl import flags

from experiments import common
from lottery_jax import findings
from lottery_jax import study

_RESULTS_DIR = flags.DEFINE_string(
    'results_dir', None, 'Directory that experiments.run_study wrote.',
    required=True)
_UP_TO = flags.DEFINE_float(
    'up_to', findings.UP_TO_TARGET,
    'Target sparsity of the paper\'s "up to about 90%" findings, as a '
    'fraction: they are judged on the rounds at or below the round whose '
    'sparsity is nearest to it (cpu preset: 90.9%; paper preset: 88.4%).',
    lower_bound=0.0, upper_bound=1.0)


def main(argv):
  common.no_arguments('plot_results', argv)
  path = os.path.join(_RESULTS_DIR.value, 'results.jsonl')
  if not os.path.exists(path):
    common.fail('plot_results', f'{path}: not found; run '
                'experiments.run_study first')
  try:
    for written in study.write_outputs(_RESULTS_DIR.value,
                                       up_to=_UP_TO.value):
      print(written)
  # ValueError: a corrupt file, bad rows, no results to plot; OSError: a
  # full disk.
  except (ValueError, OSError) as e:
    common.fail('plot_results', e)


if __name__ == '__main__':
  common.run('plot_results', main)
