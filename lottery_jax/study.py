"""The whole study of a preset in one resumable call (SPEC.md sections 2-7).

Stages, in order: prepare the data, the divergence matrix, the linear
baselines, tickets in every domain, transfer over every ordered pair, the
federated re-training of a ticket when config.federated.in_study is set
(`federated_study`), then the results tables, figures and markdown report
under the results directory. The trainings run one
after the other in this process, or as Ray tasks (``engine='ray'``, see
engine.py), where tickets and transfer overlap and are timed as one stage,
'trainings' (`RAY_STAGES`); the results are the same::

  <results_dir>/
    results.jsonl    every row (tickets and transfer), see results.COLUMNS
    summary.csv      mean and std over seeds per (run, strategy, round)
    curves.jsonl.gz  per-epoch curves of every training, tickets and
                     transfer (`curves.read_curves`); curves.png shows the
                     first domain's FULL-MODEL and TICKET-RESET rounds
    divergence.json  the JSD matrix of the training splits
    baselines.json   each domain's linear baseline (`lottery_jax.baselines`)
    federated.*      rows, figure and table of the federated stage, if run
    divergence.png/.pdf, tickets.png/.pdf, transfer.png/.pdf
    report.md        tables, wall times and the paper's findings checked
    study.json       the config, and the wall time of each stage in each
                     invocation (a new config starts a new record)

Every stage resumes: data and finished rounds are cached under `workdir`, so
running the study again after a crash trains only what is missing. The
tables, figures and report depend on the saved results alone (see
`write_outputs`).
"""

from __future__ import annotations

import csv
import functools
import json
import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import ml_collections

from lottery_jax import baselines
from lottery_jax import config as config_lib
from lottery_jax import curves
from lottery_jax import engine as engine_lib
from lottery_jax import federated_study
from lottery_jax import files
from lottery_jax import progress as progress_lib
from lottery_jax import results as results_lib
from lottery_jax import runs
from lottery_jax import tickets
from lottery_jax.data import divergence

STAGES = ('data', 'divergence', 'baseline', 'tickets', 'transfer',
          'outputs')
# With engine='ray' the tickets and transfer jobs overlap: one stage.
RAY_STAGES = ('data', 'divergence', 'baseline', 'trainings', 'outputs')
TICK_SECONDS = 60.0  # How often a running stage's time is saved.


def run_study(config: ml_collections.ConfigDict, data_dir: Optional[str],
              workdir: str, results_dir: Optional[str] = None,
              progress: Optional[progress_lib.Progress] = None,
              engine: str = 'sequential', address: Optional[str] = None,
              note: Optional[str] = None) -> Dict[str, Any]:
  """Runs (or resumes) every stage; returns the study record.

  Args:
    config: a preset (experiments/configs).
    data_dir: the review files; None reuses ``workdir/data`` once prepared.
    workdir: data, checkpoints and run directories.
    results_dir: tables, figures and report (default ``workdir/results``).
    progress: the display of every training of the study (default: a new
      one; `Progress.quiet()` shows nothing).
    engine: how the trainings run (`engine.run_jobs`): 'sequential' in
      this process (stages `STAGES`), or 'ray' as Ray tasks, tickets and
      transfer overlapping (stages `RAY_STAGES`); same results.
    address: the Ray cluster of engine 'ray' (default: a local Ray).
    note: kept with this invocation in study.json, shown in the report.

  Returns:
    The record written to ``results_dir/study.json``: per invocation of
    the config, the seconds of each stage (also one that failed).
  """
  settings = config_lib.settings(config)  # Checked once, here.
  engine_lib.check_engine(engine)
  own = progress is None
  progress = progress or tickets.new_progress(
      settings, tickets.count_trainings(settings))
  results_dir = results_dir or os.path.join(workdir, 'results')
  record_path = os.path.join(results_dir, 'study.json')
  record = _new_invocation(record_path, config, progress.write, note)
  stage = functools.partial(_stage, record, record_path, progress.write)
  try:
    data_workdir = stage('data', lambda: runs.prepare_data(
        settings.data, data_dir, workdir))
    jsd = stage('divergence', lambda: divergence.domain_divergence(
        data_workdir, settings.lottery_domains))
    files.write_json(os.path.join(results_dir, 'divergence.json'), jsd)
    fitted = stage('baseline', lambda: baselines.all_baselines(
        data_workdir, settings.lottery_domains))
    files.write_json(os.path.join(results_dir, 'baselines.json'), fitted)
    run_jobs = functools.partial(
        engine_lib.run_jobs, settings=settings, data_workdir=data_workdir,
        workdir=workdir, progress=progress, engine=engine, address=address)
    rows = _trainings(settings, run_jobs, engine, stage)
    _write_curves(settings, data_workdir, workdir, results_dir)
  finally:
    if own:
      progress.close()
  # The rows first: a failed federated stage leaves them saved.
  results_lib.write_rows(os.path.join(results_dir, 'results.jsonl'), rows)
  if settings.federated.in_study:  # Its own display, of rounds.
    stage('federated', lambda: federated_study.write_outputs(
        results_dir, federated_study.run(settings, settings.federated,
                                         data_workdir, workdir)))
  stage('outputs', lambda: write_outputs(results_dir))
  record['invocations'][-1]['finished'] = True
  files.write_json(record_path, record)
  return record


def _stage(record: Dict[str, Any], record_path: str,
           write: progress_lib.Write, name: str, fn: Callable[[], Any]):
  """`fn()`, its seconds recorded in study.json as stage `name`'s, also
  every `TICK_SECONDS` while it runs: a process killed mid-stage (the end
  of a session, a preempted job) leaves its time up to the last tick."""
  write(f'[study] {name} ...')
  times = record['invocations'][-1]['stages']
  start = time.time()
  done = threading.Event()

  def save():
    times[name] = round(time.time() - start, 1)
    files.write_json(record_path, record)

  def tick():
    while not done.wait(TICK_SECONDS):
      save()

  ticker = threading.Thread(target=tick, daemon=True)
  ticker.start()
  try:
    return fn()
  finally:  # A stage that fails still counts its time.
    done.set()
    ticker.join()
    save()
    write(f'[study] {name}: {times[name]:.1f}s')


def _trainings(settings, run_jobs: Callable, engine: str,
               stage: Callable) -> List[Dict[str, Any]]:
  """The tickets and transfer jobs (`engine.study_jobs`) by `run_jobs`, as
  stage 'trainings' for engine 'ray', else 'tickets' then 'transfer'."""
  jobs = engine_lib.study_jobs(settings)
  if engine == 'ray':
    return stage('trainings', lambda: run_jobs(jobs))
  # One compiled fit for both stages (engine.shared_program): a transfer
  # target's data has the shapes its tickets were trained on.
  rows = stage('tickets', lambda: run_jobs(
      [j for j in jobs if j.kind == engine_lib.TICKETS]))
  transfer = [j for j in jobs if j.kind == engine_lib.TRANSFER]
  if transfer:
    rows += stage('transfer', lambda: run_jobs(transfer))
  return rows


def _write_curves(settings, data_workdir: str, workdir: str,
                  results_dir: str) -> None:
  """The curves of every training of the study, in the order of its jobs
  and their rounds, gathered in ``results_dir/curves.jsonl.gz``."""
  every = runs.data_fingerprint(data_workdir, settings.lottery_domains)

  def data(*domains):
    return {'vocab': every['vocab'], **{d: every[d] for d in domains}}

  paths = []
  for job in engine_lib.study_jobs(settings):
    if job.kind == engine_lib.TICKETS:
      run_dir = runs.tickets_dir(workdir, job.target, settings,
                                 data(job.target))
      plan = tickets.ticket_plan(settings)
    else:
      run_dir = runs.transfer_dir(workdir, job.source, job.target, settings,
                                  data(job.source, job.target))
      plan = tickets.transfer_plan(settings)
    paths += [os.path.join(runs.round_dir(run_dir, strategy, round_),
                           curves.CURVES) for round_, strategy in plan]
  curves.gather(paths, os.path.join(results_dir, curves.GATHERED))


def _studied(config: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
  """The part of a recorded config that the study runs: the federated
  section only when it is a stage (a change to it alone, e.g. to run
  experiments.federated, keeps the study's record). Keys added to the
  config after it was recorded read as their defaults."""
  if not config:
    return config
  config = _with_defaults(config, json.loads(json.dumps(
      config_lib.get_config().to_dict())))
  if config.get('federated', {}).get('in_study'):
    return config
  return {k: v for k, v in config.items() if k != 'federated'}


def _with_defaults(config: Dict[str, Any],
                   defaults: Dict[str, Any]) -> Dict[str, Any]:
  """`config` with the keys it lacks taken from `defaults` (nested)."""
  merged = dict(config)
  for key, value in defaults.items():
    if key not in merged:
      merged[key] = value
    elif isinstance(value, dict) and isinstance(merged[key], dict):
      merged[key] = _with_defaults(merged[key], value)
  return merged


def _new_invocation(record_path: str, config: ml_collections.ConfigDict,
                    write: progress_lib.Write,
                    note: Optional[str] = None) -> Dict[str, Any]:
  """study.json's record of this config, with a new invocation begun (a
  new config starts a new record)."""
  record = (files.read_json(record_path) if os.path.exists(record_path)
            else {})
  wanted = json.loads(json.dumps(config.to_dict()))  # As JSON reads back.
  if _studied(record.get('config')) != _studied(wanted):
    if record:
      write(f'[study] {record_path}: another config; starting a new record')
    record = {'config': wanted, 'invocations': []}
  record['invocations'].append({'started': time.strftime('%Y-%m-%d %H:%M:%S'),
                                'stages': {}, 'finished': False})
  if note:
    record['invocations'][-1]['note'] = note
  os.makedirs(os.path.dirname(record_path), exist_ok=True)
  return record


def write_summary_csv(path: str, rows: List[Dict[str, Any]]) -> None:
  summary = results_lib.summarize(rows)
  with files.atomic_write(path, 'w') as f:
    writer = csv.DictWriter(f, fieldnames=list(summary[0]) if summary else [])
    writer.writeheader()
    writer.writerows(summary)


def write_outputs(results_dir: str,
                  up_to: Optional[float] = None) -> List[str]:
  """summary.csv, the figures and report.md from the saved results alone
  (results.jsonl, divergence.json, baselines.json, curves.jsonl.gz,
  study.json and the ablation's files of `results_dir`); the
  findings are judged up to the round nearest `up_to` sparsity (default
  `findings.UP_TO_TARGET`)."""
  # Imported here: matplotlib is needed only once the results exist.
  from lottery_jax import findings  # pylint: disable=g-import-not-at-top
  from lottery_jax import plots  # pylint: disable=g-import-not-at-top
  from lottery_jax import report  # pylint: disable=g-import-not-at-top
  if up_to is None:
    up_to = findings.UP_TO_TARGET
  rows = results_lib.read_rows(os.path.join(results_dir, 'results.jsonl'))
  if not rows:
    raise config_lib.ConfigError(
        f'{results_dir}/results.jsonl has no rows')
  write_summary_csv(os.path.join(results_dir, 'summary.csv'), rows)
  written = plots.draw_all(results_dir)
  path = os.path.join(results_dir, 'report.md')
  with files.atomic_write(path, 'w') as f:
    f.write(report.make_report(results_dir, up_to))
  return written + [path]
