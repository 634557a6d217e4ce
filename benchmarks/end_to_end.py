"""End to end: a preset's whole ticket search for one domain.

  python -m benchmarks.end_to_end --data_dir=../shared/data/amazon_reviews \
      [--config=experiments/configs/cpu.py] [--domain=home]

Runs find_tickets (all rounds, all strategies, all seeds) in a fresh
temporary work directory after preparing the data there, and reports the
wall time of each part and the peak resident memory of the process.
"""

import resource
import tempfile
import time

from absl import app
from absl import flags
from ml_collections import config_flags

from benchmarks import common
from lottery_jax import config as config_lib
from lottery_jax import runs
from lottery_jax import tickets

_CONFIG = config_flags.DEFINE_config_file(
    'config', 'experiments/configs/cpu.py', 'Preset file.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'Review files.')
_DOMAIN = flags.DEFINE_string('domain', 'home', 'Domain.')
_OUT = flags.DEFINE_string('out_dir', 'benchmark_results', 'JSON folder.')


def main(argv):
  del argv
  config = _CONFIG.value
  config.lottery.domains = _DOMAIN.value
  settings = config_lib.settings(config)
  with tempfile.TemporaryDirectory() as workdir:
    start = time.time()
    data_workdir = runs.prepare_data(settings.data, _DATA_DIR.value, workdir)
    t_data = time.time() - start
    start = time.time()
    rows = tickets.find_all_tickets(settings, data_workdir, workdir)
    t_tickets = time.time() - start
  peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  trainings = len({(r['strategy'], r['round']) for r in rows})
  common.report(
      'end_to_end', f'find_tickets, {_DOMAIN.value}, preset with '
      f'{config.lottery.rounds} rounds, {config.lottery.seeds} seeds',
      ['part', 'seconds'],
      [['prepare data', t_data], ['find tickets', t_tickets],
       [f'per training ({trainings})', t_tickets / trainings]],
      {'peak_rss_mb': peak_mb, 'seconds_tickets': t_tickets}, _OUT.value)


if __name__ == '__main__':
  app.run(main)
