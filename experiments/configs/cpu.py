"""The paper's procedure scaled to train to convergence on a 2-core CPU.

  python -m experiments.run_study --config=experiments/configs/cpu.py \
      --data_dir=../shared/data/amazon_reviews --workdir=runs/cpu_study

Same data, vocabulary, optimiser (Adam, L2 1e-5), batch size, dropout, five
seeds and strategies as `paper`, plus the three controls (TICKET-REINIT,
TICKET-REWIND, RANDOM-PRUNING). Changed, each chosen by measurement
(`benchmarks/convergence.py`, table in docs/convergence.md):
- narrower layers: embedding 32, 32 channels of widths 3/4/5, hidden 32;
- reviews cut at 256 tokens (books' median review is 138 tokens, its 70th
  percentile 221; 160 tokens cost books and cds 1-3 points);
- learning rate 3e-3 instead of 1e-3 (at 1e-3 this model was still rising
  after 15 epochs; at 3e-3 it peaks after 11-19), reached by a linear
  warm-up over the first 200 steps: without it, Adam's first full-size
  steps killed every hidden ReLU of 4 of 15 TICKET-REINIT trainings
  (`benchmarks/dead_starts.py`; with it, none);
- early stopping: up to 25 epochs, stopping 4 epochs after the best
  validation accuracy (the sweep's rule) but not before epoch 8 (the best
  epoch's params are kept and tested once), so that no training stops
  while it still sits at chance in its first epochs;
- two length buckets (128 and 256 tokens): batches of shorter reviews are
  not padded to 256; a batch's reviews are drawn at random within its
  bucket;
- 6 rounds at p = 0.55, so that the rounds pass about 50%, 90% and 99%
  sparsity (55.0, 79.8, 90.9, 95.9, 98.2, 99.2%);
- TICKET-REWIND rewinds to step 200, the end of the warm-up (about 2
  epochs of books, 3 of electronics); its trainings then start a fresh
  optimiser and warm-up, as every training does (Frankle et al. 2020
  carry on with the schedule from step k).
Measured, one seed, test accuracy at the best epoch (docs/convergence.md):
books 0.781, electronics 0.758, movies 0.802, cds 0.760, home 0.831, each
within 2 points of the paper-size CNN trained to its plateau at 256 tokens
(0.774, 0.769, 0.783, 0.764, 0.837); the old 4-epoch preset (160 tokens,
lr 1e-3, `cpu_4epochs`) reached 0.58-0.71. Those runs stopped with
patience 4, as this preset does. A first converged study stopped with
patience 3 (after 8 epochs), which the sweep had not measured: measured
afterwards (`cpu_p3`, seeds 0-2) it reached 0.0-1.0 points less test
accuracy, seed 0 in electronics 2.2 below the paper-size CNN
(docs/convergence.md, "The study's early stopping"). The study with this
preset (docs/results): FULL-MODEL's five-seed means are 0.2-1.5 points
below the paper-size CNN, and 2.9 in home, where these five draws of the
shuffling and dropout keys sit low (docs/convergence.md, "Seeds and the
reference on home").
The federated section (paper section 7) is sized for this machine too:
`python -m experiments.federated --config=experiments/configs/cpu.py
--workdir=runs/cpu_study` after the study has found books' tickets.
"""

import ml_collections

from lottery_jax import config as config_lib


def get_config() -> ml_collections.ConfigDict:
  config = config_lib.get_config()
  config.model.embed_dim = 32
  config.model.channels = 32
  config.model.hidden = 32
  config.model.conv = 'xla'  # lax.conv: the fastest one seed at a time,
  config.train.seed_chunk = 1  # which is the fastest on a CPU.
  config.train.max_length = 256
  config.train.buckets = (128, 256)
  config.train.learning_rate = 3e-3
  config.train.warmup_steps = 200
  config.train.epochs = 25
  config.train.patience = 4
  config.train.min_epochs = 8
  config.lottery.strategies = ('ticket_reset,ticket_random,ticket_reinit,'
                               'ticket_rewind,random_pruning')
  config.lottery.rounds = 6
  config.lottery.rewind_steps = 200
  config.lottery.prune_fraction = 0.55
  # Federated (experiments.federated): books' tickets of 55, 80, 91 and 96%
  # re-trained by 10 electronics clients, 5 a round, 2 local epochs each
  # (190 reviews: 12 steps), clients mapped one at a time (the CPU's way).
  # Rounds and the clients' learning rate measured on IID clients, seeds
  # 0-1, mean test accuracy by round: at 1e-3 dense FedAvg was still rising
  # at round 40 (0.708, +1 point every 4 rounds); at 3e-3 it peaks at
  # rounds 40-70 (0.741-0.755; 0.735 at 100), at 2e-3 it is at 0.735-0.746
  # from round 40; at 3e-3 the 96% ticket from theta_0 levels off from
  # round 60 (0.699-0.712) and from a fresh draw reaches 0.698 at 80.
  config.federated.ticket_rounds = (1, 2, 3, 4)
  config.federated.local_epochs = 2
  config.federated.learning_rate = 3e-3
  config.federated.rounds = 80
  config.federated.client_chunk = 1
  return config
