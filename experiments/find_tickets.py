"""Finds lottery tickets: IMP rounds 0..R for every configured domain.

  python -m experiments.find_tickets --config=experiments/configs/cpu.py \
      --data_dir=../shared/data/amazon_reviews --workdir=runs/cpu

Prepares the data under WORKDIR/data if needed, then trains every round of
every strategy with all seeds vmapped, saving each round; run it again to
resume. Prints the accuracy per round (mean +- std over seeds).
"""

import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from lottery_jax import lottery
from lottery_jax import results

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Preset file.',
                                          lock_config=True)
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'Root of the review files (default: '
    '$LOTTERY_JAX_DATA_DIR); needed until WORKDIR/data is prepared.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.',
                               required=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  if _CONFIG.value is None:
    sys.exit('find_tickets: error: --config is required, e.g. '
             '--config=experiments/configs/cpu.py')
  logging.set_verbosity(logging.INFO)
  try:
    rows = lottery.run_find_tickets(_CONFIG.value, _DATA_DIR.value,
                                    _WORKDIR.value, log=print)
  except lottery.USER_ERRORS as e:
    sys.exit(f'find_tickets: error: {e}')
  print(results.format_summary(results.summarize(rows)))


if __name__ == '__main__':
  app.run(main)
