"""A whole study in a few minutes: every stage, two domains, models that learn.

  python -m experiments.run_study --config=experiments/configs/quick.py \
      --data_dir=../shared/data/amazon_reviews --workdir=runs/quick

The `cpu` preset's model (embedding 32, 32 channels, hidden 32, 256
tokens, lr 3e-3, p = 0.55) on books and home only, TICKET-RESET and
TICKET-RANDOM, 3 rounds (55%, 79.75% and 90.9% sparsity), 3 seeds and 8
epochs (the best epoch's params kept), then both transfer pairs: a first
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
  config.lottery.strategies = 'ticket_reset,ticket_random'
  config.train.epochs = 8  # The preset's min_epochs: no early stopping.
  return config
