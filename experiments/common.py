"""The flags and error handling that the lottery entry points share.

Imported by find_tickets, transfer_tickets and run_study, which define
their own flags beside these (absl: only binaries define flags).
"""

import sys
from typing import Any, Callable

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from lottery_jax import runs

CONFIG = config_flags.DEFINE_config_file('config', None, 'Preset file.',
                                         lock_config=True)
DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'Root of the review files (default: '
    '$LOTTERY_JAX_DATA_DIR); needed until WORKDIR/data is prepared.')
WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.',
                              required=True)


def call(name: str, argv, fn: Callable[..., Any], **kwargs) -> Any:
  """`fn(config, data_dir, workdir, **kwargs)`; a user error exits with one
  line that starts with `name`."""
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  if not flags.FLAGS['verbosity'].present:
    # Third-party INFO lines (orbax writes ~27 a checkpoint) would bury the
    # progress; --verbosity=0 brings them back.
    logging.set_verbosity(logging.WARNING)
  if CONFIG.value is None:
    sys.exit(f'{name}: error: --config is required, e.g. '
             '--config=experiments/configs/cpu.py')
  try:
    return fn(CONFIG.value, DATA_DIR.value, WORKDIR.value, **kwargs)
  except runs.USER_ERRORS as e:
    sys.exit(f'{name}: error: {e}')
