"""The run layer: tickets and transfer round by round, on disk, resumable.

Each finished round is saved with orbax under a run directory named by a
hash of what changes its numbers (the settings and the prepared data), so
running the same command again resumes at the next unfinished round and a
finished run is not repeated::

  <workdir>/tickets/<domain>-<hash>/
    config.json                 settings and data fingerprint of the run
    round_000/                  FULL-MODEL: theta0, masks, trained params
    ticket_reset/round_001/ ... masks, trained params (+ rows.json)
    ticket_random/round_001/ ... (and each control's strategy)
    results.jsonl               one row per (strategy, seed, round)
    summary.json                mean and std over seeds per round
  <workdir>/transfer/<source>-to-<target>-<hash>/
    config.json
    masks_reset/round_001/ ...  rows.json (params only if asked)
    masks_random/round_001/ ...
    results.jsonl, summary.json
  and in every round directory its curves: curves.jsonl, tb/ (curves.py)

Everything here takes checked `config.Settings`; the experiments that
drive it are in `tickets.py`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import jax
import numpy as np

from lottery_jax import checkpoints
from lottery_jax import config as config_lib
from lottery_jax import curves
from lottery_jax import files
from lottery_jax import fit as fit_lib
from lottery_jax import lottery
from lottery_jax import progress as progress_lib
from lottery_jax import results as results_lib
from lottery_jax import train as train_lib
from lottery_jax.data import dataset
from lottery_jax.data import domains as domains_lib
from lottery_jax.data import input_pipeline

ConfigError = config_lib.ConfigError
FULL_MODEL = lottery.FULL_MODEL
Row = Dict[str, Any]


KEYS_VERSION = 2


class TrainingDiverged(RuntimeError):
  """A NaN or infinite loss; finished rounds stay on disk."""


# The errors an entry point reports as one line (they name the file, flag
# or round to fix).
USER_ERRORS = (ConfigError, TrainingDiverged, domains_lib.DataError,
               input_pipeline.ReviewFileError, checkpoints.CheckpointError,
               files.CorruptFileError, OSError)


# ---------------------------------------------------------------------------
# Data and the compiled fit.


def prepare_data(settings: config_lib.DataSettings, data_dir: Optional[str],
                 workdir: str) -> str:
  """Prepares (or reuses) the data under ``workdir/data``; returns it.

  Without `data_dir`, a work directory prepared earlier is used as it is:
  its tickets were found on that data, whatever $LOTTERY_JAX_DATA_DIR says
  now. An explicit `data_dir` is prepared (a no-op when nothing changed).
  """
  data_workdir = os.path.join(workdir, 'data')
  report_path = os.path.join(data_workdir, 'data_report.json')
  if data_dir is None and os.path.exists(report_path):
    prepared = files.read_json(report_path).get('config')
    wanted = json.loads(json.dumps(settings.record()))  # As JSON reads back.
    if prepared is not None and prepared != wanted:
      differ = sorted(k for k in set(prepared) | set(wanted)
                      if prepared.get(k) != wanted.get(k))
      raise ConfigError(
          f'the data in {data_workdir} was prepared with other settings '
          f'({", ".join("--config.data." + k for k in differ)}); pass '
          '--data_dir to prepare it again, or use another --workdir')
    return data_workdir
  dataset.prepare(data_dir, data_workdir, settings)
  return data_workdir


def fit_program(settings: config_lib.Settings) -> fit_lib.FitProgram:
  """The compiled fit of these settings; one serves a whole command."""
  model = lottery.build_model(settings.model, settings.data.vocab_size)
  o = settings.optimizer
  tx = train_lib.make_optimizer(o.name, o.learning_rate, o.l2,
                                warmup_steps=o.warmup_steps)
  return fit_lib.FitProgram(model, tx, settings.fit)


def data_fingerprint(data_workdir: str, domains: Sequence[str]
                     ) -> Dict[str, str]:
  """What the prepared data of `domains` is, by content: hashes of the
  vocabulary and of each domain's encoded splits (so another
  data.max_length is other data, and identical data prepared again, or
  elsewhere, is the same)."""
  with open(os.path.join(data_workdir, 'spm.model'), 'rb') as f:
    fingerprint = {'vocab': hashlib.sha256(f.read()).hexdigest()[:16]}
  for domain in domains:
    digest = hashlib.sha256()
    for split in domains_lib.SPLITS:
      arrays = dataset.load_split_arrays(data_workdir, domain, split)
      for name in sorted(arrays):
        digest.update(f'{split}/{name}/{arrays[name].dtype}'.encode())
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    fingerprint[domain] = digest.hexdigest()[:16]
  return fingerprint


def load_splits(settings: config_lib.Settings, data_workdir: str,
                domain: str) -> Dict[str, Dict[str, np.ndarray]]:
  """The three splits of a domain, padded to train.max_length."""
  prepared = files.read_json(os.path.join(
      data_workdir, 'data_report.json'))['vocab']['size']
  if prepared != settings.data.vocab_size:
    raise ConfigError(
        f'the data in {data_workdir} has a vocabulary of {prepared} pieces '
        f'but --config.data.vocab_size={settings.data.vocab_size}; pass '
        '--data_dir to prepare it again with this config')
  return {s: dataset.load_split(data_workdir, domain, s,
                                settings.fit.max_length)
          for s in domains_lib.SPLITS}


# ---------------------------------------------------------------------------
# Run directories.


# Model settings added after runs were first named, with the value every
# earlier run had: hashed only when set otherwise, so those runs keep their
# names (and resume).
_ADDED_LATER = {'embed_init_std': 1.0}
_NOT_ADDED = object()


def run_hash(settings: config_lib.Settings, data: Dict[str, str]) -> str:
  """The hash that names a run: what changes its numbers. Rounds and
  strategies are left out: adding some continues the same run."""
  lot = settings.lottery
  model = {k: v for k, v in vars(settings.model).items()
           if _ADDED_LATER.get(k, _NOT_ADDED) != v}
  relevant = {
      'data': data,
      'model': model, 'optimizer': settings.optimizer,
      'fit': settings.fit,
      'lottery': [lot.prune_fraction, lot.seeds, lot.seed_offset,
                  lot.rewind_steps],
      # The version of the key streams: 2 folds the domains into every
      # training's keys (runs of version 1 are not resumed with these).
      'keys': KEYS_VERSION,
  }
  text = json.dumps(relevant, sort_keys=True, default=_json_default)
  return hashlib.sha256(text.encode()).hexdigest()[:10]


def _json_default(obj):
  return {**vars(obj)} if hasattr(obj, '__dataclass_fields__') else list(obj)


def round_dir(run_dir: str, strategy: str, round_: int) -> str:
  """Where a round is saved (FULL-MODEL's round 0 at the top)."""
  if strategy == FULL_MODEL:
    return os.path.join(run_dir, 'round_000')
  return os.path.join(run_dir, strategy, f'round_{round_:03d}')


def tickets_dir(workdir: str, domain: str, settings: config_lib.Settings,
                data: Dict[str, str]) -> str:
  """The run directory of the tickets of `domain` (see `run_hash`)."""
  return os.path.join(workdir, 'tickets',
                      f'{domain}-{run_hash(settings, data)}')


def transfer_dir(workdir: str, source: str, target: str,
                 settings: config_lib.Settings, data: Dict[str, str]) -> str:
  """The run directory of `source`'s tickets trained on `target`."""
  return os.path.join(workdir, 'transfer',
                      f'{source}-to-{target}-{run_hash(settings, data)}')


def open_run(run_dir: str, settings: config_lib.Settings,
             data: Dict[str, str], **meta) -> None:
  """Creates (or checks, to resume) a run directory's config.json."""
  path = os.path.join(run_dir, 'config.json')
  if os.path.exists(path):
    recorded = files.read_json(path).get('data')
    if recorded is not None and recorded != data:
      differ = sorted(k for k in set(recorded) | set(data)
                      if recorded.get(k) != data.get(k))
      raise ConfigError(f'{run_dir} was trained on other prepared data '
                        f'({", ".join(differ)} differ); delete it or use '
                        'another --workdir')
  os.makedirs(run_dir, exist_ok=True)
  files.write_json(path, {'data': data, 'vocab': data['vocab'], **meta,
                          'settings': json.loads(json.dumps(
                              settings, default=_json_default))})


def finished_run_rows(run_dir: str) -> List[Row]:
  """The rows of every finished round under a run directory, by round and
  strategy (more than one invocation may have added rounds)."""
  found = []
  for order, strategy in enumerate(lottery.ORDER):
    parent = run_dir if strategy == FULL_MODEL else os.path.join(run_dir,
                                                                 strategy)
    for name in _listdir(parent):
      if name.startswith('round_') and (strategy == FULL_MODEL) == (
          name == 'round_000'):
        rows = checkpoints.finished_rows(os.path.join(parent, name))
        if rows is not None:
          found.append((int(name[len('round_'):]), order, rows))
  return [row for _, _, rows in sorted(found, key=lambda x: x[:2])
          for row in rows]


def write_results(run_dir: str) -> List[Row]:
  """Rewrites results.jsonl and summary.json; returns the rows."""
  rows = finished_run_rows(run_dir)
  results_lib.write_rows(os.path.join(run_dir, 'results.jsonl'), rows)
  files.write_json(os.path.join(run_dir, 'summary.json'),
                   results_lib.summarize(rows))
  return rows


def _listdir(path: str) -> List[str]:
  return sorted(os.listdir(path)) if os.path.isdir(path) else []


# ---------------------------------------------------------------------------
# The NaN guard.


def nan_guard(where: str, seeds: Sequence[int], run_dir: str):
  """An `on_epoch` hook that stops a training whose loss is not finite."""

  def check(epoch, metrics):
    loss = np.asarray(metrics['loss'])
    bad = ~np.isfinite(loss) & metrics['active']  # Stopped seeds: ignored.
    if bad.any():
      i = int(np.flatnonzero(bad)[0])
      raise TrainingDiverged(
          f'{where}, seed {seeds[i]}, epoch {epoch + 1}: the loss is '
          f'{loss[i]}; finished rounds are kept in {run_dir}')

  return check


# ---------------------------------------------------------------------------
# Rounds.


def cached_round(directory: str, compute: Callable[[], Tuple[Any, Any, Any]],
                 *, template, save_arrays: bool = True,
                 extra: Optional[Dict[str, Any]] = None):
  """A finished round from disk, or `compute()`'d and saved.

  Args:
    directory: the round's directory.
    compute: returns (trained params, masks, rows), arrays [seeds]-stacked.
    template: one seed's masks (where None leaves go back when loading).
    save_arrays: save the params and masks (else the rows only).
    extra: more arrays to save with them.

  Returns:
    (params, masks, rows, trained): arrays None for a finished round saved
    without them; `trained` False when it came from disk.
  """
  rows = checkpoints.finished_rows(directory)
  if rows is not None:
    if not save_arrays:
      return None, None, rows, False
    saved = checkpoints.load_round(directory)
    return (saved['params'], checkpoints.fill_none(template, saved['masks']),
            rows, False)
  params, masks, rows = compute()
  tree = {'params': params, 'masks': masks, **(extra or {})}
  checkpoints.save_round(directory, tree if save_arrays else None, rows)
  return params, masks, rows, True


class Run:
  """The trainings of one run directory: one experiment's rounds on one
  target domain, with its data, the compiled fit and the seeds' keys.

  `fit` trains [seeds] params on the target's splits; pass your own (with
  the signature of `fit.FitProgram.fit`) to observe or replace the training.
  """

  def __init__(self, settings: config_lib.Settings, data_workdir: str,
               run_dir: str, *, experiment: str, source: str, target: str,
               program: Optional[fit_lib.FitProgram] = None,
               fit: Optional[lottery.FitFn] = None):
    self.settings, self.run_dir = settings, run_dir
    self.experiment, self.source, self.target = experiment, source, target
    self.program = program or fit_program(settings)
    self.model = self.program.model
    self.roots = lottery.seed_roots(settings.lottery.seed_ids)
    self.template = lottery.mask_template(self.model,
                                          settings.fit.max_length)
    self.splits = load_splits(settings, data_workdir, target)
    self.fit = functools.partial(fit or self.program.fit,
                                 train=self.splits['train'],
                                 valid=self.splits['valid'],
                                 test=self.splits['test'])
    self._rewound = None

  def rewound(self, theta_0):
    """[seeds] theta_k of TICKET-REWIND (`lottery.rewind_params`), replayed
    on this run's training split once per Run."""
    if self._rewound is None:
      self._rewound = lottery.rewind_params(
          self.program, self.roots, theta_0,
          lottery.dense_masks(self.template, self.settings.lottery.seeds),
          self.splits['train'], self.settings.lottery.rewind_steps,
          self.target)
    return self._rewound

  def label(self, strategy: str, round_: int) -> str:
    """'tickets home ticket_reset round 3', 'transfer home->books ...'."""
    pair = (f'{self.source}->{self.target}' if self.source != self.target
            else self.target)
    return f'{self.experiment} {pair} {strategy} round {round_}'

  def round(self, strategy: str, round_: int, masks_fn: Callable[[], Any],
            theta_0, progress: progress_lib.Progress, *,
            save_arrays: bool = True, extra=None):
    """Trains one round, or loads it if it finished.

    Args:
      strategy: a key of `lottery.STRATEGIES`.
      round_: the round.
      masks_fn: returns the round's [seeds] masks (called only to train).
      theta_0: [seeds] theta_0 for `lottery.imp_round`.
      progress: shown the training's epochs.
      save_arrays, extra: as `cached_round`.

    Returns:
      (params, masks, rows, seconds): seconds is None for a round loaded
      from disk, whose arrays are None if they were not saved.
    """
    seeds = self.settings.lottery.seed_ids
    where = self.label(strategy, round_)
    started = []
    directory = round_dir(self.run_dir, strategy, round_)
    guard = nan_guard(where, seeds, self.run_dir)
    compiles = [sum(self.program.compiles.values())]

    def on_epoch(writer, epoch, metrics):
      writer.on_epoch(epoch, metrics)  # First: a diverging epoch is kept.
      guard(epoch, metrics)
      now = sum(self.program.compiles.values())
      progress.epoch(epoch, compiled=now != compiles[0])
      compiles[0] = now

    def timed_fit(*args, **kwargs):  # The wall time is the training's.
      started.append(time.time())
      return self.fit(*args, **kwargs)

    def compute():
      masks = masks_fn()
      progress.start(where, len(seeds))
      tags = dict(experiment=self.experiment, source=self.source,
                  target=self.target, strategy=strategy, round=round_)
      with curves.CurveWriter(directory, seeds, tags) as writer:
        result = lottery.imp_round(
            timed_fit, strategy, round_, masks, roots=self.roots,
            theta_0=theta_0, model=self.model,
            max_length=self.settings.fit.max_length, source=self.source,
            target=self.target, rewind=self.rewound(theta_0) if
            lottery.STRATEGIES[strategy].rewind else None,
            on_epoch=functools.partial(on_epoch, writer))
        writer.finish(result)
      params = jax.tree.map(np.asarray, result.params)
      rows = results_lib.make_rows(result, masks, params, seeds,
                       experiment=self.experiment, source=self.source,
                       target=self.target, strategy=strategy, round_=round_,
                       seconds=time.time() - started[0])
      return params, masks, rows

    params, masks, rows, trained = cached_round(
        directory, compute, template=self.template, save_arrays=save_arrays,
        extra=extra)
    return params, masks, rows, rows[0]['wall_time'] if trained else None
