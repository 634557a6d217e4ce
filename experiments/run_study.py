"""The whole study of a preset: data, divergence, tickets in every domain,
transfer over every ordered pair, tables, figures and a markdown report.

  python -m experiments.run_study --config=experiments/configs/cpu.py \
      --data_dir=../shared/data/amazon_reviews --workdir=runs/cpu_study \
      [--results_dir=docs/results]

Run it again to resume: finished rounds are not trained again. The tables,
figures and report go to --results_dir (default WORKDIR/results); redraw
them from saved results alone with `python -m experiments.plot_results`.
"""

import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from lottery_jax import lottery
from lottery_jax import study

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Preset file.',
                                          lock_config=True)
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'Root of the review files (default: '
    '$LOTTERY_JAX_DATA_DIR); needed until WORKDIR/data is prepared.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.',
                               required=True)
_RESULTS_DIR = flags.DEFINE_string(
    'results_dir', None, 'Tables, figures and report (default: '
    'WORKDIR/results).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  if _CONFIG.value is None:
    sys.exit('run_study: error: --config is required, e.g. '
             '--config=experiments/configs/cpu.py')
  try:
    record = study.run_study(_CONFIG.value, _DATA_DIR.value, _WORKDIR.value,
                             _RESULTS_DIR.value, log=print)
  except lottery.USER_ERRORS as e:
    sys.exit(f'run_study: error: {e}')
  print('stages (seconds):', record['invocations'][-1]['stages'])


if __name__ == '__main__':
  app.run(main)
