"""Tests of the run layer's own pieces: run names from the prepared data,
refusing to resume on other data, rows that all seeds agree on."""

import dataclasses
import os
import pathlib
import shutil

import numpy as np
import pytest

from experiments.configs import smoke
from lottery_jax import config as config_lib
from lottery_jax import fit
from lottery_jax import progress
from lottery_jax import results
from lottery_jax import runs
from lottery_jax import tickets


def _settings(**data):
  config = smoke.get_config()
  config.lottery.rounds = 1
  config.lottery.domains = 'home'
  for k, v in data.items():
    setattr(config.data, k, v)
  return config_lib.settings(config)


def test_other_encoded_data_is_another_run(tiny_data_dir, tmp_path):
  """data.max_length changes the encoding but no setting of the run: the
  run's name must change with the data, not resume the old rounds."""
  workdir = str(tmp_path)
  long = _settings()
  data_workdir = runs.prepare_data(long.data, tiny_data_dir, workdir)
  first = tickets.find_tickets(long, data_workdir, workdir, 'home')
  long_dir = runs.tickets_dir(
      workdir, 'home', long, runs.data_fingerprint(data_workdir, ['home']))

  short = _settings(max_length=8)  # Re-encodes the same reviews.
  runs.prepare_data(short.data, tiny_data_dir, workdir)
  data = runs.data_fingerprint(data_workdir, ['home'])
  short_dir = runs.tickets_dir(workdir, 'home', short, data)
  assert short_dir != long_dir
  lines = []
  tickets.find_tickets(short, data_workdir, workdir, 'home',
                       progress=progress.Progress(3, 2, bar=False,
                                                  write=lines.append))
  assert os.path.isdir(os.path.join(short_dir, 'round_000'))
  assert len(lines) == 3 and not any('(resumed)' in x for x in lines)
  assert runs.finished_run_rows(long_dir) == first  # Left as it was.
  # With only the tickets of the old encoding, transfer says so.
  shutil.rmtree(short_dir)
  with pytest.raises(config_lib.ConfigError, match='other prepared data'):
    tickets.source_tickets(short, data_workdir, workdir, 'home')


def test_the_same_data_prepared_again_keeps_its_name(tiny_data_dir,
                                                     tmp_path):
  settings = _settings()
  first = runs.prepare_data(settings.data, tiny_data_dir, str(tmp_path / 'a'))
  for path in pathlib.Path(tiny_data_dir).rglob('*'):  # Files touched:
    os.utime(path, (1e9, 1e9))                        # prepared again.
  again = runs.prepare_data(settings.data, tiny_data_dir, str(tmp_path / 'b'))
  assert runs.data_fingerprint(again, ['home', 'books']) == (
      runs.data_fingerprint(first, ['home', 'books']))


def test_a_model_setting_added_later_names_runs_only_when_set():
  data = {'vocab': 'v', 'home': 'h'}
  paper = _settings()
  before = dataclasses.replace(paper, model=_ModelBefore(
      **{k: v for k, v in vars(paper.model).items() if k != 'embed_init_std'}))
  assert runs.run_hash(paper, data) == runs.run_hash(before, data)
  smaller = dataclasses.replace(paper, model=dataclasses.replace(
      paper.model, embed_init_std=0.1))
  assert runs.run_hash(smaller, data) != runs.run_hash(paper, data)


@dataclasses.dataclass(frozen=True)
class _ModelBefore:
  """ModelSettings as it was before embed_init_std."""
  embed_dim: int
  widths: tuple
  channels: int
  hidden: int
  dropout_rate: float
  conv: str


def test_a_run_directory_of_other_data_is_refused(tmp_path):
  settings = _settings()
  run_dir = str(tmp_path / 'run')
  runs.open_run(run_dir, settings, {'vocab': 'a', 'home': 'k1'})
  runs.open_run(run_dir, settings, {'vocab': 'a', 'home': 'k1'})  # Resumes.
  with pytest.raises(config_lib.ConfigError,
                     match=r'other prepared data \(home differ\)'):
    runs.open_run(run_dir, settings, {'vocab': 'a', 'home': 'k2'})


def _result(seeds):
  zeros = np.zeros(seeds)
  return fit.FitResult(params=None, valid_accuracy=zeros + 0.5,
                       test_accuracy=zeros + 0.6,
                       best_epoch_index=np.array([0, 2][:seeds]),
                       epochs_run=zeros + 3)


def test_rows_count_best_epochs_from_one_and_need_agreeing_seeds():
  params = {'kernel': np.ones((2, 2, 2), np.float32)}
  masks = {'kernel': np.array([[[True, False], [True, True]]] * 2)}
  rows = results.make_rows(_result(2), masks, params, [7, 8],
                        experiment='tickets', source='home', target='home',
                        strategy='ticket_reset', round_=1, seconds=1.0)
  assert [r['seed'] for r in rows] == [7, 8]
  assert [r['best_epoch'] for r in rows] == [1, 3]  # 1-based in rows.
  assert rows[0]['sparsity'] == 0.25
  masks['kernel'][1, 0, 0] = False  # Seed 8 pruned one weight more.
  with pytest.raises(ValueError, match='different numbers'):
    results.make_rows(_result(2), masks, params, [7, 8], experiment='tickets',
                   source='home', target='home', strategy='ticket_reset',
                   round_=1, seconds=1.0)
