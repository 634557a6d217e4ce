"""The whole-study command: every stage, its outputs, and resuming."""

import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest

from experiments.configs import smoke
from lottery_jax import config as config_lib
from lottery_jax import curves
from lottery_jax import files
from lottery_jax import progress
from lottery_jax import results
from lottery_jax import study
from lottery_jax.data import dataset
from lottery_jax.data import domains

QUIET = progress.Progress.quiet
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config():
  config = smoke.get_config()
  config.data.domains = 'home,electronics'
  return config


def _round_dirs(workdir):
  found = set()
  for root, dirs, _ in os.walk(workdir):
    found.update(os.path.join(root, d) for d in dirs
                 if d.startswith('round_'))
  return found


def _counted(monkeypatch, module, name):
  calls = []
  original = getattr(module, name)

  def counting(*args, **kwargs):
    calls.append(name)
    return original(*args, **kwargs)

  monkeypatch.setattr(module, name, counting)
  return calls


def test_study_runs_every_stage_and_resumes(tiny_data_dir, tmp_path,
                                            monkeypatch):
  workdir, out = str(tmp_path / 'work'), tmp_path / 'out'
  config = _config()
  checks = _counted(monkeypatch, config_lib, 'settings')
  prepares = _counted(monkeypatch, dataset, 'prepare')
  record = study.run_study(config, tiny_data_dir, workdir, str(out),
                           progress=QUIET())
  assert len(checks) == 1 and len(prepares) == 1  # Once per command.
  assert list(record['invocations'][0]['stages']) == list(study.STAGES)

  rows = results.read_rows(str(out / 'results.jsonl'))
  seeds, rounds = config.lottery.seeds, config.lottery.rounds
  tickets = 2 * seeds * (1 + 2 * rounds)   # 2 domains, FULL + 2 strategies
  transfer = 2 * 2 * seeds * rounds        # 2 pairs x 2 strategies
  assert len(rows) == tickets + transfer
  assert {(r['source'], r['target']) for r in rows
          if r['experiment'] == 'transfer'} == {('home', 'electronics'),
                                                ('electronics', 'home')}
  for name in ('summary.csv', 'divergence.json', 'report.md',
               'divergence.png', 'divergence.pdf', 'tickets.png',
               'tickets.pdf', 'transfer.png', 'transfer.pdf', 'study.json',
               'curves.jsonl.gz', 'curves.png'):
    assert (out / name).stat().st_size > 0, name
  # Every training's curves, tickets and transfer: each row's seed has
  # its epochs and its best epoch's test accuracy.
  lines = curves.read_curves(str(out / 'curves.jsonl.gz'))
  key = lambda x: (x['experiment'], x['source'], x['target'],
                   x['strategy'], x['round'], x['seed'])
  finals = {key(x): x for x in lines if 'epoch' not in x}
  assert set(finals) == {key(r) for r in rows}
  for r in rows:
    assert finals[key(r)]['test_accuracy'] == pytest.approx(
        r['test_accuracy'])
    assert finals[key(r)]['best_epoch'] == r['best_epoch']
  assert {key(x) for x in lines if 'epoch' in x} == set(finals)
  with open(out / 'summary.csv') as f:
    assert len(f.read().splitlines()) == 1 + len(results.summarize(rows))
  text = (out / 'report.md').read_text()
  for heading in ('(a) TICKET-RESET', '(b) RESET and RANDOM',
                  '(c) Transferred masks', '## Wall time', '| tickets |',
                  '## Training curves', '![curves](curves.png)'):
    assert heading in text

  # Again: nothing is trained again, the results are the same, and the
  # second invocation's stage times are recorded beside the first's.
  before = _round_dirs(workdir)
  mtimes = {d: os.path.getmtime(d) for d in before}
  record = study.run_study(config, None, workdir, str(out),
                           progress=QUIET(), note='beside the tests')
  assert _round_dirs(workdir) == before
  assert all(os.path.getmtime(d) == t for d, t in mtimes.items())
  assert results.read_rows(str(out / 'results.jsonl')) == rows
  assert len(record['invocations']) == 2
  with open(out / 'study.json') as f:
    assert len(json.load(f)['invocations']) == 2
  assert record['invocations'][1]['note'] == 'beside the tests'
  assert 'Invocation 2 (' in (out / 'report.md').read_text()
  if importlib.util.find_spec('ray') is None:
    return  # The Ray engine's own tests say why they skip.
  # Resumed on Ray: still nothing trained again, the same results, and
  # the trainings timed as one stage.
  record = study.run_study(config, None, workdir, str(out),
                           progress=QUIET(), engine='ray')
  assert _round_dirs(workdir) == before
  assert all(os.path.getmtime(d) == t for d, t in mtimes.items())
  assert results.read_rows(str(out / 'results.jsonl')) == rows
  assert list(record['invocations'][2]['stages']) == list(study.RAY_STAGES)
  assert '| trainings |' in (out / 'report.md').read_text()


def test_run_study_command_reports_bad_flags(tmp_path):
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.run_study',
       '--config=experiments/configs/smoke.py',
       '--config.lottery.prune_fraction=1.5', f'--workdir={tmp_path}'],
      cwd=REPO, capture_output=True, text=True, check=False)
  assert proc.returncode != 0
  assert 'run_study: error: --config.lottery.prune_fraction=1.5' in (
      proc.stderr)


def test_the_federated_stage_runs_in_the_study_and_its_report(
    tiny_data_dir_shared, tmp_path):
  config = _config()
  config.transfer.sources = 'home'
  config.transfer.targets = 'electronics'
  fed = config.federated
  fed.server, fed.target, fed.in_study = 'home', 'electronics', True
  fed.ticket_rounds, fed.partitions = (1,), 'iid'
  fed.clients, fed.per_round, fed.rounds = 2, 1, 2
  out = tmp_path / 'out'
  record = study.run_study(config, tiny_data_dir_shared, str(tmp_path),
                           str(out), progress=QUIET())
  assert list(record['invocations'][0]['stages']) == [
      'data', 'divergence', 'baseline', 'tickets', 'transfer', 'federated',
      'outputs']
  with open(out / 'federated.jsonl') as f:
    assert len(f.read().splitlines()) == 3 * 2 * 2  # runs x seeds x rounds
  with open(out / 'report.md') as f:
    report = f.read()
  assert '## Federated re-training' in report and '| iid | dense |' in report


def test_a_failed_stage_keeps_its_time_and_a_new_config_a_new_record(
    tmp_path, monkeypatch):
  workdir, out = str(tmp_path / 'work'), tmp_path / 'out'
  config = _config()
  # No data anywhere: the data stage fails, and says which flag is missing.
  monkeypatch.delenv('LOTTERY_JAX_DATA_DIR', raising=False)
  with pytest.raises(domains.DataError, match='LOTTERY_JAX_DATA_DIR'):
    study.run_study(config, None, workdir, str(out), progress=QUIET())
  with open(out / 'study.json') as f:
    record = json.load(f)
  assert list(record['invocations'][0]['stages']) == ['data']
  assert record['invocations'][0]['finished'] is False
  config.lottery.rounds = 1
  with pytest.raises(domains.DataError):
    study.run_study(config, None, workdir, str(out), progress=QUIET())
  with open(out / 'study.json') as f:
    record = json.load(f)
  assert len(record['invocations']) == 1
  assert record['config']['lottery']['rounds'] == 1


def test_a_federated_setting_alone_keeps_the_study_record(tmp_path):
  path = str(tmp_path / 'study.json')
  config = _config()

  def invocations():
    record = study._new_invocation(path, config, lambda _: None)
    files.write_json(path, record)
    return len(record['invocations'])

  assert invocations() == 1
  config.federated.rounds = 80  # Not a stage of this study: same record.
  assert invocations() == 2
  config.federated.in_study = True  # A stage now: another study.
  assert invocations() == 1
  config.federated.rounds = 40
  assert invocations() == 1
  config.federated.in_study = False
  config.lottery.rounds = 1
  assert invocations() == 1


def test_a_config_recorded_before_a_key_was_added_keeps_its_record(
    tmp_path):
  path = str(tmp_path / 'study.json')
  config = _config()
  record = study._new_invocation(path, config, lambda _: None)
  del record['config']['model']['embed_init_std']  # Added later, default.
  files.write_json(path, record)
  assert len(study._new_invocation(path, config, lambda _: None)[
      'invocations']) == 2
  config.model.embed_init_std = 0.1  # Not the default: another config.
  assert len(study._new_invocation(path, config, lambda _: None)[
      'invocations']) == 1


def test_a_running_stage_saves_its_time_before_it_ends(tmp_path,
                                                       monkeypatch):
  # A process killed mid-stage keeps the time up to the last tick.
  monkeypatch.setattr(study, 'TICK_SECONDS', 0.05)
  path = str(tmp_path / 'study.json')
  record = study._new_invocation(path, _config(), lambda _: None)
  seen = []

  def stage_body():  # Waits (up to a minute, on a busy machine) for a tick.
    start = time.time()
    while not seen and time.time() - start < 60:
      time.sleep(0.05)
      if os.path.exists(path):
        with open(path) as f:
          stages = json.load(f)['invocations'][-1]['stages']
        if 'trainings' in stages:
          seen.append((stages['trainings'], time.time() - start))

  study._stage(record, path, lambda _: None, 'trainings', stage_body)
  assert seen and 0.0 < seen[0][0] <= seen[0][1] + 0.5
  with open(path) as f:
    assert json.load(f)['invocations'][-1]['stages']['trainings'] >= (
        seen[0][0])


def test_budget_ablation_adds_its_table_to_the_report(tiny_data_dir,
                                                      tmp_path):
  config = _config()
  config.data.domains = 'home'
  out = tmp_path / 'out'
  study.run_study(config, tiny_data_dir, str(tmp_path / 'work'), str(out),
                  progress=QUIET())
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.budget_ablation',
       '--config=experiments/configs/smoke.py', '--config.train.epochs=1',
       '--config.data.domains=home', '--domain=home', '--label=one epoch',
       f'--data_dir={tiny_data_dir}', f'--workdir={tmp_path / "ablation"}',
       f'--results_dir={out}'],
      cwd=REPO, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr
  spec = json.loads((out / 'ablation.json').read_text())
  assert spec == {'labels': {'one epoch': 'ablation_home.jsonl',
                             'converged (cpu)': 'results.jsonl'},
                  'domain': 'home'}
  rows = results.read_rows(str(out / 'ablation_home.jsonl'))
  assert {r['epochs_run'] for r in rows} == {1}
  report = (out / 'report.md').read_text()
  assert 'Training budget' in report and 'one epoch' in report
