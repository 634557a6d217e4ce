"""A whole study in a few minutes: every stage, two domains, models that learn.

  python -m experiments.run_study --config=experiments/configs/quick.py \
      --data_dir=../shared/data/amazon_reviews --workdir=runs/quick

The `cpu` preset's model and training (embedding 32, 32 channels, hidden
32, 160 tokens, 4 epochs, p = 0.55) on books and home only, 3 rounds (55%,
79.75% and 90.9% sparsity) and 3 seeds, then both transfer pairs: a first
look at every output (figures and report under WORKDIR/results), not a
result.
"""

import ml_collections

from experiments.configs import cpu


def get_config() -> ml_collections.ConfigDict:
  config = cpu.get_config()
  config.data.domains = 'books,home'
  config.lottery.rounds = 3
  config.lottery.seeds = 3
  return config
