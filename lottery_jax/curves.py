"""Training curves: TensorBoard event files and curves.jsonl per round.

A `CurveWriter` is the fit loop's `on_epoch` hook for one round directory.
Every training trains all seeds at once, so it writes

- ``tb/seed_<s>/``: one TensorBoard run per seed. `tensorboard --logdir
  WORKDIR` then shows one curve per seed, grouped by round directory.
  Scalars 'train/loss', 'train/accuracy' and 'valid/accuracy' at step
  epoch + 1; at the end 'test/accuracy' and 'valid/best_accuracy' at the best
  validation epoch's step.
- ``curves.jsonl``: a JSON line per (seed, epoch) with the caller's tags
  (experiment, source, target, strategy, round), 'seed', 'epoch' (1-based),
  'loss', 'accuracy' and 'valid_accuracy'; then a line per seed with
  'best_epoch' (1-based), 'best_valid_accuracy' and 'test_accuracy' and no
  'epoch'. `pandas.read_json(path, lines=True)` reads it.

A seed stopped by early stopping writes nothing for its later epochs. The
test accuracy is that of the best validation epoch's params only: testing
every epoch would cost a pass over the test split each time, and choosing
anything on it would leak.

A run killed mid-training leaves the epochs so far (each epoch's lines are
flushed); the round trains again from scratch when resumed, so a new writer
first removes the round's old tb/ and curves.jsonl rather than appending to
them.

The event files are written with tensorboardX: a pure-Python writer (MIT,
an 88 KB wheel, 0.7 MB installed) that needs only numpy, packaging and
protobuf, which orbax-checkpoint already brings. `clu.metric_writers`, which
the Flax examples use, imports TensorFlow in its package `__init__` (even
for its LoggingWriter), and its one other TensorBoard writer wraps
PyTorch's. The `tensorboard` package (30 MB with its data server) is needed
only to view or read the files back, so it is left to the user and the
tests. We use tensorboardX's synchronous `EventsWriter`, not its
`SummaryWriter`: that one hands events to a thread through a queue, and its
`flush()` does not wait for the queue, so an epoch "flushed" could still be
lost to a kill.

`gather` puts many rounds' curves.jsonl into one gzip file (a study's
``curves.jsonl.gz``, every training's curves) and `read_curves` reads
either kind back.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import os
import shutil
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np
from tensorboardX import event_file_writer
from tensorboardX.proto import event_pb2
from tensorboardX.proto import summary_pb2

from lottery_jax import files

CURVES = 'curves.jsonl'
GATHERED = 'curves.jsonl.gz'  # Many rounds' curves in one file (`gather`).
TENSORBOARD = 'tb'


def _event(tag: str, value, step: int) -> event_pb2.Event:
  return event_pb2.Event(
      wall_time=time.time(), step=step, summary=summary_pb2.Summary(
          value=[summary_pb2.Summary.Value(tag=tag,
                                           simple_value=float(value))]))


def _number(value) -> Optional[float]:
  """A float32 metric as its shortest repr (0.6369617, not the float64
  expansion 0.6369616985321045); NaN and inf, which are not JSON, as null."""
  value = np.float32(value)
  return float(str(value)) if math.isfinite(value) else None


def _writes(method):
  """An OS error (a full disk) becomes a one-line error naming the round."""

  @functools.wraps(method)
  def wrapped(self, *args, **kwargs):
    try:
      return method(self, *args, **kwargs)
    except files.WriteError:
      raise
    except OSError as e:
      raise files.WriteError(e.errno, e.strerror,
                             os.path.join(self.directory, CURVES)) from e

  return wrapped


class CurveWriter:
  """Writes a round's per-epoch metrics of every seed; see the module doc.

  Use it as a context manager (or call `close`) so that a training that
  raises still closes the files:

    with curves.CurveWriter(round_dir, seeds, tags) as writer:
      result = program.fit(..., on_epoch=writer.on_epoch)
      writer.finish(result)
  """

  @_writes
  def __init__(self, directory: str, seeds: Sequence[int],
               tags: Mapping[str, Any]):
    """Removes the directory's old curves and opens new ones.

    Args:
      directory: the round directory (created if missing).
      seeds: the seed ids, in the order of the metrics' [seeds] axis.
      tags: put in every curves.jsonl line, e.g. experiment, source, target,
        strategy and round; JSON-serialisable.
    """
    self.directory = directory
    self.seeds = [int(s) for s in seeds]
    self.tags = dict(tags)
    tb = os.path.join(directory, TENSORBOARD)
    if os.path.exists(tb):  # A killed run's; an error if it stays.
      shutil.rmtree(tb)
    os.makedirs(directory, exist_ok=True)
    self._jsonl = open(os.path.join(directory, CURVES), 'w')
    self._writers = []
    for seed in self.seeds:
      run = os.path.join(tb, f'seed_{seed}')
      os.makedirs(run)
      # Names the file events.out.tfevents.<time>.<host>, as TensorBoard
      # expects, and writes the file-version event first.
      self._writers.append(event_file_writer.EventsWriter(
          os.path.join(run, 'events')))

  def __enter__(self) -> 'CurveWriter':
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()

  def _per_seed(self, values, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.shape != (len(self.seeds),):
      raise ValueError(f"'{name}' has shape {values.shape}, not "
                       f'[seeds] = ({len(self.seeds)},)')
    return values

  @_writes
  def _write_lines(self, lines) -> None:
    for line in lines:
      self._jsonl.write(json.dumps({**self.tags, **line}) + '\n')
    self._jsonl.flush()
    for writer in self._writers:
      writer.flush()

  @_writes
  def on_epoch(self, epoch: int, metrics: Mapping[str, Any]) -> None:
    """The fit loop's hook: one epoch of every seed still training.

    Args:
      epoch: 0-based.
      metrics: [seeds] arrays 'loss', 'accuracy', 'valid_accuracy' and
        'active' (bool; the seeds that are False write nothing). Without
        'active', every seed writes.
    """
    loss, accuracy, valid = (self._per_seed(metrics[k], k) for k in (
        'loss', 'accuracy', 'valid_accuracy'))
    active = self._per_seed(metrics.get('active', np.ones(len(self.seeds),
                                                          bool)), 'active')
    lines = []
    for i, seed in enumerate(self.seeds):
      if not active[i]:
        continue
      for tag, value in (('train/loss', loss[i]),
                         ('train/accuracy', accuracy[i]),
                         ('valid/accuracy', valid[i])):
        self._writers[i].write_event(_event(tag, value, epoch + 1))
      lines.append({'seed': seed, 'epoch': epoch + 1,
                    'loss': _number(loss[i]),
                    'accuracy': _number(accuracy[i]),
                    'valid_accuracy': _number(valid[i])})
    self._write_lines(lines)

  @_writes
  def finish(self, result) -> None:
    """Writes the test accuracies at the best epochs, then closes.

    Args:
      result: a `fit.FitResult` (or any object with [seeds] arrays
        `test_accuracy`, `valid_accuracy` and 0-based `best_epoch_index`).
    """
    test = self._per_seed(result.test_accuracy, 'test_accuracy')
    valid = self._per_seed(result.valid_accuracy, 'valid_accuracy')
    best = self._per_seed(result.best_epoch_index, 'best_epoch_index')
    lines = []
    for i, seed in enumerate(self.seeds):
      step = int(best[i]) + 1
      self._writers[i].write_event(_event('test/accuracy', test[i], step))
      self._writers[i].write_event(_event('valid/best_accuracy', valid[i],
                                          step))
      lines.append({'seed': seed, 'best_epoch': step,
                    'best_valid_accuracy': _number(valid[i]),
                    'test_accuracy': _number(test[i])})
    self._write_lines(lines)
    self.close()

  def close(self) -> None:
    """Flushes and closes the files; calling it again does nothing."""
    if self._jsonl.closed:
      return
    self._jsonl.close()
    for writer in self._writers:
      writer.close()


def read_curves(path: str) -> List[Dict[str, Any]]:
  """The lines of a curves.jsonl, or of a gzipped one (name ending .gz)."""
  opener = gzip.open if path.endswith('.gz') else open
  with opener(path, 'rt') as f:
    return [json.loads(line) for line in f if line.strip()]


def gather(paths: Iterable[str], out_path: str) -> int:
  """Writes the lines of every curves.jsonl in `paths` that exists, in
  order, gzipped to `out_path` (the same bytes for the same lines: no time
  or name in the gzip header); returns the number of files gathered."""
  found = 0
  with files.atomic_write(out_path, 'wb') as raw:
    with gzip.GzipFile(filename='', mode='wb', fileobj=raw,
                       mtime=0) as out:
      for path in paths:
        if os.path.exists(path):  # Rounds trained before curves were kept.
          with open(path, 'rb') as f:
            out.write(f.read())
          found += 1
  return found
