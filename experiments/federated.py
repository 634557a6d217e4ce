"""Federated "sparsify and transfer" (paper section 7): a server's tickets
re-trained by another domain's clients, against dense FedAvg.

  python -m experiments.federated --config=experiments/configs/cpu.py \
      --workdir=runs/cpu_study --results_dir=docs/federated

Takes config.federated's server domain's TICKET-RESET tickets that
experiments.find_tickets (or run_study) wrote under WORKDIR with the same
config (and says how to find them if they are missing), trains every
variant on each client partition (`lottery_jax.federated_study`), and
writes to RESULTS_DIR (default WORKDIR/federated_results):
federated.jsonl (a row per seed and communication round), federated.png /
.pdf (accuracy against rounds and against megabytes sent) and federated.md
(the table). Run it again to resume.
"""

import os

from absl import flags

from experiments import common
from lottery_jax import config as config_lib
from lottery_jax import federated
from lottery_jax import federated_study
from lottery_jax import runs

_FLAGS = common.define_run_flags()
_RESULTS_DIR = flags.DEFINE_string(
    'results_dir', None, 'Where the rows, figure and table go (default: '
    'WORKDIR/federated_results).')


def run(config, data_dir, workdir):
  settings = config_lib.settings(config)
  data_workdir = runs.prepare_data(settings.data, data_dir, workdir)
  try:
    rows = federated_study.run(settings, settings.federated, data_workdir,
                               workdir)
  except federated.FederatedError as e:
    common.fail('federated', e)
  results_dir = _RESULTS_DIR.value or os.path.join(workdir,
                                                   'federated_results')
  return federated_study.write_outputs(results_dir, rows)


def main(argv):
  for path in common.call('federated', argv, _FLAGS, run):
    print(path)


if __name__ == '__main__':
  common.run('federated', main)
