"""The training-budget ablation: one domain's tickets under another budget.

  python -m experiments.budget_ablation \
      --config=experiments/configs/cpu_4epochs.py --domain=home \
      --data_dir=../shared/data/amazon_reviews --workdir=runs/ablation \
      --results_dir=docs/results

Finds TICKET-RESET and TICKET-RANDOM in --domain with the preset given
(`cpu_4epochs`, the `cpu` preset before it was trained to convergence, in
the command above), writes the rows to RESULTS_DIR/ablation_<domain>.jsonl,
registers them in RESULTS_DIR/ablation.json beside the study's own
results.jsonl (one domain: a second run replaces the first's entry), and
redraws the report there: its "Training budget" section shows FULL-MODEL
and the TICKET-RESET - TICKET-RANDOM gap at moderate sparsity and near 90%
under both budgets (`phase.ablation_table`). Run it again to resume.
"""

import os

from absl import flags

from experiments import common
from lottery_jax import files
from lottery_jax import results
from lottery_jax import study
from lottery_jax import tickets

_FLAGS = common.define_run_flags()
_RESULTS_DIR = flags.DEFINE_string('results_dir', None, 'The study\'s '
                                   'results directory.', required=True)
_DOMAIN = flags.DEFINE_string('domain', 'home', 'The domain.')
_LABEL = flags.DEFINE_string('label', '4 epochs, constant lr 1e-3 '
                             '(cpu_4epochs)', 'This budget\'s name.')
_STUDY_LABEL = flags.DEFINE_string('study_label', 'converged (cpu)',
                                   'The name of the study\'s budget.')


def find(config, data_dir, workdir):
  config.lottery.domains = _DOMAIN.value
  config.lottery.strategies = 'ticket_reset,ticket_random'
  return tickets.run_find_tickets(config, data_dir, workdir)


def main(argv):
  rows = common.call('budget_ablation', argv, _FLAGS, find)
  name = f'ablation_{_DOMAIN.value}.jsonl'
  results.write_rows(os.path.join(_RESULTS_DIR.value, name), rows)
  files.write_json(os.path.join(_RESULTS_DIR.value, 'ablation.json'), {
      'labels': {_LABEL.value: name, _STUDY_LABEL.value: 'results.jsonl'},
      'domain': _DOMAIN.value})
  if os.path.exists(os.path.join(_RESULTS_DIR.value, 'results.jsonl')):
    for path in study.write_outputs(_RESULTS_DIR.value):
      print(path)


if __name__ == '__main__':
  common.run('budget_ablation', main)
