"""Transfers tickets: each source's TICKET-RESET masks trained on a target.

  python -m experiments.transfer_tickets --config=experiments/configs/cpu.py \
      --workdir=runs/cpu

Reads the tickets that experiments.find_tickets wrote under WORKDIR with the
same config; sources, targets and strategies come from config.transfer
(default: all ordered pairs of lottery.domains, MASKS-RESET and
MASKS-RANDOM). Run it again to resume.
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
    sys.exit('transfer_tickets: error: --config is required, e.g. '
             '--config=experiments/configs/cpu.py')
  logging.set_verbosity(logging.INFO)
  try:
    rows = lottery.run_transfer(_CONFIG.value, _DATA_DIR.value,
                                _WORKDIR.value, log=print)
  except lottery.USER_ERRORS as e:
    sys.exit(f'transfer_tickets: error: {e}')
  print(results.format_summary(results.summarize(rows)))


if __name__ == '__main__':
  app.run(main)
