"""Iterative magnitude pruning rounds, strategies and transfer (SPEC 5, 6).

Every training here trains all seeds at once (`train.fit_seeds`): arrays
carry a leading [seeds] axis. Each finished round is saved with orbax under
the run directory, which is named by a hash of the config, so that running
the same command again resumes at the next unfinished round and a finished
run is not repeated::

  <workdir>/tickets/<domain>-<hash>/
    config.json
    round_000/                  FULL-MODEL: theta_0, masks, trained params
    ticket_reset/round_001/ ... masks, trained params (+ rows.json)
    ticket_random/round_001/ ...
    results.jsonl               one row per (strategy, seed, round)
    summary.json                mean and std over seeds per round
  <workdir>/transfer/<source>-to-<target>-<hash>/
    masks_reset/round_001/ ...
    masks_random/round_001/ ...
    results.jsonl

Randomness: seed s has the root key `jax.random.key(s)`; theta_0, every
fresh draw and every training's shuffling and dropout come from named
`fold_in`s of it, so a seed's numbers never depend on the other seeds.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from typing import Any, Callable, Dict, List, Optional

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lottery_jax import checkpoints
from lottery_jax import dataset
from lottery_jax import domains as domains_lib
from lottery_jax import files
from lottery_jax import input_pipeline
from lottery_jax import masks as masks_lib
from lottery_jax import models
from lottery_jax import pruning
from lottery_jax import results as results_lib
from lottery_jax import train as train_lib

FULL_MODEL = 'full_model'
TICKET_STRATEGIES = ('ticket_reset', 'ticket_random')
TRANSFER_STRATEGIES = ('masks_reset', 'masks_random')

# fold_in tags of a seed's root key.
_THETA0, _FRESH, _TRANSFER_FRESH, _SHUFFLE, _DROPOUT = range(5)
_STREAMS = {FULL_MODEL: 0, 'ticket_reset': 1, 'ticket_random': 2,
            'masks_reset': 3, 'masks_random': 4}


class ConfigError(ValueError):
  """An invalid experiment config; raised before any training."""


class TrainingDiverged(RuntimeError):
  """A NaN or infinite loss; finished rounds stay on disk."""


def _names(value: str) -> List[str]:
  return [v.strip() for v in value.split(',') if v.strip()]


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks an experiment config; raises ConfigError naming the flag."""
  lot = config.lottery
  if not 0.0 < lot.prune_fraction < 1.0:
    raise ConfigError(f'--config.lottery.prune_fraction={lot.prune_fraction}'
                      ' must be in (0, 1)')
  if lot.rounds < 0:
    raise ConfigError(f'--config.lottery.rounds={lot.rounds} must be >= 0')
  if lot.seeds < 1:
    raise ConfigError(f'--config.lottery.seeds={lot.seeds} must be >= 1')
  known = set(_names(config.data.domains))
  for flag, value in (('lottery.domains', lot.domains),
                      ('transfer.sources', config.transfer.sources),
                      ('transfer.targets', config.transfer.targets)):
    for name in _names(value):
      if name not in known:
        raise ConfigError(f'--config.{flag}: unknown domain {name!r}; known: '
                          f'{", ".join(sorted(known))}')
  for flag, value, allowed in (
      ('lottery.strategies', lot.strategies, TICKET_STRATEGIES),
      ('transfer.strategies', config.transfer.strategies,
       TRANSFER_STRATEGIES)):
    for name in _names(value):
      if name not in allowed:
        raise ConfigError(f'--config.{flag}: unknown strategy {name!r}; '
                          f'known: {", ".join(allowed)}')
  tr, m = config.train, config.model
  for flag, value, low in (
      ('train.epochs', tr.epochs, 1), ('train.batch_size', tr.batch_size, 1),
      ('train.eval_batch_size', tr.eval_batch_size, 1),
      ('train.max_length', tr.max_length, 1),
      ('train.patience', tr.patience, 0),
      ('train.seed_chunk', tr.seed_chunk, 0),
      ('model.embed_dim', m.embed_dim, 1), ('model.channels', m.channels, 1),
      ('model.hidden', m.hidden, 1)):
    if value < low:
      raise ConfigError(f'--config.{flag}={value} must be >= {low}')
  if not m.widths or min(m.widths) < 1:
    raise ConfigError(f'--config.model.widths={tuple(m.widths)}: give one '
                      'or more positive convolution widths')
  if any(b < 1 for b in tr.buckets):
    raise ConfigError(f'--config.train.buckets={tuple(tr.buckets)}: '
                      'lengths must be positive')
  if not tr.learning_rate > 0 or tr.l2 < 0 or not 0 <= m.dropout_rate < 1:
    raise ConfigError('--config.train.learning_rate must be > 0, '
                      '--config.train.l2 >= 0 and --config.model.dropout_rate'
                      ' in [0, 1)')
  if m.conv not in ('matmul', 'xla'):
    raise ConfigError(f'--config.model.conv={m.conv!r}: matmul or xla')
  if tr.optimizer not in ('adam', 'sgd'):
    raise ConfigError(f'--config.train.optimizer={tr.optimizer!r}: adam or '
                      'sgd')


# ---------------------------------------------------------------------------
# Pieces of one experiment.


def build_model(config, vocab_size: int) -> models.TextCNN:
  m = config.model
  return models.TextCNN(vocab_size=vocab_size, embed_dim=m.embed_dim,
                        widths=tuple(m.widths), channels=m.channels,
                        hidden=m.hidden, dropout_rate=m.dropout_rate,
                        conv_impl=m.conv)


def fit_config(config) -> train_lib.FitConfig:
  t = config.train
  return train_lib.FitConfig(batch_size=t.batch_size,
                             eval_batch_size=t.eval_batch_size,
                             epochs=t.epochs, patience=t.patience,
                             buckets=tuple(t.buckets),
                             seed_chunk=t.seed_chunk)


def make_tx(config):
  t = config.train
  return _optimizer(t.optimizer, t.learning_rate, t.l2)


# One optimiser object per setting, so the compiled epoch is reused.
_optimizer = functools.lru_cache(maxsize=8)(train_lib.make_optimizer)


def seed_roots(config) -> jax.Array:
  """[seeds] root keys of the seeds `seed_offset + 0..seeds-1`."""
  seeds = config.lottery.seed_offset + np.arange(config.lottery.seeds)
  return jax.vmap(jax.random.key)(jnp.asarray(seeds))


def _fold(keys: jax.Array, *tags: int) -> jax.Array:
  for tag in tags:
    keys = jax.vmap(lambda k, t=tag: jax.random.fold_in(k, t))(keys)
  return keys


def init_params(model, keys: jax.Array, max_length: int):
  """[seeds] draws of the init distributions (SPEC.md section 3)."""
  tokens = jnp.zeros((1, max_length), jnp.int32)
  length = jnp.ones((1,), jnp.int32)
  return jax.vmap(lambda k: model.init(k, tokens, length)['params'])(keys)


def training_keys(roots: jax.Array, strategy: str,
                  round_: int) -> train_lib.SeedKeys:
  stream = _STREAMS[strategy]
  return train_lib.SeedKeys(shuffle=_fold(roots, _SHUFFLE, stream, round_),
                            dropout=_fold(roots, _DROPOUT, stream, round_))


def _seed_slice(tree, i):
  return jax.tree.map(lambda x: None if x is None else x[i], tree,
                      is_leaf=masks_lib.is_none)


def _stack(trees):
  return jax.tree.map(lambda *xs: None if xs[0] is None else np.stack(xs),
                      *trees, is_leaf=masks_lib.is_none)


def prune_seeds(params, masks, fraction: float):
  """`pruning.prune_by_magnitude` for every seed of [seeds]-stacked trees."""
  n = jax.tree.leaves(params)[0].shape[0]
  return _stack([pruning.prune_by_magnitude(_seed_slice(params, i),
                                            _seed_slice(masks, i), fraction)
                 for i in range(n)])


class Experiment:
  """The data, model and optimiser that the trainings of a domain share."""

  def __init__(self, config, data_workdir: str, domain: str):
    self.config = config
    self.domain = domain
    vocab_size = config.data.vocab_size
    prepared = files.read_json(os.path.join(
        data_workdir, 'data_report.json'))['vocab']['size']
    if prepared != vocab_size:
      raise ConfigError(
          f'the data in {data_workdir} has a vocabulary of {prepared} pieces '
          f'but --config.data.vocab_size={vocab_size}; pass --data_dir to '
          'prepare it again with this config')
    self.model = build_model(config, vocab_size)
    self.tx = make_tx(config)
    self.fit_config = fit_config(config)
    length = config.train.max_length
    self.splits = {s: dataset.load_split(data_workdir, domain, s, length)
                   for s in domains_lib.SPLITS}

  def fit(self, init, masks, keys: train_lib.SeedKeys, on_epoch=None,
          schedule_seed: int = 0) -> train_lib.FitResult:
    states = jax.vmap(lambda p, m: train_lib.TrainState.create(
        p, m, self.tx))(init, masks)
    return train_lib.fit_seeds(
        states, keys, self.splits['train'], self.splits['valid'],
        self.splits['test'], model=self.model, tx=self.tx,
        fit_config=self.fit_config, on_epoch=on_epoch,
        schedule_seed=schedule_seed)


# ---------------------------------------------------------------------------
# Run directories, rows, progress.


def vocab_fingerprint(data_workdir: str) -> str:
  with open(os.path.join(data_workdir, 'spm.model'), 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()[:16]


def run_hash(config, vocab: str) -> str:
  """The hash that names a run: what changes its numbers. Rounds and
  strategies are left out: adding some continues the same run."""
  relevant = {
      'vocab': vocab,
      'data': {k: config.data[k] for k in ('data_seed', 'train_size',
                                           'valid_size', 'test_size')},
      'model': config.model.to_dict(),
      'train': config.train.to_dict(),
      'lottery': {k: config.lottery[k] for k in ('prune_fraction', 'seeds',
                                                 'seed_offset')},
  }
  return hashlib.sha256(json.dumps(relevant, sort_keys=True,
                                   default=list).encode()).hexdigest()[:10]


def round_dir(run_dir: str, strategy: str, round_: int) -> str:
  if strategy == FULL_MODEL:
    return os.path.join(run_dir, 'round_000')
  return os.path.join(run_dir, strategy, f'round_{round_:03d}')


def _rows(result: train_lib.FitResult, masks, params, config, *, experiment,
          source, target, strategy, round_, seconds) -> List[Dict[str, Any]]:
  spars = masks_lib.sparsity(_seed_slice(masks, 0), _seed_slice(params, 0))
  seeds = config.lottery.seed_offset + np.arange(config.lottery.seeds)
  rows = []
  for i, seed in enumerate(seeds):
    rows.append({
        'experiment': experiment, 'source': source, 'target': target,
        'strategy': strategy, 'seed': int(seed), 'round': round_,
        'sparsity': round(spars['prunable'], 6),
        'sparsity_all': round(spars['all'], 6),
        'valid_accuracy': float(result.valid_accuracy[i]),
        'test_accuracy': float(result.test_accuracy[i]),
        'best_epoch': int(result.best_epoch[i]) + 1,
        'epochs_run': int(result.epochs_run[i]),
        'wall_time': round(seconds, 3),
    })
  return rows


class Progress:
  """Logs each finished training with an estimate of the time left."""

  def __init__(self, total: int, label: str,
               log: Callable[[str], None] = logging.info):
    self.total, self.label, self.log = total, label, log
    self.done = 0
    self.trained_seconds = 0.0
    self.trained = 0

  def update(self, what: str, rows, seconds: Optional[float]) -> None:
    self.done += 1
    if seconds is not None:
      self.trained += 1
      self.trained_seconds += seconds
    acc = np.array([r['test_accuracy'] for r in rows])
    left = self.total - self.done
    eta = (self.trained_seconds / self.trained * left) if self.trained else 0
    self.log(f'[{self.label}] {what}: test {acc.mean():.4f} +- {acc.std():.4f}'
             f' at {100 * rows[0]["sparsity"]:.2f}% sparsity'
             + (f' ({seconds:.1f}s)' if seconds is not None else ' (resumed)')
             + f'; {self.done}/{self.total} done, about '
             f'{_duration(eta)} left')


def _duration(seconds: float) -> str:
  seconds = int(seconds)
  return (f'{seconds // 3600}h{seconds % 3600 // 60:02d}m' if seconds >= 3600
          else f'{seconds // 60}m{seconds % 60:02d}s')


def _nan_guard(where: str, config, run_dir: str):
  seeds = config.lottery.seed_offset + np.arange(config.lottery.seeds)

  def check(epoch, metrics):
    loss = np.asarray(metrics['loss'])
    bad = ~np.isfinite(loss) & metrics['active']  # Stopped seeds: ignored.
    if bad.any():
      i = int(np.flatnonzero(bad)[0])
      raise TrainingDiverged(
          f'{where}, seed {seeds[i]}, epoch {epoch + 1}: the loss is '
          f'{loss[i]}; finished rounds are kept in {run_dir}')

  return check


def _train_round(exp: Experiment, run_dir: str, strategy: str, round_: int,
                 init_fn: Callable[[], Any], masks_fn: Callable[[], Any],
                 roots, progress: Progress, *, experiment: str, source: str,
                 target: str, extra: Optional[Dict[str, Any]] = None,
                 save_arrays: bool = True):
  """Trains one round of one strategy, or loads it if it finished.

  Returns:
    (trained params, masks, rows), the arrays [seeds]-stacked; the arrays
    are None for a finished round saved without them.
  """
  directory = round_dir(run_dir, strategy, round_)
  rows = checkpoints.finished_rows(directory)
  what = f'{strategy} round {round_}'
  if rows is not None:
    progress.update(what, rows, None)
    if not save_arrays:
      return None, None, rows
    saved = checkpoints.load_round(directory)
    masks = checkpoints.fill_none(_mask_template(exp), saved['masks'])
    return saved['params'], masks, rows
  masks = masks_fn()
  init = masks_lib.apply_masks(init_fn(), masks)
  start = time.time()
  where = f'{source}->{target} {what}' if source != target else (
      f'{target} {what}')
  result = exp.fit(init, masks, training_keys(roots, strategy, round_),
                   on_epoch=_nan_guard(where, exp.config, run_dir),
                   schedule_seed=1000 * _STREAMS[strategy] + round_)
  params = jax.tree.map(np.asarray, result.params)
  seconds = time.time() - start
  rows = _rows(result, masks, params, exp.config, experiment=experiment,
               source=source, target=target, strategy=strategy,
               round_=round_, seconds=seconds)
  tree = {'params': params, 'masks': masks, **(extra or {})}
  checkpoints.save_round(directory, tree if save_arrays else None, rows)
  progress.update(what, rows, seconds)
  return params, masks, rows


def _param_shapes(exp: Experiment):
  """Shapes of one seed's params."""
  tokens = jnp.zeros((1, exp.config.train.max_length), jnp.int32)
  return jax.eval_shape(lambda: exp.model.init(
      jax.random.key(0), tokens, jnp.ones((1,), jnp.int32))['params'])


def _mask_template(exp: Experiment):
  return masks_lib.make_masks(_param_shapes(exp))


def _full_masks(exp: Experiment, num_seeds: int):
  """[seeds]-stacked all-True masks (round 0)."""
  return jax.tree.map(
      lambda m: None if m is None else np.ones((num_seeds,) + m.shape, bool),
      _mask_template(exp), is_leaf=masks_lib.is_none)


_STRATEGY_ORDER = (FULL_MODEL,) + TICKET_STRATEGIES + TRANSFER_STRATEGIES


def finished_run_rows(run_dir: str) -> List[Dict[str, Any]]:
  """The rows of every finished round under a run directory, by round and
  strategy (more than one invocation may have added rounds)."""
  found = []
  for strategy in _STRATEGY_ORDER:
    parent = run_dir if strategy == FULL_MODEL else os.path.join(run_dir,
                                                                 strategy)
    for name in _listdir(parent):
      if name.startswith('round_') and (strategy == FULL_MODEL) == (
          name == 'round_000'):
        rows = checkpoints.finished_rows(os.path.join(parent, name))
        if rows is not None:
          found.append((int(name[len('round_'):]),
                        _STRATEGY_ORDER.index(strategy), rows))
  return [row for _, _, rows in sorted(found, key=lambda x: x[:2])
          for row in rows]


def _write_results(run_dir: str) -> List[Dict[str, Any]]:
  """Rewrites results.jsonl and summary.json; returns the rows."""
  rows = finished_run_rows(run_dir)
  results_lib.write_rows(os.path.join(run_dir, 'results.jsonl'), rows)
  files.write_json(os.path.join(run_dir, 'summary.json'),
                     results_lib.summarize(rows))
  return rows


def _prepare_run_dir(run_dir: str, config, vocab: str, **meta) -> None:
  os.makedirs(run_dir, exist_ok=True)
  files.write_json(os.path.join(run_dir, 'config.json'), {
      'vocab': vocab, **meta, 'config': json.loads(config.to_json())})


# ---------------------------------------------------------------------------
# The two experiments.


def tickets_dir(workdir: str, domain: str, config, vocab: str) -> str:
  return os.path.join(workdir, 'tickets',
                      f'{domain}-{run_hash(config, vocab)}')


def find_tickets(config, data_workdir: str, workdir: str, domain: str,
                 log: Callable[[str], None] = logging.info
                 ) -> List[Dict[str, Any]]:
  """IMP rounds 0..R of every configured strategy on one domain.

  Returns:
    The result rows of every finished round of the run, also in
    ``<run dir>/results.jsonl`` (rounds of earlier, longer runs included).
  """
  validate(config)
  vocab = vocab_fingerprint(data_workdir)
  run_dir = tickets_dir(workdir, domain, config, vocab)
  _prepare_run_dir(run_dir, config, vocab, experiment='tickets',
                   domain=domain)
  exp = Experiment(config, data_workdir, domain)
  roots = seed_roots(config)
  strategies = _names(config.lottery.strategies)
  rounds = config.lottery.rounds
  progress = Progress(1 + rounds * len(strategies), f'tickets {domain}', log)
  length = config.train.max_length

  round0 = round_dir(run_dir, FULL_MODEL, 0)
  if checkpoints.finished_rows(round0) is not None:
    theta0 = checkpoints.load_round(round0)['theta0']
  else:
    theta0 = jax.tree.map(np.asarray, init_params(
        exp.model, _fold(roots, _THETA0), length))
  params0, masks0, _ = _train_round(
      exp, run_dir, FULL_MODEL, 0, lambda: theta0,
      lambda: _full_masks(exp, config.lottery.seeds), roots, progress,
      experiment='tickets', source=domain, target=domain,
      extra={'theta0': theta0})
  rows = _write_results(run_dir)
  prev = {s: (params0, masks0) for s in strategies}
  for round_ in range(1, rounds + 1):
    for strategy in strategies:
      p_prev, m_prev = prev[strategy]
      if strategy == 'ticket_reset':
        init_fn = lambda: theta0
      else:
        init_fn = lambda r=round_: init_params(
            exp.model, _fold(roots, _FRESH, r), length)
      params, masks, _ = _train_round(
          exp, run_dir, strategy, round_, init_fn,
          lambda p=p_prev, m=m_prev: prune_seeds(
              p, m, config.lottery.prune_fraction),
          roots, progress, experiment='tickets', source=domain,
          target=domain)
      prev[strategy] = (params, masks)
    rows = _write_results(run_dir)  # After every round.
  return rows


def source_tickets(config, data_workdir: str, workdir: str,
                   source: str) -> str:
  """The finished tickets run of `source` for this config.

  Raises:
    ConfigError: some round is missing, or the tickets were found with
      another vocabulary.
  """
  vocab = vocab_fingerprint(data_workdir)
  src_dir = tickets_dir(workdir, source, config, vocab)
  rounds = config.lottery.rounds
  missing = [r for r in range(rounds + 1) if checkpoints.finished_rows(
      round_dir(src_dir, FULL_MODEL if r == 0 else 'ticket_reset', r)) is None]
  if missing:
    others = [d for d in _listdir(os.path.join(workdir, 'tickets'))
              if d.startswith(f'{source}-')]
    hint = ''
    recorded = None
    if others and os.path.exists(os.path.join(workdir, 'tickets', others[0],
                                              'config.json')):
      recorded = files.read_json(os.path.join(
          workdir, 'tickets', others[0], 'config.json')).get('vocab')
    if others:
      if recorded and recorded != vocab:
        raise ConfigError(
            f'transfer source {source!r}: its tickets in {others[0]} were '
            'found with another vocabulary than the data in '
            f'{data_workdir}; prepare the data as for find_tickets')
      hint = f' (tickets with other settings exist: {", ".join(others)})'
    raise ConfigError(
        f'transfer source {source!r} has no tickets for rounds {missing} in '
        f'{src_dir}{hint}; run experiments.find_tickets with the same config '
        'first')
  return src_dir


def transfer_tickets(config, data_workdir: str, workdir: str, source: str,
                     target: str, log: Callable[[str], None] = logging.info
                     ) -> List[Dict[str, Any]]:
  """Trains every TICKET-RESET mask of `source` once on `target`.

  Raises:
    ConfigError: the source has no finished tickets for these settings, or
      they were found with another vocabulary.
  """
  validate(config)
  if source == target:
    raise ConfigError(f'transfer needs two domains, got {source}->{target}')
  vocab = vocab_fingerprint(data_workdir)
  src_dir = source_tickets(config, data_workdir, workdir, source)
  rounds = config.lottery.rounds
  run_dir = os.path.join(workdir, 'transfer', f'{source}-to-{target}-'
                         f'{run_hash(config, vocab)}')
  _prepare_run_dir(run_dir, config, vocab, experiment='transfer',
                   source=source, target=target, source_run=src_dir)
  exp = Experiment(config, data_workdir, target)
  roots = seed_roots(config)
  strategies = _names(config.transfer.strategies)
  progress = Progress(rounds * len(strategies),
                      f'transfer {source}->{target}', log)
  theta0 = checkpoints.load_round(round_dir(src_dir, FULL_MODEL, 0))['theta0']
  template = _mask_template(exp)
  rows = []
  for round_ in range(1, rounds + 1):
    # Read from disk once per round, and only if a strategy trains.
    source_masks = functools.cache(lambda r=round_: checkpoints.fill_none(
        template, checkpoints.load_round(
            round_dir(src_dir, 'ticket_reset', r))['masks']))
    for strategy in strategies:
      if strategy == 'masks_reset':
        init_fn = lambda: theta0
      else:
        init_fn = lambda r=round_: init_params(
            exp.model, _fold(roots, _TRANSFER_FRESH, r),
            config.train.max_length)
      # The masks are the source's and the trained params are not needed
      # again: a transfer round keeps its rows only, unless asked.
      _train_round(exp, run_dir, strategy, round_, init_fn, source_masks,
                   roots, progress, experiment='transfer', source=source,
                   target=target, save_arrays=config.transfer.save_params)
    rows = _write_results(run_dir)  # After every round.
  return rows


def _listdir(path: str) -> List[str]:
  return sorted(os.listdir(path)) if os.path.isdir(path) else []


# ---------------------------------------------------------------------------
# Whole runs, as the entry points call them.

USER_ERRORS = (ConfigError, TrainingDiverged, domains_lib.DataError,
               input_pipeline.ReviewFileError, checkpoints.CheckpointError,
               files.CorruptFileError, OSError)


def prepare_data(config, data_dir: Optional[str], workdir: str) -> str:
  """Prepares (or reuses) the data under ``workdir/data``; returns it.

  Without `data_dir`, a work directory prepared earlier is used as it is:
  its tickets were found on that data, whatever $LOTTERY_JAX_DATA_DIR says
  now. An explicit `data_dir` is prepared (a no-op when nothing changed).
  """
  data_workdir = os.path.join(workdir, 'data')
  report_path = os.path.join(data_workdir, 'data_report.json')
  if data_dir is None and os.path.exists(report_path):
    prepared = files.read_json(report_path).get('config')
    wanted = config.data.to_dict()
    if prepared is not None and prepared != wanted:
      differ = sorted(k for k in set(prepared) | set(wanted)
                      if prepared.get(k) != wanted.get(k))
      raise ConfigError(
          f'the data in {data_workdir} was prepared with other settings '
          f'({", ".join("--config.data." + k for k in differ)}); pass '
          '--data_dir to prepare it again, or use another --workdir')
    return data_workdir
  dataset.prepare(data_dir, data_workdir, config.data)
  return data_workdir


def run_find_tickets(config, data_dir: Optional[str], workdir: str,
                     log: Callable[[str], None] = logging.info
                     ) -> List[Dict[str, Any]]:
  """Validates, prepares the data, then finds tickets in every domain."""
  validate(config)
  data_workdir = prepare_data(config, data_dir, workdir)
  rows = []
  for domain in lottery_domains(config):
    start = time.time()
    rows.extend(find_tickets(config, data_workdir, workdir, domain, log))
    log(f'[tickets {domain}] finished in {_duration(time.time() - start)}')
  return rows


def lottery_domains(config) -> List[str]:
  """config.lottery.domains, or every domain of the data when empty."""
  return _names(config.lottery.domains) or _names(config.data.domains)


def transfer_pairs(config) -> List[tuple]:
  domains = lottery_domains(config)
  sources = _names(config.transfer.sources) or domains
  targets = _names(config.transfer.targets) or domains
  return [(s, t) for s in sources for t in targets if s != t]


def run_transfer(config, data_dir: Optional[str], workdir: str,
                 log: Callable[[str], None] = logging.info
                 ) -> List[Dict[str, Any]]:
  """Transfers the tickets of every configured (source, target) pair."""
  validate(config)
  data_workdir = prepare_data(config, data_dir, workdir)
  pairs = transfer_pairs(config)
  if not pairs:
    raise ConfigError('no transfer pair: set --config.transfer.sources and '
                      '--config.transfer.targets to different domains')
  for source in dict.fromkeys(s for s, _ in pairs):  # Fail before training.
    source_tickets(config, data_workdir, workdir, source)
  rows = []
  for source, target in pairs:
    start = time.time()
    rows.extend(transfer_tickets(config, data_workdir, workdir, source,
                                 target, log))
    log(f'[transfer {source}->{target}] finished in '
        f'{_duration(time.time() - start)}')
  return rows
