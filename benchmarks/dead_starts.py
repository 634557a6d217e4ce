"""Which trainings of a tickets run never leave chance, per learning rate.

  python -m benchmarks.dead_starts \
      --run_dir=runs/cpu_study/tickets/electronics-... \
      --data_workdir=runs/cpu_study/data --strategy=ticket_reinit \
      --rounds=1,2,3 --learning_rates=1e-3,2e-3,3e-3 --epochs=8

Replays the run's own trainings of `strategy` in the given rounds with
TICKET-RESET's masks of the round (every seed's init, shuffling and
dropout keys as the run drew them: exactly TICKET-REINIT's trainings, and
TICKET-RANDOM's in round 1, whose masks are RESET's) for `epochs` epochs
without early stopping, at every learning rate with the run's other
settings, and names the seeds still at chance:
training loss within 0.01 of ln 2 and validation accuracy 0.5 (every
hidden ReLU dead: the network outputs a constant and never recovers).
This chose the `cpu` preset's learning rate (docs/convergence.md).
"""

import math

from absl import app
from absl import flags
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
_STRATEGY = flags.DEFINE_string('strategy', 'ticket_reinit',
                                'A strategy with a fresh init.')
_ROUNDS = flags.DEFINE_list('rounds', ['1'], 'Rounds to replay.')
_LRS = flags.DEFINE_list('learning_rates', ['1e-3', '2e-3', '3e-3'], 'LRs.')
_EPOCHS = flags.DEFINE_integer('epochs', 8, 'Epochs per training.')
_WARMUP = flags.DEFINE_list('warmup_steps', ['0'], 'Warm-up steps to try.')


def _settings(recorded) -> config_lib.Settings:
  """The run's settings, from its config.json."""
  s = recorded['settings']
  data = {**s['data'], 'domains': tuple(s['data']['domains'])}
  return config_lib.Settings(
      data=config_lib.DataSettings(**data),
      model=config_lib.ModelSettings(**{**s['model'], 'widths': tuple(
          s['model']['widths'])}),
      optimizer=config_lib.OptimizerSettings(**s['optimizer']),
      fit=config_lib.FitSettings(**{
          **s['fit'], 'buckets': tuple(s['fit']['buckets']),
          'epochs': _EPOCHS.value, 'patience': 0, 'min_epochs': 0}),
      lottery=config_lib.LotterySettings(**{
          **s['lottery'], 'domains': tuple(s['lottery']['domains']),
          'strategies': tuple(s['lottery']['strategies'])}),
      transfer=config_lib.TransferSettings())


def main(argv):
  del argv
  recorded = files.read_json(f'{_RUN_DIR.value}/config.json')
  settings = _settings(recorded)
  domain = recorded['domain']
  model = lottery.build_model(settings.model, settings.data.vocab_size)
  template = lottery.mask_template(model, settings.fit.max_length)
  roots = lottery.seed_roots(settings.lottery.seed_ids)
  theta_0 = checkpoints.load_round(
      runs.round_dir(_RUN_DIR.value, lottery.FULL_MODEL, 0))['theta0']
  splits = runs.load_splits(settings, _DATA.value, domain)
  strategy = lottery.STRATEGIES[_STRATEGY.value]
  for lr, warmup in [(lr, w) for lr in _LRS.value for w in _WARMUP.value]:
    tx = train_lib.make_optimizer(settings.optimizer.name, float(lr),
                                  settings.optimizer.l2,
                                  warmup_steps=int(warmup))
    program = fit_lib.FitProgram(model, tx, settings.fit)
    for round_ in map(int, _ROUNDS.value):
      masks = checkpoints.fill_none(template, checkpoints.load_round(
          runs.round_dir(_RUN_DIR.value, 'ticket_reset', round_))['masks'])
      losses = []
      result = lottery.imp_round(
          lambda *a, **k: program.fit(*a, train=splits['train'],
                                      valid=splits['valid'],
                                      test=splits['test'], **k),
          strategy.name, round_, masks, roots=roots, theta_0=theta_0,
          model=model, max_length=settings.fit.max_length, source=domain,
          target=domain, on_epoch=lambda e, m: losses.append(m['loss']))
      valid = np.asarray(result.valid_accuracy)
      stuck = (np.abs(losses[-1] - math.log(2)) < 0.01) & (valid <= 0.5)
      seeds = [s for s, dead in zip(settings.lottery.seed_ids, stuck) if dead]
      print(f'{domain} {strategy.name} round {round_} lr {lr} warm-up '
            f'{warmup}: at chance '
            f'after {_EPOCHS.value} epochs: seeds {seeds}; the others\' '
            f'validation accuracy {valid[~stuck].mean():.3f}', flush=True)


if __name__ == '__main__':
  app.run(main)
