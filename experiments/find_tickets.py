"""Finds lottery tickets: IMP rounds 0..R for every configured domain.

  python -m experiments.find_tickets --config=experiments/configs/cpu.py \
      --data_dir=../shared/data/amazon_reviews --workdir=runs/cpu

Prepares the data under WORKDIR/data if needed, then trains every round of
every strategy with all seeds in one program, saving each round; run it
again to resume. Prints the accuracy per round (mean +- std over seeds).
"""

from experiments import common
from lottery_jax import results
from lottery_jax import tickets

_FLAGS = common.define_run_flags()


def main(argv):
  rows = common.call('find_tickets', argv, _FLAGS, tickets.run_find_tickets)
  print(results.format_summary(results.summarize(rows)))


if __name__ == '__main__':
  common.run('find_tickets', main)
