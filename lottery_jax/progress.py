"""One progress display for a whole command, with an ETA that leaves compiles
out.

A `Progress` counts the epochs of every training a command will run (a
training stopped early skips its remaining epochs; a round found on disk
skips all of them). A tqdm bar shows what trains now (domain or pair,
strategy, round, epoch, seeds) and an estimate of the time left: the
epochs still to run times the mean seconds of the epochs run so far,
leaving out the epochs that compiled a program (tqdm's own rate would count
them and guess far too long at the start). With early stopping a training
runs fewer epochs than the most: the epochs still to run are the trainings
left times the mean epochs of the trainings finished so far, those found on
disk included (their rows' `epochs_run`), so that a resumed command does
not expect the most epochs of every training left. A line per finished
training is written above the bar.

Library calls make their own `Progress` unless given one; pass
`Progress.quiet()` to see nothing.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, Dict, Hashable, Optional, Sequence

import numpy as np
import tqdm

Write = Callable[[str], None]


def duration(seconds: float) -> str:
  """3725 -> '1h02m'; 75 -> '1m15s'."""
  seconds = int(seconds)
  return (f'{seconds // 3600}h{seconds % 3600 // 60:02d}m' if seconds >= 3600
          else f'{seconds // 60}m{seconds % 60:02d}s')


def _write_above_bar(text: str) -> None:
  tqdm.tqdm.write(text, file=sys.stdout)


class Progress:
  """The epochs of every training of a command.

  Args:
    trainings: how many trainings the command runs (resumed ones included).
    epochs: epochs per training (the most; early stopping may run fewer).
    bar: show the bar (on stderr).
    write: where a line per finished training goes (default: above the
      bar, on stdout).
    clock: seconds since some fixed time (for tests).
    unit: what an epoch is called on the bar ('rounds' for federated
      communication rounds).
  """

  def __init__(self, trainings: int, epochs: int, *, bar: bool = True,
               write: Optional[Write] = None,
               clock: Callable[[], float] = time.monotonic,
               unit: str = 'epochs'):
    self.epochs, self.clock = epochs, clock
    self.step = unit[:-1] if unit.endswith('s') else unit  # 'epoch'
    self.write = write or (_write_above_bar if bar else (lambda _: None))
    self.bar = tqdm.tqdm(
        total=trainings * epochs, unit=unit, disable=not bar,
        dynamic_ncols=True, file=sys.stderr,
        bar_format='{desc} |{bar}| {n_fmt}/{total_fmt} ' + unit + ' '
                   '[{elapsed}{postfix}]')
    self.trainings = trainings
    self.done = 0  # Epochs run or skipped.
    self.timed_seconds = 0.0  # Of the epochs that compiled nothing.
    self.timed_epochs = 0
    self.finished = 0  # Trainings finished or found on disk.
    self.trained = 0  # Of those, the ones whose epochs are known:
    self.trained_epochs = 0  # their epochs run (the most of their seeds).
    # The trainings under way, by key: [name, epochs run, epochs left].
    self.running: Dict[Hashable, list] = {}
    self._epoch_start = self.clock()
    self._update('', f'ETA after the first {self.step}')

  @classmethod
  def quiet(cls) -> 'Progress':
    """A Progress that shows and writes nothing."""
    return cls(0, 1, bar=False, write=lambda _: None)

  def eta(self) -> Optional[float]:
    """Seconds left, or None before an epoch without a compile finished."""
    if not self.timed_epochs:
      return None
    expected = (self.trained_epochs / self.trained if self.trained
                else self.epochs)
    waiting = self.trainings - self.finished - len(self.running)
    left = waiting * expected + sum(max(expected - run, 1.0)
                                    for _, run, _ in self.running.values())
    return max(left, 0.0) * self.timed_seconds / self.timed_epochs

  def start(self, what: str, seeds: int, key: Hashable = None) -> None:
    """A training begins: `what` names it (e.g. 'tickets home
    ticket_reset round 3'). Trainings that run at once (in parallel
    workers) each pass their own `key` to `start`, `epoch` and `finish`."""
    if not self.running:  # Else epochs go on arriving from the others.
      self._epoch_start = self.clock()
    self.running[key] = [f'{what} ({seeds} seeds)', 0, self.epochs]
    self._update(f'{self.running[key][0]} {self.step} 1/{self.epochs}')

  def epoch(self, epoch: int, compiled: bool, key: Hashable = None) -> None:
    """Epoch `epoch` (0-based) of a training finished; `compiled` says
    whether it compiled a program (its time is left out of the ETA).

    The seconds of an epoch are those since the previous epoch of any
    training: with trainings at once, the rate of all of them together.
    """
    now = self.clock()
    if not compiled:
      self.timed_seconds += now - self._epoch_start
      self.timed_epochs += 1
    self._epoch_start = now
    training = self.running[key]
    training[1] += 1
    training[2] -= 1
    self._advance(1)
    self._update(f'{training[0]} {self.step} '
                 f'{min(epoch + 2, self.epochs)}/{self.epochs}')

  def finish(self, what: str, rows: Sequence[Dict], seconds: Optional[float],
             key: Hashable = None) -> None:
    """A training ended (`seconds` None: found on disk): its epochs not run
    are skipped, and a line with its test accuracy is written."""
    self.finished += 1
    training = self.running.pop(key, None)
    if seconds is not None and training is not None:
      self.trained += 1
      self.trained_epochs += training[1]
      self._advance(training[2])
    else:
      self._advance(self.epochs)
      run = [r['epochs_run'] for r in rows if 'epochs_run' in r]
      if run:  # Found on disk: the fit loop ran as long as its last seed.
        self.trained += 1
        self.trained_epochs += max(run)
    acc = np.array([r['test_accuracy'] for r in rows])
    self.write(f'{what}: test {acc.mean():.4f} +- {acc.std():.4f} at '
               f'{100 * rows[0]["sparsity"]:.2f}% sparsity'
               + (f' ({seconds:.1f}s)' if seconds is not None
                  else ' (resumed)'))
    self._update(what)

  def close(self) -> None:
    self.bar.close()

  def _advance(self, epochs: int) -> None:
    self.done += epochs
    self.bar.update(epochs)

  def _update(self, desc: str, eta: Optional[str] = None) -> None:
    if eta is None:
      seconds = self.eta()
      eta = (f'ETA after the first {self.step}' if seconds is None
             else f'about {duration(seconds)} left')
    self.bar.set_description_str(desc, refresh=False)
    self.bar.set_postfix_str(eta)
