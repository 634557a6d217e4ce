"""Reads, deduplicates, splits and encodes the reviews of every domain.

  python -m experiments.prepare_data --data_dir=DIR --workdir=OUT

Writes OUT/spm.model, OUT/data/<domain>/<split>.npz and OUT/data_report.json
(see lottery_jax/data/dataset.py for the format). Running it again reuses
what is already there.
"""

import os
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from lottery_jax import config as config_lib
from lottery_jax.data import data_report
from lottery_jax.data import dataset
from lottery_jax.data import domains
from lottery_jax.data import input_pipeline

_CONFIG = config_flags.DEFINE_config_file(
    'config', os.path.join(os.path.dirname(__file__), 'configs', 'data.py'),
    'Config file; its `data` field holds the data settings.')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None,
    f'Root of the review files (default: ${dataset.ENV_DATA_DIR}).')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.',
                               required=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  try:
    report = dataset.prepare(_DATA_DIR.value, _WORKDIR.value,
                             config_lib.data_settings(_CONFIG.value.data))
  except (config_lib.ConfigError, domains.DataError,
          input_pipeline.ReviewFileError) as e:
    sys.exit(f'prepare_data: error: {e}')
  print(data_report.format_report(report))


if __name__ == '__main__':
  app.run(main)
