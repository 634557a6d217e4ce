"""The paper's setup, every value of SPEC.md exactly.

  python -m experiments.find_tickets --config=experiments/configs/paper.py \
      --data_dir=../shared/data/amazon_reviews --workdir=runs/paper
  python -m experiments.transfer_tickets \
      --config=experiments/configs/paper.py --workdir=runs/paper

Cost: 5 domains x 2 strategies x 5 seeds x 21 rounds x up to 15 epochs, then
20 pairs x 2 strategies x 5 seeds x 20 masks: an accelerator's job (days on
a 2-core CPU).
"""

import ml_collections

from lottery_jax import dataset


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.data = dataset.default_config()

  config.model = ml_collections.ConfigDict()
  config.model.embed_dim = 417
  config.model.widths = (3, 4, 5)
  config.model.channels = 127
  config.model.hidden = 117
  config.model.dropout_rate = 0.285
  # The convolutions' formulation (same results): 'matmul', one matmul per
  # tap, batches well over vmapped seeds; 'xla', lax.conv, is the fastest
  # for one seed at a time on a CPU (with train.seed_chunk = 1).
  config.model.conv = 'matmul'

  config.train = ml_collections.ConfigDict()
  config.train.optimizer = 'adam'
  config.train.learning_rate = 1e-3
  config.train.l2 = 1e-5
  config.train.batch_size = 32
  config.train.eval_batch_size = 256
  config.train.epochs = 15
  # 0: train every epoch and keep the best validation epoch's params.
  config.train.patience = 0
  config.train.max_length = 500
  # Length buckets, e.g. (64, 128, 256): batches padded to their bucket's
  # length. Exact logits, but batches group reviews of similar length, so
  # off here to keep the paper's batches.
  config.train.buckets = ()
  # Seeds per batch of the seed map: 0 vmaps them all (accelerators); 1
  # maps them one at a time in the same program (faster on a CPU).
  config.train.seed_chunk = 0

  config.lottery = ml_collections.ConfigDict()
  # Empty: every domain of data.domains.
  config.lottery.domains = ''
  config.lottery.strategies = 'ticket_reset,ticket_random'
  config.lottery.rounds = 20
  config.lottery.prune_fraction = 0.35
  config.lottery.seeds = 5
  config.lottery.seed_offset = 0

  config.transfer = ml_collections.ConfigDict()
  # Empty: every domain of lottery.domains; all ordered pairs.
  config.transfer.sources = ''
  config.transfer.targets = ''
  config.transfer.strategies = 'masks_reset,masks_random'
  # Keep the trained params of every transfer round (their masks are the
  # source's): about 100 MB a round at paper size, so off by default.
  config.transfer.save_params = False
  return config
