"""Exports one seed's ticket of a finished round as a small `.npz` file.

  python -m experiments.export_ticket --config=experiments/configs/cpu.py \
      --workdir=runs/cpu_study --domain=books --strategy=ticket_reset \
      --round=3 --seed=0 --out=books_ticket_r3.npz

Writes the round's masks as packed bits and the surviving weights
(`lottery_jax.codec.export_ticket`; `codec.load_ticket` reads it back
exactly, `np.load(..., allow_pickle=False)` too) and prints its size
against the seed's dense FULL-MODEL saved the same way and against the
round's orbax checkpoint (per seed: masks and trained weights).
--weights=init exports what the round trains from (theta_0 for
TICKET-RESET) instead of its trained weights.
"""

from absl import flags

from experiments import common
from lottery_jax import config as config_lib
from lottery_jax import runs
from lottery_jax import tickets

_FLAGS = common.define_run_flags()
_DOMAIN = flags.DEFINE_string('domain', 'books', 'The tickets\' domain.')
_STRATEGY = flags.DEFINE_string('strategy', 'ticket_reset', 'The strategy.')
_ROUND = flags.DEFINE_integer('round', 3, 'The IMP round.')
_SEED = flags.DEFINE_integer('seed', 0, 'The seed.')
_WEIGHTS = flags.DEFINE_enum('weights', 'trained', tickets.WEIGHTS,
                             'trained: the round\'s trained weights; init: '
                             'the weights it trains from.')
_DTYPE = flags.DEFINE_enum('dtype', 'float32', ['float32', 'bfloat16'],
                           'The values\' dtype in the file.')
_OUT = flags.DEFINE_string('out', None, 'The .npz file.', required=True)


def export(config, data_dir, workdir):
  settings = config_lib.settings(config)
  if _DOMAIN.value not in settings.data.domains:
    raise config_lib.ConfigError(
        f'--domain={_DOMAIN.value}: not one of the data domains '
        f'({", ".join(settings.data.domains)})')
  data_workdir = runs.prepare_data(settings.data, data_dir, workdir)
  return tickets.export_round(
      settings, data_workdir, workdir, _DOMAIN.value, _STRATEGY.value,
      _ROUND.value, _SEED.value, _OUT.value, _WEIGHTS.value, _DTYPE.value)


def main(argv):
  sizes = common.call('export_ticket', argv, _FLAGS, export)
  print(f'{_OUT.value}: {sizes["ticket"]:,} bytes; the dense FULL-MODEL '
        f'saved the same way {sizes["dense"]:,} ('
        f'{sizes["ticket"] / sizes["dense"]:.3f}); the round\'s orbax '
        f'checkpoint per seed {sizes["checkpoint"]:,} '
        f'({sizes["ticket"] / sizes["checkpoint"]:.3f})')


if __name__ == '__main__':
  common.run('export_ticket', main)
