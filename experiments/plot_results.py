"""Redraws the tables, figures and report of a results directory from its
saved results alone (results.jsonl, divergence.json, study.json).

  python -m experiments.plot_results --results_dir=docs/results [--up_to=0.9]

Writes summary.csv, divergence/tickets/transfer .png and .pdf, and
report.md beside them.
"""

import os
import sys

from absl import app
from absl import flags

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
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  path = os.path.join(_RESULTS_DIR.value, 'results.jsonl')
  if not os.path.exists(path):
    sys.exit(f'plot_results: error: {path}: not found; run '
             'experiments.run_study first')
  try:
    for written in study.write_outputs(_RESULTS_DIR.value,
                                       up_to=_UP_TO.value):
      print(written)
  except ValueError as e:
    sys.exit(f'plot_results: error: {e}')


if __name__ == '__main__':
  app.run(main)
