"""The whole study of a preset: data, divergence, tickets in every domain,
transfer over every ordered pair, tables, figures and a markdown report.

  python -m experiments.run_study --config=experiments/configs/cpu.py \
      --data_dir=../shared/data/amazon_reviews --workdir=runs/cpu_study \
      [--results_dir=docs/results]

Run it again to resume: finished rounds are not trained again. The tables,
figures and report go to --results_dir (default WORKDIR/results); redraw
them from saved results alone with `python -m experiments.plot_results`.
"""

from absl import flags

from experiments import common
from lottery_jax import study

_FLAGS = common.define_run_flags()
_RESULTS_DIR = flags.DEFINE_string(
    'results_dir', None, 'Tables, figures and report (default: '
    'WORKDIR/results).')


def main(argv):
  record = common.call('run_study', argv, _FLAGS, study.run_study,
                       results_dir=_RESULTS_DIR.value)
  print('stages (seconds):', record['invocations'][-1]['stages'])


if __name__ == '__main__':
  common.run('run_study', main)
