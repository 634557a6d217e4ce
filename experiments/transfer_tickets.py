"""Transfers tickets: each source's TICKET-RESET masks trained on a target.

  python -m experiments.transfer_tickets --config=experiments/configs/cpu.py \
      --workdir=runs/cpu

Reads the tickets that experiments.find_tickets wrote under WORKDIR with the
same config; sources, targets and strategies come from config.transfer
(default: all ordered pairs of lottery.domains, MASKS-RESET and
MASKS-RANDOM). Run it again to resume.
"""

from experiments import common
from lottery_jax import results
from lottery_jax import tickets

_FLAGS = common.define_run_flags()


def main(argv):
  rows = common.call('transfer_tickets', argv, _FLAGS, tickets.run_transfer)
  print(results.format_summary(results.summarize(rows)))


if __name__ == '__main__':
  common.run('transfer_tickets', main)
