"""Data preparation alone: the reviews of five domains, split and encoded.

  python -m experiments.prepare_data --data_dir=../shared/data/amazon_reviews \
      --workdir=/tmp/lottery_data

Costs about 10 s on a 2-core CPU for the shared data, about 1 s when run
again (README, "Data"). Override any value, e.g. ``--config.data.train_size=2000``.
"""

import ml_collections

from lottery_jax import config as config_lib


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.data = config_lib.data_config()
  return config
