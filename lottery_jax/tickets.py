"""The two experiments: find tickets in a domain, transfer them to another.

`find_tickets` trains FULL-MODEL (round 0), then IMP rounds 1..R of
TICKET-RESET, TICKET-RANDOM and any of the controls TICKET-REINIT,
TICKET-REWIND and RANDOM-PRUNING (SPEC.md section 5, `lottery.STRATEGIES`);
`transfer_tickets` trains the source's TICKET-RESET masks of every round on
a target domain as MASKS-RESET and MASKS-RANDOM (section 6). Both go through
`_rounds`, one loop over rounds and strategies that resumes from the run
directory (`runs.py`). Every training trains all seeds at once.

`run_find_tickets` and `run_transfer` are the entry points' calls: they take
the ConfigDict, check it once and prepare the data once.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import jax
import ml_collections
import numpy as np

from lottery_jax import checkpoints
from lottery_jax import codec
from lottery_jax import config as config_lib
from lottery_jax import files
from lottery_jax import fit as fit_lib
from lottery_jax import lottery
from lottery_jax import masks as masks_lib
from lottery_jax import progress as progress_lib
from lottery_jax import runs

ConfigError = config_lib.ConfigError
FULL_MODEL = lottery.FULL_MODEL
Row = runs.Row


def _rounds(run: runs.Run, plan: Sequence[Tuple[int, str]],
            masks_for: Callable, theta_0, progress: progress_lib.Progress,
            *, save_arrays: bool = True,
            extra: Optional[Dict[str, Any]] = None) -> List[Row]:
  """Trains (or loads) every (round, strategy) of `plan` in order.

  `masks_for(strategy, round_, previous)` gives a round's masks, where
  `previous` maps each strategy to its last (params, masks). `extra` is
  saved with round 0. The results files are rewritten after every round.
  """
  previous, rows = {}, []
  for i, (round_, strategy) in enumerate(plan):
    params, masks, round_rows, seconds = run.round(
        strategy, round_,
        functools.partial(masks_for, strategy, round_, previous), theta_0,
        progress, save_arrays=save_arrays,
        extra=extra if round_ == 0 else None)
    progress.finish(run.label(strategy, round_), round_rows, seconds)
    previous[strategy] = (params, masks)
    if i + 1 == len(plan) or plan[i + 1][0] != round_:
      rows = runs.write_results(run.run_dir)
  return rows


def ticket_plan(settings: config_lib.Settings) -> List[Tuple[int, str]]:
  """(round, strategy) of every training of `find_tickets`, in order: round
  by round, each round's strategies in `lottery.ORDER` (TICKET-RESET before
  the controls that take its masks)."""
  strategies = sorted(settings.lottery.strategies, key=lottery.ORDER.index)
  return [(0, FULL_MODEL)] + [(r, s)
                              for r in range(1, settings.lottery.rounds + 1)
                              for s in strategies]


def transfer_plan(settings: config_lib.Settings) -> List[Tuple[int, str]]:
  """(round, strategy) of every training of `transfer_tickets`, in order."""
  return [(r, s) for r in range(1, settings.lottery.rounds + 1)
          for s in settings.transfer.strategies]


def count_trainings(settings: config_lib.Settings) -> int:
  """Trainings of tickets in every domain and transfer over every pair."""
  return (len(settings.lottery_domains) * len(ticket_plan(settings))
          + len(settings.transfer_pairs) * len(transfer_plan(settings)))


def new_progress(settings: config_lib.Settings, trainings: int
                 ) -> progress_lib.Progress:
  """A visible Progress for `trainings` trainings of these settings."""
  return progress_lib.Progress(trainings, settings.fit.epochs)


def find_tickets(settings: config_lib.Settings, data_workdir: str,
                 workdir: str, domain: str, *,
                 program: Optional[fit_lib.FitProgram] = None,
                 fit: Optional[lottery.FitFn] = None,
                 progress: Optional[progress_lib.Progress] = None
                 ) -> List[Row]:
  """IMP rounds 0..R of every configured strategy on one domain.

  Args:
    settings: checked settings (`config.settings`).
    data_workdir: the prepared data.
    workdir: where run directories go.
    domain: the domain.
    program: the compiled fit to use (default: a new one).
    fit: trains instead of `program.fit` (same signature), for tests.
    progress: the command's display (default: a new one for this call;
      `Progress.quiet()` shows nothing).

  Returns:
    The result rows of every finished round of the run, also in
    ``<run dir>/results.jsonl`` (rounds of earlier, longer runs included).
  """
  data = runs.data_fingerprint(data_workdir, [domain])
  run_dir = runs.tickets_dir(workdir, domain, settings, data)
  runs.open_run(run_dir, settings, data, experiment='tickets', domain=domain)
  run = runs.Run(settings, data_workdir, run_dir, experiment='tickets',
                 source=domain, target=domain, program=program, fit=fit)
  lot = settings.lottery
  round0 = runs.round_dir(run_dir, FULL_MODEL, 0)
  if checkpoints.finished_rows(round0) is not None:
    theta_0 = checkpoints.load_round(round0)['theta0']
  else:
    theta_0 = lottery.theta0(run.model, run.roots, settings.fit.max_length)

  def masks_for(strategy, round_, previous):
    kind = lottery.STRATEGIES[strategy].masks
    if kind == 'dense':
      return lottery.dense_masks(run.template, lot.seeds)
    if kind == 'reset':  # The plan trains TICKET-RESET first in a round.
      return previous['ticket_reset'][1]
    if kind == 'random':
      return lottery.random_masks(previous['ticket_reset'][1], run.roots,
                                  round_, domain, domain)
    params, masks = previous.get(strategy, previous[FULL_MODEL])
    return lottery.prune_seeds(params, masks, lot.prune_fraction)

  plan = ticket_plan(settings)
  own = progress is None
  progress = progress or new_progress(settings, len(plan))
  try:
    return _rounds(run, plan, masks_for, theta_0, progress,
                   extra={'theta0': theta_0})
  finally:
    if own:
      progress.close()


def source_tickets(settings: config_lib.Settings, data_workdir: str,
                   workdir: str, source: str) -> str:
  """The finished tickets run of `source` for these settings.

  Raises:
    ConfigError: some round is missing, or the tickets were found on other
      data (another vocabulary, or other encoded reviews).
  """
  data = runs.data_fingerprint(data_workdir, [source])
  src_dir = runs.tickets_dir(workdir, source, settings, data)
  missing = [r for r in range(settings.lottery.rounds + 1)
             if checkpoints.finished_rows(runs.round_dir(
                 src_dir, FULL_MODEL if r == 0 else 'ticket_reset', r)) is None]
  if not missing:
    return src_dir
  parent = os.path.join(workdir, 'tickets')
  others = [d for d in sorted(os.listdir(parent)) if d.startswith(
      f'{source}-')] if os.path.isdir(parent) else []
  hint = ''
  if others:
    path = os.path.join(parent, others[0], 'config.json')
    recorded = files.read_json(path) if os.path.exists(path) else {}
    if recorded.get('vocab') not in (None, data['vocab']):
      raise ConfigError(
          f'transfer source {source!r}: its tickets in {others[0]} were '
          f'found with another vocabulary than the data in {data_workdir}; '
          'prepare the data as for find_tickets')
    if recorded.get('data') not in (None, data):
      hint = (f' (tickets of {others[0]} were found on other prepared data, '
              'e.g. another --config.data.max_length)')
    else:
      hint = f' (tickets with other settings exist: {", ".join(others)})'
  raise ConfigError(
      f'transfer source {source!r} has no tickets for rounds {missing} in '
      f'{src_dir}{hint}; run experiments.find_tickets with the same config '
      'first')


def transfer_tickets(settings: config_lib.Settings, data_workdir: str,
                     workdir: str, source: str, target: str, *,
                     program: Optional[fit_lib.FitProgram] = None,
                     fit: Optional[lottery.FitFn] = None,
                     progress: Optional[progress_lib.Progress] = None
                     ) -> List[Row]:
  """Trains every TICKET-RESET mask of `source` once on `target`.

  Arguments as `find_tickets`.

  Raises:
    ConfigError: the source has no finished tickets for these settings, or
      they were found on other data.
  """
  if source == target:
    raise ConfigError(f'transfer needs two domains, got {source}->{target}')
  src_dir = source_tickets(settings, data_workdir, workdir, source)
  data = runs.data_fingerprint(data_workdir, [source, target])
  run_dir = runs.transfer_dir(workdir, source, target, settings, data)
  runs.open_run(run_dir, settings, data, experiment='transfer',
                source=source, target=target, source_run=src_dir)
  run = runs.Run(settings, data_workdir, run_dir, experiment='transfer',
                 source=source, target=target, program=program, fit=fit)
  theta_0 = checkpoints.load_round(runs.round_dir(src_dir, FULL_MODEL,
                                                  0))['theta0']

  @functools.lru_cache(maxsize=1)  # Read once per round, if one trains.
  def source_masks(round_):
    return checkpoints.fill_none(run.template, checkpoints.load_round(
        runs.round_dir(src_dir, 'ticket_reset', round_))['masks'])

  plan = transfer_plan(settings)
  own = progress is None
  progress = progress or new_progress(settings, len(plan))
  try:
    # The masks are the source's and the trained params are not needed
    # again: a transfer round keeps its rows only, unless asked.
    return _rounds(run, plan,
                   lambda strategy, round_, previous: source_masks(round_),
                   theta_0, progress,
                   save_arrays=settings.transfer.save_params)
  finally:
    if own:
      progress.close()


# ---------------------------------------------------------------------------
# Every domain, every pair.


def find_all_tickets(settings: config_lib.Settings, data_workdir: str,
                     workdir: str,
                     progress: Optional[progress_lib.Progress] = None,
                     program: Optional[fit_lib.FitProgram] = None
                     ) -> List[Row]:
  """`find_tickets` in every lottery domain, with one compiled fit and one
  progress display (default: a new one)."""
  program = program or runs.fit_program(settings)
  domains = settings.lottery_domains
  own = progress is None
  progress = progress or new_progress(
      settings, len(domains) * len(ticket_plan(settings)))
  rows = []
  try:
    for domain in domains:
      start = time.time()
      rows.extend(find_tickets(settings, data_workdir, workdir, domain,
                               program=program, progress=progress))
      progress.write(f'[tickets {domain}] finished in '
                     f'{progress_lib.duration(time.time() - start)}')
  finally:
    if own:
      progress.close()
  return rows


def transfer_all(settings: config_lib.Settings, data_workdir: str,
                 workdir: str,
                 progress: Optional[progress_lib.Progress] = None,
                 program: Optional[fit_lib.FitProgram] = None) -> List[Row]:
  """`transfer_tickets` over every configured pair, with one compiled fit
  and one progress display (default: a new one)."""
  pairs = settings.transfer_pairs
  if not pairs:
    raise ConfigError('no transfer pair: set --config.transfer.sources and '
                      '--config.transfer.targets to different domains')
  for source in dict.fromkeys(s for s, _ in pairs):  # Fail before training.
    source_tickets(settings, data_workdir, workdir, source)
  program = program or runs.fit_program(settings)
  own = progress is None
  progress = progress or new_progress(
      settings, len(pairs) * len(transfer_plan(settings)))
  rows = []
  try:
    for source, target in pairs:
      start = time.time()
      rows.extend(transfer_tickets(settings, data_workdir, workdir, source,
                                   target, program=program,
                                   progress=progress))
      progress.write(f'[transfer {source}->{target}] finished in '
                     f'{progress_lib.duration(time.time() - start)}')
  finally:
    if own:
      progress.close()
  return rows


WEIGHTS = ('trained', 'init')


def export_round(settings: config_lib.Settings, data_workdir: str,
                 workdir: str, domain: str, strategy: str, round_: int,
                 seed: int, path: str, weights: str = 'trained',
                 dtype: str = 'float32') -> Dict[str, int]:
  """Writes one seed's ticket of a finished round of `domain` to `path`
  (`codec.export_ticket`: its masks and surviving values) and returns the
  sizes in bytes: 'ticket' (the file), 'dense' (the seed's dense
  FULL-MODEL saved densely the same way, `codec.dense_bytes`) and
  'checkpoint' (the round's orbax checkpoint, per seed).

  `weights`: 'trained', the round's trained params (the sparse model), or
  'init', the params the round trains from (`lottery.round_init`: theta_0
  for TICKET-RESET, a fresh draw for TICKET-RANDOM; not TICKET-REWIND).

  Raises:
    ConfigError: naming the flag of a bad value, or saying how to find a
      round that is missing.
  """
  if strategy not in lottery.STRATEGIES:
    raise ConfigError(f'--strategy={strategy}: not one of '
                      f'{", ".join(lottery.STRATEGIES)}')
  if weights not in WEIGHTS or (weights == 'init'
                                and lottery.STRATEGIES[strategy].rewind):
    raise ConfigError(f'--weights={weights}: expected trained or init '
                      '(init is not kept for TICKET-REWIND)')
  if seed not in settings.lottery.seed_ids:
    raise ConfigError(f'--seed={seed}: not one of the preset\'s seeds '
                      f'{list(settings.lottery.seed_ids)}')
  data = runs.data_fingerprint(data_workdir, [domain])
  run_dir = runs.tickets_dir(workdir, domain, settings, data)
  where = runs.round_dir(run_dir, strategy, round_)
  if checkpoints.finished_rows(where) is None:
    raise ConfigError(f'{where}: round {round_} of {strategy} is not '
                      'finished; find it with experiments.find_tickets and '
                      'the same --config and --workdir')
  stored = checkpoints.load_round(where)
  model = lottery.build_model(settings.model, settings.data.vocab_size)
  template = lottery.mask_template(model, settings.fit.max_length)
  i = list(settings.lottery.seed_ids).index(seed)
  masks = (None if strategy == FULL_MODEL else lottery.seed_slice(
      checkpoints.fill_none(template, stored['masks']), i))
  params = stored['params']
  round0 = checkpoints.load_round(runs.round_dir(run_dir, FULL_MODEL, 0))
  if weights == 'init':
    params = lottery.round_init(
        strategy, round_, lottery.seed_roots(settings.lottery.seed_ids),
        round0['theta0'], model, settings.fit.max_length, domain, domain)
  params = jax.tree.map(np.asarray, lottery.seed_slice(params, i))
  if masks is not None:
    params = jax.tree.map(np.asarray, masks_lib.apply_masks(params, masks))
  size = codec.export_ticket(path, masks, params, dtype)
  stored_bytes = sum(
      os.path.getsize(os.path.join(d, f))
      for d, _, names in os.walk(os.path.join(where, checkpoints.CHECKPOINT))
      for f in names)
  dense = lottery.seed_slice(round0['params'], i)  # FULL-MODEL's.
  return {'ticket': size, 'dense': codec.dense_bytes(dense),
          'checkpoint': stored_bytes // len(settings.lottery.seed_ids)}


def run_find_tickets(config: ml_collections.ConfigDict,
                     data_dir: Optional[str], workdir: str,
                     progress: Optional[progress_lib.Progress] = None
                     ) -> List[Row]:
  """Checks the config, prepares the data, finds tickets in every domain."""
  settings = config_lib.settings(config)
  data_workdir = runs.prepare_data(settings.data, data_dir, workdir)
  return find_all_tickets(settings, data_workdir, workdir, progress)


def run_transfer(config: ml_collections.ConfigDict, data_dir: Optional[str],
                 workdir: str,
                 progress: Optional[progress_lib.Progress] = None
                 ) -> List[Row]:
  """Checks the config, prepares the data, transfers every pair."""
  settings = config_lib.settings(config)
  data_workdir = runs.prepare_data(settings.data, data_dir, workdir)
  return transfer_all(settings, data_workdir, workdir, progress)
