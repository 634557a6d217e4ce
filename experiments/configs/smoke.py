"""A seconds-long run of the whole procedure, for tests.

  python -m experiments.find_tickets --config=experiments/configs/smoke.py \
      --data_dir=DIR --workdir=/tmp/smoke

Tiny model, 2 rounds at p = 0.5, 2 seeds, 2 epochs, 64 tokens.
"""

import ml_collections

from lottery_jax import config as config_lib


def get_config() -> ml_collections.ConfigDict:
  config = config_lib.get_config()
  config.data.vocab_size = 200
  config.model.embed_dim = 16
  config.model.channels = 8
  config.model.hidden = 8
  config.train.epochs = 2
  config.train.max_length = 64
  config.lottery.rounds = 2
  config.lottery.prune_fraction = 0.5
  config.lottery.seeds = 2
  return config
