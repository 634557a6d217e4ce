"""Every bad input is one clear line: the entry points run as a user runs
them (a subprocess, cwd the repository), and the library's own messages.

Each test asserts the last stderr line (exactly, or its key words), that no
traceback came before it and that nothing half-written is left.
"""

import builtins
import errno
import gzip
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from lottery_jax import checkpoints
from lottery_jax import results

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = '--config=experiments/configs/smoke.py'

# Runs `python -m MODULE ARGS...` on a disk that fills up after BUDGET bytes
# for the files whose path holds WHERE: each write to one opened for writing
# stores what still fits, then fails as a full disk does (ENOSPC, no file
# named). Only Python's writes see it; tensorstore's (C++) do not.
_FULL_DISK = '''
import builtins, errno, io, os, runpy, sys
where, budget, module = sys.argv[1], [int(sys.argv[2])], sys.argv[3]
real_open = io.open

class FullDisk(io.FileIO):
  def write(self, b):
    b = bytes(b)[:budget[0]]
    if not b:
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    budget[0] -= len(b)
    return super().write(b)

def full_open(file, mode='r', *args, **kwargs):
  if (isinstance(file, (str, os.PathLike)) and set(mode) & set('wax')
      and where in os.path.abspath(file)):
    f = io.BufferedWriter(FullDisk(file, mode.replace('b', '')))
    return f if 'b' in mode else io.TextIOWrapper(f, encoding='utf-8')
  return real_open(file, mode, *args, **kwargs)

builtins.open = io.open = full_open
sys.argv = [module] + sys.argv[4:]
runpy.run_module(module, run_name='__main__', alter_sys=True)
'''


def _run(module, *args, full_disk=None):
  """`python -m module args`; full_disk=(where, budget) fills the disk."""
  command = [sys.executable, '-m', module]
  if full_disk:
    command = [sys.executable, '-c', _FULL_DISK, *map(str, full_disk), module]
  result = subprocess.run(command + [str(a) for a in args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode != 0, result.stdout
  assert 'Traceback' not in result.stderr, result.stderr
  return result.stderr.strip().splitlines()[-1]


def _files_under(root):
  return sorted(os.path.relpath(os.path.join(d, f), root)
                for d, _, names in os.walk(root) for f in names)


# ---------------------------------------------------------------------------
# Flags: an unknown key, a bad value, a missing file or flag.


@pytest.mark.parametrize('module', ['find_tickets', 'transfer_tickets',
                                    'run_study', 'prepare_data'])
def test_unknown_config_key_names_the_nearest(module, tmp_path):
  # 55 lines before (absl's traceback of ml_collections' AttributeError).
  assert _run(f'experiments.{module}', SMOKE, '--config.train.lr=abc',
              f'--workdir={tmp_path}') == (
                  f'{module}: error: --config.train.lr: unknown setting; did '
                  'you mean learning_rate?')


def test_unknown_key_of_the_default_data_config(tmp_path):
  # prepare_data loads its default config when the flag is defined.
  assert _run('experiments.prepare_data', '--config.data.vocab_sise=5',
              f'--workdir={tmp_path}') == (
                  'prepare_data: error: --config.data.vocab_sise: unknown '
                  'setting; did you mean vocab_size?')


@pytest.mark.parametrize('args, message', [
    (['--config.train.epochs=abc', '--workdir={}'],
     "flag --config.train.epochs=abc: invalid literal for int() with base "
     "10: 'abc'"),
    (['--config.trian.epochs=3', '--workdir={}'],
     '--config.trian: unknown setting; did you mean train?'),
    (['--workdirr={}'], "Unknown command line flag 'workdirr'. Did you mean: "
     'workdir ?'),
    ([], 'flag --workdir=None: Flag --workdir must have a value other than '
     'None.'),
    (['--workdir={}', 'extra'], 'unexpected arguments: extra'),
])
def test_flag_errors_are_one_line(args, message, tmp_path):
  # Two lines before (absl's "FATAL Flags parsing error" and a hint), or
  # the usage text.
  args = [a.format(tmp_path) for a in args]
  assert _run('experiments.find_tickets', SMOKE, *args) == (
      f'find_tickets: error: {message}')


def test_missing_config_file(tmp_path):
  assert _run('experiments.run_study', '--config=nope.py',
              f'--workdir={tmp_path}') == (
                  'run_study: error: --config: cannot load the config file: '
                  "[Errno 2] No such file or directory: 'nope.py'")


@pytest.mark.parametrize('module', ['find_tickets', 'run_study',
                                    'prepare_data'])
@pytest.mark.parametrize('flag, message', [
    ('--config.data.vocab_size=-5', '--config.data.vocab_size=-5 must be >= 1'),
    ('--config.data.data_seed=-1', '--config.data.data_seed=-1 must be >= 0'),
])
def test_out_of_range_data_settings(module, flag, message, tmp_path):
  assert _run(f'experiments.{module}', SMOKE, flag,
              f'--workdir={tmp_path}') == f'{module}: error: {message}'


def test_vocabulary_too_large_for_the_data(tiny_data_dir, tmp_path):
  # 37 lines before (sentencepiece's RuntimeError).
  last = _run('experiments.prepare_data', f'--data_dir={tiny_data_dir}',
              f'--workdir={tmp_path}', '--config.data.domains=home')
  assert re.fullmatch(
      r'prepare_data: error: --config.data.vocab_size=8000 is more than the '
      r'training texts allow; set it to at most \d+', last), last


# ---------------------------------------------------------------------------
# A full disk.


@pytest.mark.parametrize('budget', [0, 100])
def test_full_disk_while_preparing(budget, tiny_data_dir, tmp_path):
  # 39 lines before.
  workdir = tmp_path / 'out'
  assert _run('experiments.prepare_data', f'--data_dir={tiny_data_dir}',
              f'--workdir={workdir}', '--config.data.domains=home',
              full_disk=(workdir, budget)) == (
                  f'prepare_data: error: {workdir}/splits/home.json.gz: '
                  'cannot write it: no space left on device')
  assert _files_under(workdir) == []  # No temporary file, no cut file.


def test_full_disk_while_encoding(tiny_data_dir, tmp_path):
  workdir = tmp_path / 'out'
  last = _run('experiments.prepare_data', f'--data_dir={tiny_data_dir}',
              f'--workdir={workdir}', '--config.data.domains=home',
              '--config.data.vocab_size=200',
              full_disk=(workdir / 'data', 1000))
  assert last == (f'prepare_data: error: {workdir}/data/home/train.npz: '
                  'cannot write it: no space left on device')
  assert not [f for f in _files_under(workdir) if '.tmp-' in f]
  assert not os.path.exists(workdir / 'data' / 'home' / 'train.npz')


@pytest.fixture
def full_disk_for_orbax(monkeypatch):
  """Python's writes under orbax's temporary checkpoint directory fail as on
  a full disk (tensorstore's C++ writes of the arrays go through)."""
  real_open = io.open

  def full_open(file, mode='r', *args, **kwargs):
    if set(mode) & set('wax') and 'orbax-checkpoint-tmp' in os.fspath(file):
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(file))
    return real_open(file, mode, *args, **kwargs)

  monkeypatch.setattr(builtins, 'open', full_open)
  monkeypatch.setattr(io, 'open', full_open)
  # A failed save keeps a filter on it (see checkpoints): not beyond the test.
  monkeypatch.setattr(sys, 'unraisablehook', sys.unraisablehook)


def test_full_disk_while_saving_a_round(full_disk_for_orbax, tmp_path,
                                        capfd):
  # ~475 lines before: orbax logs the failure from each of its threads.
  round_dir = str(tmp_path / 'round_001')
  tree = {'params': {'w': np.ones((3, 4), np.float32)},
          'masks': {'w': None}}
  with pytest.raises(checkpoints.CheckpointError) as e:
    checkpoints.save_round(round_dir, tree, [])
  assert str(e.value) == (
      f'{round_dir}: cannot save the checkpoint: no space left on device; '
      'the rounds before it are kept: make room and run again')
  assert os.listdir(round_dir) == []  # No rows.json, no orbax tmp dir.
  assert checkpoints.finished_rows(round_dir) is None
  assert 'Traceback' not in capfd.readouterr().err


def test_disk_error_inside_orbax_value_error():
  # What tensorstore raises for a full disk, as measured on a small tmpfs.
  error = ValueError(
      'RESOURCE_EXHAUSTED: Error writing "params.w/0" in OCDBT database at '
      'local file "/x/": Failed to write 489787 bytes to file 11: No space '
      "left on device [os_error_code='28']")
  assert checkpoints.disk_error(error) == 'no space left on device'
  assert checkpoints.disk_error(ValueError('shapes differ')) is None


# ---------------------------------------------------------------------------
# Results with other keys, review files cut short.


def test_results_with_other_keys(tmp_path):
  # 25 lines before (a KeyError in summarize).
  row = {k: 0 for k in results.COLUMNS}
  row['best'] = row.pop('best_epoch')
  path = tmp_path / 'results.jsonl'
  path.write_text(json.dumps(row) + '\n')
  assert _run('experiments.plot_results', f'--results_dir={tmp_path}') == (
      f'plot_results: error: {path}:1: a result row without best_epoch (it '
      'has best instead); was it written by another version of lottery_jax?')


def test_review_gzip_cut_in_its_first_bytes(tiny_data_dir, tmp_path):
  # Was "the file is empty".
  cut = tmp_path / 'cut.json.gz'
  cut.write_bytes(gzip.compress(b'{"overall": 5, "reviewText": "good"}\n'
                                * 50)[:30])
  assert _run('experiments.prepare_data', f'--data_dir={tiny_data_dir}',
              f'--workdir={tmp_path / "out"}', '--config.data.domains=home',
              f'--config.data.files.home={cut}') == (
                  f'prepare_data: error: {cut}: gzip stream truncated after '
                  '30 of 30 bytes, before any review: the file is cut short '
                  'or corrupt')


def test_full_disk_while_finding_tickets(tiny_data_dir, tmp_path):
  # ~475 lines before.
  workdir = tmp_path / 'out'
  last = _run('experiments.find_tickets', SMOKE, f'--data_dir={tiny_data_dir}',
              f'--workdir={workdir}', '--config.data.domains=home',
              '--config.lottery.domains=home', '--config.lottery.rounds=0',
              '--config.train.epochs=1',
              full_disk=('orbax-checkpoint-tmp', 0))
  [run_dir] = (workdir / 'tickets').iterdir()
  assert last == (f'find_tickets: error: {run_dir}/round_000: cannot save '
                  'the checkpoint: no space left on device; the rounds '
                  'before it are kept: make room and run again')
  assert [f for f in _files_under(run_dir / 'round_000')
          if not f.startswith(('tb/', 'curves'))] == []
