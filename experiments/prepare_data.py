"""Reads, deduplicates, splits and encodes the reviews of every domain.

  python -m experiments.prepare_data --data_dir=DIR --workdir=OUT

Writes OUT/spm.model, OUT/data/<domain>/<split>.npz and OUT/data_report.json
(see lottery_jax/data/dataset.py for the format). Running it again reuses
what is already there.
"""

import os

from absl import flags

from experiments import common
from lottery_jax import config as config_lib
from lottery_jax import runs
from lottery_jax.data import data_report
from lottery_jax.data import dataset

_CONFIG = common.define_config(
    'prepare_data',
    os.path.join(os.path.dirname(__file__), 'configs', 'data.py'),
    'Config file; its `data` field holds the data settings.')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None,
    f'Root of the review files (default: ${dataset.ENV_DATA_DIR}).')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.',
                               required=True)


def main(argv):
  common.no_arguments('prepare_data', argv)
  try:
    report = dataset.prepare(_DATA_DIR.value, _WORKDIR.value,
                             config_lib.data_settings(_CONFIG.value.data))
  except runs.USER_ERRORS as e:  # A full disk (OSError) included.
    common.fail('prepare_data', e)
  print(data_report.format_report(report))


if __name__ == '__main__':
  common.run('prepare_data', main)
