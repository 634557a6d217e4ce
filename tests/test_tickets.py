"""End-to-end tests of the experiments (tickets.py) and the run layer
(runs.py): IMP rounds, strategies, transfer, resuming, errors, at smoke
sizes on small synthetic data."""

import functools
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from experiments.configs import smoke
from lottery_jax import checkpoints
from lottery_jax import codec
from lottery_jax import config as config_lib
from lottery_jax import results
from lottery_jax import runs
from lottery_jax import tickets
from lottery_jax.data import dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOMAINS = 'home,electronics'


def _config(**lottery_overrides):
  config = smoke.get_config()
  config.lottery.domains = DOMAINS
  for k, v in lottery_overrides.items():
    setattr(config.lottery, k, v)
  return config


@pytest.fixture(scope='module')
def study(tiny_data_dir_shared, tmp_path_factory):
  """find_tickets on two domains and transfer home->electronics, once, with
  the inits that every training started from recorded."""
  workdir = str(tmp_path_factory.mktemp('study'))
  config = _config()
  config.transfer.sources = 'home'
  config.transfer.targets = 'electronics'
  settings = config_lib.settings(config)
  data_workdir = runs.prepare_data(settings.data, tiny_data_dir_shared,
                                   workdir)
  program = runs.fit_program(settings)
  inits = []

  def recording(domain):
    def fit(init, masks, keys, **kwargs):  # Observes, then trains.
      inits.append((domain, jax.tree.map(np.asarray, init), masks))
      return program.fit(init, masks, keys, **kwargs)
    return fit

  rows = []
  for domain in settings.lottery_domains:
    rows += tickets.find_tickets(settings, data_workdir, workdir, domain,
                                 fit=recording(domain))
  transfer_rows = tickets.transfer_tickets(
      settings, data_workdir, workdir, 'home', 'electronics',
      fit=recording('electronics'))
  return dict(workdir=workdir, config=config, settings=settings, rows=rows,
              transfer_rows=transfer_rows, inits=inits,
              data_workdir=data_workdir)


def _run_dir(study, domain):
  data = runs.data_fingerprint(study['data_workdir'], [domain])
  return runs.tickets_dir(study['workdir'], domain, study['settings'], data)


def test_rows_and_sparsity_schedule(study):
  rows = [r for r in study['rows'] if r['target'] == 'home']
  assert len(rows) == 2 * (1 + 2 * 2)  # seeds x (round 0 + 2 strategies x 2)
  by_round = {(r['strategy'], r['round']): r['sparsity'] for r in rows}
  assert by_round[('full_model', 0)] == 0
  for strategy in ('ticket_reset', 'ticket_random'):
    assert by_round[(strategy, 1)] == pytest.approx(0.5, abs=1e-3)
    assert by_round[(strategy, 2)] == pytest.approx(0.75, abs=1e-3)
  assert set(rows[0]) == set(results.COLUMNS)
  on_disk = results.read_rows(os.path.join(_run_dir(study, 'home'),
                                           'results.jsonl'))
  assert on_disk == rows
  summary = results.summarize(rows)
  assert len(summary) == 5 and all(s['seeds'] == 2 for s in summary)


def test_ticket_reset_starts_from_theta0_and_random_from_fresh_draws(study):
  run_dir = _run_dir(study, 'home')
  theta0 = checkpoints.load_round(os.path.join(run_dir, 'round_000'))['theta0']
  home = [(init, masks) for domain, init, masks in study['inits']
          if domain == 'home']
  # Training order: round 0, then (reset, random) for rounds 1 and 2.
  assert len(home) == 5
  np.testing.assert_array_equal(home[0][0]['embedding'], theta0['embedding'])
  for i, strategy in ((1, 'ticket_reset'), (3, 'ticket_reset'),
                      (2, 'ticket_random'), (4, 'ticket_random')):
    init, masks = home[i]
    kept = np.asarray(masks['embedding'])
    assert not init['embedding'][~kept].any()  # Restricted to the mask.
    same = np.array_equal(init['embedding'][kept], theta0['embedding'][kept])
    assert same == (strategy == 'ticket_reset'), strategy
  # Each strategy prunes its own trajectory: round-2 masks differ.
  assert not np.array_equal(home[3][1]['embedding'], home[4][1]['embedding'])
  # Seeds have their own theta_0.
  assert not np.array_equal(theta0['embedding'][0], theta0['embedding'][1])


def test_pruned_weights_are_zero_in_saved_tickets(study):
  run_dir = _run_dir(study, 'home')
  saved = checkpoints.load_round(os.path.join(run_dir, 'ticket_reset',
                                              'round_002'))
  for name in ('embedding',):
    kept = saved['masks'][name]
    assert not saved['params'][name][~kept].any()
    assert 1 - kept.mean() == pytest.approx(0.75, abs=1e-3)


def test_exported_ticket_is_the_round_and_small(study, tmp_path):
  run_dir = _run_dir(study, 'home')
  saved = checkpoints.load_round(os.path.join(run_dir, 'ticket_reset',
                                              'round_002'))
  export = functools.partial(tickets.export_round, study['settings'],
                             study['data_workdir'], study['workdir'], 'home')
  path = str(tmp_path / 'ticket.npz')
  sizes = export('ticket_reset', 2, 1, path)
  masks, params = codec.load_ticket(path)
  for name in ('embedding', 'conv3'):
    leaf = (lambda t: t[name] if name == 'embedding' else t[name]['kernel'])
    np.testing.assert_array_equal(leaf(masks), leaf(saved['masks'])[1])
    np.testing.assert_array_equal(leaf(params), leaf(saved['params'])[1])
  assert sizes['ticket'] == os.path.getsize(path)
  assert sizes['ticket'] < 0.5 * sizes['dense']  # 75% sparse.
  # --weights=init: what TICKET-RANDOM's round 2 trained from (seed 1).
  export('ticket_random', 2, 1, path, weights='init')
  _, params = codec.load_ticket(path)
  home = [init for domain, init, _ in study['inits'] if domain == 'home']
  np.testing.assert_array_equal(params['embedding'],
                                home[4]['embedding'][1])
  for kwargs, flag in (({'weights': 'final'}, '--weights=final'),
                       ({'seed': 9}, '--seed=9'),
                       ({'strategy': 'pruned'}, '--strategy=pruned')):
    args = dict(strategy='ticket_reset', round_=2, seed=0, path=path)
    args.update(kwargs)
    with pytest.raises(config_lib.ConfigError, match=flag):
      export(**args)
  with pytest.raises(config_lib.ConfigError, match='round 5 of ticket_reset '
                     'is not finished; find it with experiments.find_tickets'):
    export('ticket_reset', 5, 0, path)


def test_transfer_uses_the_source_masks_and_theta0(study):
  src = _run_dir(study, 'home')
  theta0 = checkpoints.load_round(os.path.join(src, 'round_000'))['theta0']
  transfer = [(init, masks) for domain, init, masks in study['inits']
              if domain == 'electronics'][-4:]
  for i, (round_, strategy) in enumerate([(1, 'masks_reset'),
                                          (1, 'masks_random'),
                                          (2, 'masks_reset'),
                                          (2, 'masks_random')]):
    source_masks = checkpoints.load_round(os.path.join(
        src, 'ticket_reset', f'round_{round_:03d}'))['masks']
    init, masks = transfer[i]
    np.testing.assert_array_equal(masks['embedding'],
                                  source_masks['embedding'])
    kept = source_masks['embedding']
    same = np.array_equal(init['embedding'][kept], theta0['embedding'][kept])
    assert same == (strategy == 'masks_reset')
  rows = study['transfer_rows']
  assert {(r['source'], r['target']) for r in rows} == {('home',
                                                         'electronics')}
  assert len(rows) == 2 * 2 * 2


def test_finished_run_is_not_repeated(study):
  start = time.time()
  again = tickets.run_find_tickets(study['config'], None, study['workdir'])
  assert time.time() - start < 30
  assert again == study['rows']  # Loaded, wall times included.


@pytest.mark.parametrize('section, key, value, message', [
    ('lottery', 'prune_fraction', 1.0, 'prune_fraction'),
    ('lottery', 'prune_fraction', 0.0, 'prune_fraction'),
    ('lottery', 'rounds', -1, 'rounds'),
    ('lottery', 'domains', 'home,toys', "unknown domain 'toys'"),
    ('lottery', 'strategies', 'ticket_reset,lucky', "unknown strategy"),
    ('transfer', 'strategies', 'masks_other', 'unknown strategy'),
    ('train', 'eval_batch_size', 0, 'eval_batch_size'),
    ('train', 'patience', -1, 'patience'),
    ('train', 'seed_chunk', -2, 'seed_chunk'),
    ('train', 'buckets', (0, 64), 'buckets'),
    ('train', 'learning_rate', -1.0, 'learning_rate'),
    ('model', 'widths', (), 'widths'),
    ('model', 'channels', 0, 'channels'),
    ('model', 'conv', 'fft', 'model.conv'),
])
def test_invalid_configs_stop_before_training(tmp_path, section, key, value,
                                              message):
  config = _config()
  setattr(config[section], key, value)
  with pytest.raises(config_lib.ConfigError, match=message):
    tickets.run_find_tickets(config, None, str(tmp_path))
  assert not os.listdir(tmp_path)


def test_transfer_without_source_tickets(study, tmp_path):
  config = _config(prune_fraction=0.4)  # Other settings: no tickets.
  config.transfer.sources = 'electronics'
  config.transfer.targets = 'home'
  with pytest.raises(config_lib.ConfigError, match="'electronics' has no tick"):
    tickets.run_transfer(config, None, study['workdir'])


def test_vocabulary_mismatch_is_reported(study, tmp_path):
  workdir = str(tmp_path)
  # The tickets of `study`, but data prepared with another vocabulary.
  os.symlink(os.path.join(study['workdir'], 'tickets'),
             os.path.join(workdir, 'tickets'))
  config = _config()
  config.data.vocab_size = 150
  dataset.prepare(_data_dir(study), os.path.join(workdir, 'data'),
                  config_lib.data_settings(config.data))
  config.transfer.sources = 'home'
  config.transfer.targets = 'electronics'
  with pytest.raises(config_lib.ConfigError, match='another vocabulary'):
    tickets.run_transfer(config, None, workdir)


def _data_dir(study):
  report = dataset.read_json(os.path.join(study['data_workdir'],
                                          'data_report.json'))
  return report['data_dir']


def test_nan_loss_names_round_and_seed(tiny_data_dir_shared, tmp_path):
  config = _config(rounds=1, domains='home')
  config.train.learning_rate = 1e12
  with pytest.raises(runs.TrainingDiverged, match=r'round 0, seed \d'):
    tickets.run_find_tickets(config, tiny_data_dir_shared, str(tmp_path))


def _find_tickets_cmd(data_dir, workdir, rounds=3):
  return [sys.executable, '-m', 'experiments.find_tickets',
          '--config=experiments/configs/smoke.py',
          '--config.lottery.domains=home', f'--config.lottery.rounds={rounds}',
          f'--data_dir={data_dir}', f'--workdir={workdir}']


def _strip_times(path):
  return [{k: v for k, v in r.items() if k != 'wall_time'}
          for r in results.read_rows(path)]


def test_killed_run_resumes_to_the_same_results(tiny_data_dir_shared,
                                                tmp_path):
  whole = tmp_path / 'whole'
  subprocess.run(_find_tickets_cmd(tiny_data_dir_shared, whole), cwd=REPO,
                 check=True, capture_output=True, timeout=600)
  killed = tmp_path / 'killed'
  proc = subprocess.Popen(_find_tickets_cmd(tiny_data_dir_shared, killed),
                          cwd=REPO, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  marker = None
  while time.time() < deadline and proc.poll() is None:
    found = [os.path.join(d, f) for d, _, files in os.walk(killed)
             for f in files if f == 'rows.json' and 'ticket_reset' in d]
    if found:
      marker = found[0]
      break
    time.sleep(0.05)
  assert marker is not None, 'the run ended before a round finished'
  os.kill(proc.pid, signal.SIGKILL)  # Mid-run, possibly mid-save.
  proc.wait()
  run = subprocess.run(_find_tickets_cmd(tiny_data_dir_shared, killed),
                       cwd=REPO, capture_output=True, text=True, timeout=600)
  assert run.returncode == 0, run.stderr
  assert '(resumed)' in run.stdout
  [whole_results] = [os.path.join(d, 'results.jsonl')
                     for d, _, f in os.walk(whole) if 'results.jsonl' in f]
  [killed_results] = [os.path.join(d, 'results.jsonl')
                      for d, _, f in os.walk(killed) if 'results.jsonl' in f]
  assert _strip_times(whole_results) == _strip_times(killed_results)


def test_entry_point_bad_config_is_one_line(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.find_tickets',
       '--config=experiments/configs/smoke.py',
       '--config.lottery.prune_fraction=1.5', f'--workdir={tmp_path}'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == (
      'find_tickets: error: --config.lottery.prune_fraction=1.5 must be in '
      '(0, 1)')


def test_results_keep_every_finished_round(study, tmp_path):
  """Rerunning with fewer rounds, or after a kill between a round's
  checkpoint and its rows, leaves the results of every finished round."""
  import shutil
  workdir = str(tmp_path / 'copy')
  shutil.copytree(study['workdir'], workdir, symlinks=True)
  run_dir = os.path.join(workdir, 'tickets',
                         os.path.basename(_run_dir(study, 'home')))
  full = _strip_times(os.path.join(run_dir, 'results.jsonl'))
  config = _config(rounds=1, domains='home')
  tickets.run_find_tickets(config, None, workdir)
  assert _strip_times(os.path.join(run_dir, 'results.jsonl')) == full
  # The checkpoint of the last round is there, its rows are not: retrained.
  os.remove(os.path.join(run_dir, 'ticket_random', 'round_002',
                         'rows.json'))
  tickets.run_find_tickets(_config(domains='home'), None, workdir)
  assert _strip_times(os.path.join(run_dir, 'results.jsonl')) == full


def test_prepared_data_with_other_settings_is_refused(study):
  config = _config()
  config.data.data_seed = 7
  with pytest.raises(config_lib.ConfigError, match='data_seed'):
    tickets.run_find_tickets(config, None, study['workdir'])


def test_empty_lottery_domains_means_every_data_domain():
  config = _config()
  config.lottery.domains = ''
  config.data.domains = 'home,books'
  settings = config_lib.settings(config)
  assert list(settings.lottery_domains) == ['home', 'books']
  assert settings.transfer_pairs == [('home', 'books'), ('books', 'home')]
