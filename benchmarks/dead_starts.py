"""How often a sparse ticket's fresh init is still at chance after some epochs.

  python -m benchmarks.dead_starts --run_dir=runs/cpu_study/tickets/books-... \
      --data_workdir=runs/cpu_study/data --round=1 \
      --learning_rates=1e-3,3e-3 --draws=40 --epochs=2

Takes TICKET-RESET's masks of one round of a finished tickets run (the first
seed's), draws `draws` fresh inits (TICKET-REINIT's situation), trains each
for `epochs` epochs (no early stopping) at every learning rate with the
run's other settings, and counts the draws still at chance: training loss
within 0.01 of ln 2 and validation accuracy 0.5. Such a draw is slow, not
dead: on electronics' round-1 masks at 3e-3, 2 of 40 after 2 epochs, 0 of
40 after 8. This set the `cpu` preset's `train.min_epochs`."""

import math

from absl import app
from absl import flags
import jax
import numpy as np

from lottery_jax import checkpoints
from lottery_jax import config as config_lib
from lottery_jax import files
from lottery_jax import fit as fit_lib
from lottery_jax import lottery
from lottery_jax import runs
from lottery_jax import train as train_lib

_RUN_DIR = flags.DEFINE_string('run_dir', None, 'A tickets run directory.')
_DATA = flags.DEFINE_string('data_workdir', None, 'Its prepared data.')
_ROUND = flags.DEFINE_integer('round', 1, 'TICKET-RESET round.')
_LRS = flags.DEFINE_list('learning_rates', ['1e-3', '2e-3', '3e-3'], 'LRs.')
_DRAWS = flags.DEFINE_integer('draws', 10, 'Fresh inits per learning rate.')
_EPOCHS = flags.DEFINE_integer('epochs', 3, 'Epochs per training.')


def main(argv):
  del argv
  recorded = files.read_json(f'{_RUN_DIR.value}/config.json')
  s = recorded['settings']
  model_settings = config_lib.ModelSettings(**{**s['model'], 'widths': tuple(
      s['model']['widths'])})
  fit_settings = config_lib.FitSettings(**{
      **s['fit'], 'buckets': tuple(s['fit']['buckets']),
      'epochs': _EPOCHS.value, 'patience': 0, 'seed_chunk': 1})
  model = lottery.build_model(model_settings, s['data']['vocab_size'])
  template = lottery.mask_template(model, fit_settings.max_length)
  saved = checkpoints.load_round(
      runs.round_dir(_RUN_DIR.value, 'ticket_reset', _ROUND.value))
  masks = checkpoints.fill_none(template, saved['masks'])
  n = _DRAWS.value
  masks = jax.tree.map(lambda m: None if m is None else np.repeat(
      m[:1], n, axis=0), masks, is_leaf=lambda x: x is None)
  roots = lottery.seed_roots(list(range(1000, 1000 + n)))
  init = lottery.init_params(model, lottery.fold(roots, 99), fit_settings.max_length)
  domain = recorded['domain']
  splits = {k: v for k, v in runs.load_splits(
      config_lib.Settings(
          data=config_lib.DataSettings(vocab_size=s['data']['vocab_size']),
          model=model_settings, optimizer=config_lib.OptimizerSettings(),
          fit=fit_settings, lottery=config_lib.LotterySettings(),
          transfer=config_lib.TransferSettings()),
      _DATA.value, domain).items()}
  for lr in _LRS.value:
    tx = train_lib.make_optimizer(s['optimizer']['name'], float(lr),
                                  s['optimizer']['l2'])
    program = fit_lib.FitProgram(model, tx, fit_settings)
    losses = []
    result = program.fit(
        init, masks, lottery.training_keys(roots, 'ticket_reinit', 1),
        splits['train'], splits['valid'], splits['test'],
        on_epoch=lambda e, m: losses.append(m['loss']))
    stuck = (np.abs(losses[-1] - math.log(2)) < 0.01) & (
        np.asarray(result.valid_accuracy) <= 0.5)
    print(f'{domain} round {_ROUND.value} lr {lr}: {int(stuck.sum())} of '
          f'{n} fresh inits at chance after {_EPOCHS.value} epochs; the '
          'others\' mean validation accuracy '
          f'{np.asarray(result.valid_accuracy)[~stuck].mean():.3f}',
          flush=True)


if __name__ == '__main__':
  app.run(main)
