"""Reads, deduplicates, splits and encodes the reviews of every domain.

  python -m experiments.prepare_data --data_dir=DIR --workdir=OUT

Writes OUT/spm.model, OUT/data/<domain>/<split>.npz and OUT/data_report.json
(see lottery_jax/data/dataset.py for the format), then fits the linear
baseline of every domain (a TF-IDF logistic regression, `lottery_jax.
baselines`: what the data supports) into OUT/baselines.json and prints its
table. Running it again reuses what is already there.
"""

import os

from absl import flags

from experiments import common
from lottery_jax import baselines
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
_BASELINE = flags.DEFINE_bool(
    'baseline', True, 'Fit and print the linear baseline of every domain.')


def main(argv):
  common.no_arguments('prepare_data', argv)
  try:
    settings = config_lib.data_settings(_CONFIG.value.data)
    report = dataset.prepare(_DATA_DIR.value, _WORKDIR.value, settings)
    print(data_report.format_report(report))
    if _BASELINE.value:
      print('\nLinear baseline (TF-IDF word 1-2 grams, logistic regression, '
            'C chosen on valid):')
      print(baselines.baseline_table(baselines.all_baselines(
          _WORKDIR.value, settings.domains)))
  except runs.USER_ERRORS as e:  # A full disk (OSError) included.
    common.fail('prepare_data', e)


if __name__ == '__main__':
  common.run('prepare_data', main)
