"""The progress display: its ETA, its lines, and what a command prints."""

import os
import re
import subprocess
import sys

import pytest

from lottery_jax import progress

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Clock:

  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def _rows(acc):
  return [{'test_accuracy': acc, 'sparsity': 0.5}] * 2


def test_eta_leaves_compiling_epochs_out_and_counts_skipped_ones():
  clock, lines = Clock(), []
  shown = progress.Progress(3, 4, bar=False, write=lines.append, clock=clock)
  assert shown.eta() is None  # Nothing timed yet.
  shown.start('tickets home full_model round 0', seeds=5)
  clock.now += 100.0  # The first epoch compiles: 100 s.
  shown.epoch(0, compiled=True)
  assert shown.eta() is None
  for epoch in (1, 2):
    clock.now += 2.0
    shown.epoch(epoch, compiled=False)
  # 9 epochs left at 2 s each; the compile's 100 s do not count.
  assert shown.eta() == pytest.approx(9 * 2.0)
  shown.finish('tickets home full_model round 0', _rows(0.8), 104.0)
  assert shown.done == 4  # Early stop: the 4th epoch is skipped.
  shown.finish('tickets home ticket_reset round 1', _rows(0.7), None)
  # One training left, expected to stop after 3 epochs as the trained one
  # did (not after the most, 4).
  assert shown.done == 8 and shown.eta() == pytest.approx(3 * 2.0)
  assert lines == [
      'tickets home full_model round 0: test 0.8000 +- 0.0000 at 50.00% '
      'sparsity (104.0s)',
      'tickets home ticket_reset round 1: test 0.7000 +- 0.0000 at 50.00% '
      'sparsity (resumed)']


def test_a_resumed_command_expects_the_epochs_its_found_trainings_ran():
  clock = Clock()
  shown = progress.Progress(4, 10, bar=False, write=lambda _: None,
                            clock=clock)
  # Two trainings found on disk: their seeds stopped after 3-4 and 2-6
  # epochs, so the fit loops ran 4 and 6 epochs.
  for run in ((3, 4), (2, 6)):
    rows = [dict(r, epochs_run=e) for r, e in zip(_rows(0.8), run)]
    shown.finish('tickets home ticket_reset round 1', rows, None)
  shown.start('tickets home ticket_reset round 2', seeds=2)
  clock.now += 30.0
  shown.epoch(0, compiled=True)
  clock.now += 3.0
  shown.epoch(1, compiled=False)
  # Expected 5 epochs a training: 3 left of this one and 5 of the last, at
  # 3 s each (not 8 + 10 epochs as the most would have it).
  assert shown.eta() == pytest.approx((3 + 5) * 3.0)


def test_quiet_shows_nothing(capsys):
  quiet = progress.Progress.quiet()
  quiet.start('x', 1)
  quiet.epoch(0, compiled=False)
  quiet.finish('x', _rows(0.5), 1.0)
  quiet.write('a line')
  quiet.close()
  assert capsys.readouterr() == ('', '')


def test_a_command_shows_progress_and_no_third_party_lines(
    tiny_data_dir_shared, tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.find_tickets',
       '--config=experiments/configs/smoke.py',
       '--config.lottery.domains=home', '--config.lottery.rounds=1',
       f'--data_dir={tiny_data_dir_shared}', f'--workdir={tmp_path}'],
      cwd=REPO, capture_output=True, text=True, timeout=600, check=True)
  # absl-style lines ('I1123 12:00:00.000 ...') from orbax, jax, absl.
  logged = [line for line in (result.stdout + result.stderr).splitlines()
            if re.match(r'^[IWEF]\d{4} ', line)]
  assert not logged, logged[:3]
  bar = result.stderr.replace('\r', '\n')
  assert re.search(r'tickets home ticket_random round 1 \(2 seeds\) epoch '
                   r'\d/2', bar)
  assert re.search(r'about \dm\d\ds left', bar)  # The whole command's ETA.
  assert 'tickets home full_model round 0: test' in result.stdout


def test_federated_rounds_are_called_rounds(capsys):
  clock = Clock()
  shown = progress.Progress(1, 40, unit='rounds', clock=clock)
  shown.start('federated iid dense ticket round 0', seeds=5)
  clock.now += 1.0
  shown.epoch(0, compiled=False)
  shown.close()
  bar = capsys.readouterr().err.replace('\r', '\n')
  assert 'federated iid dense ticket round 0 (5 seeds) round 2/40' in bar
  assert '1/40 rounds' in bar and 'epoch' not in bar
