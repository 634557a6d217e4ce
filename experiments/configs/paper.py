"""The paper's setup, every value of SPEC.md exactly (`lottery_jax.config`).

  python -m experiments.find_tickets --config=experiments/configs/paper.py \
      --data_dir=../shared/data/amazon_reviews --workdir=runs/paper
  python -m experiments.transfer_tickets \
      --config=experiments/configs/paper.py --workdir=runs/paper

Cost: 5 domains x 2 strategies x 5 seeds x 21 rounds x up to 15 epochs, then
20 pairs x 2 strategies x 5 seeds x 20 masks: an accelerator's job (days on
a 2-core CPU).
"""

import ml_collections

from lottery_jax import config as config_lib


def get_config() -> ml_collections.ConfigDict:
  return config_lib.get_config()
