"""Tests of the training curves: event files, curves.jsonl, the figure."""

import json
import os
import sys
import types

import numpy as np
import pytest

# TensorBoard's reader imports all of TensorFlow when it is installed (the
# tfds extra): 2.5 s and a page of logs. This marker module is how
# TensorBoard's own no-TensorFlow build picks its stub instead.
sys.modules.setdefault('tensorboard.compat.notf',
                       types.ModuleType('tensorboard.compat.notf'))
# pylint: disable=g-import-not-at-top,wrong-import-position
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.backend.event_processing import event_multiplexer

from lottery_jax import curves
from lottery_jax import files
from lottery_jax import plots

SEEDS = (3, 7, 11)  # Ids, not positions: seed 7 is at index 1.
TAGS = {'experiment': 'tickets', 'source': 'books', 'target': 'books',
        'strategy': 'ticket_reset', 'round': 1}
EPOCHS = 4
STOPPED = 1  # Seed 7 stops after epoch 2 (1-based).


def _metrics(epoch):
  """Epoch `epoch` (0-based): values that name the seed and the epoch."""
  i = np.arange(len(SEEDS))
  active = np.ones(len(SEEDS), bool)
  active[STOPPED] = epoch < 2
  loss = 1.0 - 0.1 * epoch - 0.01 * i
  # What a stopped seed reports is not to be written: make it stand out.
  loss[~active] = np.nan
  return {'loss': loss.astype(np.float32),
          'accuracy': (0.5 + 0.1 * epoch + 0.01 * i).astype(np.float32),
          'valid_accuracy': (0.4 + 0.1 * epoch + 0.01 * i).astype(np.float32),
          'active': active}


RESULT = types.SimpleNamespace(
    test_accuracy=np.array([0.8, 0.7, 0.9], np.float32),
    valid_accuracy=np.array([0.7, 0.51, 0.62], np.float32),
    best_epoch_index=np.array([3, 1, 2], np.int32))


def _train(directory, seeds=SEEDS, tags=TAGS, epochs=EPOCHS, finish=True):
  writer = curves.CurveWriter(str(directory), seeds, tags)
  for epoch in range(epochs):
    writer.on_epoch(epoch, {k: v[:len(seeds)] for k, v in _metrics(
        epoch).items()})
  if finish:
    writer.finish(types.SimpleNamespace(**{
        k: v[:len(seeds)] for k, v in vars(RESULT).items()}))
  else:  # Killed mid-training: the files as a crash leaves them.
    writer.close()


def _read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def _scalars(run_dir):
  acc = event_accumulator.EventAccumulator(str(run_dir))
  acc.Reload()
  return {tag: [(e.step, e.value) for e in acc.Scalars(tag)]
          for tag in acc.Tags()['scalars']}


def _trained_epochs(i):
  return [e for e in range(EPOCHS) if _metrics(e)['active'][i]]


def test_one_tensorboard_run_per_seed_grouped_by_round(tmp_path):
  _train(tmp_path / 'ticket_reset' / 'round_001')
  mux = event_multiplexer.EventMultiplexer()
  mux.AddRunsFromDirectory(str(tmp_path))  # What `tensorboard --logdir` does.
  assert sorted(mux.Runs()) == sorted(
      f'ticket_reset/round_001/tb/seed_{s}' for s in SEEDS)


def test_event_files_hold_each_seeds_epochs_and_test_accuracy(tmp_path):
  _train(tmp_path)
  for i, seed in enumerate(SEEDS):
    scalars = _scalars(tmp_path / 'tb' / f'seed_{seed}')
    epochs = _trained_epochs(i)
    for tag, key in (('train/loss', 'loss'), ('train/accuracy', 'accuracy'),
                     ('valid/accuracy', 'valid_accuracy')):
      assert scalars[tag] == [
          (e + 1, pytest.approx(float(_metrics(e)[key][i]), rel=1e-6))
          for e in epochs], (seed, tag)
    best = int(RESULT.best_epoch_index[i]) + 1
    assert scalars['test/accuracy'] == [
        (best, pytest.approx(float(RESULT.test_accuracy[i])))]
    assert scalars['valid/best_accuracy'] == [
        (best, pytest.approx(float(RESULT.valid_accuracy[i])))]
  stopped = _scalars(tmp_path / 'tb' / f'seed_{SEEDS[STOPPED]}')
  assert [step for step, _ in stopped['train/loss']] == [1, 2]


def test_curves_jsonl_rows(tmp_path):
  _train(tmp_path)
  rows = _read_jsonl(tmp_path / 'curves.jsonl')
  epoch_rows = [r for r in rows if 'epoch' in r]
  expected = [
      {**TAGS, 'seed': seed, 'epoch': e + 1,
       'loss': pytest.approx(float(_metrics(e)['loss'][i])),
       'accuracy': pytest.approx(float(_metrics(e)['accuracy'][i])),
       'valid_accuracy': pytest.approx(float(_metrics(e)['valid_accuracy'][i]))}
      for e in range(EPOCHS) for i, seed in enumerate(SEEDS)
      if e in _trained_epochs(i)]
  assert epoch_rows == expected
  assert len(epoch_rows) == 3 * 4 - 2  # Seed 7 wrote no epochs 3 and 4.
  assert rows[len(epoch_rows):] == [
      {**TAGS, 'seed': seed, 'best_epoch': int(RESULT.best_epoch_index[i]) + 1,
       'best_valid_accuracy': pytest.approx(float(RESULT.valid_accuracy[i])),
       'test_accuracy': pytest.approx(float(RESULT.test_accuracy[i]))}
      for i, seed in enumerate(SEEDS)]


def test_a_crash_leaves_the_epochs_so_far(tmp_path):
  writer = curves.CurveWriter(str(tmp_path), SEEDS, TAGS)
  writer.on_epoch(0, _metrics(0))
  writer.on_epoch(1, _metrics(1))
  # Read before any close, as after a kill -9.
  assert len(_read_jsonl(tmp_path / 'curves.jsonl')) == 2 * len(SEEDS)
  assert [s for s, _ in _scalars(tmp_path / 'tb' / 'seed_3')[
      'valid/accuracy']] == [1, 2]
  writer.close()


def test_a_rerun_of_the_round_starts_clean(tmp_path):
  _train(tmp_path, finish=False)
  _train(tmp_path, seeds=SEEDS[:1], epochs=1)  # Fewer seeds this time.
  assert os.listdir(tmp_path / 'tb') == ['seed_3']
  assert len(os.listdir(tmp_path / 'tb' / 'seed_3')) == 1  # One event file.
  scalars = _scalars(tmp_path / 'tb' / 'seed_3')
  assert [s for s, _ in scalars['train/loss']] == [1]
  rows = _read_jsonl(tmp_path / 'curves.jsonl')
  assert [(r['seed'], r.get('epoch')) for r in rows] == [(3, 1), (3, None)]


def test_non_finite_numbers_are_json_null(tmp_path):
  with curves.CurveWriter(str(tmp_path), [0], {}) as writer:
    writer.on_epoch(0, {'loss': np.array([np.nan]), 'accuracy': [0.5],
                        'valid_accuracy': [np.inf], 'active': [True]})
  assert _read_jsonl(tmp_path / 'curves.jsonl') == [
      {'seed': 0, 'epoch': 1, 'loss': None, 'accuracy': 0.5,
       'valid_accuracy': None}]


def test_metrics_of_another_number_of_seeds_are_refused(tmp_path):
  with curves.CurveWriter(str(tmp_path), SEEDS, TAGS) as writer:
    with pytest.raises(ValueError, match=r'\[seeds\] = \(3,\)'):
      writer.on_epoch(0, {k: v[:2] for k, v in _metrics(0).items()})


def test_plot_curves_draws_one_line_per_round(tmp_path):
  paths = []
  for round_ in (1, 2):
    directory = tmp_path / f'round_{round_:03d}'
    _train(directory, tags={**TAGS, 'round': round_})
    paths.append(directory / 'curves.jsonl')
  written = plots.plot_curves([str(paths[0]), paths[1]],
                              str(tmp_path / 'curves'))
  assert written == [str(tmp_path / 'curves.png'),
                     str(tmp_path / 'curves.pdf')]
  with open(written[0], 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  assert os.path.getsize(written[0]) > 1000
  # Rows work as well as paths.
  rows = _read_jsonl(paths[0])
  assert plots.plot_curves(rows, str(tmp_path / 'rows'))[0] == str(
      tmp_path / 'rows.png')
  with pytest.raises(ValueError, match='no epoch rows'):
    plots.plot_curves([], str(tmp_path / 'empty'))


def test_gather_puts_rounds_in_one_gzip_that_reads_back(tmp_path):
  paths = []
  for strategy, round_ in (('full_model', 0), ('ticket_reset', 1),
                           ('ticket_reset', 2)):
    directory = tmp_path / f'{strategy}_{round_}'
    _train(directory, tags={**TAGS, 'strategy': strategy, 'round': round_})
    paths.append(str(directory / curves.CURVES))
  missing = str(tmp_path / 'never_trained' / curves.CURVES)
  out = str(tmp_path / 'a' / curves.GATHERED)
  os.makedirs(os.path.dirname(out))
  assert curves.gather([paths[0], missing, paths[1], paths[2]], out) == 3
  lines = curves.read_curves(out)
  assert lines == [x for p in paths for x in _read_jsonl(p)]
  assert curves.read_curves(paths[1]) == _read_jsonl(paths[1])
  # The same lines give the same bytes: results directories diff cleanly.
  again = str(tmp_path / curves.GATHERED)
  curves.gather(paths, again)
  with open(out, 'rb') as f, open(again, 'rb') as g:
    assert f.read() == g.read()
  # The figure's rounds: the first domain's FULL-MODEL and TICKET-RESET.
  other = tmp_path / 'other'
  _train(other, tags={**TAGS, 'target': 'home', 'source': 'home'})
  transfer = tmp_path / 'transfer'
  _train(transfer, tags={**TAGS, 'experiment': 'transfer',
                         'target': 'home', 'strategy': 'masks_reset'})
  random = tmp_path / 'random'
  _train(random, tags={**TAGS, 'strategy': 'ticket_random'})
  results_dir = tmp_path / 'results'
  os.makedirs(results_dir)
  curves.gather(paths + [str(d / curves.CURVES) for d in (
      other, transfer, random)], str(results_dir / curves.GATHERED))
  assert plots.first_domain_curves(str(results_dir)) == lines
  assert plots.first_domain_curves(str(tmp_path / 'empty')) == []


def test_every_training_of_a_run_writes_its_curves(tiny_data_dir_shared,
                                                   tmp_path):
  from experiments.configs import smoke  # pylint: disable=g-import-not-at-top
  from lottery_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from lottery_jax import progress  # pylint: disable=g-import-not-at-top
  from lottery_jax import runs  # pylint: disable=g-import-not-at-top
  from lottery_jax import tickets  # pylint: disable=g-import-not-at-top
  config = smoke.get_config()
  config.lottery.rounds = 1
  settings = config_lib.settings(config)
  workdir = str(tmp_path)
  data = runs.prepare_data(settings.data, tiny_data_dir_shared, workdir)
  rows = tickets.find_tickets(settings, data, workdir, 'home',
                              progress=progress.Progress.quiet())
  run_dir = runs.tickets_dir(workdir, 'home', settings,
                             runs.data_fingerprint(data, ['home']))
  for strategy, round_ in (('full_model', 0), ('ticket_random', 1)):
    directory = runs.round_dir(run_dir, strategy, round_)
    with open(os.path.join(directory, 'curves.jsonl')) as f:
      lines = [json.loads(line) for line in f]
    epochs = [x for x in lines if 'epoch' in x]
    assert len(epochs) == 2 * 2  # 2 seeds x 2 epochs.
    finals = {x['seed']: x for x in lines if 'epoch' not in x}
    mine = {r['seed']: r for r in rows
            if (r['strategy'], r['round']) == (strategy, round_)}
    for seed, row in mine.items():  # The rows' numbers, per seed.
      assert finals[seed]['test_accuracy'] == pytest.approx(
          row['test_accuracy'])
      assert finals[seed]['best_epoch'] == row['best_epoch']
    events = event_accumulator.EventAccumulator(
        os.path.join(directory, 'tb', 'seed_1'))
    events.Reload()
    assert [e.step for e in events.Scalars('valid/accuracy')] == [1, 2]


def test_a_full_disk_names_the_curves_file(tmp_path):
  writer = curves.CurveWriter(str(tmp_path), SEEDS, TAGS)

  def full(*args):
    raise OSError(28, os.strerror(28))

  writer._jsonl.write = full  # pylint: disable=protected-access
  with pytest.raises(files.WriteError) as error:
    writer.on_epoch(0, _metrics(0))
  assert str(error.value) == (f'{tmp_path / "curves.jsonl"}: cannot write '
                              'it: no space left on device')
  writer.close()
