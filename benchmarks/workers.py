"""Workers: one process on every core, or one process per core, and how.

  python -m benchmarks.workers --data_dir=../shared/data/amazon_reviews \
      [--domain=home --epochs=4 --trainings=2]

The same work, `--trainings` trainings per core of the `cpu` preset's
FULL-MODEL (five seeds one after another in one program, as the preset's
`seed_chunk=1` runs them; `--epochs` epochs, no early stopping),
runs in five layouts:

* ``one``: one process on every core, the trainings one after another (the
  sequential engine).
* ``two``: a process per core side by side, unpinned, with the Ray
  workers' XLA flags (the Ray engine until the pinning).
* ``pinned``: as ``two``, each process pinned to its core once XLA has
  started (`affinity.pin_threads`; the Ray engine now): XLA's thread pool
  keeps the size it has in ``one``.
* ``pinned_plain``: as ``pinned`` without the workers' XLA flags.
* ``pool1``: as ``two``, each process pinned before XLA starts: a pool of
  one thread.

Each process compiles and trains its first epoch, then waits until every
process has; the time from then to the last process's end covers the
rest of the trainings. Reported: seed-epochs a second over all processes,
and whether the first training's best params are the same bytes as in
``one`` (the engine's rows must not depend on the layout).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
from absl import logging
import jax
import numpy as np

from benchmarks import common
from experiments.configs import cpu
from lottery_jax import affinity
from lottery_jax import config as config_lib
from lottery_jax import engine
from lottery_jax import lottery
from lottery_jax import runs

_DATA_DIR = flags.DEFINE_string('data_dir', None, 'Review files.')
_WORKDIR = flags.DEFINE_string('workdir', 'runs/bench_workers',
                               'Prepared data.')
_DOMAIN = flags.DEFINE_string('domain', 'home', 'The domain trained.')
_EPOCHS = flags.DEFINE_integer('epochs', 4, 'Epochs of each training.')
_TRAININGS = flags.DEFINE_integer('trainings', 2, 'Trainings per core.')
_LAYOUTS = flags.DEFINE_list(
    'layouts', ['one', 'two', 'pinned', 'pinned_plain', 'pool1'],
    'Layouts to run (the first is the reference).')
_OUT_DIR = flags.DEFINE_string('out_dir', 'benchmark_results', 'Results.')
# A child process: --child=PIN (none, after, before) --core=N --sync=DIR.
_CHILD = flags.DEFINE_string('child', None, 'Internal: run as a child.')
_CORE = flags.DEFINE_integer('core', 0, 'Internal: the child\'s core.')
_SYNC = flags.DEFINE_string('sync', None, 'Internal: barrier directory.')
_COUNT = flags.DEFINE_integer('count', 1, 'Internal: trainings to run.')
_PROCESSES = flags.DEFINE_integer('processes', 1, 'Internal: at once.')

# layout: (processes, pin, XLA flags of the Ray workers).
LAYOUTS = {'one': (1, 'none', False), 'two': (0, 'none', True),
           'pinned': (0, 'after', True), 'pinned_plain': (0, 'after', False),
           'pool1': (0, 'before', True)}


def _settings() -> config_lib.Settings:
  config = cpu.get_config()  # Its data: a study's workdir serves.
  config.train.epochs = _EPOCHS.value
  config.train.patience = 0  # Every epoch trained.
  config.train.min_epochs = 0
  return config_lib.settings(config)


def _digest(params) -> str:
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(params):
    digest.update(np.asarray(leaf).tobytes())
  return digest.hexdigest()[:16]


def child() -> None:
  """Trains `--count` trainings; prints one JSON line of what it measured."""
  if _CHILD.value == 'before':
    affinity.pin_threads({_CORE.value})
  settings = _settings()
  program = runs.fit_program(settings)
  jax.devices()  # XLA starts: its thread pool is sized now.
  if _CHILD.value == 'after':
    affinity.pin_threads({_CORE.value})
  data_workdir = runs.prepare_data(settings.data, None, _WORKDIR.value)
  splits = runs.load_splits(settings, data_workdir, _DOMAIN.value)
  seeds = list(range(settings.lottery.seeds))
  roots = lottery.seed_roots(seeds)
  model = program.model
  theta_0 = lottery.theta0(model, roots, settings.fit.max_length)
  masks = lottery.dense_masks(lottery.mask_template(
      model, settings.fit.max_length), len(seeds))
  marks = {}

  def on_epoch(epoch, metrics):
    del metrics
    if 'go' not in marks:  # Compiled: wait for the other processes.
      open(os.path.join(_SYNC.value, f'ready{_CORE.value}'), 'w').close()
      while len(os.listdir(_SYNC.value)) < _PROCESSES.value:
        time.sleep(0.05)
      marks['go'] = time.time()
    marks['epochs'] = marks.get('epochs', -1) + 1

  first = None
  for i in range(_COUNT.value):
    keys = lottery.training_keys(roots, lottery.FULL_MODEL, i)
    result = program.fit(theta_0, masks, keys, splits['train'],
                         splits['valid'], splits['test'], on_epoch=on_epoch,
                         schedule_seed=i)
    if first is None:
      first = dict(params=_digest(result.params),
                   test_accuracy=np.asarray(result.test_accuracy).tolist())
  print(json.dumps(dict(first, start=marks['go'], end=time.time(),
                        seed_epochs=marks['epochs'] * len(seeds),
                        threads=len(os.listdir('/proc/self/task')))))


def run_layout(name: str, cores: int):
  processes, pin, worker_flags = LAYOUTS[name]
  processes = processes or cores
  env = dict(os.environ)
  if worker_flags:
    env.update(engine.worker_env(env, backend='cpu'))
  count = _TRAININGS.value * cores // processes
  with tempfile.TemporaryDirectory() as sync:
    commands = [[sys.executable, '-m', 'benchmarks.workers',
                 f'--child={pin}', f'--core={core}', f'--sync={sync}',
                 f'--count={count}', f'--processes={processes}',
                 f'--workdir={_WORKDIR.value}', f'--domain={_DOMAIN.value}',
                 f'--epochs={_EPOCHS.value}'] for core in range(processes)]
    children = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, text=True)
                for c in commands]
    outputs = [json.loads(c.communicate()[0].strip().splitlines()[-1])
               for c in children]
  seconds = max(o['end'] for o in outputs) - min(o['start'] for o in outputs)
  seed_epochs = sum(o['seed_epochs'] for o in outputs)
  return dict(layout=name, processes=processes, pin=pin,
              seed_epochs=seed_epochs, seconds=seconds,
              rate=seed_epochs / seconds, params=outputs[0]['params'],
              test_accuracy=outputs[0]['test_accuracy'],
              threads=outputs[0]['threads'])


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # No line about a missing TPU.
  if _CHILD.value:
    child()
    return
  cores = len(os.sched_getaffinity(0))
  runs.prepare_data(_settings().data, _DATA_DIR.value, _WORKDIR.value)
  results = [run_layout(name, cores) for name in _LAYOUTS.value]
  reference = results[0]
  rows = [[r['layout'], r['processes'], r['pin'], r['seed_epochs'],
           round(r['seconds'], 1), round(r['rate'], 2),
           round(r['rate'] / reference['rate'], 2),
           r['params'] == reference['params'], r['threads']]
          for r in results]
  common.report(
      'workers', f'Trainings in one process or one per core ({cores} cores,'
      f' {_DOMAIN.value}, {_EPOCHS.value} epochs, five seeds)',
      ['layout', 'processes', 'pinned', 'seed-epochs', 'seconds',
       'seed-epochs/s', f'vs {reference["layout"]}',
       f'params as {reference["layout"]}', 'threads'],
      rows, {'results': results}, _OUT_DIR.value)


if __name__ == '__main__':
  app.run(main)
